import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { ElasticacheReplicationGroup } from "@cdktf/provider-aws/lib/elasticache-replication-group";
import { ElasticacheSubnetGroup } from "@cdktf/provider-aws/lib/elasticache-subnet-group";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Password } from "@cdktf/provider-random/lib/password";
import { Construct } from "constructs";
import type { z } from "zod";
import { at, nameTag } from "../address";
import { GeneratedSecret } from "../generated-secret";
import { Sources, hasSources, ingress } from "../rules";
import { integer, matching, oneOf, section, settingsOf } from "../settings";

/**
 * The addresses the old HCL data module (`terraform/modules/data`, before the seeds removed
 * ElastiCache) gave these resources, inside `module.data`. That code is not in this repository:
 * the names follow the module's convention (a security group named after its service, like
 * `aws_security_group.rds` / `.rds_proxy`; one resource per type named after what it is).
 * If `terraform state list | grep module.data` shows other names, change them here: the moved
 * blocks and the addresses follow this table.
 */
export const ELASTICACHE_ADDRESSES = {
  subnetGroup: "redis",
  securityGroup: "redis",
  replicationGroup: "redis",
  /** random_password, aws_secretsmanager_secret and its version. */
  authToken: "redis_auth",
} as const;

/** The replication group's settings: an environment's `redis.elasticache` section. */
export const ElasticacheSettings = section(
  {
    /** Node type. @default "cache.t3.micro" */
    nodeType: matching(/^cache\.[a-z0-9]+\.[a-z0-9]+$/, "a node type such as cache.t3.micro").default("cache.t3.micro"),
    /** Nodes (primary + replicas), 1..6; 2 or more turn on automatic failover and Multi-AZ. @default 1 */
    numCacheClusters: integer(1, 6).default(1),
    /** Redis engine version. @default "7.1" */
    engineVersion: matching(/^[67]\.\d+$/, "a Redis version such as 7.1 or 6.2").default("7.1"),
    /** Days of automatic snapshots, 0..35. @default 1 */
    snapshotRetentionDays: integer(0, 35).default(1),
    /**
     * "required": TLS clients only (the Lambdas connect with REDIS_TLS=verify-full). "preferred": TLS
     * and plaintext, for a migration while other plaintext clients remain; the AUTH token is required
     * either way. @default "required"
     */
    transitEncryptionMode: oneOf(["required", "preferred"] as const).default("required"),
  },
  "{ nodeType, numCacheClusters, engineVersion, snapshotRetentionDays, transitEncryptionMode }",
);
export type ElasticacheSettings = z.input<typeof ElasticacheSettings>;

export interface ElasticacheProps extends ElasticacheSettings {
  /** Name prefix of every resource, e.g. `campaign-prod`. */
  readonly name: string;
  readonly vpcId: string;
  /** Private subnets (one cache subnet group across them). */
  readonly privateSubnetIds: string[];
  /** Who may reach Redis, e.g. { securityGroupIds: [lambdaSg] }. Required: no default source. */
  readonly clients: Sources;
  /** @default 6379 */
  readonly port?: number;
}

/**
 * ElastiCache for Redis, the rollback target of `redis.mode: "elasticache"`: a replication group
 * with encryption at rest and in transit, an AUTH token generated into Secrets Manager as
 * `{"password": "..."}` (the shape the Lambdas read), a subnet group over the private subnets,
 * and a security group admitting only `clients` on the Redis port.
 *
 * Addresses: see {@link ELASTICACHE_ADDRESSES}: aws_elasticache_subnet_group.redis,
 * aws_security_group.redis, aws_elasticache_replication_group.redis, random_password.redis_auth,
 * aws_secretsmanager_secret.redis_auth, aws_secretsmanager_secret_version.redis_auth.
 */
export class Elasticache extends Construct {
  readonly replicationGroup: ElasticacheReplicationGroup;
  readonly securityGroup: SecurityGroup;
  /** The primary endpoint's address (what clients connect to). */
  readonly endpoint: string;
  readonly port: number;
  /** `<name>-redis`; its first node is `<name>-redis-001`. */
  readonly replicationGroupId: string;
  /** ARN of the AUTH token secret, `{"password": "..."}`. */
  readonly authSecretArn: string;

  constructor(scope: Construct, id: string, props: ElasticacheProps) {
    super(scope, id);
    const wiring = wiringProblems(props);
    if (wiring.length > 0) throw new Error(`${this.node.path}: ${wiring.join("; ")}`);
    const s = settingsOf(this.node.path, ElasticacheSettings, props);
    this.port = props.port ?? 6379;
    this.replicationGroupId = `${props.name}-redis`;
    const nodes = s.numCacheClusters;
    const a = ELASTICACHE_ADDRESSES;

    const token = new GeneratedSecret(this, "auth-token", {
      secretName: `${props.name}/redis-auth-token`,
      description: "AUTH token of the ElastiCache Redis replication group, as {\"password\": \"...\"}",
      passwordAddress: a.authToken,
      secretAddress: a.authToken,
    });
    this.authSecretArn = token.arn;

    const subnets = at(
      new ElasticacheSubnetGroup(this, "subnets", {
        name: `${props.name}-redis`,
        description: `Private subnets of ${props.name}'s ElastiCache Redis`,
        subnetIds: props.privateSubnetIds,
        tags: nameTag(`${props.name}-redis`),
      }),
      a.subnetGroup,
    );
    this.securityGroup = at(
      new SecurityGroup(this, "sg", {
        name: `${props.name}-redis`,
        description: "ElastiCache Redis: from the Lambda security group only",
        vpcId: props.vpcId,
        ingress: [ingress("tcp", this.port, props.clients, "Redis clients")],
        egress: [],
        tags: nameTag(`${props.name}-redis`),
      }),
      a.securityGroup,
    );
    this.replicationGroup = at(
      new ElasticacheReplicationGroup(this, "redis", {
        replicationGroupId: this.replicationGroupId,
        description: `${props.name}: Redis (cache and dial-task state) for the Lambdas`,
        engine: "redis",
        engineVersion: s.engineVersion,
        nodeType: s.nodeType,
        numCacheClusters: nodes,
        automaticFailoverEnabled: nodes > 1,
        multiAzEnabled: nodes > 1,
        port: this.port,
        subnetGroupName: subnets.name,
        securityGroupIds: [this.securityGroup.id],
        atRestEncryptionEnabled: "true",
        transitEncryptionEnabled: true,
        transitEncryptionMode: s.transitEncryptionMode,
        // The token is a reference to random_password's result: in state, never in this JSON.
        authToken: (token.node.findChild("password") as Password).result,
        authTokenUpdateStrategy: "ROTATE",
        snapshotRetentionLimit: s.snapshotRetentionDays,
        autoMinorVersionUpgrade: "true",
        applyImmediately: false,
        tags: nameTag(`${props.name}-redis`),
      }),
      a.replicationGroup,
    );
    this.endpoint = this.replicationGroup.primaryEndpointAddress;
  }
}

/** The wiring's problems (the settings are checked by their schema). */
function wiringProblems(props: ElasticacheProps): string[] {
  const problems: string[] = [];
  if (!hasSources(props.clients)) problems.push("clients: at least one security group or CIDR is required");
  if (props.privateSubnetIds.length < 1) problems.push("privateSubnetIds: at least one subnet is required");
  return problems;
}

/**
 * The replication group's memory alarm (aws_cloudwatch_metric_alarm.elasticache_memory, on the
 * primary node `<group>-001`), in the stack's scope so it carries no move from module.data.
 */
export function elasticacheMemoryAlarm(scope: Construct, props: { name: string; cache: Elasticache; topicArn: string; thresholdPercent?: number }): CloudwatchMetricAlarm {
  const threshold = props.thresholdPercent ?? 80;
  return at(
    new CloudwatchMetricAlarm(scope, "elasticache-memory", {
      alarmName: `${props.name}-elasticache-memory`,
      alarmDescription: `ElastiCache Redis uses more than ${threshold} % of its memory (evictions next)`,
      namespace: "AWS/ElastiCache",
      metricName: "DatabaseMemoryUsagePercentage",
      dimensions: { CacheClusterId: `${props.cache.replicationGroupId}-001` },
      statistic: "Maximum",
      comparisonOperator: "GreaterThanThreshold",
      threshold,
      period: 300,
      evaluationPeriods: 2,
      alarmActions: [props.topicArn],
      okActions: [props.topicArn],
      tags: nameTag(`${props.name}-elasticache-memory`),
    }),
    "elasticache_memory",
  );
}
