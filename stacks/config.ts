import type { z } from "zod";
import { AsteriskSettings, RedisSettings } from "../modules/compute";
import { DatabaseSettings, ProxySettings } from "../modules/data";
import { ElasticacheSettings } from "../modules/elasticache";
import { FunctionSettings, LambdasSettings, perFunction } from "../modules/lambdas";
import { MonitoringSettings } from "../modules/monitoring";
import { RedisBackupSettings } from "../modules/redis-backup";
import { FUNCTION_NAMES, LAMBDA_FUNCTIONS } from "../lambdas/manifest";
import { budgetProblem, connectionBudget } from "./budget";
import { Problems, bool, cidr, cidrContains, integer, matching, oneOf, parseCidr, requiring, section, type Cidr } from "../modules/settings";
import { availabilityZoneNames, subnetCidr } from "./validation";

/** The network the campaign system lives in: a VPC this stack creates, or an existing one. */
export type NetworkConfig =
  | {
      /** "create": a new VPC with its subnets; "existing": an existing VPC's ids. */
      mode: "create";
      /** CIDR of the new VPC. */
      vpcCidr: string;
      /** Availability zones, one private subnet each; at least two (RDS Proxy needs two). */
      availabilityZones: string[];
      /** One private subnet CIDR per availability zone, inside vpcCidr. */
      privateSubnetCidrs: string[];
      /** Public subnet for the Asterisk host (SIP/RTP reach it from the carrier), in the first AZ. */
      publicSubnetCidr: string;
      /** How the private subnets reach Secrets Manager. Default: "endpoint". */
      egress?: EgressMode;
      /** With egress "endpoint": the Secrets Manager endpoint. Default: { mode: "create" } (a new VPC has none). */
      secretsManagerEndpoint?: SecretsManagerEndpointConfig;
    }
  | {
      mode: "existing";
      /** The existing VPC's id, `vpc-...`. */
      vpcId: string;
      /** The existing VPC's CIDR: the "inside the VPC" source for 5432 and 6379. */
      vpcCidr: string;
      /** Private subnets in at least two availability zones (RDS, RDS Proxy, Lambdas). */
      privateSubnetIds: string[];
      /** Subnet of the Asterisk host. */
      asteriskSubnetId: string;
      /**
       * How the private subnets reach Secrets Manager. Default: "endpoint". "nat" on an existing
       * VPC creates nothing: its private subnets must already route through a NAT gateway.
       */
      egress?: EgressMode;
      /**
       * With egress "endpoint": required, because an existing VPC may already have a Secrets
       * Manager endpoint with private DNS (a second one fails to apply, and a new one takes the
       * service's DNS name over for every workload in the VPC).
       */
      secretsManagerEndpoint?: SecretsManagerEndpointConfig;
    };

/**
 * The Secrets Manager interface endpoint (private DNS) the Lambdas and the Asterisk host call.
 * - "create": a new endpoint; private DNS sends EVERY Secrets Manager call in the VPC to it, so it
 *   admits the whole VPC (or `clientCidrs`) on 443. $0.01/h per AZ ($14.60/month with two AZs).
 * - "existing": the VPC already has one; nothing is created. With `securityGroupId` (the
 *   endpoint's security group) the stack adds 443 rules from the Lambdas and the Asterisk host.
 */
export type SecretsManagerEndpointConfig =
  | {
      /** "create": a new endpoint; "existing": the VPC's own (nothing is created). */
      mode: "create";
      /** Sources admitted on 443. Default: [the VPC's CIDR]. */
      clientCidrs?: string[];
    }
  | {
      mode: "existing";
      /** The existing endpoint's security group: the stack adds 443 from its clients. Default: none (it admits them already). */
      securityGroupId?: string;
    };

/**
 * "endpoint": a Secrets Manager interface endpoint in the private subnets (the only AWS API the
 * Lambdas call). "nat": a NAT gateway in the public subnet and a default route for the private ones.
 */
export type EgressMode = "endpoint" | "nat";

/**
 * An environment's `database` section: the Data module's settings (modules/data), each of which
 * the environment must set except `adminCidrs`.
 */
export const DatabaseConfig = requiring(DatabaseSettings, ["identifier", "instanceClass", "engineVersion", "databaseName", "masterUsername", "allocatedStorageGb", "maxAllocatedStorageGb", "multiAz", "backupRetentionDays", "deletionProtection"]);
export type DatabaseConfig = z.input<typeof DatabaseConfig>;

/** An environment's `proxy` section: RDS Proxy's settings (modules/data); `enabled` and `allowedCidrs` may be left out. */
export const ProxyConfig = requiring(ProxySettings, ["connectionBorrowTimeout", "maxConnectionsPercent", "maxIdleConnectionsPercent", "idleClientTimeout", "requireTls"]);
export type ProxyConfig = z.input<typeof ProxyConfig>;

/** An environment's `asterisk` section: the Compute module's host settings (modules/compute); amiId and keyName may be left out. */
export const AsteriskConfig = requiring(AsteriskSettings, ["instanceType", "rootVolumeGb", "sshCidrs", "sipCidrs", "rtpPorts"]);
export type AsteriskConfig = z.input<typeof AsteriskConfig>;

/** Where Redis runs: on the Asterisk host (the seeds' decision) or on ElastiCache (the rollback). */
export const REDIS_MODES = ["self-hosted", "elasticache"] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

/** ElastiCache for Redis, used when `redis.mode` is "elasticache": the module's settings (modules/elasticache). */
export type ElasticacheConfig = ElasticacheSettings;

/** A systemd calendar expression of safe characters (the host's systemd-analyze checks it fully). */
export const BACKUP_SCHEDULE = /^[A-Za-z0-9*:,/.~ -]{1,64}$/;

/** Backups of the self-hosted Redis to S3 (modules/redis-backup; provisioning's timer; docs/backups.md). */
export const RedisBackupConfig = section(
  {
    /** Creates the bucket and the host's write access. */
    enabled: bool(),
    /** systemd OnCalendar expression of the host's backup timer, e.g. "hourly" or "*-*-* 02:30:00". */
    schedule: matching(BACKUP_SCHEDULE, 'a systemd OnCalendar expression such as "hourly" or "*-*-* 02:30:00"'),
    retentionDays: RedisBackupSettings.shape.retentionDays,
    kmsKeyArn: RedisBackupSettings.shape.kmsKeyArn,
  },
  "{ enabled, retentionDays, schedule }",
);
export type RedisBackupConfig = z.input<typeof RedisBackupConfig>;

/** Redis on the Asterisk host (modules/compute's RedisSettings; port required), where it runs, and its backups. */
export const RedisHostConfig = requiring(RedisSettings, ["port"]);
export type RedisConfig = z.input<typeof RedisHostConfig> & {
  /** Backups to S3. Default: none (no bucket). */
  backup?: RedisBackupConfig;
  /** Default: "self-hosted". Switching changes only the Redis resources (docs/cost.md). */
  mode?: RedisMode;
  /** Settings of the ElastiCache replication group (mode "elasticache"). */
  elasticache?: ElasticacheConfig;
};

export type BackendConfig =
  | {
      /** "local": a state file in the project; "s3": shared state in an S3 bucket. */
      type: "local";
      /** State file path relative to the project root. Default: terraform.<stack>.tfstate */
      path?: string;
    }
  | {
      type: "s3";
      /** S3 bucket of the state (encrypted; versioning recommended). */
      bucket: string;
      /** Object key of this environment's state. */
      key: string;
      /** Region of the state bucket. */
      region: string;
      /** Terraform >= 1.10 native S3 locking (no DynamoDB table). Default: true. */
      useLockfile?: boolean;
    };

/** Size and limits of one Lambda function (modules/lambdas), every field set by the environment (the budget needs reservedConcurrency). */
export const LambdaFunctionConfig = requiring(FunctionSettings, ["memoryMb", "timeoutSeconds", "reservedConcurrency"]);
export type LambdaFunctionConfig = z.input<typeof LambdaFunctionConfig>;

/** What the stack itself needs of the `lambdas` section: the connection budget's figures and ARI. */
export const LAMBDAS_STACK_SETTINGS = {
  /** Database connections one execution environment holds (the handlers keep exactly one). */
  connectionsPerEnvironment: integer(1, 10),
  /** Connections kept free for migrations, admin tools and monitoring (connection budget). */
  connectionHeadroom: integer(0, 1000),
  /** Size and limits of each of the six functions (lambdas/manifest.ts), see `lambdas.functions.<name>`. */
  functions: perFunction(LambdaFunctionConfig),
  /** Asterisk ARI on the Asterisk host (dialer-worker): port and user; the password is generated. */
  ari: section({ port: integer(1024, 65535), user: matching(/^[a-z][a-z0-9_-]{0,31}$/, "lowercase letters, digits, dashes and underscores") }, "{ port, user }"),
};

/** An environment's `lambdas` section: the Lambdas module's settings (modules/lambdas), architecture and log retention required, and the stack's own. */
export const LambdasConfig = requiring(LambdasSettings, ["architecture", "logRetentionDays"]).safeExtend(LAMBDAS_STACK_SETTINGS);
export type LambdasConfig = z.input<typeof LambdasConfig>;

/** An environment's `monitoring` section: the Monitoring module's alarm e-mail (modules/monitoring). */
export const MonitoringConfig = section({ alarmEmail: MonitoringSettings.shape.alarmEmail }, "{} or { alarmEmail }");
export type MonitoringConfig = z.input<typeof MonitoringConfig>;

/** How hard the stateful resources (RDS instance, Asterisk host, secrets) are to lose. */
export interface ProtectionConfig {
  /**
   * lifecycle.prevent_destroy on the RDS instance, the Asterisk host and the secrets, and EC2
   * termination protection on the host: a plan that would destroy or replace one fails.
   */
  preventDestroy: boolean;
  /**
   * Days a deleted secret can still be restored (its name stays taken meanwhile): 0 deletes at
   * once, so dev can be destroyed and rebuilt the same day; 7..30 otherwise.
   */
  secretRecoveryWindowDays: number;
}

/** Protection when a config sets none: production's. */
export const DEFAULT_PROTECTION: ProtectionConfig = { preventDestroy: true, secretRecoveryWindowDays: 7 };

export interface CampaignConfig {
  /** Project name: first half of the stack name `<project>-<environment>` and of every resource name. */
  project: string;
  /** Environment name, e.g. dev or prod: the stack is `<project>-<environment>`. */
  environment: string;
  /** AWS region of every resource, e.g. us-east-1. */
  region: string;
  network: NetworkConfig;
  database: DatabaseConfig;
  proxy: ProxyConfig;
  asterisk: AsteriskConfig;
  redis: RedisConfig;
  lambdas: LambdasConfig;
  monitoring: MonitoringConfig;
  backend: BackendConfig;
  /** Default: DEFAULT_PROTECTION (prevent_destroy, 7-day secret recovery window). */
  protection?: ProtectionConfig;
  /** Extra tags on every resource (Project, Environment and ManagedBy are always set). */
  tags?: Record<string, string>;
}

/** An AWS region name; the PythonIDE config checks its region and backend with these too. */
export const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
/** A project or environment name (stack names, resource name prefixes). */
export const NAME = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

/** Every problem of one environment's configuration, as `environment.key: message (allowed: ...)`. */
export function validateCampaignConfig(config: CampaignConfig): string[] {
  const p = new Problems(config.environment || "<environment>");
  p.check("project", matching(NAME, "lowercase letters, digits and dashes, 3-32 chars"), config.project);
  p.check("environment", matching(NAME, "lowercase letters, digits and dashes, 3-32 chars"), config.environment);
  p.check("region", matching(REGION, "an AWS region such as us-east-1"), config.region);
  const vpcCidr = validateNetwork(p.at("network"), config.network, config.region);
  if (p.check("database", DatabaseConfig, config.database)) vpcOnlyCidrs(p.at("database"), "adminCidrs", config.database.adminCidrs, vpcCidr, "the database instance");
  if (p.check("proxy", ProxyConfig, config.proxy)) vpcOnlyCidrs(p.at("proxy"), "allowedCidrs", config.proxy.allowedCidrs, vpcCidr, "the proxy");
  p.check("asterisk", AsteriskConfig, config.asterisk);
  validateRedis(p.at("redis"), config.redis, vpcCidr);
  if (validateLambdas(p.at("lambdas"), config.lambdas, config.redis?.port)) validateBudget(p.at("lambdas"), config);
  p.check("monitoring", MonitoringConfig, config.monitoring);
  validateBackend(p.at("backend"), config.backend);
  validateProtection(p.at("protection"), config.protection);
  validateTags(p, config.tags);
  return [...p.all];
}

function validateProtection(p: Problems, x: ProtectionConfig | undefined): void {
  if (x === undefined) return;
  if (typeof x.preventDestroy !== "boolean") p.add("preventDestroy", "must be true or false");
  const days = x.secretRecoveryWindowDays;
  if (!(days === 0 || (Number.isInteger(days) && days >= 7 && days <= 30))) {
    p.add("secretRecoveryWindowDays", `${JSON.stringify(days)} is not a recovery window`, "0 (delete at once) or 7..30 days");
  }
}

function validateSecretsManagerEndpoint(p: Problems, n: NetworkConfig, vpcCidr: string | undefined): void {
  const e = n.secretsManagerEndpoint;
  if ((n.egress ?? "endpoint") !== "endpoint") {
    if (e !== undefined) p.add("secretsManagerEndpoint", `only applies to egress "endpoint" (egress is ${JSON.stringify(n.egress)})`, "unset");
    return;
  }
  if (e === undefined) {
    if (n.mode === "existing") {
      p.add(
        "secretsManagerEndpoint",
        "is required on an existing VPC: it may already have a Secrets Manager endpoint with private DNS (a second one fails to apply)",
        '{ mode: "existing", securityGroupId?: "sg-..." } to reuse it, or { mode: "create" } if the VPC has none',
      );
    }
    return;
  }
  if (!p.check("secretsManagerEndpoint.mode", oneOf(["create", "existing"] as const), e.mode)) return;
  if (e.mode === "existing") {
    if (e.securityGroupId !== undefined) p.check("secretsManagerEndpoint.securityGroupId", matching(/^sg-[0-9a-f]{8,17}$/, "sg- followed by 8 or 17 hex digits"), e.securityGroupId);
    return;
  }
  vpcOnlyCidrs(p.at("secretsManagerEndpoint"), "clientCidrs", e.clientCidrs, vpcCidr, "the endpoint");
}

/** Tags the stacks set themselves; a config may not override them. */
export const RESERVED_TAGS = ["Project", "Environment", "ManagedBy"] as const;

/** Extra tags: AWS limits (key 1..128, value 0..256 chars, no aws: prefix), not the reserved ones. */
export function validateTags(p: Problems, tags: Record<string, string> | undefined): void {
  if (tags === undefined) return;
  if (typeof tags !== "object" || tags === null || Array.isArray(tags)) return p.add("tags", "must be a map of strings");
  for (const [key, value] of Object.entries(tags)) {
    const where = `tags.${key}`;
    if ((RESERVED_TAGS as readonly string[]).includes(key)) p.add(where, "is set by the stack itself", `any key but ${RESERVED_TAGS.join(", ")}`);
    else if (key.length > 128 || /^aws:/i.test(key)) p.add(where, "is not a valid tag key", "1..128 characters, not starting with aws:");
    if (typeof value !== "string" || value.length > 256) p.add(where, "must be a string of at most 256 characters");
  }
}

/** The connection budget of an environment's config (undefined if the class is unknown). */
export function budgetOf(config: CampaignConfig) {
  return connectionBudget({
    instanceClass: config.database.instanceClass,
    viaProxy: config.proxy.enabled ?? true,
    maxConnectionsPercent: config.proxy.maxConnectionsPercent,
    headroom: config.lambdas.connectionHeadroom,
    connectionsPerEnvironment: config.lambdas.connectionsPerEnvironment,
    functions: LAMBDA_FUNCTIONS.map((f) => ({
      name: f.name,
      reservedConcurrency: config.lambdas.functions[f.name].reservedConcurrency,
      usesDatabase: f.uses.database,
    })),
  });
}

/** The connection budget's problem lines (none when it fits); the stack re-checks it at synth. */
export function budgetProblems(config: CampaignConfig): string[] {
  const p = new Problems(config.environment);
  validateBudget(p.at("lambdas"), config);
  return [...p.all];
}

/** Connection budget: the functions' database connections must fit what the proxy (or instance) may open. */
function validateBudget(p: Problems, config: CampaignConfig): void {
  if (!config.database || !config.proxy || !Number.isInteger(config.proxy.maxConnectionsPercent)) return;
  const problem = budgetProblem(budgetOf(config));
  if (problem) p.add("functions", problem.message, problem.allowed);
}

/** Returns whether the section is complete enough for the connection budget. */
function validateLambdas(p: Problems, l: LambdasConfig | undefined, redisPort: number | undefined): boolean {
  p.check("", LambdasConfig, l);
  if (!l) return false;
  const { connectionsPerEnvironment, connectionHeadroom } = LAMBDAS_STACK_SETTINGS;
  const ok =
    connectionsPerEnvironment.safeParse(l.connectionsPerEnvironment).success &&
    connectionHeadroom.safeParse(l.connectionHeadroom).success &&
    FUNCTION_NAMES.every((name) => LambdaFunctionConfig.shape.reservedConcurrency.safeParse(l.functions?.[name]?.reservedConcurrency).success);
  const taken: Record<number, string> = { 5432: "PostgreSQL's port", 5060: "SIP's port", 5061: "SIP-TLS's port", ...(redisPort ? { [redisPort]: "the Redis port" } : {}) };
  const port = l.ari?.port;
  if (LAMBDAS_STACK_SETTINGS.ari.shape.port.safeParse(port).success && taken[port!]) p.add("ari.port", `${port} is ${taken[port!]}`, "a free port such as 8088");
  return ok;
}

function validateNetwork(p: Problems, n: NetworkConfig | undefined, region: string): string | undefined {
  if (!n) {
    p.add("", "is required", "mode \"create\" or \"existing\"");
    return undefined;
  }
  if (!p.check("mode", oneOf(["create", "existing"] as const), n.mode)) return undefined;
  if (n.egress !== undefined) p.check("egress", oneOf(["endpoint", "nat"] as const), n.egress);
  const vpcOk = p.check("vpcCidr", cidr(), n.vpcCidr);
  validateSecretsManagerEndpoint(p, n, vpcOk ? n.vpcCidr : undefined);
  if (n.mode === "existing") {
    p.check("vpcId", matching(/^vpc-[0-9a-f]{8,17}$/, "vpc- followed by 8 or 17 hex digits"), n.vpcId);
    if (!Array.isArray(n.privateSubnetIds) || n.privateSubnetIds.length < 2) {
      p.add("privateSubnetIds", "RDS Proxy needs private subnets in at least two availability zones", "two or more subnet ids");
    } else {
      n.privateSubnetIds.forEach((id, i) =>
        p.check(`privateSubnetIds[${i}]`, matching(/^subnet-[0-9a-f]{8,17}$/, "subnet- followed by 8 or 17 hex digits"), id),
      );
    }
    p.check("asteriskSubnetId", matching(/^subnet-[0-9a-f]{8,17}$/, "subnet- followed by 8 or 17 hex digits"), n.asteriskSubnetId);
    return vpcOk ? n.vpcCidr : undefined;
  }
  const azs = Array.isArray(n.availabilityZones) ? n.availabilityZones : [];
  if (azs.length < 2) {
    p.add("availabilityZones", `RDS Proxy needs at least two availability zones, got ${azs.length}`, `two or more of ${region}a, ${region}b, ...`);
  }
  if (new Set(azs).size !== azs.length) p.add("availabilityZones", "lists an availability zone twice");
  availabilityZoneNames(p, azs, region);
  const subnets = Array.isArray(n.privateSubnetCidrs) ? n.privateSubnetCidrs : [];
  if (subnets.length !== azs.length) {
    p.add("privateSubnetCidrs", `needs one CIDR per availability zone (${azs.length}), got ${subnets.length}`);
  }
  const vpc = vpcOk ? { cidr: parseCidr(n.vpcCidr)!, text: n.vpcCidr } : undefined;
  const seen: [string, Cidr][] = [];
  subnets.forEach((cidr, i) => subnetCidr(p, `privateSubnetCidrs[${i}]`, cidr, vpc, seen));
  subnetCidr(p, "publicSubnetCidr", n.publicSubnetCidr, vpc, seen);
  return vpcOk ? n.vpcCidr : undefined;
}

/** An opt-in list of extra CIDR sources of a VPC-only port (valid CIDRs, per its schema): each must lie inside the VPC. */
function vpcOnlyCidrs(p: Problems, key: string, cidrs: string[] | undefined, vpcCidr: string | undefined, what: string): void {
  if (cidrs === undefined || !vpcCidr) return;
  const vpc = parseCidr(vpcCidr)!;
  cidrs.forEach((c, i) => {
    const cidr = parseCidr(c);
    if (cidr && !cidrContains(vpc, cidr)) p.add(`${key}[${i}]`, `${c} is outside the VPC ${vpcCidr}: ${what} is VPC-only`, `CIDRs inside ${vpcCidr}`);
  });
}

/** `redis.mode` and `redis.elasticache` (the ElastiCache rollback). */
function validateRedisMode(p: Problems, r: RedisConfig): void {
  if (r.mode !== undefined) p.check("mode", oneOf(REDIS_MODES), r.mode);
  if (r.elasticache !== undefined) p.check("elasticache", ElasticacheSettings, r.elasticache);
}

/** Redis settings provisioning owns now: a config that still sets one fails rather than being ignored. */
export const REDIS_SETTINGS_IN_INVENTORY = { maxmemory: "redis_maxmemory", maxmemoryPolicy: "redis_maxmemory_policy", appendonly: "redis_appendonly" } as const;

function movedToInventory(p: Problems, r: RedisConfig): void {
  for (const [key, variable] of Object.entries(REDIS_SETTINGS_IN_INVENTORY)) {
    if (key in r) {
      p.add(key, `moved to the inventory: provisioning owns Redis's running config (and checks maxmemory against the host's memory)`, `leave unset; set ${variable} in inventory/<environment>/group_vars/asterisk.yml`);
    }
  }
}

function validateRedis(p: Problems, r: RedisConfig | undefined, vpcCidr: string | undefined): void {
  if (!p.check("", RedisHostConfig, r)) vpcCidr = undefined;
  if (!r) return;
  validateRedisMode(p, r);
  movedToInventory(p, r);
  vpcOnlyCidrs(p, "allowedCidrs", r.allowedCidrs, vpcCidr, "Redis");
  if (r.backup !== undefined) p.check("backup", RedisBackupConfig, r.backup);
}

export function validateBackend(p: Problems, b: BackendConfig | undefined): void {
  if (!b) return p.add("", "is required", "type \"local\" or \"s3\"");
  if (!p.check("type", oneOf(["local", "s3"] as const), b.type)) return;
  if (b.type === "local") {
    if (b.path !== undefined && (typeof b.path !== "string" || b.path.startsWith("/"))) {
      p.add("path", `${JSON.stringify(b.path)} must be relative to the project root`, "a relative path such as terraform.<stack>.tfstate");
    }
    return;
  }
  p.check("bucket", matching(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name"), b.bucket);
  p.check("key", matching(/^[^/].*\.tfstate$/, "an object key ending in .tfstate, e.g. campaign/prod/terraform.tfstate"), b.key);
  p.check("region", matching(REGION, "an AWS region such as us-east-1"), b.region);
}
