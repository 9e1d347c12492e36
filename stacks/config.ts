import { ASTERISK_HOST_RESERVED_MIB, EC2_MEMORY_MIB, RDS_CLASSES, parseRedisBytes } from "./catalog";
import { Problems, cidrContains, cidrOverlaps, parseCidr } from "./validation";

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
    };

export interface DatabaseConfig {
  /** RDS instance identifier; changing it replaces the instance. */
  identifier: string;
  /** RDS instance class, e.g. db.t3.small. */
  instanceClass: string;
  /** PostgreSQL engine version, e.g. "16.4"; the parameter group family follows the major. */
  engineVersion: string;
  databaseName: string;
  masterUsername: string;
  /** Allocated storage in GB (gp3). */
  allocatedStorageGb: number;
  /** Storage autoscaling ceiling in GB; 0 turns autoscaling off. */
  maxAllocatedStorageGb: number;
  multiAz: boolean;
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

export interface RedisConfig {
  port: number;
  /** Redis maxmemory, e.g. "512mb". Must fit the Asterisk host with room for a BGSAVE fork. */
  maxmemory: string;
  maxmemoryPolicy: string;
  appendonly: boolean;
  /** Sources allowed to 6379. Default: the VPC CIDR. */
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

export interface CampaignConfig {
  project: string;
  environment: string;
  region: string;
  network: NetworkConfig;
  database: DatabaseConfig;
  proxy: ProxyConfig;
  asterisk: AsteriskConfig;
  redis: RedisConfig;
  backend: BackendConfig;
  /** Extra tags on every resource (Project, Environment and ManagedBy are always set). */
  tags?: Record<string, string>;
}

export const REDIS_POLICIES = [
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "volatile-lru",
  "volatile-lfu",
  "volatile-random",
  "volatile-ttl",
  "noeviction",
] as const;

const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const NAME = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

/** Every problem of one environment's configuration, as `environment.key: message (allowed: ...)`. */
export function validateCampaignConfig(config: CampaignConfig): string[] {
  const p = new Problems(config.environment || "<environment>");
  p.matches("project", config.project, NAME, "lowercase letters, digits and dashes, 3-32 chars");
  p.matches("environment", config.environment, NAME, "lowercase letters, digits and dashes, 3-32 chars");
  p.matches("region", config.region, REGION, "an AWS region such as us-east-1");
  const vpcCidr = validateNetwork(p.at("network"), config.network, config.region);
  validateDatabase(p.at("database"), config.database);
  validateProxy(p.at("proxy"), config.proxy);
  validateAsterisk(p.at("asterisk"), config.asterisk);
  validateRedis(p.at("redis"), config.redis, config.asterisk?.instanceType, vpcCidr);
  validateBackend(p.at("backend"), config.backend);
  return [...p.all];
}

function validateNetwork(p: Problems, n: NetworkConfig | undefined, region: string): string | undefined {
  if (!n) {
    p.add("", "is required", "mode \"create\" or \"existing\"");
    return undefined;
  }
  if (!p.oneOf("mode", n.mode, ["create", "existing"] as const)) return undefined;
  const vpcOk = p.cidr("vpcCidr", n.vpcCidr);
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
  azs.forEach((az, i) => {
    if (typeof az !== "string" || !az.startsWith(region) || !/^[a-z]$/.test(az.slice(region.length))) {
      p.add(`availabilityZones[${i}]`, `${JSON.stringify(az)} is not an availability zone of ${region}`, `${region}a, ${region}b, ...`);
    }
  });
  const subnets = Array.isArray(n.privateSubnetCidrs) ? n.privateSubnetCidrs : [];
  if (subnets.length !== azs.length) {
    p.add("privateSubnetCidrs", `needs one CIDR per availability zone (${azs.length}), got ${subnets.length}`);
  }
  const all = [...subnets.map((c, i) => [`privateSubnetCidrs[${i}]`, c] as const), ["publicSubnetCidr", n.publicSubnetCidr] as const];
  const parsed: [string, ReturnType<typeof parseCidr>][] = [];
  for (const [key, cidr] of all) {
    if (!p.cidr(key, cidr)) continue;
    const c = parseCidr(cidr);
    const vpc = vpcOk ? parseCidr(n.vpcCidr) : undefined;
    if (c && vpc && !cidrContains(vpc, c)) p.add(key, `${cidr} is not inside the VPC ${n.vpcCidr}`);
    for (const [otherKey, other] of parsed) {
      if (c && other && cidrOverlaps(c, other)) p.add(key, `${cidr} overlaps ${otherKey}`);
    }
    parsed.push([key, c]);
  }
  return vpcOk ? n.vpcCidr : undefined;
}

function validateDatabase(p: Problems, d: DatabaseConfig | undefined): void {
  if (!d) return p.add("", "is required");
  p.matches("identifier", d.identifier, /^[a-z][a-z0-9-]{0,62}$/, "lowercase letters, digits and dashes, starting with a letter");
  p.oneOf("instanceClass", d.instanceClass, Object.keys(RDS_CLASSES));
  p.matches("engineVersion", d.engineVersion, /^(1[3-7])(\.\d+)?$/, "PostgreSQL 13..17, e.g. 16.4");
  p.matches("databaseName", d.databaseName, /^[a-z][a-z0-9_]{0,62}$/, "lowercase letters, digits and underscores");
  p.matches("masterUsername", d.masterUsername, /^[a-z][a-z0-9_]{0,15}$/, "lowercase letters, digits and underscores, at most 16 chars");
  if (["admin", "postgres", "rdsadmin"].includes(d.masterUsername)) {
    p.add("masterUsername", `${JSON.stringify(d.masterUsername)} is reserved by RDS`, "any other name");
  }
  p.integer("allocatedStorageGb", d.allocatedStorageGb, 20, 65536);
  if (p.integer("maxAllocatedStorageGb", d.maxAllocatedStorageGb, 0, 65536) && d.maxAllocatedStorageGb !== 0 && d.maxAllocatedStorageGb <= d.allocatedStorageGb) {
    p.add("maxAllocatedStorageGb", `must be 0 (no autoscaling) or above allocatedStorageGb (${d.allocatedStorageGb})`);
  }
  p.integer("backupRetentionDays", d.backupRetentionDays, 0, 35);
  if (typeof d.multiAz !== "boolean") p.add("multiAz", "must be true or false");
  if (typeof d.deletionProtection !== "boolean") p.add("deletionProtection", "must be true or false");
}

function validateProxy(p: Problems, x: ProxyConfig | undefined): void {
  if (!x) return p.add("", "is required");
  p.integer("connectionBorrowTimeout", x.connectionBorrowTimeout, 1, 3600);
  p.integer("maxConnectionsPercent", x.maxConnectionsPercent, 1, 100);
  if (p.integer("maxIdleConnectionsPercent", x.maxIdleConnectionsPercent, 0, 100) && x.maxIdleConnectionsPercent > x.maxConnectionsPercent) {
    p.add("maxIdleConnectionsPercent", `${x.maxIdleConnectionsPercent} exceeds maxConnectionsPercent (${x.maxConnectionsPercent})`, `0..${x.maxConnectionsPercent}`);
  }
  p.integer("idleClientTimeout", x.idleClientTimeout, 1, 28800);
  if (x.requireTls !== true) p.add("requireTls", "must be true: clients reach the proxy only over TLS", "true");
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

function validateRedis(p: Problems, r: RedisConfig | undefined, instanceType: string | undefined, vpcCidr: string | undefined): void {
  if (!r) return p.add("", "is required");
  p.integer("port", r.port, 1024, 65535);
  p.oneOf("maxmemoryPolicy", r.maxmemoryPolicy, REDIS_POLICIES);
  if (typeof r.appendonly !== "boolean") p.add("appendonly", "must be true or false");
  if (p.required("maxmemory", r.maxmemory, "a size such as 512mb")) {
    const bytes = parseRedisBytes(String(r.maxmemory));
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
  if (r.allowedCidrs !== undefined && p.cidrList("allowedCidrs", r.allowedCidrs, { minItems: 1 }) && vpcCidr) {
    const vpc = parseCidr(vpcCidr)!;
    r.allowedCidrs.forEach((c, i) => {
      const cidr = parseCidr(c);
      if (cidr && !cidrContains(vpc, cidr)) p.add(`allowedCidrs[${i}]`, `${c} is outside the VPC ${vpcCidr}: Redis is VPC-only`, `CIDRs inside ${vpcCidr}`);
    });
  }
}

function validateBackend(p: Problems, b: BackendConfig | undefined): void {
  if (!b) return p.add("", "is required", "type \"local\" or \"s3\"");
  if (!p.oneOf("type", b.type, ["local", "s3"] as const)) return;
  if (b.type === "local") {
    if (b.path !== undefined && (typeof b.path !== "string" || b.path.startsWith("/"))) {
      p.add("path", `${JSON.stringify(b.path)} must be relative to the project root`, "e.g. terraform.campaign-dev.tfstate");
    }
    return;
  }
  p.matches("bucket", b.bucket, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name");
  p.matches("key", b.key, /^[^/].*\.tfstate$/, "an object key ending in .tfstate, e.g. campaign/prod/terraform.tfstate");
  p.matches("region", b.region, REGION, "an AWS region such as us-east-1");
}
