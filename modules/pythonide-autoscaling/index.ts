import { AppautoscalingPolicy } from "@cdktf/provider-aws/lib/appautoscaling-policy";
import { AppautoscalingTarget } from "@cdktf/provider-aws/lib/appautoscaling-target";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { z } from "zod";
import { at } from "../address";
import { across, inRange, integer, oneOf, section, settingsOf } from "../settings";

/** A documented step rule: CPU above/below a threshold for N one-minute periods adds/removes tasks. */
export const PythonideStepRule = section({
  /** ">" scales out when the average CPU is above cpuPercent, "<" scales in below it. */
  comparison: oneOf([">", "<"] as const),
  /** The CPU threshold in percent. */
  cpuPercent: integer(1, 99),
  /** One-minute periods the average CPU must stay past the threshold. */
  minutes: integer(1, 60),
  /** Tasks to add (positive, with ">") or remove (negative, with "<"). */
  adjustment: integer(-10, 10),
}).refine(
  ...across<{ comparison?: unknown; adjustment?: unknown }>("adjustment", (r) =>
    (r.comparison === ">" || r.comparison === "<") && inRange(r.adjustment, -10, 10) && (r.comparison === ">" ? r.adjustment <= 0 : r.adjustment >= 0)
      ? `${r.adjustment} does not match "${r.comparison}" (allowed: ${r.comparison === ">" ? "a positive number of tasks to add" : "a negative number of tasks to remove"})`
      : undefined,
  ),
);

/** The most tasks the production service may scale to (autoscaling.maxCapacity's upper bound). */
export const MAX_TASKS = 100;

/** The production service's scaling: an environment's `production.autoscaling` section. */
export const PythonideAutoscalingSettings = section({
  /** Never fewer tasks than this, whatever a policy says. @default 1 */
  minCapacity: integer(1, MAX_TASKS).default(1),
  /** Never more tasks than this, at least minCapacity. @default 4 */
  maxCapacity: integer(1, MAX_TASKS).default(4),
  /** Target tracking on ECSServiceAverageCPUUtilization. @default 60 */
  targetCpuPercent: integer(10, 90).default(60),
  /** Seconds after a scale-out before the next one. @default 60 */
  scaleOutCooldownSeconds: integer(0, 3600).default(60),
  /** Seconds after a scale-in before the next one. @default 300 */
  scaleInCooldownSeconds: integer(0, 3600).default(300),
  /** Step rules, each an alarm on the service's average CPU and a step policy; [] for target tracking alone. @default [] */
  stepRules: z
    .array(PythonideStepRule, { error: () => "must be a list of step rules (allowed: e.g. the documented three; [] for target tracking alone)" })
    .default([]),
}).refine(
  // Said once, without an impossible range ("allowed: 5..4"), and only when both bounds are valid.
  ...across<{ minCapacity?: unknown; maxCapacity?: unknown }>("maxCapacity", (a) =>
    inRange(a.minCapacity, 1, MAX_TASKS) && inRange(a.maxCapacity, 1, MAX_TASKS) && a.maxCapacity < a.minCapacity
      ? `${a.maxCapacity} is below minCapacity (${a.minCapacity}) (allowed: ${a.minCapacity}..${MAX_TASKS})`
      : undefined,
  ),
);

export type PythonideStepRule = z.input<typeof PythonideStepRule>;
export type PythonideAutoscalingSettings = z.input<typeof PythonideAutoscalingSettings>;

/** Whether the bounds are valid (each 1..MAX_TASKS, max at least min): the desired count is checked against them only then. */
export function validBounds(a: { minCapacity?: unknown; maxCapacity?: unknown }): a is { minCapacity: number; maxCapacity: number } {
  return inRange(a.minCapacity, 1, MAX_TASKS) && inRange(a.maxCapacity, 1, MAX_TASKS) && a.maxCapacity >= a.minCapacity;
}

export interface PythonideAutoscalingProps extends PythonideAutoscalingSettings {
  readonly clusterName: string;
  readonly serviceName: string;
  /** The ECS service: the scalable target is registered after it exists. @default none */
  readonly service?: ITerraformDependable;
}

/** `cpu-above-60-2m`: the readable name of a step rule (alarm `<service>-cpu-above-60-2m`). */
export function stepRuleName(rule: z.output<typeof PythonideStepRule>): string {
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
    const settings = settingsOf(this.node.path, PythonideAutoscalingSettings, props);
    const resourceId = `service/${props.clusterName}/${props.serviceName}`;
    this.target = at(
      new AppautoscalingTarget(this, "target", {
        serviceNamespace: "ecs",
        resourceId,
        scalableDimension: "ecs:service:DesiredCount",
        minCapacity: settings.minCapacity,
        maxCapacity: settings.maxCapacity,
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
          targetValue: settings.targetCpuPercent,
          predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
          scaleOutCooldown: settings.scaleOutCooldownSeconds,
          scaleInCooldown: settings.scaleInCooldownSeconds,
        },
      }),
      "cpu_target",
    );

    for (const rule of settings.stepRules) {
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
            cooldown: up ? settings.scaleOutCooldownSeconds : settings.scaleInCooldownSeconds,
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
