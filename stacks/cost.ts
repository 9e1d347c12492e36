/**
 * Monthly cost of synthesized stacks, per resource and component, from the Terraform JSON cdktf
 * writes (like `infracost breakdown`), and the difference between two of them (like
 * `infracost diff`). Prices: stacks/prices.ts. Usage-based figures (Lambda, logs, SNS, EFS
 * storage, ALB LCUs): a usage file in Infracost's format (stacks/cost-usage.yml by default);
 * without a figure a component says "depends on usage" and counts $0 in the totals.
 *
 * Every resource type the stacks use is priced, free or unpriced (with the reason); a type in
 * none of the three is reported as "unclassified", and a test fails on it.
 */
import { HOURS_PER_MONTH, pricesFor, type Price, type RegionPrices } from "./prices";
import { RDS_CLASSES } from "../modules/catalog";

export type Block = Record<string, any>;
export interface StackJson {
  resource?: Record<string, Record<string, Block>>;
  provider?: { aws?: { region?: string }[] };
}

/** One priced line of a resource. `monthly` null: depends on usage (or no price is known). */
export interface Component {
  /** Stable key within the resource (compare matches components by it). */
  readonly key: string;
  readonly name: string;
  readonly quantity: number | null;
  readonly unit: string;
  readonly unitPrice: number | null;
  readonly monthly: number | null;
  readonly note?: string;
}

export interface ResourceCost {
  readonly address: string;
  readonly type: string;
  readonly components: Component[];
  /** Sum of the components that have a figure. */
  readonly monthly: number;
  /** Some component depends on usage that the usage file does not give. */
  readonly dependsOnUsage: boolean;
}

export interface StackCost {
  readonly stack: string;
  readonly region: string;
  readonly pricesChecked: string;
  readonly resources: ResourceCost[];
  readonly free: { address: string; type: string; reason: string }[];
  readonly unpriced: { address: string; type: string; reason: string }[];
  /** Types in none of the tables: a new resource type that needs a decision. */
  readonly unclassified: { address: string; type: string }[];
  readonly monthly: number;
}

/** Usage figures in Infracost's usage-file shape (`resource_type_default_usage`, `resource_usage`). */
export interface Usage {
  readonly version?: string;
  readonly resource_type_default_usage?: Record<string, Record<string, number>>;
  readonly resource_usage?: Record<string, Record<string, number>>;
  /** Per stack: `stacks.<stack>.resource_usage.<address>` wins over the two above. */
  readonly stacks?: Record<string, { resource_usage?: Record<string, Record<string, number>> }>;
}

interface Context {
  readonly stack: string;
  readonly json: StackJson;
  readonly type: string;
  readonly address: string;
  readonly attrs: Block;
  readonly prices: RegionPrices;
  usage(key: string): number | undefined;
}

type Pricer = (c: Context) => Component[] | { free: string };

const money = (n: number) => Math.round(n * 1e6) / 1e6;

function component(key: string, name: string, quantity: number | null, unit: string, price: Price | number | null, note?: string): Component {
  const unitPrice = price === null ? null : typeof price === "number" ? price : price.usd;
  const monthly = quantity === null || unitPrice === null ? null : money(quantity * unitPrice);
  return { key, name, quantity, unit, unitPrice, monthly, ...(note ? { note } : {}) };
}

const hours = (key: string, name: string, price: Price | number | null, count = 1, note?: string) =>
  component(key, name, count * HOURS_PER_MONTH, "hours", price === null ? null : typeof price === "number" ? price : price.usd, note);

/** `${aws_subnet.public.id}` -> { type, name, attr }. */
export function reference(value: unknown): { type: string; name: string; attr: string } | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^\$\{((?:data\.)?[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)/.exec(value);
  return m ? { type: m[1], name: m[2], attr: m[3] } : undefined;
}

function resolved(json: StackJson, value: unknown): Block | undefined {
  const ref = reference(value);
  return ref ? json.resource?.[ref.type]?.[ref.name] : undefined;
}

/** Number of items of a list attribute, or of `${length([a, b])}`, or undefined. */
function listLength(value: unknown): number | undefined {
  if (Array.isArray(value)) return value.length;
  if (typeof value !== "string") return undefined;
  const m = /^\$\{length\(\[(.*)\]\)\}$/.exec(value);
  return m ? m[1].split(",").filter((s) => s.trim()).length : undefined;
}

const one = <T>(value: T | T[] | undefined): T | undefined => (Array.isArray(value) ? value[0] : value);

const missing = (key: string, name: string, what: string): Component =>
  component(key, name, null, "", null, `no price for ${what} in stacks/prices.ts`);

function dependsOnUsage(key: string, name: string, unit: string, price: Price, usageKeys: string): Component {
  return component(key, name, null, unit, price, `depends on usage (set ${usageKeys} in the usage file)`);
}

function rdsInstance(c: Context): Component[] {
  const cls = String(c.attrs.instance_class);
  const multi = c.attrs.multi_az === true;
  const factor = multi ? 2 : 1;
  const az = multi ? "Multi-AZ" : "single-AZ";
  const price = c.prices.rdsInstance[cls];
  const out = [price ? hours("instance", `Database instance (${cls}, ${az})`, price.usd * factor) : missing("instance", `Database instance (${cls})`, cls)];
  const storageType = String(c.attrs.storage_type ?? "gp2");
  const storagePrice = storageType === "gp3" ? c.prices.rdsStorageGp3 : c.prices.rdsStorageGp2;
  out.push(component("storage", `Storage (${storageType}, ${az})`, Number(c.attrs.allocated_storage ?? 20), "GB-month", storagePrice.usd * factor));
  const iops = Number(c.attrs.iops ?? 0);
  if (storageType === "gp3" && iops > 3000) out.push(component("iops", `Provisioned IOPS above 3,000 (${az})`, iops - 3000, "IOPS-month", c.prices.rdsIopsGp3.usd * factor));
  if (c.attrs.manage_master_user_password === true) out.push(component("master_secret", "Master password secret (RDS-managed)", 1, "secret-month", c.prices.secret));
  return out;
}

function rdsProxy(c: Context): Component[] {
  const name = c.address.split(".")[1];
  const target = Object.values(c.json.resource?.aws_db_proxy_target ?? {}).find((t) => reference(t.db_proxy_name)?.name === name);
  const ref = reference(target?.db_instance_identifier);
  const cls = ref ? c.json.resource?.aws_db_instance?.[ref.name]?.instance_class : undefined;
  const vcpus = cls ? RDS_CLASSES[cls]?.vcpus : undefined;
  if (vcpus === undefined) return [missing("vcpu", "Proxy (vCPUs of the target)", cls ? `the vCPUs of ${cls}` : "the proxy's target instance")];
  const billed = Math.max(2, vcpus);
  return [component("vcpu", `Proxy: max(2, ${vcpus} vCPU of ${cls}) = ${billed} vCPU`, billed * HOURS_PER_MONTH, "vCPU-hours", c.prices.rdsProxyVcpu)];
}

/** Public IPv4 addresses of an instance: its own setting, its subnet's, or the usage file. */
function instancePublicIps(c: Context): { count: number | null; why: string } {
  if (c.attrs.associate_public_ip_address === true) return { count: 1, why: "associate_public_ip_address" };
  if (c.attrs.associate_public_ip_address === false) return { count: 0, why: "" };
  const subnet = resolved(c.json, c.attrs.subnet_id);
  if (subnet) return { count: subnet.map_public_ip_on_launch === true ? 1 : 0, why: "its subnet maps public IPs on launch" };
  const fromUsage = c.usage("public_ipv4_addresses");
  return fromUsage === undefined ? { count: null, why: "" } : { count: fromUsage, why: "usage file: the subnet is not in this stack" };
}

function ec2Instance(c: Context): Component[] {
  const type = String(c.attrs.instance_type);
  const price = c.prices.ec2Instance[type];
  const out = [price ? hours("instance", `Instance (${type}, on-demand, Linux)`, price) : missing("instance", `Instance (${type})`, type)];
  const root = one(c.attrs.root_block_device) as Block | undefined;
  const volumeType = String(root?.volume_type ?? "gp3");
  const size = Number(root?.volume_size ?? 8);
  out.push(component("root_volume", `Root volume (${volumeType})`, size, "GB-month", volumeType === "gp2" ? c.prices.ebsGp2 : c.prices.ebsGp3, root?.volume_size ? undefined : "AMI default size assumed: 8 GB"));
  const ips = instancePublicIps(c);
  if (ips.count === null) out.push(dependsOnUsage("public_ipv4", "Public IPv4 address", "hours", c.prices.publicIpv4, `${c.address}.public_ipv4_addresses`));
  else if (ips.count > 0) out.push(hours("public_ipv4", `Public IPv4 address × ${ips.count}`, c.prices.publicIpv4, ips.count, ips.why));
  const metrics = c.usage("custom_metrics");
  if (metrics) out.push(component("custom_metrics", "CloudWatch custom metrics published by the host", metrics, "metrics", c.prices.customMetric, "usage file"));
  return out;
}

function interfaceEndpoint(c: Context): Component[] | { free: string } {
  if (c.attrs.vpc_endpoint_type !== "Interface") return { free: "gateway endpoints (S3, DynamoDB) have no charge" };
  const azs = listLength(c.attrs.subnet_ids);
  if (azs === undefined) return [dependsOnUsage("endpoint", "Interface endpoint (AZs)", "AZ-hours", c.prices.interfaceEndpointAz, `${c.address}.availability_zones`)];
  return [component("endpoint", `Interface endpoint × ${azs} AZ`, azs * HOURS_PER_MONTH, "AZ-hours", c.prices.interfaceEndpointAz, "+ $0.01/GB processed")];
}

function metricAlarm(c: Context): Component[] {
  const metrics = Array.isArray(c.attrs.metric_query) ? c.attrs.metric_query.filter((q: Block) => q.metric).length : 1;
  const highRes = Number(c.attrs.period ?? 60) < 60;
  return [component("alarm", `${highRes ? "High-resolution" : "Standard"} alarm${metrics > 1 ? ` (${metrics} metrics)` : ""}`, metrics, "alarm-metrics", highRes ? c.prices.alarmHighResolution : c.prices.alarmStandard)];
}

/** Requests per month of a function on an EventBridge `rate(...)` schedule, if it has one. */
function scheduledRequests(c: Context): { requests: number; rule: string } | undefined {
  const name = c.address.split(".")[1];
  for (const target of Object.values(c.json.resource?.aws_cloudwatch_event_target ?? {})) {
    if (reference(target.arn)?.name !== name || reference(target.arn)?.type !== "aws_lambda_function") continue;
    const ruleRef = reference(target.rule);
    const rule = ruleRef ? c.json.resource?.aws_cloudwatch_event_rule?.[ruleRef.name] : undefined;
    const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(String(rule?.schedule_expression));
    if (!m) continue;
    const perHour = { minute: 60, hour: 1, day: 1 / 24 }[m[2].replace(/s$/, "") as "minute" | "hour" | "day"] / Number(m[1]);
    return { requests: Math.round(perHour * HOURS_PER_MONTH), rule: `aws_cloudwatch_event_rule.${ruleRef!.name} ${rule!.schedule_expression}` };
  }
  return undefined;
}

function lambdaFunction(c: Context): Component[] {
  const arm = one(c.attrs.architectures) === "arm64";
  const memoryGb = Number(c.attrs.memory_size ?? 128) / 1024;
  const scheduled = scheduledRequests(c);
  const requests = c.usage("monthly_requests") ?? scheduled?.requests;
  const duration = c.usage("average_duration_ms");
  const gbSecond = arm ? c.prices.lambdaGbSecondArm : c.prices.lambdaGbSecondX86;
  const usageKeys = `${c.address}.monthly_requests / average_duration_ms`;
  const requestsNote = c.usage("monthly_requests") !== undefined ? "usage file" : scheduled ? `scheduled: ${scheduled.rule}` : undefined;
  const out = [
    requests === undefined
      ? dependsOnUsage("requests", "Requests", "1M requests", c.prices.lambdaRequests, usageKeys)
      : component("requests", "Requests", requests / 1e6, "1M requests", c.prices.lambdaRequests, requestsNote),
  ];
  const name = `Duration (${arm ? "arm64" : "x86_64"}, ${Number(c.attrs.memory_size ?? 128)} MB)`;
  out.push(
    requests === undefined || duration === undefined
      ? dependsOnUsage("duration", name, "GB-seconds", gbSecond, usageKeys)
      : component("duration", name, money(requests * (duration / 1000) * memoryGb), "GB-seconds", gbSecond, `${duration} ms average (usage file)`),
  );
  return out;
}

function logGroup(c: Context): Component[] {
  const ingested = c.usage("monthly_ingested_gb");
  const stored = c.usage("storage_gb");
  const keys = `${c.address}.monthly_ingested_gb / storage_gb`;
  return [
    ingested === undefined ? dependsOnUsage("ingestion", "Log ingestion", "GB", c.prices.logsIngestion, keys) : component("ingestion", "Log ingestion", ingested, "GB", c.prices.logsIngestion),
    stored === undefined ? dependsOnUsage("storage", "Log storage", "GB-month", c.prices.logsStorage, keys) : component("storage", "Log storage", stored, "GB-month", c.prices.logsStorage),
  ];
}

function ecsService(c: Context): Component[] {
  const td = resolved(c.json, c.attrs.task_definition);
  if (!td) return [missing("tasks", "Fargate tasks", "a task definition outside this stack")];
  const vcpu = Number(td.cpu) / 1024;
  const gb = Number(td.memory) / 1024;
  const arm = one(td.runtime_platform as Block | Block[])?.cpu_architecture === "ARM64";
  const taskHoursUsage = c.usage("monthly_task_hours");
  const count = c.usage("task_count") ?? Number(c.attrs.desired_count ?? 1);
  const taskHours = taskHoursUsage ?? count * HOURS_PER_MONTH;
  const why =
    taskHoursUsage !== undefined ? "usage file: monthly_task_hours" : c.usage("task_count") !== undefined ? `usage file: ${count} task(s)` : `desired_count ${count} (the autoscaler may run more)`;
  const arch = arm ? "ARM" : "x86";
  const out = [
    component("vcpu", `Fargate vCPU (${arch}, ${vcpu} vCPU × ${money(taskHours)} task-hours)`, money(taskHours * vcpu), "vCPU-hours", arm ? c.prices.fargateVcpuArm : c.prices.fargateVcpuX86, why),
    component("memory", `Fargate memory (${arch}, ${gb} GB)`, money(taskHours * gb), "GB-hours", arm ? c.prices.fargateGbArm : c.prices.fargateGbX86),
  ];
  const network = one(c.attrs.network_configuration as Block | Block[]);
  if (network?.assign_public_ip === true) out.push(component("public_ipv4", "Public IPv4 address per task", money(taskHours), "hours", c.prices.publicIpv4));
  return out;
}

function loadBalancer(c: Context): Component[] {
  if ((c.attrs.load_balancer_type ?? "application") !== "application") return [missing("lb", "Load balancer", `load_balancer_type ${c.attrs.load_balancer_type}`)];
  const lcu = c.usage("average_lcus");
  const out = [
    hours("alb", "Application load balancer", c.prices.alb),
    lcu === undefined
      ? dependsOnUsage("lcu", "Load balancer capacity units", "LCU-hours", c.prices.albLcu, `${c.address}.average_lcus`)
      : component("lcu", "Load balancer capacity units", lcu * HOURS_PER_MONTH, "LCU-hours", c.prices.albLcu),
  ];
  const subnets = listLength(c.attrs.subnets);
  if (c.attrs.internal !== true && subnets !== undefined) out.push(hours("public_ipv4", `Public IPv4 address × ${subnets} (one per AZ)`, c.prices.publicIpv4, subnets));
  return out;
}

function efsFileSystem(c: Context): Component[] {
  const gb = c.usage("storage_gb");
  const out = [
    gb === undefined
      ? dependsOnUsage("storage", "Storage (Standard)", "GB-month", c.prices.efsStorageStandard, `${c.address}.storage_gb`)
      : component("storage", "Storage (Standard)", gb, "GB-month", c.prices.efsStorageStandard),
  ];
  if (c.attrs.throughput_mode === "provisioned") {
    out.push(component("throughput", "Provisioned throughput", Number(c.attrs.provisioned_throughput_in_mibps), "MiBps-month", c.prices.efsProvisionedThroughput));
  }
  return out;
}

function elasticache(c: Context): Component[] {
  const type = String(c.attrs.node_type);
  const nodes =
    c.type === "aws_elasticache_cluster"
      ? Number(c.attrs.num_cache_nodes ?? 1)
      : c.attrs.num_cache_clusters !== undefined
        ? Number(c.attrs.num_cache_clusters)
        : Number(c.attrs.num_node_groups ?? 1) * (1 + Number(c.attrs.replicas_per_node_group ?? 0));
  const price = c.prices.elasticacheNode[type];
  return [price ? hours("nodes", `Cache nodes (${type} × ${nodes})`, price, nodes) : missing("nodes", `Cache nodes (${type})`, type)];
}

function snsTopic(c: Context): Component[] {
  const requests = c.usage("monthly_requests");
  if (requests === undefined) return [dependsOnUsage("requests", "Requests", "1M requests", c.prices.snsRequests, `${c.address}.monthly_requests`)];
  return [component("requests", "Requests", requests / 1e6, "1M requests", c.prices.snsRequests, "first 1M per account free, not deducted")];
}

function ecsCluster(c: Context): Component[] | { free: string } {
  const insights = (Array.isArray(c.attrs.setting) ? c.attrs.setting : [c.attrs.setting]).some((s: Block | undefined) => s?.name === "containerInsights" && s.value !== "disabled");
  if (!insights) return { free: "an ECS cluster has no charge" };
  const metrics = c.usage("custom_metrics");
  if (metrics === undefined) return [dependsOnUsage("insights", "Container Insights metrics", "metrics", c.prices.customMetric, `${c.address}.custom_metrics`)];
  return [component("insights", "Container Insights metrics", metrics, "metrics", c.prices.customMetric)];
}

function targetTracking(c: Context): Component[] | { free: string } {
  if (c.attrs.policy_type !== "TargetTrackingScaling") return { free: "a step scaling policy has no charge (its alarm is its own resource)" };
  return [component("alarms", "The 2 alarms AWS creates for target tracking", 2, "alarms", c.prices.alarmStandard)];
}

/** Priced resource types. */
export const PRICED: Readonly<Record<string, Pricer>> = {
  aws_db_instance: rdsInstance,
  aws_db_proxy: rdsProxy,
  aws_instance: ec2Instance,
  aws_eip: (c) => [hours("public_ipv4", "Public IPv4 address (charged attached or not)", c.prices.publicIpv4)],
  aws_nat_gateway: (c) => [hours("nat", "NAT gateway", c.prices.natGateway, 1, "+ $0.045/GB processed")],
  aws_vpc_endpoint: interfaceEndpoint,
  aws_secretsmanager_secret: (c) => [component("secret", "Secret", 1, "secret-month", c.prices.secret, "+ $0.05 per 10,000 API calls")],
  aws_cloudwatch_metric_alarm: metricAlarm,
  aws_cloudwatch_dashboard: (c) => [component("dashboard", "Dashboard", 1, "dashboard-month", c.prices.dashboard, "first 3 per account free, not deducted")],
  aws_appautoscaling_policy: targetTracking,
  aws_sns_topic: snsTopic,
  aws_lambda_function: lambdaFunction,
  aws_cloudwatch_log_group: logGroup,
  aws_ecs_service: ecsService,
  aws_ecs_cluster: ecsCluster,
  aws_lb: loadBalancer,
  aws_efs_file_system: efsFileSystem,
  aws_elasticache_replication_group: elasticache,
  aws_elasticache_cluster: elasticache,
};

/** Resource types AWS does not charge for (or that are priced through another resource). */
export const FREE: Readonly<Record<string, string>> = {
  aws_vpc: "no charge",
  aws_subnet: "no charge",
  aws_internet_gateway: "no charge (its traffic is data transfer)",
  aws_route_table: "no charge",
  aws_route_table_association: "no charge",
  aws_route: "no charge",
  aws_security_group: "no charge",
  aws_security_group_rule: "no charge",
  aws_vpc_security_group_ingress_rule: "no charge",
  aws_vpc_security_group_egress_rule: "no charge",
  aws_iam_role: "no charge",
  aws_iam_role_policy: "no charge",
  aws_iam_role_policy_attachment: "no charge",
  aws_iam_instance_profile: "no charge",
  aws_db_subnet_group: "no charge",
  aws_db_parameter_group: "no charge",
  aws_db_proxy_default_target_group: "priced with aws_db_proxy",
  aws_db_proxy_target: "priced with aws_db_proxy",
  aws_elasticache_subnet_group: "no charge",
  aws_secretsmanager_secret_version: "priced with its aws_secretsmanager_secret",
  random_password: "Terraform only",
  terraform_data: "Terraform only",
  aws_cloudwatch_event_rule: "scheduled rules have no charge",
  aws_cloudwatch_event_target: "no charge",
  aws_lambda_permission: "no charge",
  aws_sns_topic_subscription: "e-mail: first 1,000 per month free",
  aws_ecs_task_definition: "priced with the aws_ecs_service that runs it",
  aws_lb_listener: "priced with its aws_lb",
  aws_lb_listener_rule: "priced with its aws_lb (rules beyond 10 count in LCUs)",
  aws_lb_target_group: "no charge",
  aws_acm_certificate: "public ACM certificates are free",
  aws_acm_certificate_validation: "Terraform only",
  aws_appautoscaling_target: "no charge",
  aws_efs_access_point: "no charge",
  aws_efs_mount_target: "no charge",
  aws_s3_bucket_public_access_block: "no charge",
  aws_s3_bucket_versioning: "priced with its aws_s3_bucket (noncurrent versions are stored objects)",
  aws_s3_bucket_server_side_encryption_configuration: "SSE-S3 has no charge (SSE-KMS requests are KMS's)",
  aws_s3_bucket_ownership_controls: "no charge",
  aws_s3_bucket_lifecycle_configuration: "expiration actions have no charge",
  aws_s3_bucket_policy: "no charge",
};

/** Resource types with a charge this tool does not estimate, and why. */
export const UNPRICED: Readonly<Record<string, string>> = {
  aws_s3_bucket: "by usage: S3 Standard $0.023/GB-month of stored backups (snapshot size x backups per day x retention days, docs/backups.md) plus $0.005 per 1,000 PUTs",
  aws_route53_record: "per DNS query ($0.40 per 1M; alias queries to AWS resources are free); the hosted zone is not in these stacks",
};

/** The monthly cost of one synthesized stack. */
export function costStack(stack: string, json: StackJson, usage: Usage = {}, regionOverride?: string): StackCost {
  const region = regionOverride ?? json.provider?.aws?.[0]?.region ?? "us-east-1";
  const prices = pricesFor(region);
  const result: StackCost = { stack, region, pricesChecked: prices.checked, resources: [], free: [], unpriced: [], unclassified: [], monthly: 0 };
  for (const [type, byName] of Object.entries(json.resource ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [name, attrs] of Object.entries(byName).sort(([a], [b]) => a.localeCompare(b))) {
      const address = `${type}.${name}`;
      const pricer = PRICED[type];
      if (!pricer) {
        if (FREE[type]) result.free.push({ address, type, reason: FREE[type] });
        else if (UNPRICED[type]) result.unpriced.push({ address, type, reason: UNPRICED[type] });
        else result.unclassified.push({ address, type });
        continue;
      }
      const figures = { ...usage.resource_type_default_usage?.[type], ...usage.resource_usage?.[address], ...usage.stacks?.[stack]?.resource_usage?.[address] };
      const priced = pricer({ stack, json, type, address, attrs, prices, usage: (key) => figures[key] });
      if ("free" in priced) {
        result.free.push({ address, type, reason: priced.free });
        continue;
      }
      const count = attrs.count === undefined ? 1 : (typeof attrs.count === "number" ? attrs.count : listLength(attrs.count));
      const components = count === 1 || count === undefined ? priced : priced.map((p) => scale(p, count));
      const monthly = money(components.reduce((n, p) => n + (p.monthly ?? 0), 0));
      result.resources.push({ address, type, components, monthly, dependsOnUsage: components.some((p) => p.monthly === null) });
    }
  }
  return { ...result, monthly: money(result.resources.reduce((n, r) => n + r.monthly, 0)) };
}

function scale(p: Component, count: number): Component {
  return { ...p, name: `${p.name} (count ${count})`, quantity: p.quantity === null ? null : p.quantity * count, monthly: p.monthly === null ? null : money(p.monthly * count) };
}

/** Check a usage file's shape: numbers only, known sections; every problem with its place. */
export function validateUsage(usage: unknown, where: string): Usage {
  const problems: string[] = [];
  const checkMap = (map: unknown, at: string): void => {
    if (map === undefined || map === null) return;
    if (typeof map !== "object" || Array.isArray(map)) {
      problems.push(`${where}: ${at} must be a map`);
      return;
    }
    for (const [key, figures] of Object.entries(map as object)) {
      if (typeof figures !== "object" || figures === null || Array.isArray(figures)) {
        problems.push(`${where}: ${at}.${key} must be a map of usage figures`);
        continue;
      }
      for (const [name, value] of Object.entries(figures)) {
        if (typeof value !== "number" || !Number.isFinite(value) || value < 0) problems.push(`${where}: ${at}.${key}.${name} must be a number >= 0, got ${JSON.stringify(value)}`);
      }
    }
  };
  if (usage === null || usage === undefined) return {};
  if (typeof usage !== "object" || Array.isArray(usage)) throw new Error(`${where}: must be a YAML map (version, resource_type_default_usage, resource_usage, stacks)`);
  const u = usage as Record<string, unknown>;
  for (const key of Object.keys(u)) {
    if (!["version", "resource_type_default_usage", "resource_usage", "stacks"].includes(key)) problems.push(`${where}: unknown section ${key} (allowed: version, resource_type_default_usage, resource_usage, stacks)`);
  }
  checkMap(u.resource_type_default_usage, "resource_type_default_usage");
  checkMap(u.resource_usage, "resource_usage");
  if (u.stacks !== undefined) {
    if (typeof u.stacks !== "object" || u.stacks === null) problems.push(`${where}: stacks must be a map`);
    else for (const [stack, s] of Object.entries(u.stacks)) checkMap((s as Block | null)?.resource_usage, `stacks.${stack}.resource_usage`);
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return u as Usage;
}

/** Two usage files merged: `over` wins figure by figure. */
export function mergeUsage(base: Usage, over: Usage = {}): Usage {
  const maps = (a: Record<string, Record<string, number>> = {}, b: Record<string, Record<string, number>> = {}) =>
    Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, { ...a[k], ...b[k] }]));
  const stacks = [...new Set([...Object.keys(base.stacks ?? {}), ...Object.keys(over.stacks ?? {})])];
  return {
    resource_type_default_usage: maps(base.resource_type_default_usage, over.resource_type_default_usage),
    resource_usage: maps(base.resource_usage, over.resource_usage),
    stacks: Object.fromEntries(stacks.map((s) => [s, { resource_usage: maps(base.stacks?.[s]?.resource_usage, over.stacks?.[s]?.resource_usage) }])),
  };
}

// ---------------------------------------------------------------- compare

export interface ComponentDiff {
  readonly key: string;
  readonly change: "+" | "-" | "~";
  readonly name: string;
  readonly before: number | null;
  readonly after: number | null;
}

export interface ResourceDiff {
  readonly stack: string;
  readonly address: string;
  readonly change: "+" | "-" | "~";
  readonly before: number;
  readonly after: number;
  readonly delta: number;
  readonly components: ComponentDiff[];
}

export interface CostDiff {
  readonly resources: ResourceDiff[];
  readonly before: number;
  readonly after: number;
  readonly delta: number;
  /** Stack pairs compared, as `before -> after`. */
  readonly stacks: string[];
}

/**
 * The difference of two sets of stacks: stacks are paired by name (or, one against one, with
 * each other); within a pair, resources by address and components by key.
 */
export function compareCosts(before: StackCost[], after: StackCost[]): CostDiff {
  const pairs: [StackCost | undefined, StackCost | undefined, string][] = [];
  if (before.length === 1 && after.length === 1 && before[0].stack !== after[0].stack) {
    pairs.push([before[0], after[0], `${before[0].stack} -> ${after[0].stack}`]);
  } else {
    const names = [...new Set([...before.map((s) => s.stack), ...after.map((s) => s.stack)])].sort();
    for (const n of names) pairs.push([before.find((s) => s.stack === n), after.find((s) => s.stack === n), n]);
  }
  const resources: ResourceDiff[] = [];
  for (const [a, b, label] of pairs) {
    const byAddress = (s?: StackCost) => new Map((s?.resources ?? []).map((r) => [r.address, r]));
    const ra = byAddress(a);
    const rb = byAddress(b);
    for (const address of [...new Set([...ra.keys(), ...rb.keys()])].sort()) {
      const x = ra.get(address);
      const y = rb.get(address);
      const components = diffComponents(x?.components ?? [], y?.components ?? []);
      const change = !x ? "+" : !y ? "-" : "~";
      if (change === "~" && components.length === 0) continue;
      const bx = x?.monthly ?? 0;
      const by = y?.monthly ?? 0;
      resources.push({ stack: label, address, change, before: bx, after: by, delta: money(by - bx), components });
    }
  }
  const total = (s: StackCost[]) => money(s.reduce((n, x) => n + x.monthly, 0));
  return { resources, before: total(before), after: total(after), delta: money(total(after) - total(before)), stacks: pairs.map((p) => p[2]) };
}

function diffComponents(a: Component[], b: Component[]): ComponentDiff[] {
  const out: ComponentDiff[] = [];
  for (const key of [...new Set([...a.map((c) => c.key), ...b.map((c) => c.key)])]) {
    const x = a.find((c) => c.key === key);
    const y = b.find((c) => c.key === key);
    if (x && y && x.monthly === y.monthly && x.name === y.name) continue;
    const name = y && x && x.name !== y.name ? `${x.name} -> ${y.name}` : (y ?? x)!.name;
    out.push({ key, change: !x ? "+" : !y ? "-" : "~", name, before: x ? x.monthly : null, after: y ? y.monthly : null });
  }
  return out;
}

// ---------------------------------------------------------------- text output

export const usd = (n: number): string => `${n < 0 ? "-" : ""}$${Math.abs(n).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const signed = (n: number): string => (n > 0 ? `+${usd(n)}` : n < 0 ? usd(n) : "$0.00");
const qty = (n: number | null): string => (n === null ? "" : Number.isInteger(n) ? n.toLocaleString("en-US") : n.toLocaleString("en-US", { maximumFractionDigits: 4 }));
const unitPrice = (n: number | null): string => {
  if (n === null) return "";
  const short = String(+n.toPrecision(6));
  return `$${n >= 1 || (short.split(".")[1]?.length ?? 0) < 2 ? n.toFixed(2) : short}`;
};

/** `infracost breakdown`-like text of some stacks. */
export function formatBreakdown(stacks: StackCost[]): string {
  const lines: string[] = [];
  const row = (name: string, q: string, unit: string, price: string, monthly: string) =>
    ` ${name.padEnd(70)} ${q.padStart(12)}  ${unit.padEnd(12)} ${price.padStart(12)} ${monthly.padStart(16)}`;
  for (const s of stacks) {
    lines.push(`Stack: ${s.stack} (${s.region}, prices of ${s.pricesChecked}, stacks/prices.ts)`, "");
    lines.push(row("Name", "Monthly Qty", "Unit", "Unit price", "Monthly Cost"), "");
    for (const r of s.resources) {
      lines.push(` ${r.address}`);
      r.components.forEach((p, i) => {
        const branch = i === r.components.length - 1 ? "└─" : "├─";
        const monthly = p.monthly === null ? (p.unitPrice === null ? "no price" : "depends on usage") : usd(p.monthly);
        lines.push(row(`${branch} ${p.name}`, qty(p.quantity), p.unit, unitPrice(p.unitPrice), monthly));
      });
      lines.push("");
    }
    lines.push(row(`Stack total: ${s.stack}`, "", "", "", usd(s.monthly)));
    const usageBased = s.resources.filter((r) => r.dependsOnUsage).map((r) => r.address);
    if (usageBased.length) lines.push(` depends on usage (not in the total): ${usageBased.join(", ")}`);
    lines.push(` free (${s.free.length}): ${countByType(s.free)}`);
    for (const type of new Set(s.unpriced.map((u) => u.type))) {
      const items = s.unpriced.filter((u) => u.type === type);
      lines.push(` unpriced: ${items.map((u) => u.address).join(", ")}: ${items[0].reason}`);
    }
    if (s.unclassified.length) lines.push(` UNCLASSIFIED (${s.unclassified.length}, add the type to stacks/cost.ts): ${s.unclassified.map((u) => u.address).join(", ")}`);
    lines.push("", "");
  }
  if (stacks.length > 1) lines.push(` OVERALL TOTAL (${stacks.length} stacks): ${usd(stacks.reduce((n, s) => n + s.monthly, 0))} per month`, "");
  return lines.join("\n");
}

function countByType(items: { type: string }[]): string {
  const counts = new Map<string, number>();
  for (const { type } of items) counts.set(type, (counts.get(type) ?? 0) + 1);
  return [...counts].map(([t, n]) => (n > 1 ? `${t} ×${n}` : t)).join(", ");
}

/** `infracost diff`-like text. */
export function formatDiff(diff: CostDiff, labels: [string, string]): string {
  const lines = [`Cost difference: ${labels[0]} -> ${labels[1]}  (${diff.stacks.join(", ")})`, ""];
  let stack = "";
  for (const r of diff.resources) {
    if (r.stack !== stack) lines.push(`${r.stack}`, ""), (stack = r.stack);
    const detail = r.change === "~" ? `  (${usd(r.before)} -> ${usd(r.after)})` : "";
    lines.push(`${r.change} ${r.address.padEnd(60)} ${signed(r.delta).padStart(12)}${detail}`);
    for (const p of r.components) {
      const value = (n: number | null) => (n === null ? "usage" : usd(n));
      const delta =
        p.change === "+" ? `+${value(p.after)}` : p.change === "-" ? `-${value(p.before)}` : p.before !== null && p.after !== null ? signed(money(p.after - p.before)) : `${value(p.before)} -> ${value(p.after)}`;
      lines.push(`    ${p.change} ${p.name.padEnd(70)} ${delta.padStart(12)}`);
    }
    lines.push("");
  }
  if (diff.resources.length === 0) lines.push("No resource changes its monthly cost.", "");
  lines.push(`Monthly cost: ${usd(diff.before)} -> ${usd(diff.after)} (${signed(diff.delta)})`, "");
  return lines.join("\n");
}
