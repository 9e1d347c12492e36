import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { Construct } from "constructs";
import { REDIS_METRICS } from "../../lambdas/contracts/metrics";
import type { z } from "zod";
import { at, nameTag } from "../address";
import { integer, matching, section, settingsOf } from "../settings";

/** The alarms' thresholds and their recipient: an environment's `monitoring` section sets `alarmEmail`. */
export const MonitoringSettings = section({
  /** E-mail subscribed to the alarm topic (confirmed by the recipient). @default no subscription */
  alarmEmail: matching(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, "an e-mail address, or leave unset").optional(),
  /** Alarm when the proxy's client connections exceed this. @default 500 */
  proxyClientConnections: integer(1, 100000).default(500),
  /** Alarm when the proxy's connections to the database exceed this. @default 50 */
  proxyDatabaseConnections: integer(1, 100000).default(50),
  /** Without a proxy: alarm when the instance holds more than this share of max_connections. @default 80 */
  instanceConnectionsPercent: integer(1, 100).default(80),
  /** Alarm when Redis uses more than this share of maxmemory. @default 80 */
  redisMemoryPercent: integer(1, 100).default(80),
  /** Alarm when a function has more errors than this in a period. @default 0 */
  lambdaErrors: integer(0, 100000).default(0),
  /** Alarm when a function is throttled more than this in a period. @default 0 */
  lambdaThrottles: integer(0, 100000).default(0),
  /** Period of every alarm, seconds. @default 300 */
  periodSeconds: integer(10, 86400).default(300),
  /** Periods over the threshold before the proxy and Redis alarms fire. @default 2 */
  evaluationPeriods: integer(1, 100).default(2),
});

export type MonitoringSettings = z.input<typeof MonitoringSettings>;

export interface MonitoringProps extends MonitoringSettings {
  /** Name prefix of the topic and the alarms, e.g. `campaign-prod`. */
  readonly name: string;
  /**
   * The database to watch: the RDS Proxy by name (its ClientConnections and DatabaseConnections),
   * or, without a proxy, the instance (its DatabaseConnections against `maxConnections`).
   */
  readonly database: { readonly proxyName: string } | { readonly instanceIdentifier: string; readonly maxConnections: number };
  /** EC2 instance id of the Asterisk host (dimension of the Redis metrics). */
  readonly redisInstanceId: string;
  /** Lambda function names to watch for errors and throttles, keyed by a short name for addresses. */
  readonly functionNames: Readonly<Record<string, string>>;
}

/**
 * The documented alarms, all acting on one SNS topic (alarm and OK):
 * - RDS Proxy ClientConnections > 500 and DatabaseConnections > 50 (Maximum, 2 periods of 5 min),
 *   or without a proxy the instance's DatabaseConnections > 80 % of max_connections;
 * - Redis MemoryUsedPercent > 80 (custom metric from the Asterisk host, 2 periods of 5 min);
 * - per function: Errors > 0 and Throttles > 0 (Sum, 1 period of 5 min).
 *
 * Addresses: aws_sns_topic.alarms, aws_sns_topic_subscription.alarm_email,
 * aws_cloudwatch_metric_alarm.{rds_proxy_client_connections, rds_proxy_database_connections
 * | rds_database_connections, redis_memory, <function>_errors, <function>_throttles}.
 */
export class Monitoring extends Construct {
  readonly topicArn: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const settings = settingsOf(this.node.path, MonitoringSettings, props);
    const period = settings.periodSeconds;
    const evaluationPeriods = settings.evaluationPeriods;
    const topic = at(new SnsTopic(this, "alarms", { name: `${props.name}-alarms`, tags: nameTag(`${props.name}-alarms`) }), "alarms");
    this.topicArn = topic.arn;
    if (settings.alarmEmail) {
      at(new SnsTopicSubscription(this, "alarm-email", { topicArn: topic.arn, protocol: "email", endpoint: settings.alarmEmail }), "alarm_email");
    }

    const alarm = (address: string, config: Omit<ConstructorParameters<typeof CloudwatchMetricAlarm>[2], "alarmName" | "comparisonOperator" | "period">) =>
      at(
        new CloudwatchMetricAlarm(this, address, {
          alarmName: `${props.name}-${address.replace(/_/g, "-")}`,
          comparisonOperator: "GreaterThanThreshold",
          period,
          alarmActions: [topic.arn],
          okActions: [topic.arn],
          tags: nameTag(`${props.name}-${address.replace(/_/g, "-")}`),
          ...config,
        }),
        address,
      );

    const db = props.database;
    if ("proxyName" in db) {
      const proxy = { namespace: "AWS/RDS", dimensions: { ProxyName: db.proxyName }, statistic: "Maximum", evaluationPeriods, treatMissingData: "notBreaching" };
      const clientConnections = settings.proxyClientConnections;
      alarm("rds_proxy_client_connections", {
        ...proxy,
        metricName: "ClientConnections",
        threshold: clientConnections,
        alarmDescription: `RDS Proxy has more than ${clientConnections} client connections (Lambda concurrency beyond plan?)`,
      });
      const databaseConnections = settings.proxyDatabaseConnections;
      alarm("rds_proxy_database_connections", {
        ...proxy,
        metricName: "DatabaseConnections",
        threshold: databaseConnections,
        alarmDescription: `RDS Proxy holds more than ${databaseConnections} connections to PostgreSQL (pinning or long transactions?)`,
      });
    } else {
      const percent = settings.instanceConnectionsPercent;
      const threshold = Math.floor((db.maxConnections * percent) / 100);
      alarm("rds_database_connections", {
        namespace: "AWS/RDS",
        dimensions: { DBInstanceIdentifier: db.instanceIdentifier },
        metricName: "DatabaseConnections",
        statistic: "Maximum",
        evaluationPeriods,
        treatMissingData: "notBreaching",
        threshold,
        alarmDescription: `PostgreSQL holds more than ${threshold} connections (${percent} % of max_connections ${db.maxConnections}; no RDS Proxy): new ones fail with 53300 next`,
      });
    }
    const redisMemory = settings.redisMemoryPercent;
    alarm("redis_memory", {
      namespace: REDIS_METRICS.namespace,
      metricName: REDIS_METRICS.memoryUsedPercent,
      dimensions: { [REDIS_METRICS.dimension]: props.redisInstanceId },
      statistic: "Maximum",
      evaluationPeriods,
      threshold: redisMemory,
      // No datapoints means the publisher on the host is not running: INSUFFICIENT_DATA, not OK.
      treatMissingData: "missing",
      alarmDescription: `Redis on the Asterisk host uses more than ${redisMemory} % of maxmemory (evictions next)`,
    });

    for (const [key, functionName] of Object.entries(props.functionNames)) {
      for (const [metric, threshold] of [
        ["Errors", settings.lambdaErrors],
        ["Throttles", settings.lambdaThrottles],
      ] as const) {
        alarm(`${key}_${metric.toLowerCase()}`, {
          namespace: "AWS/Lambda",
          metricName: metric,
          dimensions: { FunctionName: functionName },
          statistic: "Sum",
          evaluationPeriods: 1,
          threshold,
          treatMissingData: "notBreaching",
          alarmDescription: `${functionName}: ${metric.toLowerCase()} > ${threshold} in ${period / 60} minutes`,
        });
      }
    }
  }
}
