import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { RandomProvider } from "@cdktf/provider-random/lib/provider";
import { TerraformStack, Testing } from "cdktf";
import { LAMBDA_FUNCTIONS } from "../lambdas/manifest";
import { ELASTICACHE_ADDRESSES, Elasticache } from "../modules/elasticache";
import { applyGuardrails } from "../modules/guardrails";
import { validateCampaignConfig, type CampaignConfig } from "../stacks/config";
import { findMirror } from "../stacks/terraform";
import { dev, prod } from "../stacks/environments";
import { addresses, synthCampaign, variant, type Synthesized } from "./helpers/synth";

const elasticache = (config: CampaignConfig) => variant(config, (c) => void (c.redis.mode = "elasticache"));
const selfHosted = synthCampaign(prod).json;
const cached = synthCampaign(elasticache(prod)).json;

const a = ELASTICACHE_ADDRESSES;
/** What elasticache mode adds, and nothing else. */
const ELASTICACHE_RESOURCES = [
  `aws_elasticache_subnet_group.${a.subnetGroup}`,
  `aws_security_group.${a.securityGroup}`,
  `aws_elasticache_replication_group.${a.replicationGroup}`,
  `random_password.${a.authToken}`,
  `aws_secretsmanager_secret.${a.authToken}`,
  `aws_secretsmanager_secret_version.${a.authToken}`,
  "aws_cloudwatch_metric_alarm.elasticache_memory",
].sort();

const strip = (block: unknown) => JSON.parse(JSON.stringify(block, (k, v) => (k === "//" ? undefined : v)));

describe("redis.mode: elasticache brings back what the seeds removed", () => {
  const r = cached.resource;
  const group = r.aws_elasticache_replication_group.redis;

  it("a replication group encrypted at rest and in transit, with an AUTH token from random_password", () => {
    expect(group).toMatchObject({
      engine: "redis",
      at_rest_encryption_enabled: "true",
      transit_encryption_enabled: true,
      auth_token: "${random_password.redis_auth.result}",
      port: 6379,
      subnet_group_name: "${aws_elasticache_subnet_group.redis.name}",
      security_group_ids: ["${aws_security_group.redis.id}"],
      replication_group_id: "campaign-prod-redis",
    });
  });

  it("the AUTH token is kept in Secrets Manager as {\"password\": ...}, never in the JSON", () => {
    expect(r.aws_secretsmanager_secret_version.redis_auth.secret_string).toBe('${jsonencode({"password" = random_password.redis_auth.result})}');
    expect(r.random_password.redis_auth).toMatchObject({ length: 32, special: false });
    const text = JSON.stringify(cached);
    expect(text).not.toMatch(/"auth_token":\s*"(?!\$\{)/);
  });

  it("a subnet group over the private subnets and a security group admitting only the Lambda group", () => {
    expect(r.aws_elasticache_subnet_group.redis.subnet_ids).toEqual(prod.network.mode === "existing" ? prod.network.privateSubnetIds : []);
    const ingress = r.aws_security_group.redis.ingress as Record<string, unknown>[];
    expect(ingress).toHaveLength(1);
    expect(ingress[0]).toMatchObject({ protocol: "tcp", from_port: 6379, to_port: 6379, cidr_blocks: [], security_groups: ["${aws_security_group.lambda.id}"] });
    expect(r.aws_security_group.redis.egress).toEqual([]);
  });

  it("config settings reach the group: two nodes turn on failover and Multi-AZ", () => {
    const json = synthCampaign(variant(elasticache(prod), (c) => void (c.redis.elasticache = { nodeType: "cache.t3.small", numCacheClusters: 2, transitEncryptionMode: "required" }))).json;
    expect(json.resource.aws_elasticache_replication_group.redis).toMatchObject({
      node_type: "cache.t3.small",
      num_cache_clusters: 2,
      automatic_failover_enabled: true,
      multi_az_enabled: true,
      transit_encryption_mode: "required",
    });
  });

  it("the Lambdas that use Redis are wired to ElastiCache: host, port and the AUTH secret (and may read it)", () => {
    for (const fn of ["enrich_dial_task", "report_generator"]) {
      expect(r.aws_lambda_function[fn].environment.variables).toMatchObject({
        REDIS_HOST: "${aws_elasticache_replication_group.redis.primary_endpoint_address}",
        REDIS_PORT: "6379",
        REDIS_PASSWORD_SECRET_ARN: "${aws_secretsmanager_secret.redis_auth.arn}",
      });
      const policy = JSON.parse(r.aws_iam_role_policy[`lambda_${fn}_secrets`].policy);
      expect(policy.Statement[0].Resource).toContain("${aws_secretsmanager_secret.redis_auth.arn}");
      expect(policy.Statement[0].Resource).not.toContain("${aws_secretsmanager_secret.redis_password.arn}");
    }
  });

  it("the outputs keep their names and point at the active Redis", () => {
    expect(Object.keys(cached.output).sort()).toEqual(Object.keys(selfHosted.output).sort());
    expect(cached.output.redis_endpoint.value).toBe("${aws_elasticache_replication_group.redis.primary_endpoint_address}");
    expect(cached.output.redis_port.value).toBe(6379);
    expect(cached.output.redis_password_secret_arn.value).toBe("${aws_secretsmanager_secret.redis_auth.arn}");
    expect(selfHosted.output.redis_endpoint.value).toBe("${aws_instance.asterisk.private_ip}");
    expect(selfHosted.output.redis_password_secret_arn.value).toBe("${aws_secretsmanager_secret.redis_password.arn}");
  });

  it("an alarm on the replication group's memory goes to the alarm topic", () => {
    expect(r.aws_cloudwatch_metric_alarm.elasticache_memory).toMatchObject({
      namespace: "AWS/ElastiCache",
      metric_name: "DatabaseMemoryUsagePercentage",
      dimensions: { CacheClusterId: "campaign-prod-redis-001" },
      alarm_actions: ["${aws_sns_topic.alarms.arn}"],
    });
  });
});

describe("switching redis.mode changes nothing else", () => {
  it.each([
    ["prod", prod],
    ["dev", dev],
  ])("%s: the resources besides Redis's are the same set in both modes", (_env, config) => {
    const one = synthCampaign(config).json;
    const other = synthCampaign(elasticache(config)).json;
    expect(addresses(other).filter((x) => !addresses(one).includes(x)).sort()).toEqual(ELASTICACHE_RESOURCES);
    expect(addresses(one).filter((x) => !addresses(other).includes(x))).toEqual([]);
  });

  it("and the same bodies, but for the Lambdas' Redis host, secret and TLS", () => {
    // Only the functions that use Redis connect with TLS, and only to ElastiCache.
    const redisFunctions = LAMBDA_FUNCTIONS.filter((f) => f.uses.redis).map((f) => `campaign-prod-${f.name}`);
    const withTls = Object.values(cached.resource.aws_lambda_function as Record<string, { function_name: string; environment: { variables: Record<string, string> } }>)
      .filter((fn) => fn.environment.variables.REDIS_TLS === "verify-full")
      .map((fn) => fn.function_name);
    expect(withTls.sort()).toEqual(redisFunctions.sort());
    expect(JSON.stringify(selfHosted.resource)).not.toContain("REDIS_TLS");
    // Map the ElastiCache references back to the host's: then every shared resource is identical.
    const back = JSON.stringify(cached.resource)
      .replace(/\$\{aws_elasticache_replication_group\.redis\.primary_endpoint_address\}/g, "${aws_instance.asterisk.private_ip}")
      .replace(/\$\{aws_secretsmanager_secret\.redis_auth\.arn\}/g, "${aws_secretsmanager_secret.redis_password.arn}")
      .replace(/,"REDIS_TLS":"verify-full"/g, "");
    const mapped = JSON.parse(back) as Synthesized["resource"];
    for (const address of addresses(selfHosted)) {
      const [type, name] = address.split(".");
      expect({ address, body: strip(mapped[type][name]) }).toEqual({ address, body: strip(selfHosted.resource[type][name]) });
    }
    // ... and the Lambdas really differ (they are wired to ElastiCache, not left on the host)
    expect(cached.resource.aws_lambda_function.enrich_dial_task).not.toEqual(selfHosted.resource.aws_lambda_function.enrich_dial_task);
  });

  it("elasticache mode moves exactly its resources from module.data; self-hosted mode has no such move", () => {
    const moved = (json: Synthesized) => json.moved.map((m) => `${m.from} -> ${m.to}`);
    const added = moved(cached).filter((m) => !moved(selfHosted).includes(m));
    const adopted = ELASTICACHE_RESOURCES.filter((x) => x !== "aws_cloudwatch_metric_alarm.elasticache_memory");
    expect(added.sort()).toEqual(adopted.map((x) => `module.data.${x} -> ${x}`).sort());
    expect(moved(selfHosted).filter((m) => /elasticache|redis_auth|aws_security_group\.redis /.test(m))).toEqual([]);
    expect(moved(selfHosted).every((m) => moved(cached).includes(m))).toBe(true);
  });
});

describe("guardrails and validation cover ElastiCache", () => {
  const synthError = (edit: (cache: Elasticache) => void): string => {
    const stack = new TerraformStack(Testing.app(), "bad");
    new AwsProvider(stack, "aws", { region: "us-east-1" });
    new RandomProvider(stack, "random");
    applyGuardrails(stack);
    const cache = new Elasticache(stack, "elasticache", { name: "bad", vpcId: "vpc-1", privateSubnetIds: ["subnet-1"], clients: { securityGroupIds: ["sg-1"] } });
    edit(cache);
    try {
      Testing.synth(stack, true);
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  };

  it("the module as built passes", () => {
    expect(synthError(() => undefined)).toBe("");
  });

  it.each([
    ["at_rest_encryption_enabled", "false", /must be encrypted at rest/],
    ["transit_encryption_enabled", false, /must be encrypted in transit/],
    ["auth_token", "", /must require authentication/],
  ])("a replication group with %s = %p fails synth", (key, value, message) => {
    expect(synthError((c) => c.replicationGroup.addOverride(key, value))).toMatch(message);
  });

  it("Redis open to the world is refused like on the host", () => {
    expect(synthError((c) => c.securityGroup.addOverride("ingress.0.cidr_blocks", ["0.0.0.0/0"]))).toMatch(/opens Redis \(6379\) to 0\.0\.0\.0\/0/);
  });

  it("a bad mode or bad ElastiCache settings are named, with what is allowed", () => {
    const bad = variant(prod, (c) => {
      (c.redis as { mode: string }).mode = "memcached";
      c.redis.elasticache = { nodeType: "t3.micro", numCacheClusters: 9, snapshotRetentionDays: 40 };
    });
    expect(validateCampaignConfig(bad)).toEqual([
      'prod.redis.mode: "memcached" is not supported (allowed: self-hosted, elasticache)',
      'prod.redis.elasticache.nodeType: "t3.micro" is not valid (allowed: a node type such as cache.t3.micro)',
      "prod.redis.elasticache.numCacheClusters: 9 is out of range (allowed: an integer 1..6)",
      "prod.redis.elasticache.snapshotRetentionDays: 40 is out of range (allowed: an integer 0..35)",
    ]);
    expect(validateCampaignConfig(elasticache(prod))).toEqual([]);
  });

  it("the construct refuses an ElastiCache without clients", () => {
    const stack = new TerraformStack(Testing.app(), "x");
    expect(() => new Elasticache(stack, "e", { name: "x", vpcId: "vpc-1", privateSubnetIds: ["subnet-1"], clients: {} })).toThrow(/x\/e: clients: at least one security group or CIDR is required/);
  });
});

/** Attributes an old module.data ElastiCache would have in state (what AWS reports for them). */
const OLD_STATE_RESOURCES: [type: string, name: string, schemaVersion: number, attributes: Record<string, unknown>][] = [
  ["aws_elasticache_replication_group", "redis", 2, {
    id: "campaign-prod-redis", replication_group_id: "campaign-prod-redis", engine: "redis", engine_version: "7.1", engine_version_actual: "7.1.0",
    node_type: "cache.t3.micro", num_cache_clusters: 1, port: 6379, description: "campaign-prod: Redis (cache and dial-task state) for the Lambdas",
    at_rest_encryption_enabled: "true", transit_encryption_enabled: true, transit_encryption_mode: "preferred", subnet_group_name: "campaign-prod-redis",
    security_group_ids: ["sg-0123456789abcdef0"], security_group_names: [], automatic_failover_enabled: false, multi_az_enabled: false,
    snapshot_retention_limit: 1, auto_minor_version_upgrade: "true", auth_token_update_strategy: "ROTATE", parameter_group_name: "default.redis7",
    network_type: "ipv4", ip_discovery: "ipv4", cluster_mode: "disabled", num_node_groups: 1, replicas_per_node_group: 0, apply_immediately: false,
    member_clusters: ["campaign-prod-redis-001"], primary_endpoint_address: "campaign-prod-redis.abc123.ng.0001.use1.cache.amazonaws.com",
    arn: "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:campaign-prod-redis", tags: { Name: "campaign-prod-redis" }, tags_all: { Name: "campaign-prod-redis" },
  }],
  ["aws_elasticache_subnet_group", "redis", 0, {
    id: "campaign-prod-redis", name: "campaign-prod-redis", description: "Private subnets of campaign-prod's ElastiCache Redis",
    subnet_ids: ["subnet-0a0a0a0a0a0a0a0a1", "subnet-0b0b0b0b0b0b0b0b2"], tags: { Name: "campaign-prod-redis" }, tags_all: { Name: "campaign-prod-redis" },
  }],
  ["aws_security_group", "redis", 1, {
    id: "sg-0123456789abcdef0", name: "campaign-prod-redis", description: "ElastiCache Redis: from the Lambda security group only", vpc_id: "vpc-0c0ffee0c0ffee000",
    ingress: [], egress: [], revoke_rules_on_delete: false, owner_id: "123456789012", arn: "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0123456789abcdef0",
    tags: { Name: "campaign-prod-redis" }, tags_all: { Name: "campaign-prod-redis" },
  }],
  ["aws_secretsmanager_secret", "redis_auth", 0, {
    id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:campaign-prod/redis-auth-token-AbCdEf", arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:campaign-prod/redis-auth-token-AbCdEf",
    name: "campaign-prod/redis-auth-token", description: "x", recovery_window_in_days: 7, tags: {}, tags_all: {},
  }],
];

const oldState = () =>
  JSON.stringify({
    version: 4,
    terraform_version: "1.11.4",
    serial: 1,
    lineage: "3f0c1d2e-0000-4000-8000-000000000001",
    outputs: {},
    resources: OLD_STATE_RESOURCES.map(([type, name, schema_version, attributes]) => ({
      module: "module.data",
      mode: "managed",
      type,
      name,
      provider: 'provider["registry.terraform.io/hashicorp/aws"]',
      instances: [{ schema_version, attributes }],
    })),
  });

/**
 * Terraform with the real AWS provider from the machine's mirror (findMirror; hashicorp/aws 5.100.0
 * here): the version constraint is rewritten to the mirror's, random_password is stood in by
 * terraform_data (no random provider offline), the AMI is pinned (no data source to read) and the
 * provider gets fake credentials with every AWS call skipped (`plan -refresh=false`).
 */
describe("Terraform plans both modes and adopts an old module.data ElastiCache", () => {
  const mirror = findMirror();
  const MIRROR = mirror.path;
  const AWS_VERSION = mirror.providers["hashicorp/aws"].at(-1)!;
  const work = mkdtempSync(join(tmpdir(), "redis-mode-tf-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const cli = join(work, "terraform.rc");
  writeFileSync(cli, `provider_installation {\n  filesystem_mirror { path = ${JSON.stringify(MIRROR)} }\n}\n`);
  const env = { ...process.env, TF_CLI_CONFIG_FILE: cli, TF_IN_AUTOMATION: "1", CHECKPOINT_DISABLE: "1" };
  const terraform = (dir: string, args: string[]) => execFileSync("terraform", args, { cwd: dir, env, timeout: 120_000, encoding: "utf8", stdio: "pipe" });
  const pinned = variant(prod, (c) => void (c.asterisk.amiId = "ami-0123456789abcdef0"));

  const offline = (json: Synthesized): string => {
    const j = structuredClone(json) as Synthesized & Record<string, any>;
    j.terraform = { required_providers: { aws: { source: "hashicorp/aws", version: AWS_VERSION } } };
    delete j.provider.random;
    j.provider.aws[0] = { ...j.provider.aws[0], access_key: "AKIAFAKEFAKEFAKE", secret_key: "fake", skip_credentials_validation: true, skip_requesting_account_id: true, skip_metadata_api_check: true };
    j.resource.terraform_data = Object.fromEntries(Object.keys(j.resource.random_password).map((n) => [n, { input: "stand-in" }]));
    delete j.resource.random_password;
    j.moved = j.moved.filter((m) => !m.to.startsWith("random_password."));
    return JSON.stringify(j).replace(/random_password\.([a-z_]+)\.result/g, "terraform_data.$1.output");
  };

  /**
   * The plan's resource changes against a state holding only the old module.data ElastiCache
   * (`plan` validates the whole configuration against the provider's schema first).
   */
  const plan = (mode: string, config: CampaignConfig) => {
    const dir = join(work, mode);
    mkdirSync(dir);
    writeFileSync(join(dir, "main.tf.json"), offline(synthCampaign(config).json));
    terraform(dir, ["init", "-backend=false", "-input=false", "-no-color"]);
    writeFileSync(join(dir, "terraform.tfstate"), oldState());
    terraform(dir, ["plan", "-refresh=false", "-input=false", "-lock=false", "-no-color", "-out=plan.bin"]);
    const shown = JSON.parse(terraform(dir, ["show", "-json", "plan.bin"])) as { resource_changes: { address: string; previous_address?: string; change: { actions: string[] } }[] };
    return shown.resource_changes;
  };
  const OLD = OLD_STATE_RESOURCES.map(([type, name]) => `${type}.${name}`).sort();

  it("elasticache mode adopts the old resources (moved, updated in place), destroys and replaces nothing", () => {
    const changes = plan("elasticache", elasticache(pinned));
    const adopted = changes.filter((c) => c.previous_address?.startsWith("module.data."));
    expect(adopted.map((c) => [c.previous_address, c.address]).sort()).toEqual(OLD.map((a) => [`module.data.${a}`, a]));
    for (const c of adopted) expect({ address: c.address, actions: c.change.actions }).toEqual({ address: c.address, actions: ["update"] });
    expect(changes.filter((c) => c.change.actions.includes("delete"))).toEqual([]);
  }, 180_000);

  it("self-hosted mode names exactly what it destroys: the old ElastiCache resources", () => {
    const deleted = plan("self-hosted", pinned).filter((c) => c.change.actions.includes("delete"));
    expect(deleted.map((c) => c.address).sort()).toEqual(OLD.map((a) => `module.data.${a}`));
  }, 180_000);
});
