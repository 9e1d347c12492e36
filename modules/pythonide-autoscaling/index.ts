import { AppautoscalingPolicy } from "@cdktf/provider-aws/lib/appautoscaling-policy";
import { AppautoscalingTarget } from "@cdktf/provider-aws/lib/appautoscaling-target";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { at } from "../address";

export interface PythonideStepRuleProps {
  readonly comparison: ">" | "<";
  readonly cpuPercent: number;
  /** One-minute periods the average CPU must stay past the threshold. */
  readonly minutes: number;
  /** Tasks to add (> 0) or remove (< 0). */
  readonly adjustment: number;
}

export interface PythonideAutoscalingProps {
  readonly clusterName: string;
  readonly serviceName: string;
  /** The ECS service: the scalable target is registered after it exists. @default none */
  readonly service?: ITerraformDependable;
  /** Never fewer tasks than this, whatever a policy says. @default 1 */
  readonly minCapacity?: number;
  /** @default 4 */
  readonly maxCapacity?: number;
  /** Target tracking on ECSServiceAverageCPUUtilization. @default 60 */
  readonly targetCpuPercent?: number;
  /** @default 60 */
  readonly scaleOutCooldownSeconds?: number;
  /** @default 300 */
  readonly scaleInCooldownSeconds?: number;
  /** Step rules, each an alarm on the service's average CPU and a step policy. @default [] */
  readonly stepRules?: readonly PythonideStepRuleProps[];
}

/** `cpu-above-60-2m`: the readable name of a step rule (alarm `<service>-cpu-above-60-2m`). */
export function stepRuleName(rule: PythonideStepRuleProps): string {
  return `cpu-${rule.comparison === ">" ? "above" : "below"}-${rule.cpuPercent}-${rule.minutes}m`;
}

/**
 * Application Auto Scaling of the service's desired count: target tracking on average CPU and
 * the documented step rules. The service ignores desired_count in Terraform, so a deploy never
 * resets what these policies set.
 *
 * Addresses: aws_appautoscaling_target.service, aws_appautoscaling_policy.cpu_target,
 * aws_appautoscaling_policy.<rule> and aws_cloudwatch_metric_alarm.<rule> per step rule, where
 * <rule> is e.g. cpu_above_60_2m.
 */
export class PythonideAutoscaling extends Construct {
  readonly target: AppautoscalingTarget;

  constructor(scope: Construct, id: string, props: PythonideAutoscalingProps) {
    super(scope, id);
    const resourceId = `service/${props.clusterName}/${props.serviceName}`;
    this.target = at(
      new AppautoscalingTarget(this, "target", {
        serviceNamespace: "ecs",
        resourceId,
        scalableDimension: "ecs:service:DesiredCount",
        minCapacity: props.minCapacity ?? 1,
        maxCapacity: props.maxCapacity ?? 4,
        dependsOn: props.service ? [props.service] : undefined,
      }),
      "service",
    );
    const scaled = {
      resourceId: this.target.resourceId,
      scalableDimension: this.target.scalableDimension,
      serviceNamespace: this.target.serviceNamespace,
    };
    at(
      new AppautoscalingPolicy(this, "cpu-target", {
        name: `${props.serviceName}-cpu-target`,
        policyType: "TargetTrackingScaling",
        ...scaled,
        targetTrackingScalingPolicyConfiguration: {
          targetValue: props.targetCpuPercent ?? 60,
          predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
          scaleOutCooldown: props.scaleOutCooldownSeconds ?? 60,
          scaleInCooldown: props.scaleInCooldownSeconds ?? 300,
        },
      }),
      "cpu_target",
    );

    for (const rule of props.stepRules ?? []) {
      const name = stepRuleName(rule);
      const address = name.replace(/-/g, "_");
      const up = rule.comparison === ">";
      const policy = at(
        new AppautoscalingPolicy(this, `${name}-policy`, {
          name: `${props.serviceName}-${name}`,
          policyType: "StepScaling",
          ...scaled,
          stepScalingPolicyConfiguration: {
            adjustmentType: "ChangeInCapacity",
            metricAggregationType: "Average",
            cooldown: up ? props.scaleOutCooldownSeconds ?? 60 : props.scaleInCooldownSeconds ?? 300,
            // One step from the alarm threshold on: above it when scaling out, below it when scaling in.
            stepAdjustment: [up ? { metricIntervalLowerBound: "0", scalingAdjustment: rule.adjustment } : { metricIntervalUpperBound: "0", scalingAdjustment: rule.adjustment }],
          },
        }),
        address,
      );
      at(
        new CloudwatchMetricAlarm(this, `${name}-alarm`, {
          alarmName: `${props.serviceName}-${name}`,
          alarmDescription: `Average CPU ${rule.comparison} ${rule.cpuPercent} % for ${rule.minutes} min: ${up ? "+" : ""}${rule.adjustment} task(s)`,
          namespace: "AWS/ECS",
          metricName: "CPUUtilization",
          dimensions: { ClusterName: props.clusterName, ServiceName: props.serviceName },
          statistic: "Average",
          period: 60,
          evaluationPeriods: rule.minutes,
          threshold: rule.cpuPercent,
          comparisonOperator: up ? "GreaterThanThreshold" : "LessThanThreshold",
          treatMissingData: "missing",
          alarmActions: [policy.arn],
        }),
        address,
      );
    }
  }
}
