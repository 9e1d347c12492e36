import { LAMBDA_FUNCTIONS } from "../lambdas/manifest";
import { snake } from "../modules/lambdas";
import { REDIS_METRICS } from "../lambdas/contracts/metrics";
import { validateCampaignConfig } from "../stacks/config";
import { dev, prod } from "../stacks/environments";
import { synthCampaign, variant } from "./helpers/synth";

const { json } = synthCampaign(prod);
const alarms = json.resource.aws_cloudwatch_metric_alarm;
const TOPIC = "${aws_sns_topic.alarms.arn}";

describe("monitoring: the documented alarms", () => {
  it.each([
    ["rds_proxy_client_connections", "ClientConnections", 500],
    ["rds_proxy_database_connections", "DatabaseConnections", 50],
  ])("%s: RDS Proxy %s > %d over 2 periods of 5 minutes", (address, metric, threshold) => {
    expect(alarms[address]).toMatchObject({
      alarm_name: `campaign-prod-${address.replace(/_/g, "-")}`,
      namespace: "AWS/RDS",
      metric_name: metric,
      dimensions: { ProxyName: "${aws_db_proxy.main.name}" },
      statistic: "Maximum",
      comparison_operator: "GreaterThanThreshold",
      threshold,
      period: 300,
      evaluation_periods: 2,
    });
  });

  it("alarms on Redis memory > 80 % of maxmemory from the host's custom metric", () => {
    expect(REDIS_METRICS).toMatchObject({ namespace: "Campaign/Redis", dimension: "InstanceId", memoryUsedPercent: "MemoryUsedPercent" });
    expect(alarms.redis_memory).toMatchObject({
      namespace: "Campaign/Redis",
      metric_name: "MemoryUsedPercent",
      dimensions: { InstanceId: "${aws_instance.asterisk.id}" },
      comparison_operator: "GreaterThanThreshold",
      threshold: 80,
      period: 300,
      evaluation_periods: 2,
      treat_missing_data: "missing",
    });
  });

  it.each(LAMBDA_FUNCTIONS.map((f) => [f.name]))("alarms on %s errors and throttles", (name) => {
    for (const metric of ["Errors", "Throttles"]) {
      expect(alarms[`${snake(name)}_${metric.toLowerCase()}`]).toMatchObject({
        namespace: "AWS/Lambda",
        metric_name: metric,
        dimensions: { FunctionName: `\${aws_lambda_function.${snake(name)}.function_name}` },
        statistic: "Sum",
        comparison_operator: "GreaterThanThreshold",
        threshold: 0,
        period: 300,
        evaluation_periods: 1,
      });
    }
  });

  it("has exactly these alarms, each notifying the SNS topic on alarm and recovery", () => {
    expect(Object.keys(alarms)).toHaveLength(3 + 2 * 6);
    for (const alarm of Object.values(alarms)) {
      expect(alarm.alarm_actions).toEqual([TOPIC]);
      expect(alarm.ok_actions).toEqual([TOPIC]);
    }
    expect(json.output.alarm_topic_arn.value).toBe(TOPIC);
  });
});

describe("monitoring: SNS topic and e-mail", () => {
  it("subscribes the configured e-mail", () => {
    expect(json.resource.aws_sns_topic.alarms.name).toBe("campaign-prod-alarms");
    expect(json.resource.aws_sns_topic_subscription.alarm_email).toEqual({
      topic_arn: TOPIC,
      protocol: "email",
      endpoint: "campaign-alerts@example.com",
    });
  });

  it("has the topic but no subscription without an e-mail", () => {
    const { json: devJson } = synthCampaign(dev);
    expect(devJson.resource.aws_sns_topic.alarms).toBeDefined();
    expect(devJson.resource).not.toHaveProperty("aws_sns_topic_subscription");
  });

  it("rejects a malformed e-mail at validation", () => {
    expect(validateCampaignConfig(variant(dev, (c) => (c.monitoring.alarmEmail = "not-an-address")))).toEqual([
      'dev.monitoring.alarmEmail: "not-an-address" is not valid (allowed: an e-mail address, or leave unset)',
    ]);
  });
});
