import { Aspects, IAspect, TerraformDataSource, TerraformOutput, TerraformResource, TerraformStack } from "cdktf";
import { resolve } from "cdktf/lib/_tokens";
import { IConstruct } from "constructs";

/** Ports that must never be open to the internet. */
export const PROTECTED_PORTS: ReadonlyMap<number, string> = new Map([
  [22, "SSH"],
  [5432, "PostgreSQL"],
  [6379, "Redis"],
]);
const ANYWHERE = new Set(["0.0.0.0/0", "::/0"]);

/** References whose value is a secret; an output carrying one must be sensitive. */
const SECRET_REFERENCE =
  /\b(random_password\.[\w-]+\.(result|bcrypt_hash)|[\w-]+\.[\w-]+\.secret_(string|binary)|aws_db_instance\.[\w-]+\.password)\b/;
/** cdktf's path-plus-hash logical ids end in an 8-digit uppercase hash. */
const HASHED_ADDRESS = /_[0-9A-F]{8}$/;

type Attributes = Record<string, unknown>;

/**
 * Synth-time guardrails. Each violation fails synth with the construct path:
 * - a security group (inline rule, aws_security_group_rule or aws_vpc_security_group_ingress_rule)
 *   opening 22, 5432 or 6379 to 0.0.0.0/0 or ::/0;
 * - RDS storage not encrypted, or an instance publicly accessible;
 * - an RDS Proxy that does not require TLS;
 * - an ElastiCache replication group without encryption at rest and in transit, or without AUTH;
 * - an S3 bucket without a server-side encryption configuration or without a public access block
 *   that blocks everything; a public access block with any setting off; a public canned ACL;
 * - an output carrying a secret that is not marked sensitive;
 * - a resource or output without a stable, readable address (a hashed logical id breaks state
 *   takeover; a hashed output name breaks `terraform output -raw NAME`).
 */
export class Guardrails implements IAspect {
  visit(node: IConstruct): void {
    const problems = [...check(node)];
    if (problems.length > 0) node.node.addValidation({ validate: () => problems });
  }
}

/** Apply the guardrails to a stack. */
export function applyGuardrails(stack: TerraformStack): void {
  Aspects.of(stack).add(new Guardrails());
}

function* check(node: IConstruct): Generator<string> {
  if (node instanceof TerraformOutput) {
    if (HASHED_ADDRESS.test(node.friendlyUniqueId)) yield `output ${node.friendlyUniqueId} has no stable name: give it one with at(output, "name")`;
    yield* checkOutput(node);
    return;
  }
  if (!TerraformResource.isTerraformResource(node) && !(node instanceof TerraformDataSource)) return;
  const element = node as TerraformResource | TerraformDataSource;
  if (HASHED_ADDRESS.test(element.friendlyUniqueId)) {
    yield `${element.terraformResourceType}.${element.friendlyUniqueId} has no stable address: give it one with at(resource, "name")`;
  }
  if (!(node instanceof TerraformResource)) return;
  const attrs = attributesOf(node);
  switch (node.terraformResourceType) {
    case "aws_security_group":
      for (const rule of (attrs.ingress as Attributes[] | undefined) ?? []) {
        yield* openToWorld(node, rule, [...list(rule.cidr_blocks), ...list(rule.ipv6_cidr_blocks)]);
      }
      break;
    case "aws_security_group_rule":
      if (attrs.type === "ingress") yield* openToWorld(node, attrs, [...list(attrs.cidr_blocks), ...list(attrs.ipv6_cidr_blocks)]);
      break;
    case "aws_vpc_security_group_ingress_rule":
      yield* openToWorld(node, { ...attrs, protocol: attrs.ip_protocol }, [attrs.cidr_ipv4, attrs.cidr_ipv6]);
      break;
    case "aws_db_instance":
    case "aws_rds_cluster":
      if (attrs.storage_encrypted !== true) yield `${node.terraformResourceType}.${node.friendlyUniqueId}: storage must be encrypted (storage_encrypted = true)`;
      if (attrs.publicly_accessible === true) yield `${node.terraformResourceType}.${node.friendlyUniqueId}: must not be publicly accessible`;
      break;
    case "aws_db_proxy":
      if (attrs.require_tls !== true) yield `aws_db_proxy.${node.friendlyUniqueId}: must require TLS (require_tls = true)`;
      break;
    case "aws_elasticache_replication_group": {
      const id = `aws_elasticache_replication_group.${node.friendlyUniqueId}`;
      if (String(attrs.at_rest_encryption_enabled) !== "true") yield `${id}: must be encrypted at rest (at_rest_encryption_enabled = true)`;
      if (attrs.transit_encryption_enabled !== true) yield `${id}: must be encrypted in transit (transit_encryption_enabled = true)`;
      if (!attrs.auth_token && list(attrs.user_group_ids).length === 0) yield `${id}: must require authentication (auth_token or user_group_ids)`;
      break;
    }
    case "aws_s3_bucket":
      yield* checkBucket(node);
      break;
    case "aws_s3_bucket_public_access_block": {
      const off = PUBLIC_ACCESS_BLOCK.filter((k) => attrs[k] !== true);
      if (off.length) yield `aws_s3_bucket_public_access_block.${node.friendlyUniqueId}: must block all public access (${off.map((k) => `${k} = true`).join(", ")})`;
      break;
    }
    case "aws_s3_bucket_acl":
      if (/^(public-read|public-read-write|authenticated-read)$/.test(String(attrs.acl))) yield `aws_s3_bucket_acl.${node.friendlyUniqueId}: canned ACL ${attrs.acl} makes the bucket public`;
      break;
  }
}

const PUBLIC_ACCESS_BLOCK = ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"] as const;

/** A bucket needs, in its stack, an encryption configuration and a public access block naming it. */
function* checkBucket(bucket: TerraformResource): Generator<string> {
  const own = new RegExp(`^\\$\\{aws_s3_bucket\\.${bucket.friendlyUniqueId}\\.(id|bucket)\\}$`);
  const companions = new Set<string>();
  for (const n of TerraformStack.of(bucket).node.findAll()) {
    if (!(n instanceof TerraformResource)) continue;
    if (n.terraformResourceType !== "aws_s3_bucket_server_side_encryption_configuration" && n.terraformResourceType !== "aws_s3_bucket_public_access_block") continue;
    if (own.test(String(attributesOf(n).bucket))) companions.add(n.terraformResourceType);
  }
  const id = `aws_s3_bucket.${bucket.friendlyUniqueId}`;
  if (!companions.has("aws_s3_bucket_server_side_encryption_configuration")) yield `${id}: must be encrypted (an aws_s3_bucket_server_side_encryption_configuration for it)`;
  if (!companions.has("aws_s3_bucket_public_access_block")) yield `${id}: must block public access (an aws_s3_bucket_public_access_block for it)`;
}

function* openToWorld(resource: TerraformResource, rule: Attributes, sources: unknown[]): Generator<string> {
  const world = sources.filter((s): s is string => typeof s === "string" && ANYWHERE.has(s));
  if (world.length === 0) return;
  const allPorts = String(rule.protocol) === "-1";
  const from = Number(rule.from_port);
  const to = Number(rule.to_port);
  for (const [port, service] of PROTECTED_PORTS) {
    if (allPorts || (from <= port && port <= to)) {
      yield `${resource.terraformResourceType}.${resource.friendlyUniqueId}: opens ${service} (${port}) to ${world.join(", ")}`;
    }
  }
}

function* checkOutput(output: TerraformOutput): Generator<string> {
  if (output.sensitive) return;
  const value = JSON.stringify(resolve(TerraformStack.of(output), output.value)) ?? "";
  const secret = SECRET_REFERENCE.exec(value);
  if (secret) yield `output ${output.friendlyUniqueId} carries a secret (${secret[1]}) and must be sensitive = true`;
}

/** The resource's synthesized attributes (snake_case, overrides applied; references as tokens). */
function attributesOf(resource: TerraformResource): Attributes {
  const synthesized = resolve(TerraformStack.of(resource), resource.toTerraform()) as { resource: Record<string, Record<string, Attributes>> };
  return Object.values(Object.values(synthesized.resource)[0])[0] ?? {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
