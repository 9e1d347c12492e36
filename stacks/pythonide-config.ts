import { z } from "zod";
import { PythonideDatabaseSettings } from "../modules/pythonide-database";
import { PythonideAutoscalingSettings, validBounds } from "../modules/pythonide-autoscaling";
import { PythonideEfsSettings } from "../modules/pythonide-efs";
import { PythonideMonitoringSettings } from "../modules/pythonide-monitoring";
import { CONTAINER_PATH, DNS_NAME, PythonideServiceSettings, TaskEnvironment } from "../modules/pythonide-service";
import { PythonideClusterSettings, PythonideLoadBalancerSettings, PythonideNetworkSettings, type PythonideLoadBalancerConfig, type PythonideNetworkConfig } from "../modules/pythonide-platform";
import { BackendConfig, NAME, REGION, TagsConfig } from "./config";
import { Problems, across, bool, integer, isMap, knownKeys, matching, modes, oneOf, parseCidr, requiring, resourceId, section, withAllowed, type Cidr } from "../modules/settings";
import { availabilityZoneNames, subnetCidr } from "./validation";

/**
 * Configuration of the PythonIDE classroom system (ECS Fargate behind an ALB, RDS PostgreSQL,
 * EFS) in us-east-2. One config yields two stacks: `pythonide-production` (the shared platform:
 * VPC, ALB, certificate, cluster; the production service, autoscaling and monitoring) and
 * `pythonide-staging` (the on-demand staging service and its own database).
 */

/** The students' file system (modules/pythonide-efs; throughputMode set by the environment) and where the container mounts it. */
const EFS = requiring(PythonideEfsSettings, ["throughputMode"]).safeExtend({
  /** Where the file system is mounted in the container. */
  containerPath: CONTAINER_PATH,
});
export type PythonideEfsConfig = z.input<typeof EFS>;

/** The ECS cluster (modules/pythonide-platform), every field set by the environment. */
const CLUSTER = requiring(PythonideClusterSettings, ["create", "containerInsights"]);

/** A service name under which stack environment variables are set (ENVIRONMENT, DATABASE_*): not the environment's to set. */
const setByStack = (name: string): boolean => name === "ENVIRONMENT" || name.startsWith("DATABASE_");

/** One ECS service (modules/pythonide-service: task size, image, port, health check, host name) and its files. */
const SERVICE = requiring(PythonideServiceSettings, ["healthCheckPath", "logRetentionDays"]).safeExtend({
  /** Plain environment variables; ENVIRONMENT and DATABASE_* are set by the stack. */
  environment: TaskEnvironment.superRefine((environment, ctx) => {
    for (const name of Object.keys(environment)) {
      if (setByStack(name)) ctx.addIssue({ code: "custom", path: [name], message: "is set by the stack (allowed: other names)" });
    }
  }).default({}),
  efs: EFS,
});
export type PythonideServiceConfig = z.input<typeof SERVICE>;

/** The service section as an environment checks it: its host name under the domain, its own range of tasks. */
function serviceSchema(domain: string, desiredCount: z.ZodNumber) {
  const allowed = `${domain} or a name under it`;
  return SERVICE.safeExtend({
    hostname: matching(DNS_NAME, allowed).refine((h) => !DNS_NAME.test(h) || !domain || h === domain || h.endsWith(`.${domain}`), {
      error: (issue) => `${issue.input} is not under the domain ${domain} (allowed: ${allowed})`,
    }),
    desiredCount,
  });
}

/** The production service's scaling (modules/pythonide-autoscaling), every field set by the environment. */
const AUTOSCALING = requiring(PythonideAutoscalingSettings, ["minCapacity", "maxCapacity", "targetCpuPercent", "scaleOutCooldownSeconds", "scaleInCooldownSeconds", "stepRules"]);
export type PythonideAutoscalingConfig = z.input<typeof AUTOSCALING>;

/** The production service's dashboard and alarms (modules/pythonide-monitoring), every field set by the environment. */
const MONITORING = requiring(PythonideMonitoringSettings, [
  "dashboardName",
  "alarmTopicName",
  "alarmEmails",
  "highCpuPercent",
  "highCpuPeriodSeconds",
  "responseTimeMs",
  "responseTimeMinutes",
]);
export type PythonideMonitoringConfig = z.input<typeof MONITORING>;

const ARN = (service: string) => new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:.+$`);

/** The endpoint is given whole or looked up: address and port go together. */
const withItsPair = (key: "address" | "port", other: "address" | "port") =>
  across<{ address?: unknown; port?: unknown }>(key, (d) => (d[key] === undefined && d[other] !== undefined ? withAllowed("address and port go together", "both, or neither (looked up)") : undefined));

/** Production's database exists already (mode "existing", the default); the stack references it. */
const EXISTING_DATABASE = section({
  /** "existing" (default): this database; "create": the stack builds one ({@link PythonideCreatedDatabaseConfig}). */
  mode: oneOf(["existing"] as const).optional(),
  /** RDS instance identifier (endpoint lookup and the dashboard's RDS widgets). */
  identifier: matching(/^[a-z][a-z0-9-]{0,62}$/, "an RDS instance identifier"),
  databaseName: matching(/^[a-z][a-z0-9_]{0,62}$/, "lowercase letters, digits and underscores"),
  /** Secrets Manager secret with {"username", "password"}; the task reads it via `secrets`. */
  secretArn: matching(ARN("secretsmanager"), "a Secrets Manager secret ARN"),
  /** The database's security group: when set, the stack adds a 5432 rule from the tasks (required to adopt). */
  securityGroupId: resourceId("sg").optional(),
  /** The instance's endpoint address; when set (with port) the stack does not look it up (offline plans). Default: looked up by identifier. */
  address: matching(/^[a-z0-9.-]+$/, "a DNS name").optional(),
  /** Its port, with address. Default: looked up. */
  port: integer(1, 65535).optional(),
})
  .refine(...withItsPair("address", "port"))
  .refine(...withItsPair("port", "address"));
export type PythonideExistingDatabaseConfig = z.input<typeof EXISTING_DATABASE>;

/**
 * The production system that already runs (cluster, service, task definition family, ALB target
 * group and listener rule, EFS): `pythonide-production` takes it over with Terraform `import`
 * blocks on its first deploy, so the deploy updates the running service in place (right-sizing
 * its tasks with a new task definition revision) instead of building a second one.
 */
const ADOPT = section(
  {
    /** The service's current task definition revision (ARN with :revision). */
    taskDefinitionArn: matching(/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/[\w-]+:\d+$/, "arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION"),
    /** The service's target group on the ALB. */
    targetGroupArn: matching(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/.+$/, "a target group ARN"),
    /** The host-header rule on the HTTPS listener that forwards to it. */
    listenerRuleArn: matching(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener-rule\/.+$/, "a listener rule ARN"),
    /** The students' file system, its mount targets (one per private subnet, in the same order) and, if it has one, the access point. */
    efs: section(
      {
        fileSystemId: resourceId("fs"),
        mountTargetIds: z.array(resourceId("fsmt"), { error: () => withAllowed("must be a list", "one fsmt-... per private subnet") }),
        accessPointId: resourceId("fsap").optional(),
      },
      "{ fileSystemId, mountTargetIds, accessPointId? }",
    ),
    /** The service's log group /ecs/<serviceName> exists (import it) or not (create it). */
    logGroupExists: bool(),
  },
  "{ taskDefinitionArn, targetGroupArn, listenerRuleArn, efs, logGroupExists }",
);
export type PythonideAdoptConfig = z.input<typeof ADOPT>;

/** The instance fields every environment sets for a database the stack builds (modules/pythonide-database). */
const INSTANCE_FIELDS = ["instanceClass", "engineVersion", "databaseName", "masterUsername", "allocatedStorageGb", "backupRetentionDays"] as const;

/** Staging's own PostgreSQL (modules/pythonide-database), every instance field set by the environment. */
const STAGING_DATABASE = requiring(PythonideDatabaseSettings, INSTANCE_FIELDS);
export type PythonideStagingDatabaseConfig = z.input<typeof STAGING_DATABASE>;

/**
 * Production's own PostgreSQL (mode "create", a new account): modules/pythonide-database in the
 * VPC the stack uses, the tasks its only 5432 clients. Every field set by the environment,
 * including how it survives a mistake (backups, deletion protection, final snapshot); the stack
 * adds lifecycle.prevent_destroy.
 */
const PRODUCTION_DATABASE = requiring(PythonideDatabaseSettings, [...INSTANCE_FIELDS, "deletionProtection", "finalSnapshot"]).safeExtend({
  /** "create": the stack builds this database. */
  mode: oneOf(["create"] as const),
});
export type PythonideCreatedDatabaseConfig = z.input<typeof PRODUCTION_DATABASE>;

/** The database production's tasks use: an existing one (mode "existing", the default) or one the stack builds (mode "create"). */
const PRODUCTION_DATABASES = modes(
  { existing: EXISTING_DATABASE, create: PRODUCTION_DATABASE },
  '{ identifier, databaseName, secretArn, ... } (mode "existing"), or mode "create" with the instance settings',
  { fallback: "existing" },
);

/** What production's section says across its fields: adopting needs the ids, and the running task count lies within its scaling. */
const adopting = across<{ mode?: unknown; adopt?: unknown; family?: unknown }>("adopt", (c) => {
  if ((c.mode ?? "adopt") !== "adopt") return undefined;
  return c.adopt === undefined ? withAllowed('is required with mode "adopt"', "{ taskDefinitionArn, targetGroupArn, listenerRuleArn, efs, logGroupExists }") : undefined;
});
const ofFamily = across<{ adopt?: { taskDefinitionArn?: unknown }; family?: unknown }>("adopt.taskDefinitionArn", ({ adopt, family }) => {
  const arn = adopt?.taskDefinitionArn;
  const other = typeof arn === "string" && typeof family === "string" && family && !arn.includes(`:task-definition/${family}:`);
  return other ? withAllowed(`is not a revision of the family ${family}`, `a revision of ${family}`) : undefined;
});
const withinScaling = across<{ desiredCount?: unknown; autoscaling?: PythonideAutoscalingConfig }>("desiredCount", ({ desiredCount, autoscaling: a }) => {
  // Checked against the bounds only when they are valid themselves (no "allowed: 5..4").
  if (!integer(0, 100).safeParse(desiredCount).success || !a || !validBounds(a)) return undefined;
  const n = desiredCount as number;
  return n < a.minCapacity || n > a.maxCapacity ? withAllowed(`${n} is outside the autoscaling bounds`, `${a.minCapacity}..${a.maxCapacity}`) : undefined;
});

/** The production section: its service, its scaling and monitoring, the running system it adopts, and its state. */
function productionSchema(domain: string) {
  return serviceSchema(domain, integer(0, 100))
    .safeExtend({
      /**
       * "adopt" (default): take over the running system (`adopt`) in the existing VPC and ALB.
       * "create": a new account; build cluster, service and EFS (and, per network/loadBalancer, VPC and ALB).
       */
      mode: oneOf(["adopt", "create"] as const).optional(),
      /** The running system's ids (mode "adopt"). */
      adopt: ADOPT.optional(),
      autoscaling: AUTOSCALING,
      monitoring: MONITORING,
      /** The database the tasks use: an existing one (mode "existing", the default) or one the stack builds (mode "create"). */
      database: PRODUCTION_DATABASES,
      backend: BackendConfig,
    })
    .refine(...withinScaling)
    .refine(...adopting)
    .refine(...ofFamily);
}
export type PythonideProductionConfig = z.input<ReturnType<typeof productionSchema>>;

/** The staging section: its service, its own database and its state. */
function stagingSchema(domain: string) {
  return serviceSchema(domain, integer(0, 2)).safeExtend({ database: STAGING_DATABASE, backend: BackendConfig });
}
export type PythonideStagingConfig = z.input<ReturnType<typeof stagingSchema>>;

/** The whole PythonIDE configuration (the service sections' hostnames are checked against its domain). */
export const PythonideConfig = section({
  project: matching(NAME, "lowercase letters, digits and dashes, 3-32 chars"),
  region: matching(REGION, "an AWS region such as us-east-2"),
  /** Apex domain; production serves it, staging `staging.<domain>`. */
  domain: matching(DNS_NAME, "a lowercase DNS name such as pythonide-classroom.tech"),
  network: PythonideNetworkSettings,
  loadBalancer: PythonideLoadBalancerSettings,
  cluster: CLUSTER,
  capacity: section({
    /** Students one vCPU serves (measured: 60 students per 1-vCPU task at ~10 % CPU). */
    studentsPerVcpu: integer(1, 10000),
  }),
  production: productionSchema(""),
  staging: stagingSchema(""),
  /** Extra tags on every resource (Project, Environment and ManagedBy are always set). */
  tags: TagsConfig.optional(),
});
export type PythonideConfig = z.input<typeof PythonideConfig>;

/** Every problem of the PythonIDE configuration, as `pythonide.<path>: message (allowed: ...)`. */
export function validatePythonideConfig(config: PythonideConfig): string[] {
  const p = new Problems(config.project || "pythonide");
  const { shape } = PythonideConfig;
  p.check("", knownKeys(PythonideConfig), config);
  for (const key of ["project", "region", "domain"] as const) p.check(key, shape[key], config[key]);
  validateNetwork(p.at("network"), config.network, config.region);
  validateLoadBalancer(p.at("loadBalancer"), config.loadBalancer, config.network);
  p.check("cluster", shape.cluster, config.cluster);
  p.check("capacity", shape.capacity, config.capacity);
  p.check("production", productionSchema(config.domain), config.production);
  validateAdoption(p, config);
  validateDatabaseReach(p, config);
  if (p.check("staging", stagingSchema(config.domain), config.staging) || isMap(config.staging)) {
    const { production, staging } = config;
    for (const key of ["serviceName", "family", "hostname", "listenerRulePriority"] as const) {
      if (production?.[key] !== undefined && production[key] === staging[key]) p.add(`staging.${key}`, `${JSON.stringify(staging[key])} is production's too`, "a value of its own");
    }
  }
  p.check("tags", shape.tags, config.tags);
  return [...p.all];
}

/** What no schema of the network section can say: the zones' names and count in the region, and the subnets inside the VPC and apart. */
function validateNetwork(p: Problems, n: PythonideNetworkConfig | undefined, region: string): void {
  p.check("", PythonideNetworkSettings, n);
  if (!isMap(n) || n.mode !== "create") return;
  const parsed = typeof n.vpcCidr === "string" ? parseCidr(n.vpcCidr) : undefined;
  const vpc = parsed && { cidr: parsed, text: n.vpcCidr };
  const azs = Array.isArray(n.availabilityZones) ? n.availabilityZones : [];
  if (azs.length < 2) p.add("availabilityZones", `needs at least two availability zones, got ${azs.length}`, `${region}a, ${region}b, ...`);
  availabilityZoneNames(p, azs, region);
  const seen: [string, Cidr][] = [];
  for (const key of ["publicSubnetCidrs", "privateSubnetCidrs"] as const) {
    const cidrs = Array.isArray(n[key]) ? n[key] : [];
    cidrs.forEach((cidr, i) => subnetCidr(p, `${key}[${i}]`, cidr, vpc, seen));
  }
}

function validateLoadBalancer(p: Problems, lb: PythonideLoadBalancerConfig | undefined, network: PythonideNetworkConfig | undefined): void {
  if (lb?.mode === "existing" && network?.mode === "create") p.add("mode", "an existing ALB cannot serve a VPC this stack creates", "\"create\", or network.mode \"existing\"");
  p.check("", PythonideLoadBalancerSettings, lb);
}

/** Adopting the running system: it lives in an existing VPC behind an existing ALB, in an adopted cluster, with one mount target per private subnet. */
function validateAdoption(p: Problems, config: PythonideConfig): void {
  const prod = config.production;
  if (!isMap(prod) || (prod.mode ?? "adopt") !== "adopt") return;
  const q = p.at("production");
  const why = "the running system is adopted where it runs";
  if (config.network?.mode !== "existing") p.add("network.mode", `must be "existing" with production.mode "adopt": ${why}`, '"existing" (or production.mode "create")');
  if (config.loadBalancer?.mode !== "existing") p.add("loadBalancer.mode", `must be "existing" with production.mode "adopt": ${why}`, '"existing" (or production.mode "create")');
  if (config.cluster && config.cluster.create !== true) q.add("mode", "\"adopt\" imports the running cluster: set cluster.create true", "cluster.create true");
  if (prod.database && prod.database.mode !== "create" && !prod.database.securityGroupId) {
    q.add("database.securityGroupId", "is required with mode \"adopt\": the tasks get a new security group the database must admit on 5432", "the database's sg-... id");
  }
  const mountTargets = prod.adopt?.efs?.mountTargetIds;
  const subnets = config.network?.mode === "existing" ? config.network.privateSubnetIds : undefined;
  if (Array.isArray(mountTargets) && Array.isArray(subnets) && subnets.length !== mountTargets.length) {
    q.add("adopt.efs.mountTargetIds", `lists ${mountTargets.length} mount targets for ${subnets.length} private subnets`, "one per network.privateSubnetIds entry, in the same order");
  }
}

/**
 * Production's tasks must reach their database: a VPC this stack creates has no route to an
 * existing database (and the stack adds no 5432 rule there), and an adopted service keeps the
 * database its data is in. Staging builds a database of its own, so not under production's identifier.
 */
function validateDatabaseReach(p: Problems, config: PythonideConfig): void {
  const identifier = config.production?.database?.identifier;
  if (identifier !== undefined && config.staging?.database?.identifier === identifier) {
    p.add("staging.database.identifier", `${JSON.stringify(identifier)} is production's database too`, "a value of its own");
  }
  const mode = config.production?.database?.mode ?? "existing";
  if (!["existing", "create"].includes(mode)) return;
  if (mode === "existing" && config.network?.mode === "create") {
    p.add(
      "production.database.mode",
      '"existing" with network.mode "create": the VPC this stack creates has no route to an existing database and no 5432 rule on it, so the tasks could not reach it',
      '"create" (the stack builds the database in its VPC), or network.mode "existing" (the database\'s VPC)',
    );
  }
  if (mode === "create" && (config.production?.mode ?? "adopt") === "adopt") {
    p.add("production.database.mode", '"create" with production.mode "adopt": the running service would switch to a new, empty database', '"existing" (the database it runs on), or production.mode "create"');
  }
}
