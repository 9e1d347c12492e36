import { z } from "zod";
import { AsteriskSettings, RedisSettings } from "../modules/compute";
import { DatabaseSettings, ProxySettings } from "../modules/data";
import { ElasticacheSettings } from "../modules/elasticache";
import { FunctionSettings, LambdasSettings, perFunction } from "../modules/lambdas";
import { MonitoringSettings } from "../modules/monitoring";
import { RedisBackupSettings } from "../modules/redis-backup";
import { FUNCTION_NAMES, LAMBDA_FUNCTIONS } from "../lambdas/manifest";
import { budgetProblem, connectionBudget } from "./budget";
import {
  Problems,
  across,
  bool,
  cidr,
  cidrContains,
  cidrList,
  createdCidr,
  inRange,
  integer,
  isMap,
  knownKeys,
  matching,
  modes,
  oneOf,
  onePerZone,
  parseCidr,
  removed,
  requiring,
  resourceId,
  satisfying,
  section,
  subnetIds,
  withAllowed,
  type Cidr,
} from "../modules/settings";
import { availabilityZoneNames, subnetCidr } from "./validation";

/** An AWS region name; the PythonIDE config checks its region and backend with these too. */
export const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
/** A project or environment name (stack names, resource name prefixes). */
export const NAME = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

/**
 * The Secrets Manager interface endpoint (private DNS) the Lambdas and the Asterisk host call.
 * - "create": a new endpoint; private DNS sends EVERY Secrets Manager call in the VPC to it, so it
 *   admits the whole VPC (or `clientCidrs`) on 443. $0.01/h per AZ ($14.60/month with two AZs).
 * - "existing": the VPC already has one; nothing is created. With `securityGroupId` (the
 *   endpoint's security group) the stack adds 443 rules from the Lambdas and the Asterisk host.
 */
export const SecretsManagerEndpointConfig = modes(
  {
    create: section({
      /** "create": a new endpoint; "existing": the VPC's own (nothing is created). */
      mode: oneOf(["create"] as const),
      /** Sources admitted on 443. Default: [the VPC's CIDR]. */
      clientCidrs: cidrList().optional(),
    }),
    existing: section({
      mode: oneOf(["existing"] as const),
      /** The existing endpoint's security group: the stack adds 443 from its clients. Default: none (it admits them already). */
      securityGroupId: resourceId("sg").optional(),
    }),
  },
  '{ mode: "create" } or { mode: "existing", securityGroupId? }',
);
export type SecretsManagerEndpointConfig = z.input<typeof SecretsManagerEndpointConfig>;

/**
 * "endpoint": a Secrets Manager interface endpoint in the private subnets (the only AWS API the
 * Lambdas call). "nat": a NAT gateway in the public subnet and a default route for the private ones.
 */
export const EGRESS_MODES = ["endpoint", "nat"] as const;
export type EgressMode = (typeof EGRESS_MODES)[number];

/** `secretsManagerEndpoint` goes with egress "endpoint", and an existing VPC must say which endpoint. */
function endpointProblem(n: { mode?: unknown; egress?: unknown; secretsManagerEndpoint?: unknown }): string | undefined {
  const e = n.secretsManagerEndpoint;
  if ((n.egress ?? "endpoint") !== "endpoint") return e === undefined ? undefined : withAllowed(`only applies to egress "endpoint" (egress is ${JSON.stringify(n.egress)})`, "unset");
  if (e !== undefined || n.mode !== "existing") return undefined;
  return withAllowed(
    "is required on an existing VPC: it may already have a Secrets Manager endpoint with private DNS (a second one fails to apply)",
    '{ mode: "existing", securityGroupId?: "sg-..." } to reuse it, or { mode: "create" } if the VPC has none',
  );
}

/** The network the campaign system lives in: a VPC this stack creates, or an existing one. */
export const NetworkConfig = modes(
  {
    create: section({
      /** "create": a new VPC with its subnets; "existing": an existing VPC's ids. */
      mode: oneOf(["create"] as const),
      /** CIDR of the new VPC (/16 to /28). */
      vpcCidr: createdCidr("a VPC"),
      /** Availability zones, one private subnet each; at least two (RDS Proxy needs two). */
      availabilityZones: z
        .array(z.string({ error: (issue) => `${JSON.stringify(issue.input)} is not an availability zone name` }), { error: () => "must be a list of availability zones" })
        .refine((azs) => new Set(azs).size === azs.length, { error: () => "lists an availability zone twice" }),
      /** One private subnet CIDR per availability zone, inside vpcCidr. */
      privateSubnetCidrs: cidrList(0, createdCidr("a subnet")),
      /** Public subnet for the Asterisk host (SIP/RTP reach it from the carrier), in the first AZ. */
      publicSubnetCidr: createdCidr("a subnet"),
      /** How the private subnets reach Secrets Manager. Default: "endpoint". */
      egress: oneOf(EGRESS_MODES).optional(),
      /** With egress "endpoint": the Secrets Manager endpoint. Default: { mode: "create" } (a new VPC has none). */
      secretsManagerEndpoint: SecretsManagerEndpointConfig.optional(),
    })
      .refine(...across<{ availabilityZones?: unknown; privateSubnetCidrs?: unknown }>("privateSubnetCidrs", (n) => onePerZone(n.availabilityZones, n.privateSubnetCidrs)))
      .refine(...across<Parameters<typeof endpointProblem>[0]>("secretsManagerEndpoint", endpointProblem)),
    existing: section({
      mode: oneOf(["existing"] as const),
      /** The existing VPC's id, `vpc-...`. */
      vpcId: resourceId("vpc"),
      /** The existing VPC's CIDR: the "inside the VPC" source for 5432 and 6379. */
      vpcCidr: cidr(),
      /** Private subnets in at least two availability zones (RDS, RDS Proxy, Lambdas). */
      privateSubnetIds: subnetIds("RDS Proxy needs private subnets in at least two availability zones"),
      /** Subnet of the Asterisk host. */
      asteriskSubnetId: resourceId("subnet"),
      /**
       * How the private subnets reach Secrets Manager. Default: "endpoint". "nat" on an existing
       * VPC creates nothing: its private subnets must already route through a NAT gateway.
       */
      egress: oneOf(EGRESS_MODES).optional(),
      /**
       * With egress "endpoint": required, because an existing VPC may already have a Secrets
       * Manager endpoint with private DNS (a second one fails to apply, and a new one takes the
       * service's DNS name over for every workload in the VPC).
       */
      secretsManagerEndpoint: SecretsManagerEndpointConfig.optional(),
    }).refine(...across<Parameters<typeof endpointProblem>[0]>("secretsManagerEndpoint", endpointProblem)),
  },
  'mode "create" or "existing"',
);
export type NetworkConfig = z.input<typeof NetworkConfig>;

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

/** Redis on the Asterisk host (modules/compute's RedisSettings; port required). */
export const RedisHostConfig = requiring(RedisSettings, ["port"]);

/** A Redis setting provisioning owns now: a config that still sets one is told where it went. */
const inInventory = (variable: string) =>
  removed("moved to the inventory: provisioning owns Redis's running config (and checks maxmemory against the host's memory)", `leave unset; set ${variable} in inventory/<environment>/group_vars/asterisk.yml`);

/** An environment's `redis` section: Redis on the Asterisk host, where it runs, and its backups. */
export const RedisConfig = RedisHostConfig.safeExtend({
  /** Backups to S3. Default: none (no bucket). */
  backup: RedisBackupConfig.optional(),
  /** Default: "self-hosted". Switching changes only the Redis resources (docs/cost.md). */
  mode: oneOf(REDIS_MODES).optional(),
  /** Settings of the ElastiCache replication group (mode "elasticache"). */
  elasticache: ElasticacheSettings.optional(),
  /** @deprecated Moved to the inventory (redis_maxmemory): provisioning checks it against the host's memory. */
  maxmemory: inInventory("redis_maxmemory"),
  /** @deprecated Moved to the inventory (redis_maxmemory_policy). */
  maxmemoryPolicy: inInventory("redis_maxmemory_policy"),
  /** @deprecated Moved to the inventory (redis_appendonly). */
  appendonly: inInventory("redis_appendonly"),
});
export type RedisConfig = z.input<typeof RedisConfig>;

/** Where a stack keeps its Terraform state. */
export const BackendConfig = modes(
  {
    local: section({
      /** "local": a state file in the project; "s3": shared state in an S3 bucket. */
      type: oneOf(["local"] as const),
      /** State file path relative to the project root. Default: terraform.<stack>.tfstate */
      path: satisfying<string>((v) => typeof v === "string" && !v.startsWith("/"), "a relative path such as terraform.<stack>.tfstate", (input) => `${JSON.stringify(input)} must be relative to the project root`).optional(),
    }),
    s3: section({
      type: oneOf(["s3"] as const),
      /** S3 bucket of the state (encrypted; versioning recommended). */
      bucket: matching(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name"),
      /** Object key of this environment's state. */
      key: matching(/^[^/].*\.tfstate$/, "an object key ending in .tfstate, e.g. campaign/prod/terraform.tfstate"),
      /** Region of the state bucket. */
      region: matching(REGION, "an AWS region such as us-east-1"),
      /** Terraform >= 1.10 native S3 locking (no DynamoDB table). Default: true. */
      useLockfile: bool().optional(),
    }),
  },
  'type "local" or "s3"',
  { by: "type" },
);
export type BackendConfig = z.input<typeof BackendConfig>;

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
export const ProtectionConfig = section(
  {
    /**
     * lifecycle.prevent_destroy on the RDS instance, the Asterisk host and the secrets, and EC2
     * termination protection on the host: a plan that would destroy or replace one fails.
     */
    preventDestroy: bool(),
    /**
     * Days a deleted secret can still be restored (its name stays taken meanwhile): 0 deletes at
     * once, so dev can be destroyed and rebuilt the same day; 7..30 otherwise.
     */
    secretRecoveryWindowDays: satisfying<number>((v) => v === 0 || inRange(v, 7, 30), "0 (delete at once) or 7..30 days", (input) => `${JSON.stringify(input)} is not a recovery window`),
  },
  "{ preventDestroy, secretRecoveryWindowDays }",
);
export type ProtectionConfig = z.input<typeof ProtectionConfig>;

/** Protection when a config sets none: production's. */
export const DEFAULT_PROTECTION: ProtectionConfig = { preventDestroy: true, secretRecoveryWindowDays: 7 };

/** Tags the stacks set themselves; a config may not override them. */
export const RESERVED_TAGS = ["Project", "Environment", "ManagedBy"] as const;

/** Extra tags: AWS limits (key 1..128, value 0..256 chars, no aws: prefix), not the reserved ones. */
export const TagsConfig = z.record(z.string(), z.unknown(), { error: () => "must be a map of strings" }).superRefine((tags, ctx) => {
  for (const [key, value] of Object.entries(tags)) {
    const problem = (message: string) => ctx.addIssue({ code: "custom", path: [key], message });
    if ((RESERVED_TAGS as readonly string[]).includes(key)) problem(withAllowed("is set by the stack itself", `any key but ${RESERVED_TAGS.join(", ")}`));
    else if (key.length > 128 || /^aws:/i.test(key)) problem(withAllowed("is not a valid tag key", "1..128 characters, not starting with aws:"));
    if (typeof value !== "string" || value.length > 256) problem("must be a string of at most 256 characters");
  }
}) as unknown as z.ZodType<Record<string, string>, Record<string, string>>;

/** One environment of the campaign system: every section, each a schema of its own. */
export const CampaignConfig = section({
  /** Project name: first half of the stack name `<project>-<environment>` and of every resource name. */
  project: matching(NAME, "lowercase letters, digits and dashes, 3-32 chars"),
  /** Environment name, e.g. dev or prod: the stack is `<project>-<environment>`. */
  environment: matching(NAME, "lowercase letters, digits and dashes, 3-32 chars"),
  /** AWS region of every resource, e.g. us-east-1. */
  region: matching(REGION, "an AWS region such as us-east-1"),
  network: NetworkConfig,
  database: DatabaseConfig,
  proxy: ProxyConfig,
  asterisk: AsteriskConfig,
  redis: RedisConfig,
  lambdas: LambdasConfig,
  monitoring: MonitoringConfig,
  backend: BackendConfig,
  /** Default: DEFAULT_PROTECTION (prevent_destroy, 7-day secret recovery window). */
  protection: ProtectionConfig.optional(),
  /** Extra tags on every resource (Project, Environment and ManagedBy are always set). */
  tags: TagsConfig.optional(),
});
export type CampaignConfig = z.input<typeof CampaignConfig>;

/** Every problem of one environment's configuration, as `environment.key: message (allowed: ...)`. */
export function validateCampaignConfig(config: CampaignConfig): string[] {
  const p = new Problems(config.environment || "<environment>");
  const { shape } = CampaignConfig;
  p.check("", knownKeys(CampaignConfig), config);
  for (const key of ["project", "environment", "region"] as const) p.check(key, shape[key], config[key]);
  const vpcCidr = validateNetwork(p.at("network"), config.network, config.region);
  if (p.check("database", DatabaseConfig, config.database)) vpcOnlyCidrs(p.at("database"), "adminCidrs", config.database.adminCidrs, vpcCidr, "the database instance");
  if (p.check("proxy", ProxyConfig, config.proxy)) vpcOnlyCidrs(p.at("proxy"), "allowedCidrs", config.proxy.allowedCidrs, vpcCidr, "the proxy");
  p.check("asterisk", AsteriskConfig, config.asterisk);
  if (p.check("redis", RedisConfig, config.redis) || isMap(config.redis)) vpcOnlyCidrs(p.at("redis"), "allowedCidrs", config.redis.allowedCidrs, vpcCidr, "Redis");
  if (validateLambdas(p.at("lambdas"), config.lambdas, config.redis?.port)) validateBudget(p.at("lambdas"), config);
  for (const key of ["monitoring", "backend", "protection", "tags"] as const) p.check(key, shape[key], config[key]);
  return [...p.all];
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

/**
 * What no schema of the network section can say: the zones' names and count in the region, and
 * the subnets inside the VPC and apart. Returns the VPC's CIDR when it is valid.
 */
function validateNetwork(p: Problems, n: NetworkConfig | undefined, region: string): string | undefined {
  p.check("", NetworkConfig, n);
  if (!isMap(n) || (n.mode !== "create" && n.mode !== "existing")) return undefined;
  const parsed = typeof n.vpcCidr === "string" ? parseCidr(n.vpcCidr) : undefined;
  const vpc = parsed && { cidr: parsed, text: n.vpcCidr };
  const endpoint = n.secretsManagerEndpoint;
  if ((n.egress ?? "endpoint") === "endpoint" && isMap(endpoint) && endpoint.mode === "create") vpcOnlyCidrs(p.at("secretsManagerEndpoint"), "clientCidrs", endpoint.clientCidrs, vpc?.text, "the endpoint");
  if (n.mode === "existing") return vpc?.text;
  const azs = Array.isArray(n.availabilityZones) ? n.availabilityZones : [];
  if (azs.length < 2) p.add("availabilityZones", `RDS Proxy needs at least two availability zones, got ${azs.length}`, `two or more of ${region}a, ${region}b, ...`);
  availabilityZoneNames(p, azs, region);
  const seen: [string, Cidr][] = [];
  (Array.isArray(n.privateSubnetCidrs) ? n.privateSubnetCidrs : []).forEach((cidr, i) => subnetCidr(p, `privateSubnetCidrs[${i}]`, cidr, vpc, seen));
  subnetCidr(p, "publicSubnetCidr", n.publicSubnetCidr, vpc, seen);
  return vpc?.text;
}

/** An opt-in list of extra CIDR sources of a VPC-only port (valid CIDRs, per its schema): each must lie inside the VPC. */
function vpcOnlyCidrs(p: Problems, key: string, cidrs: unknown, vpcCidr: string | undefined, what: string): void {
  if (!Array.isArray(cidrs) || !vpcCidr) return;
  const vpc = parseCidr(vpcCidr)!;
  cidrs.forEach((c, i) => {
    const cidr = typeof c === "string" ? parseCidr(c) : undefined;
    if (cidr && !cidrContains(vpc, cidr)) p.add(`${key}[${i}]`, `${c} is outside the VPC ${vpcCidr}: ${what} is VPC-only`, `CIDRs inside ${vpcCidr}`);
  });
}
