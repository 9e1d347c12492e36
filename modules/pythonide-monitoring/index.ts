import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { Construct } from "constructs";
import { z } from "zod";
import { at, nameTag } from "../address";
import { inRange, integer, matching, section, settingsOf } from "../settings";

/** The production service's dashboard and alarms: an environment's `production.monitoring` section. */
export const PythonideMonitoringSettings = section({
  /** CloudWatch dashboard name. @default "PythonIDE-Production" */
  dashboardName: matching(/^[A-Za-z0-9_-]{1,255}$/, "letters, digits, dashes and underscores").default("PythonIDE-Production"),
  /** SNS topic every alarm notifies. @default "pythonide-alarms" */
  alarmTopicName: matching(/^[A-Za-z0-9_-]{1,256}$/, "letters, digits, dashes and underscores").default("pythonide-alarms"),
  /** E-mail subscriptions of the topic (each confirms by mail). @default [] */
  alarmEmails: z
    .array(matching(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, "an e-mail address"), { error: () => "must be a list of e-mail addresses" })
    .default([]),
  /** `<project>-high-cpu`: average service CPU above this over highCpuPeriodSeconds. @default 80 */
  highCpuPercent: integer(1, 100).default(80),
  /** The high-CPU alarm's period, a multiple of 60. @default 300 */
  highCpuPeriodSeconds: integer(60, 86400)
    .refine((v) => !inRange(v, 60, 86400) || v % 60 === 0, { error: (issue) => `${issue.input} is not a multiple of 60 (allowed: 60, 120, 300, ...)` })
    .default(300),
  /** The rollback signal: ALB target response time above this (average per minute). @default 500 */
  responseTimeMs: integer(1, 60000).default(500),
  /** One-minute periods the response time must stay above the threshold. @default 3 */
  responseTimeMinutes: integer(1, 60).default(3),
});

export type PythonideMonitoringSettings = z.input<typeof PythonideMonitoringSettings>;

export interface PythonideMonitoringProps extends PythonideMonitoringSettings {
  readonly region: string;
  /** Prefix of the alarm names: `<prefix>-high-cpu`, `<prefix>-high-response-time`. */
  readonly alarmPrefix: string;
  readonly clusterName: string;
  readonly serviceName: string;
  /** `app/<name>/<id>` of the ALB. */
  readonly albArnSuffix: string;
  /** `targetgroup/<name>/<id>` of the service's target group. */
  readonly targetGroupArnSuffix: string;
  readonly dbInstanceIdentifier: string;
  readonly efsFileSystemId: string;
}

interface MetricOptions {
  stat: string;
  label: string;
  yAxis?: "left" | "right";
}
/** A dashboard metric: [namespace, name, dimension, value, ..., options]. */
type Metric = (string | MetricOptions)[];

/**
 * The production service's CloudWatch dashboard and its alarms, which notify an SNS topic.
 *
 * Addresses: aws_sns_topic.alarms, aws_sns_topic_subscription.email_<n>,
 * aws_cloudwatch_dashboard.production, aws_cloudwatch_metric_alarm.{high_cpu,high_response_time}.
 */
export class PythonideMonitoring extends Construct {
  readonly topic: SnsTopic;
  readonly dashboard: CloudwatchDashboard;
  readonly highCpu: CloudwatchMetricAlarm;
  readonly highResponseTime: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: PythonideMonitoringProps) {
    super(scope, id);
    const settings = settingsOf(this.node.path, PythonideMonitoringSettings, props);
    this.topic = at(new SnsTopic(this, "topic", { name: settings.alarmTopicName, tags: nameTag(settings.alarmTopicName) }), "alarms");
    settings.alarmEmails.forEach((endpoint, i) =>
      at(new SnsTopicSubscription(this, `email-${i}`, { topicArn: this.topic.arn, protocol: "email", endpoint }), `email_${i}`),
    );

    const service = { ClusterName: props.clusterName, ServiceName: props.serviceName };
    const target = { LoadBalancer: props.albArnSuffix, TargetGroup: props.targetGroupArnSuffix };
    const responseTimeMs = settings.responseTimeMs;
    const actions = { alarmActions: [this.topic.arn], okActions: [this.topic.arn] };

    this.highCpu = at(
      new CloudwatchMetricAlarm(this, "high-cpu", {
        alarmName: `${props.alarmPrefix}-high-cpu`,
        alarmDescription: `${props.serviceName}: average CPU above ${settings.highCpuPercent} % over ${settings.highCpuPeriodSeconds} s`,
        namespace: "AWS/ECS",
        metricName: "CPUUtilization",
        dimensions: service,
        statistic: "Average",
        period: settings.highCpuPeriodSeconds,
        evaluationPeriods: 1,
        threshold: settings.highCpuPercent,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "missing",
        ...actions,
      }),
      "high_cpu",
    );
    this.highResponseTime = at(
      new CloudwatchMetricAlarm(this, "high-response-time", {
        alarmName: `${props.alarmPrefix}-high-response-time`,
        alarmDescription: `${props.serviceName}: target response time above ${responseTimeMs} ms for ${settings.responseTimeMinutes} min. Rollback signal: see README "Rollback".`,
        namespace: "AWS/ApplicationELB",
        metricName: "TargetResponseTime",
        dimensions: target,
        statistic: "Average",
        period: 60,
        evaluationPeriods: settings.responseTimeMinutes,
        // TargetResponseTime is in seconds.
        threshold: responseTimeMs / 1000,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "notBreaching",
        ...actions,
      }),
      "high_response_time",
    );

    const m = (namespace: string, name: string, dims: Record<string, string>, options: MetricOptions): Metric => [
      namespace,
      name,
      ...Object.entries(dims).flat(),
      options,
    ];
    const widget = (title: string, metrics: Metric[], x: number, y: number, extra: Record<string, unknown> = {}) => ({
      type: "metric",
      x,
      y,
      width: 12,
      height: 6,
      properties: { title, region: props.region, view: "timeSeries", stacked: false, period: 60, metrics, ...extra },
    });
    const db = { DBInstanceIdentifier: props.dbInstanceIdentifier };
    const efs = { FileSystemId: props.efsFileSystemId };
    const widgets = [
      widget("Service CPU and memory (%)", [
        m("AWS/ECS", "CPUUtilization", service, { stat: "Average", label: "CPU" }),
        m("AWS/ECS", "MemoryUtilization", service, { stat: "Average", label: "Memory" }),
      ], 0, 0, { yAxis: { left: { min: 0, max: 100 } }, annotations: { horizontal: [{ label: "high-cpu", value: settings.highCpuPercent }] } }),
      widget("Tasks", [
        m("ECS/ContainerInsights", "RunningTaskCount", service, { stat: "Average", label: "Running" }),
        m("ECS/ContainerInsights", "DesiredTaskCount", service, { stat: "Average", label: "Desired" }),
      ], 12, 0),
      widget("ALB requests", [m("AWS/ApplicationELB", "RequestCount", target, { stat: "Sum", label: "Requests" })], 0, 6),
      widget("Target response time (s)", [
        m("AWS/ApplicationELB", "TargetResponseTime", target, { stat: "Average", label: "Average" }),
        m("AWS/ApplicationELB", "TargetResponseTime", target, { stat: "p95", label: "p95" }),
      ], 12, 6, { annotations: { horizontal: [{ label: "rollback signal", value: responseTimeMs / 1000 }] } }),
      widget("5xx", [
        m("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", target, { stat: "Sum", label: "Target 5xx" }),
        m("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", { LoadBalancer: props.albArnSuffix }, { stat: "Sum", label: "ALB 5xx" }),
      ], 0, 12),
      widget("RDS CPU (%) and connections", [
        m("AWS/RDS", "CPUUtilization", db, { stat: "Average", label: "CPU" }),
        m("AWS/RDS", "DatabaseConnections", db, { stat: "Average", label: "Connections", yAxis: "right" }),
      ], 12, 12),
      widget("EFS throughput (bytes/min)", [
        m("AWS/EFS", "TotalIOBytes", efs, { stat: "Sum", label: "Total I/O" }),
        m("AWS/EFS", "MeteredIOBytes", efs, { stat: "Sum", label: "Metered I/O" }),
      ], 0, 18),
      widget("EFS throughput limit used (%)", [m("AWS/EFS", "PercentIOLimit", efs, { stat: "Maximum", label: "I/O limit" })], 12, 18),
    ];
    this.dashboard = at(
      new CloudwatchDashboard(this, "dashboard", { dashboardName: settings.dashboardName, dashboardBody: JSON.stringify({ widgets }) }),
      "production",
    );
  }
}
