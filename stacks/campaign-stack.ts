import { RandomProvider } from "@cdktf/provider-random/lib/provider";
import { TerraformOutput, TerraformResource, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { Compute } from "../modules/compute";
import { Data } from "../modules/data";
import { Egress } from "../modules/egress";
import { Elasticache, elasticacheMemoryAlarm } from "../modules/elasticache";
import { applyGuardrails } from "../modules/guardrails";
import { Lambdas, SCHEDULED_FUNCTIONS, lambdaSecurityGroup, snake } from "../modules/lambdas";
import { REDIS_METRICS } from "../lambdas/contracts/metrics";
import { Monitoring } from "../modules/monitoring";
import { Network } from "../modules/network";
import { RedisBackup } from "../modules/redis-backup";
import { applyAwsProvider, applyBackend } from "./backend";
import { RDS_CLASSES } from "../modules/catalog";
import { DEFAULT_PROTECTION, budgetProblems, type CampaignConfig } from "./config";

/** The CA bundle (with the RDS CAs) on Lambda's Node.js runtimes. */
export const LAMBDA_RDS_CA_BUNDLE = "/var/runtime/ca-cert.pem";

/** The module of the old HCL code each of this stack's constructs replaces. */
const OLD_MODULES = { data: "module.data", compute: "module.compute", elasticache: "module.data" } as const;

/**
 * One environment of the campaign system: network, data (RDS + RDS Proxy), compute (the
 * Asterisk host with Redis), the six Lambdas wired to both, and their alarms. Stack name
 * `campaign-<environment>`.
 */
export class CampaignStack extends TerraformStack {
  readonly network: { vpcId: string; vpcCidr: string; privateSubnetIds: string[] };
  readonly data: Data;
  readonly compute: Compute;
  /** ElastiCache for Redis when `redis.mode` is "elasticache"; undefined when Redis runs on the Asterisk host. */
  readonly elasticache?: Elasticache;
  readonly lambdas: Lambdas;
  readonly monitoring: Monitoring;
  /** The S3 bucket of the host's Redis snapshots, when `redis.backup.enabled` (kept in either redis.mode). */
  readonly redisBackup?: RedisBackup;

  constructor(scope: Construct, readonly config: CampaignConfig) {
    super(scope, `${config.project}-${config.environment}`);
    const name = `${config.project}-${config.environment}`;
    applyAwsProvider(this, config);
    new RandomProvider(this, "random");
    applyBackend(this, config.backend);

    const net = config.network;
    let asteriskSubnetId: string;
    let created: Network | undefined;
    if (net.mode === "create") {
      created = new Network(this, "network", { name, ...net });
      this.network = created;
      asteriskSubnetId = created.publicSubnetId;
    } else {
      this.network = { vpcId: net.vpcId, vpcCidr: net.vpcCidr, privateSubnetIds: net.privateSubnetIds };
      asteriskSubnetId = net.asteriskSubnetId;
    }

    // The Lambda security group first: it is the source the proxy (5432) and Redis (6379) allow.
    const { lambdas, redis } = config;
    const egressMode = net.egress ?? "endpoint";
    const lambdaSg = lambdaSecurityGroup(this, {
      name,
      vpcId: this.network.vpcId,
      vpcCidr: this.network.vpcCidr,
      vpcPorts: [
        { port: redis.port, description: "Redis on the Asterisk host" },
        { port: lambdas.ari.port, description: "Asterisk ARI (dialer-worker)" },
      ],
      egress: egressMode,
    });

    const db = config.database;
    const protection = config.protection ?? DEFAULT_PROTECTION;
    const viaProxy = config.proxy.enabled ?? true;
    this.data = new Data(this, "data", {
      ...db,
      name,
      region: config.region,
      vpcId: this.network.vpcId,
      vpcCidr: this.network.vpcCidr,
      privateSubnetIds: this.network.privateSubnetIds,
      preventDestroy: protection.preventDestroy,
      proxy: config.proxy,
      proxyClients: { securityGroupIds: [lambdaSg.id] },
    });

    this.compute = new Compute(this, "compute", {
      ...config.asterisk,
      name,
      region: config.region,
      vpcId: this.network.vpcId,
      vpcCidr: this.network.vpcCidr,
      subnetId: asteriskSubnetId,
      redis,
      redisClients: { securityGroupIds: [lambdaSg.id] },
      ariPort: lambdas.ari.port,
      ariClients: { securityGroupIds: [lambdaSg.id] },
      metricsNamespace: REDIS_METRICS.namespace,
      preventDestroy: protection.preventDestroy,
      secretRecoveryWindowDays: protection.secretRecoveryWindowDays,
      // The first boot installs packages and reads its secret: it needs the route out.
      bootDependsOn: created ? [created.publicRouteAssociation] : [],
    });

    // Backups of the host's Redis (docs/backups.md); independent of redis.mode, so a rollback keeps them.
    if (redis.backup?.enabled) {
      this.redisBackup = new RedisBackup(this, "redis-backup", {
        name,
        hostRole: this.compute.role,
        ...redis.backup,
        preventDestroy: protection.preventDestroy,
      });
      this.outputs({
        redis_backup_bucket: { value: this.redisBackup.bucket.bucket, description: `S3 bucket of the Redis backups (inventory: redis_backup_bucket; keys under ${this.redisBackup.prefix}/)` },
        redis_backup_schedule: { value: redis.backup.schedule, description: "OnCalendar of the host's backup timer (inventory: redis_backup_schedule)" },
      });
    }

    // redis.mode: the Lambdas and the redis_* outputs follow whichever Redis is active; the
    // Asterisk host and everything else stay exactly as they are (docs/cost.md, "Rollback").
    if ((redis.mode ?? "self-hosted") === "elasticache") {
      this.elasticache = new Elasticache(this, "elasticache", {
        name,
        vpcId: this.network.vpcId,
        privateSubnetIds: this.network.privateSubnetIds,
        clients: { securityGroupIds: [lambdaSg.id], cidrs: redis.allowedCidrs ?? [] },
        port: redis.port,
        ...redis.elasticache,
      });
    }
    const activeRedis = this.elasticache
      ? { host: this.elasticache.endpoint, port: this.elasticache.port, passwordSecretArn: this.elasticache.authSecretArn, tls: true, where: "ElastiCache primary endpoint" }
      : { host: this.compute.instance.privateIp, port: this.compute.redisPort, passwordSecretArn: this.compute.redisPasswordSecretArn, tls: false, where: "the Asterisk host's private IP" };

    const endpoint = net.secretsManagerEndpoint ?? { mode: "create" };
    let egress: Egress | undefined;
    if (egressMode === "endpoint" && endpoint.mode === "existing") {
      egress = new Egress(this, "egress", {
        mode: "existing-endpoint",
        endpointSecurityGroupId: endpoint.securityGroupId,
        clientSecurityGroups: { lambdas: lambdaSg.id, asterisk: this.compute.securityGroup.id },
      });
    } else if (egressMode === "endpoint") {
      egress = new Egress(this, "egress", {
        mode: "endpoint",
        name,
        region: config.region,
        vpcId: this.network.vpcId,
        privateSubnetIds: this.network.privateSubnetIds,
        // Private DNS sends every Secrets Manager call in the VPC here: admit the whole VPC.
        clientCidrs: (endpoint.mode === "create" && endpoint.clientCidrs) || [this.network.vpcCidr],
      });
    } else if (created) {
      // On an existing VPC "nat" means its private subnets already route through one.
      egress = new Egress(this, "egress", { mode: "nat", name, publicSubnetId: created.publicSubnetId, privateRouteTableId: created.privateRouteTableId });
    }
    if (egress) this.compute.bootAfter(...egress.ready);

    this.outputs({
      redis_endpoint: { value: activeRedis.host, description: `Redis host: ${activeRedis.where}` },
      redis_port: { value: activeRedis.port, description: "Redis port" },
      redis_password_secret_arn: { value: activeRedis.passwordSecretArn, description: "Secrets Manager ARN of {\"password\": ...}" },
      rds_proxy_endpoint: {
        value: this.data.endpoint,
        description: viaProxy ? "RDS Proxy endpoint (applications)" : "Where applications connect: the instance itself (proxy.enabled is false)",
      },
      rds_master_secret_arn: { value: this.data.masterSecretArn, description: "RDS-managed master secret ARN" },
      rds_endpoint: { value: this.data.instance.address, description: "Direct RDS endpoint (admin tools, migrations)" },
      asterisk_private_ip: { value: this.compute.instance.privateIp, description: "Private IP of the Asterisk host" },
    });

    this.lambdas = new Lambdas(this, "lambdas", {
      ...lambdas,
      name,
      privateSubnetIds: this.network.privateSubnetIds,
      securityGroupId: lambdaSg.id,
      database: {
        endpoint: this.data.endpoint,
        name: db.databaseName,
        secretArn: this.data.masterSecretArn,
        // Without the proxy the instance presents the RDS CA: Lambda's Node 20+ runtimes ship it
        // in this bundle but do not load it by default.
        caBundlePath: viaProxy ? undefined : LAMBDA_RDS_CA_BUNDLE,
        borrowTimeoutSeconds: viaProxy ? config.proxy.connectionBorrowTimeout : 0,
      },
      redis: { host: activeRedis.host, port: activeRedis.port, passwordSecretArn: activeRedis.passwordSecretArn, tls: activeRedis.tls },
      ari: { host: this.compute.instance.privateIp, port: lambdas.ari.port, user: lambdas.ari.user, passwordSecretArn: this.compute.ariPasswordSecretArn },
    });
    const functionNames = Object.fromEntries(
      Object.values(this.lambdas.functions).map(({ spec, function: fn }) => [snake(spec.name), fn.functionName]),
    );
    this.monitoring = new Monitoring(this, "monitoring", {
      name,
      database: this.data.proxy
        ? { proxyName: this.data.proxy.name }
        : { instanceIdentifier: this.data.instance.identifier, maxConnections: RDS_CLASSES[db.instanceClass].maxConnections },
      redisInstanceId: this.compute.instance.id,
      functionNames,
      ...config.monitoring,
    });
    if (this.elasticache) elasticacheMemoryAlarm(this, { name, cache: this.elasticache, topicArn: this.monitoring.topicArn });
    const direct = Object.values(this.lambdas.functions).filter(
      ({ spec }) => !(SCHEDULED_FUNCTIONS as readonly string[]).includes(spec.name),
    );
    this.outputs({
      ...Object.fromEntries(
        direct.map(({ spec, function: fn }) => [
          `${snake(spec.name)}_function_name`,
          { value: fn.functionName, description: `Lambda ${spec.name} (invoked directly)` },
        ]),
      ),
      lambda_security_group_id: { value: lambdaSg.id, description: "Security group of the Lambdas (source of 5432 on the proxy, 6379 on Redis)" },
      ari_password_secret_arn: { value: this.compute.ariPasswordSecretArn, description: "Secrets Manager ARN of the ARI password {\"password\": ...}" },
      alarm_topic_arn: { value: this.monitoring.topicArn, description: "SNS topic of the alarms" },
      asterisk_instance_id: { value: this.compute.instance.id, description: "EC2 instance id of the Asterisk host (SSM sessions, inventories)" },
    });
    // Connection budget at synth, also for stacks built without buildApp()'s config validation.
    this.node.addValidation({ validate: () => budgetProblems(config) });
    this.addMoves();
    applyGuardrails(this);
  }

  /** Stack outputs at exactly the given names (tooling runs `terraform output -raw NAME`). */
  protected outputs(outputs: Record<string, { value: unknown; description: string; sensitive?: boolean }>): void {
    for (const [name, props] of Object.entries(outputs)) new TerraformOutput(this, name, props);
  }

  /**
   * `moved` blocks from the HCL modules' addresses (module.data.X, module.compute.X) to this
   * stack's, so a plan against state written by the old code shows moves, not replacements.
   * Terraform skips a move whose source is not in state, so fresh environments are unaffected.
   * Written as a raw override: cdktf's moveFromId() would make synth need the terraform binary.
   */
  private addMoves(): void {
    this.addOverride("moved", movedBlocks(this));
  }
}

export interface MovedBlock {
  from: string;
  to: string;
}

/** The moves of a stack: each resource of its data and compute constructs from its old module. */
export function movedBlocks(stack: CampaignStack): MovedBlock[] {
  const moves: MovedBlock[] = [];
  for (const [key, oldModule] of Object.entries(OLD_MODULES)) {
    const construct = stack[key as keyof typeof OLD_MODULES];
    if (!construct) continue;
    for (const node of construct.node.findAll()) {
      if (!TerraformResource.isTerraformResource(node)) continue;
      const resource = node as TerraformResource;
      const address = `${resource.terraformResourceType}.${resource.friendlyUniqueId}`;
      moves.push({ from: `${oldModule}.${address}`, to: address });
    }
  }
  return moves;
}
