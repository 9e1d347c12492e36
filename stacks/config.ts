import { elasticacheSettingProblems } from "../modules/elasticache";
import { redisBackupProblems } from "../modules/redis-backup";
import { FUNCTION_NAMES, LAMBDA_FUNCTIONS, type FunctionName } from "../lambdas/manifest";
import { budgetProblem, connectionBudget } from "./budget";
import { EVICTION_POLICIES } from "../lambdas/contracts/eviction";
import { memoryBytes } from "../lambdas/contracts/memory";
import { ASTERISK_HOST_RESERVED_MIB, EC2_MEMORY_MIB, LOG_RETENTION_DAYS, RDS_CLASSES } from "./catalog";
import { Problems, availabilityZoneNames, cidrContains, parseCidr, subnetCidr, type Cidr } from "./validation";

/** The network the campaign system lives in: a VPC this stack creates, or an existing one. */
export type NetworkConfig =
  | {
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

export interface DatabaseConfig {
  /**
   * RDS instance identifier. Changing it renames the instance in place (aws 5.100 plans an update),
   * and replaces the proxy target, the subnet group and the parameter group (`npm run plan` shows it).
   */
  identifier: string;
  /** RDS instance class, e.g. db.t3.small. */
  instanceClass: string;
  /**
   * PostgreSQL engine version: the major ("16"), so RDS creates its current default minor and
   * auto minor version upgrades never make a plan propose a downgrade. A minor ("16.11") only when
   * you must pin one (and then keep it at or above what RDS has upgraded to). The parameter group
   * family follows the major.
   */
  engineVersion: string;
  databaseName: string;
  masterUsername: string;
  /** Allocated storage in GB (gp3). */
  allocatedStorageGb: number;
  /** Storage autoscaling ceiling in GB; 0 turns autoscaling off. */
  maxAllocatedStorageGb: number;
  multiAz: boolean;
  /**
   * CIDRs inside the VPC allowed to the instance itself on 5432 (a bastion, a VPN range, the
   * Asterisk subnet for SSM port forwarding): admin tools and `npm run migrate`. Default: none,
   * so nothing bypasses the proxy.
   */
  adminCidrs?: string[];
  /** Days of automated backups, 0..35. */
  backupRetentionDays: number;
  deletionProtection: boolean;
}

export interface ProxyConfig {
  /** Seconds a client waits for a pooled connection before an error. */
  connectionBorrowTimeout: number;
  /** Share of the database's max_connections the proxy may open. */
  maxConnectionsPercent: number;
  /** Share of max_connections the proxy keeps idle. */
  maxIdleConnectionsPercent: number;
  /** Seconds before the proxy closes an idle client connection. */
  idleClientTimeout: number;
  /** TLS between clients and the proxy. Guardrails refuse false. */
  requireTls: boolean;
  /**
   * Whether the Lambdas go through RDS Proxy. Default: true. With false there is no proxy: the
   * Lambdas connect to the instance (TLS against the RDS CA), and the connection budget is checked
   * against the instance's own max_connections.
   */
  enabled?: boolean;
  /** CIDRs allowed to the proxy on 5432 besides the Lambda security group (opt-in). Default: none. */
  allowedCidrs?: string[];
}

export interface AsteriskConfig {
  instanceType: string;
  /** AMI id; when absent the latest Amazon Linux 2023 AMI from the public SSM parameter is used. */
  amiId?: string;
  /** EC2 key pair for SSH; absent means SSM Session Manager only. */
  keyName?: string;
  /** Root volume size in GB (gp3, encrypted). */
  rootVolumeGb: number;
  /** CIDRs allowed to SSH (22). Never 0.0.0.0/0. */
  sshCidrs: string[];
  /** CIDRs of the SIP trunk / carrier allowed to reach SIP (5060-5061) and RTP. */
  sipCidrs: string[];
  /** RTP UDP port range [from, to]. */
  rtpPorts: [number, number];
}

/** Where Redis runs: on the Asterisk host (the seeds' decision) or on ElastiCache (the rollback). */
export const REDIS_MODES = ["self-hosted", "elasticache"] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

/** ElastiCache for Redis, used when `redis.mode` is "elasticache" (modules/elasticache). */
export interface ElasticacheConfig {
  /** Node type. Default: "cache.t3.micro". */
  nodeType?: string;
  /** Nodes (primary + replicas), 1..6; 2 or more turns on automatic failover and Multi-AZ. Default: 1. */
  numCacheClusters?: number;
  /** Redis engine version. Default: "7.1". */
  engineVersion?: string;
  /** Days of automatic snapshots, 0..35. Default: 1. */
  snapshotRetentionDays?: number;
  /**
   * "required" accepts TLS clients only; "preferred" accepts TLS and plaintext (the Lambdas'
   * Redis client does not speak TLS yet). Default: "preferred".
   */
  transitEncryptionMode?: "required" | "preferred";
}

/** Backups of the self-hosted Redis to S3 (modules/redis-backup; provisioning's timer; docs/backups.md). */
export interface RedisBackupConfig {
  /** Creates the bucket and the host's write access. */
  enabled: boolean;
  /** Days each backup (and each overwritten version) is kept, 1-3650. */
  retentionDays: number;
  /** systemd OnCalendar expression of the host's backup timer, e.g. "hourly" or "*-*-* 02:30:00". */
  schedule: string;
  /** KMS key ARN to encrypt with (SSE-KMS). Default: SSE-S3. */
  kmsKeyArn?: string;
}

/** A systemd calendar expression of safe characters (the host's systemd-analyze checks it fully). */
export const BACKUP_SCHEDULE = /^[A-Za-z0-9*:,/.~ -]{1,64}$/;

export interface RedisConfig {
  /** Backups to S3. Default: none (no bucket). */
  backup?: RedisBackupConfig;
  /** Default: "self-hosted". Switching changes only the Redis resources (docs/cost.md). */
  mode?: RedisMode;
  /** Settings of the ElastiCache replication group (mode "elasticache"). */
  elasticache?: ElasticacheConfig;
  port: number;
  /** Redis maxmemory, e.g. "512mb". Must fit the Asterisk host with room for a BGSAVE fork. */
  maxmemory: string;
  maxmemoryPolicy: string;
  appendonly: boolean;
  /** CIDRs allowed to 6379 besides the Lambda security group (opt-in). Default: none. */
  allowedCidrs?: string[];
}

export type BackendConfig =
  | {
      type: "local";
      /** State file path relative to the project root. Default: terraform.<stack>.tfstate */
      path?: string;
    }
  | {
      type: "s3";
      bucket: string;
      /** Object key of this environment's state. */
      key: string;
      region: string;
      /** Terraform >= 1.10 native S3 locking (no DynamoDB table). Default: true. */
      useLockfile?: boolean;
    };

/** The functions EventBridge invokes on a schedule; the others are invoked directly. */
export const SCHEDULED_FUNCTIONS = ["dialer-worker", "status-checker"] as const satisfies readonly FunctionName[];

/** Size and limits of one Lambda function. */
export interface LambdaFunctionConfig {
  memoryMb: number;
  timeoutSeconds: number;
  /** Reserved concurrency: required, it bounds the function's database connections (budget). */
  reservedConcurrency: number;
}

export interface LambdasConfig {
  architecture: "arm64" | "x86_64";
  /** CloudWatch Logs retention of each function's log group, in days. */
  logRetentionDays: number;
  /** Database connections one execution environment holds (the handlers keep exactly one). */
  connectionsPerEnvironment: number;
  /** Connections kept free for migrations, admin tools and monitoring (connection budget). */
  connectionHeadroom: number;
  /** EventBridge schedule of each scheduled function: `rate(...)` or `cron(...)`. */
  schedules: Record<(typeof SCHEDULED_FUNCTIONS)[number], string>;
  functions: Record<FunctionName, LambdaFunctionConfig>;
  /** Asterisk ARI on the Asterisk host (dialer-worker): port and user; the password is generated. */
  ari: { port: number; user: string };
  /** LOG_LEVEL of every function. Default: the functions' own (info). */
  logLevel?: "debug" | "info" | "warn" | "error";
}

export interface MonitoringConfig {
  /** E-mail subscribed to the alarm topic (confirmed by the recipient). Default: no subscription. */
  alarmEmail?: string;
}

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
  project: string;
  environment: string;
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
  p.matches("project", config.project, NAME, "lowercase letters, digits and dashes, 3-32 chars");
  p.matches("environment", config.environment, NAME, "lowercase letters, digits and dashes, 3-32 chars");
  p.matches("region", config.region, REGION, "an AWS region such as us-east-1");
  const vpcCidr = validateNetwork(p.at("network"), config.network, config.region);
  validateDatabase(p.at("database"), config.database);
  vpcOnlyCidrs(p.at("database"), "adminCidrs", config.database?.adminCidrs, vpcCidr, "the database instance");
  validateProxy(p.at("proxy"), config.proxy, vpcCidr);
  validateAsterisk(p.at("asterisk"), config.asterisk);
  validateRedis(p.at("redis"), config.redis, config.asterisk?.instanceType, vpcCidr);
  if (validateLambdas(p.at("lambdas"), config.lambdas, config.redis?.port)) validateBudget(p.at("lambdas"), config);
  validateMonitoring(p.at("monitoring"), config.monitoring);
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
  if (!p.oneOf("secretsManagerEndpoint.mode", e.mode, ["create", "existing"] as const)) return;
  if (e.mode === "existing") {
    if (e.securityGroupId !== undefined) p.matches("secretsManagerEndpoint.securityGroupId", e.securityGroupId, /^sg-[0-9a-f]{8,17}$/, "sg- followed by 8 or 17 hex digits");
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

const SCHEDULE = /^(rate\((1 (minute|hour|day)|[1-9]\d* (minutes|hours|days))\)|cron\([^()]+\))$/;

/** Returns whether the section is complete enough for the connection budget. */
function validateLambdas(p: Problems, l: LambdasConfig | undefined, redisPort: number | undefined): boolean {
  if (!l) {
    p.add("", "is required");
    return false;
  }
  p.oneOf("architecture", l.architecture, ["arm64", "x86_64"] as const);
  p.oneOf("logRetentionDays", l.logRetentionDays, LOG_RETENTION_DAYS);
  let ok = p.integer("connectionsPerEnvironment", l.connectionsPerEnvironment, 1, 10);
  ok = p.integer("connectionHeadroom", l.connectionHeadroom, 0, 1000) && ok;
  for (const name of SCHEDULED_FUNCTIONS) {
    p.matches(`schedules.${name}`, l.schedules?.[name], SCHEDULE, "rate(1 minute), rate(5 minutes), cron(...)");
  }
  for (const name of Object.keys(l.functions ?? {})) {
    if (!(FUNCTION_NAMES as readonly string[]).includes(name)) p.add(`functions.${name}`, "is not a function", FUNCTION_NAMES.join(", "));
  }
  for (const name of FUNCTION_NAMES) {
    const f = l.functions?.[name];
    const fp = p.at(`functions.${name}`);
    if (!f) {
      ok = false;
      fp.add("", "is required", "{ memoryMb, timeoutSeconds, reservedConcurrency }");
      continue;
    }
    fp.integer("memoryMb", f.memoryMb, 128, 10240);
    fp.integer("timeoutSeconds", f.timeoutSeconds, 1, 900);
    ok = fp.integer("reservedConcurrency", f.reservedConcurrency, 1, 1000) && ok;
  }
  const ari = p.at("ari");
  if (!l.ari) ari.add("", "is required", "{ port, user }");
  else {
    const taken: Record<number, string> = { 5432: "PostgreSQL's port", 5060: "SIP's port", 5061: "SIP-TLS's port", ...(redisPort ? { [redisPort]: "the Redis port" } : {}) };
    if (ari.integer("port", l.ari.port, 1024, 65535) && taken[l.ari.port]) ari.add("port", `${l.ari.port} is ${taken[l.ari.port]}`, "a free port such as 8088");
    ari.matches("user", l.ari.user, /^[a-z][a-z0-9_-]{0,31}$/, "lowercase letters, digits, dashes and underscores");
  }
  if (l.logLevel !== undefined) p.oneOf("logLevel", l.logLevel, ["debug", "info", "warn", "error"] as const);
  return ok;
}

function validateMonitoring(p: Problems, m: MonitoringConfig | undefined): void {
  if (!m) return p.add("", "is required", "{} or { alarmEmail }");
  if (m.alarmEmail !== undefined) p.matches("alarmEmail", m.alarmEmail, /^[^\s@]+@[^\s@]+\.[^\s@]+$/, "an e-mail address, or leave unset");
}

function validateNetwork(p: Problems, n: NetworkConfig | undefined, region: string): string | undefined {
  if (!n) {
    p.add("", "is required", "mode \"create\" or \"existing\"");
    return undefined;
  }
  if (!p.oneOf("mode", n.mode, ["create", "existing"] as const)) return undefined;
  if (n.egress !== undefined) p.oneOf("egress", n.egress, ["endpoint", "nat"] as const);
  const vpcOk = p.cidr("vpcCidr", n.vpcCidr);
  validateSecretsManagerEndpoint(p, n, vpcOk ? n.vpcCidr : undefined);
  if (n.mode === "existing") {
    p.matches("vpcId", n.vpcId, /^vpc-[0-9a-f]{8,17}$/, "vpc- followed by 8 or 17 hex digits");
    if (!Array.isArray(n.privateSubnetIds) || n.privateSubnetIds.length < 2) {
      p.add("privateSubnetIds", "RDS Proxy needs private subnets in at least two availability zones", "two or more subnet ids");
    } else {
      n.privateSubnetIds.forEach((id, i) =>
        p.matches(`privateSubnetIds[${i}]`, id, /^subnet-[0-9a-f]{8,17}$/, "subnet- followed by 8 or 17 hex digits"),
      );
    }
    p.matches("asteriskSubnetId", n.asteriskSubnetId, /^subnet-[0-9a-f]{8,17}$/, "subnet- followed by 8 or 17 hex digits");
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

function validateDatabase(p: Problems, d: DatabaseConfig | undefined): void {
  if (!d) return p.add("", "is required");
  validatePostgres(p, d, Object.keys(RDS_CLASSES));
  if (p.integer("maxAllocatedStorageGb", d.maxAllocatedStorageGb, 0, 65536) && d.maxAllocatedStorageGb !== 0 && d.maxAllocatedStorageGb <= d.allocatedStorageGb) {
    p.add("maxAllocatedStorageGb", `must be 0 (no autoscaling) or above allocatedStorageGb (${d.allocatedStorageGb})`);
  }
  p.integer("backupRetentionDays", d.backupRetentionDays, 0, 35);
  if (typeof d.multiAz !== "boolean") p.add("multiAz", "must be true or false");
  if (typeof d.deletionProtection !== "boolean") p.add("deletionProtection", "must be true or false");
}

/** The fields every PostgreSQL instance this project creates has (campaign, PythonIDE staging). */
export function validatePostgres(
  p: Problems,
  d: Pick<DatabaseConfig, "identifier" | "instanceClass" | "engineVersion" | "databaseName" | "masterUsername" | "allocatedStorageGb">,
  instanceClasses: readonly string[],
): void {
  p.matches("identifier", d.identifier, /^[a-z][a-z0-9-]{0,62}$/, "lowercase letters, digits and dashes, starting with a letter");
  p.oneOf("instanceClass", d.instanceClass, instanceClasses);
  p.matches("engineVersion", d.engineVersion, /^(1[3-7])(\.\d+)?$/, "a PostgreSQL major 13..17 such as \"16\" (or a minor such as \"16.11\")");
  p.matches("databaseName", d.databaseName, /^[a-z][a-z0-9_]{0,62}$/, "lowercase letters, digits and underscores");
  p.matches("masterUsername", d.masterUsername, /^[a-z][a-z0-9_]{0,15}$/, "lowercase letters, digits and underscores, at most 16 chars");
  if (["admin", "postgres", "rdsadmin"].includes(d.masterUsername)) {
    p.add("masterUsername", `${JSON.stringify(d.masterUsername)} is reserved by RDS`, "any other name");
  }
  p.integer("allocatedStorageGb", d.allocatedStorageGb, 20, 65536);
}

function validateProxy(p: Problems, x: ProxyConfig | undefined, vpcCidr: string | undefined): void {
  if (!x) return p.add("", "is required");
  p.integer("connectionBorrowTimeout", x.connectionBorrowTimeout, 1, 3600);
  p.integer("maxConnectionsPercent", x.maxConnectionsPercent, 1, 100);
  if (p.integer("maxIdleConnectionsPercent", x.maxIdleConnectionsPercent, 0, 100) && x.maxIdleConnectionsPercent > x.maxConnectionsPercent) {
    p.add("maxIdleConnectionsPercent", `${x.maxIdleConnectionsPercent} exceeds maxConnectionsPercent (${x.maxConnectionsPercent})`, `0..${x.maxConnectionsPercent}`);
  }
  p.integer("idleClientTimeout", x.idleClientTimeout, 1, 28800);
  if (x.requireTls !== true) p.add("requireTls", "must be true: clients reach the proxy only over TLS", "true");
  if (x.enabled !== undefined && typeof x.enabled !== "boolean") p.add("enabled", "must be true or false");
  vpcOnlyCidrs(p, "allowedCidrs", x.allowedCidrs, vpcCidr, "the proxy");
}

/** An opt-in list of extra CIDR sources of a VPC-only port: each must lie inside the VPC. */
function vpcOnlyCidrs(p: Problems, key: string, cidrs: string[] | undefined, vpcCidr: string | undefined, what: string): void {
  if (cidrs === undefined || !p.cidrList(key, cidrs, { minItems: 1 }) || !vpcCidr) return;
  const vpc = parseCidr(vpcCidr)!;
  cidrs.forEach((c, i) => {
    const cidr = parseCidr(c);
    if (cidr && !cidrContains(vpc, cidr)) p.add(`${key}[${i}]`, `${c} is outside the VPC ${vpcCidr}: ${what} is VPC-only`, `CIDRs inside ${vpcCidr}`);
  });
}

function validateAsterisk(p: Problems, a: AsteriskConfig | undefined): void {
  if (!a) return p.add("", "is required");
  p.oneOf("instanceType", a.instanceType, Object.keys(EC2_MEMORY_MIB));
  if (a.amiId !== undefined) p.matches("amiId", a.amiId, /^ami-[0-9a-f]{8,17}$/, "ami- followed by 8 or 17 hex digits, or leave unset for Amazon Linux 2023");
  if (a.keyName !== undefined) p.matches("keyName", a.keyName, /^[\x20-\x7e]{1,255}$/, "an EC2 key pair name");
  p.integer("rootVolumeGb", a.rootVolumeGb, 8, 16384);
  for (const [key, list] of [["sshCidrs", a.sshCidrs], ["sipCidrs", a.sipCidrs]] as const) {
    if (!p.cidrList(key, list)) continue;
    list.forEach((c, i) => {
      if (parseCidr(c)?.prefix === 0) p.add(`${key}[${i}]`, `${c} opens the port to the whole internet`, "a narrower CIDR");
    });
  }
  const [from, to] = Array.isArray(a.rtpPorts) ? a.rtpPorts : [undefined, undefined];
  if (!(Number.isInteger(from) && Number.isInteger(to) && from! >= 1024 && to! <= 65535 && from! <= to!)) {
    p.add("rtpPorts", `${JSON.stringify(a.rtpPorts)} is not a port range`, "[from, to] with 1024 <= from <= to <= 65535");
  }
}

/** `redis.mode` and `redis.elasticache` (the ElastiCache rollback). */
function validateRedisMode(p: Problems, r: RedisConfig): void {
  if (r.mode !== undefined) p.oneOf("mode", r.mode, REDIS_MODES);
  if (r.elasticache === undefined) return;
  if (typeof r.elasticache !== "object" || r.elasticache === null) return p.add("elasticache", "must be a map", "{ nodeType, numCacheClusters, engineVersion, snapshotRetentionDays, transitEncryptionMode }");
  for (const line of elasticacheSettingProblems(r.elasticache)) {
    const [key, ...rest] = line.split(": ");
    p.add(`elasticache.${key}`, rest.join(": "));
  }
}

function validateRedis(p: Problems, r: RedisConfig | undefined, instanceType: string | undefined, vpcCidr: string | undefined): void {
  if (!r) return p.add("", "is required");
  p.integer("port", r.port, 1024, 65535);
  validateRedisMode(p, r);
  p.oneOf("maxmemoryPolicy", r.maxmemoryPolicy, EVICTION_POLICIES);
  if (typeof r.appendonly !== "boolean") p.add("appendonly", "must be true or false");
  if (p.required("maxmemory", r.maxmemory, "a size such as 512mb")) {
    const bytes = memoryBytes(String(r.maxmemory));
    const ram = instanceType ? EC2_MEMORY_MIB[instanceType] : undefined;
    if (bytes === undefined || bytes === 0) {
      p.add("maxmemory", `${JSON.stringify(r.maxmemory)} is not a memory size`, "a positive size such as 512mb or 1gb");
    } else if (ram !== undefined) {
      // A BGSAVE or AOF rewrite forks: copy-on-write may double Redis's memory at worst.
      const needMib = Math.ceil((2 * bytes) / 1024 ** 2) + ASTERISK_HOST_RESERVED_MIB;
      if (needMib > ram) {
        const fits = Math.floor((ram - ASTERISK_HOST_RESERVED_MIB) / 2);
        p.add(
          "maxmemory",
          `${r.maxmemory} does not fit ${instanceType} (${ram} MiB): 2 x maxmemory for a BGSAVE fork + ${ASTERISK_HOST_RESERVED_MIB} MiB for Asterisk needs ${needMib} MiB`,
          `at most ${fits}mb on ${instanceType}, or a larger instance type`,
        );
      }
    }
  }
  vpcOnlyCidrs(p, "allowedCidrs", r.allowedCidrs, vpcCidr, "Redis");
  if (r.backup !== undefined) validateRedisBackup(p.at("backup"), r.backup);
}

function validateRedisBackup(p: Problems, b: RedisBackupConfig): void {
  if (typeof b !== "object" || b === null) return p.add("", "must be a map", "{ enabled, retentionDays, schedule }");
  if (typeof b.enabled !== "boolean") p.add("enabled", "must be true or false");
  p.matches("schedule", b.schedule, BACKUP_SCHEDULE, 'a systemd OnCalendar expression such as "hourly" or "*-*-* 02:30:00"');
  for (const line of redisBackupProblems(b)) {
    const [key, ...rest] = line.split(": ");
    p.add(key, rest.join(": "));
  }
}

export function validateBackend(p: Problems, b: BackendConfig | undefined): void {
  if (!b) return p.add("", "is required", "type \"local\" or \"s3\"");
  if (!p.oneOf("type", b.type, ["local", "s3"] as const)) return;
  if (b.type === "local") {
    if (b.path !== undefined && (typeof b.path !== "string" || b.path.startsWith("/"))) {
      p.add("path", `${JSON.stringify(b.path)} must be relative to the project root`, "a relative path such as terraform.<stack>.tfstate");
    }
    return;
  }
  p.matches("bucket", b.bucket, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name");
  p.matches("key", b.key, /^[^/].*\.tfstate$/, "an object key ending in .tfstate, e.g. campaign/prod/terraform.tfstate");
  p.matches("region", b.region, REGION, "an AWS region such as us-east-1");
}
