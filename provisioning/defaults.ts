/**
 * Role defaults and the schema of every variable this role reads (the `defaults/main.yml` of the
 * Ansible role it replaces). Each validator returns the normalised value or throws a message that
 * the inventory loader prefixes with the file and variable name.
 */
import { isIP } from "node:net";
import { ARI } from "../lambdas/contracts/ari";
import { DEFAULT_EVICTION_POLICY, EVICTION_POLICIES } from "../lambdas/contracts/eviction";
import { MEMORY_SIZE } from "../lambdas/contracts/memory";
import { REDIS_METRICS } from "../lambdas/contracts/metrics";
import { AMAZON_LINUX_REDIS_PACKAGES, AmazonLinuxRedisPackage } from "../lambdas/contracts/os";
import { SECRET_ARN } from "../lambdas/contracts/secrets";

export const TARGET_GROUP = "asterisk";
export const STATE_DIR = "/var/lib/redis-provision";

export type AppendFsync = "always" | "everysec" | "no";

export interface RoleVars {
  redis_password?: string;
  redis_password_secret_arn?: string;
  redis_port: number;
  redis_bind_address: string;
  redis_protected_mode: boolean;
  redis_tcp_keepalive: number;
  redis_timeout: number;
  redis_maxmemory: string;
  redis_maxmemory_policy: string;
  /** MiB the host keeps for the OS, Asterisk and the worker besides Redis (the memory check: 2 x maxmemory + this <= MemTotal). */
  asterisk_host_reserved_mib: number;
  redis_save_intervals: string[];
  redis_appendonly: boolean;
  redis_appendfsync: AppendFsync;
  redis_loglevel: string;
  redis_databases: number;
  redis_app_acl: string;
  redis_admin_user: string;
  redis_amazon_linux_package: AmazonLinuxRedisPackage;
  redis_extra_config: Record<string, string>;
  redis_metrics_enabled: boolean;
  redis_metrics_namespace: string;
  redis_metrics_interval_seconds: number;
  redis_metrics_region: string;
  redis_metrics_imds_url: string;
  redis_backup_bucket: string;
  redis_backup_prefix: string;
  redis_backup_schedule: string;
  redis_backup_region: string;
  redis_backup_timeout_seconds: number;
  asterisk_ari_password?: string;
  asterisk_ari_password_secret_arn?: string;
  asterisk_ari_user: string;
  asterisk_ari_port: number;
  asterisk_ari_bind_address: string;
  /** The Asterisk-side worker service (provisioning/tasks/worker.ts); each name follows its config key. */
  asterisk_worker_enabled: boolean;
  /** ARI_URL; "" = http://127.0.0.1:asterisk_ari_port (or asterisk_ari_bind_address when that is one address). */
  asterisk_worker_ari_url: string;
  asterisk_worker_ari_app: string;
  asterisk_worker_ari_channel_prefix: string;
  asterisk_worker_health_host: string;
  asterisk_worker_health_port: number;
  /** Extra IPAddressAllow= entries of the unit (a remote health probe); "" = loopback only. */
  asterisk_worker_health_allow: string;
  asterisk_worker_log_level: string;
  asterisk_worker_memory_max: string;
}

/** Variables without a default (set or not). */
export const OPTIONAL_VARS = [
  "redis_password",
  "redis_password_secret_arn",
  "asterisk_ari_password",
  "asterisk_ari_password_secret_arn",
] as const;

export const DEFAULTS: RoleVars = {
  redis_port: 6379,
  redis_bind_address: "0.0.0.0",
  redis_protected_mode: true,
  redis_tcp_keepalive: 300,
  redis_timeout: 0,
  redis_maxmemory: "512mb",
  redis_maxmemory_policy: DEFAULT_EVICTION_POLICY,
  asterisk_host_reserved_mib: 512,
  redis_save_intervals: ["300 1"],
  redis_appendonly: true,
  redis_appendfsync: "everysec",
  redis_loglevel: "notice",
  redis_databases: 16,
  redis_app_acl: "+@all -@dangerous +info +client|setname +client|getname +client|id +client|info",
  redis_admin_user: "provisioner",
  redis_amazon_linux_package: "valkey",
  redis_extra_config: {},
  redis_metrics_enabled: true,
  redis_metrics_namespace: REDIS_METRICS.namespace,
  redis_metrics_interval_seconds: 60,
  redis_metrics_region: "",
  redis_metrics_imds_url: "http://169.254.169.254",
  redis_backup_bucket: "",
  redis_backup_prefix: "redis",
  redis_backup_schedule: "hourly",
  redis_backup_region: "",
  redis_backup_timeout_seconds: 900,
  asterisk_ari_user: ARI.user,
  asterisk_ari_port: ARI.port,
  asterisk_ari_bind_address: "0.0.0.0",
  asterisk_worker_enabled: false,
  asterisk_worker_ari_url: "",
  asterisk_worker_ari_app: "campaign-dialer",
  asterisk_worker_ari_channel_prefix: "cmp-",
  asterisk_worker_health_host: "127.0.0.1",
  asterisk_worker_health_port: 8090,
  asterisk_worker_health_allow: "",
  asterisk_worker_log_level: "info",
  asterisk_worker_memory_max: "256M",
};

type Validator = (v: unknown) => unknown;

const fail = (msg: string, v: unknown): never => {
  throw new Error(`${msg} (got ${JSON.stringify(v)})`);
};

const int = (min: number, max: number): Validator => (v) => {
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) fail(`must be an integer ${min}-${max}`, v);
  return n;
};

export const bool: Validator = (v) => {
  if (typeof v === "boolean") return v;
  const s = String(v).toLowerCase();
  if (["yes", "true", "1", "on"].includes(s)) return true;
  if (["no", "false", "0", "off"].includes(s)) return false;
  return fail("must be a boolean (yes/no/true/false)", v);
};

const oneOf = (...values: string[]): Validator => (v) => {
  if (typeof v !== "string" || !values.includes(v)) fail(`must be one of ${values.join(", ")}`, v);
  return v;
};

/** A single-line string without control characters (newlines would break the config and the ssh stdin protocol). */
const line = (what: string, re?: RegExp): Validator => (v) => {
  if (typeof v !== "string" && typeof v !== "number") fail(`must be a ${what}`, typeof v === "object" ? "<object>" : v);
  const s = String(v);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(s)) fail(`must be a ${what} without control characters`, "<hidden>");
  if (re && !re.test(s)) fail(`must be a ${what}`, s);
  return s;
};

/** Never echoes the value: this validator guards a secret. */
const password: Validator = (v) => {
  // eslint-disable-next-line no-control-regex
  if (typeof v !== "string" || v.length < 8 || /[\x00-\x1f\x7f]/.test(v)) {
    throw new Error("must be a string of at least 8 characters without control characters (value hidden)");
  }
  return v;
};

const bindList: Validator = (v) => {
  const s = line("list of IP addresses")(v) as string;
  const parts = s.split(/\s+/).filter(Boolean);
  if (parts.length === 0) fail("must name at least one address", v);
  for (const p of parts) {
    const a = p.replace(/^-/, "");
    if (a !== "*" && !isIP(a)) fail("must be space-separated IP addresses (or *)", v);
  }
  return parts.join(" ");
};

const saveIntervals: Validator = (v) => {
  if (!Array.isArray(v)) return fail('must be a list of "SECONDS CHANGES" entries', v);
  return v.map((e) => {
    let pair: unknown[];
    if (typeof e === "string") pair = e.trim().split(/\s+/);
    else if (Array.isArray(e)) pair = e;
    else if (e && typeof e === "object") pair = [(e as Record<string, unknown>).seconds, (e as Record<string, unknown>).changes];
    else pair = [e];
    if (pair.length !== 2 || !pair.every((x) => /^\d+$/.test(String(x)) && Number(x) > 0)) {
      fail('each entry must be "SECONDS CHANGES" or {seconds, changes} with positive integers', e);
    }
    return `${Number(pair[0])} ${Number(pair[1])}`;
  });
};

/** A validator that found several problems: the loader reports each on its own line. */
export class ValueProblems extends Error {
  constructor(public readonly problems: string[]) {
    super(problems.join("; "));
  }
}

/**
 * Directives whose value is (or carries) a secret. redis.conf would hold it in plain text and every
 * --diff would show it, so redis_extra_config refuses them; maskSecrets hides their values anyway.
 * Valkey spells the replication ones primaryauth/primaryuser too.
 */
export const SECRET_DIRECTIVES = [
  "requirepass",
  "masterauth",
  "masteruser",
  "primaryauth",
  "primaryuser",
  "tls-key-file-pass",
  "tls-client-key-file-pass",
] as const;

/** Directives the role renders itself (or that would escape its control). */
const MANAGED_DIRECTIVES = ["dir", "dbfilename", "appenddirname", "include", "aclfile", "rename-command"];

/** Checks every entry and reports every problem (each names the directive), never a value that may be secret. */
const extraConfig: Validator = (v) => {
  if (!v || typeof v !== "object" || Array.isArray(v)) return fail("must be a map of directive: value", v);
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    const name = k.toLowerCase();
    if (!/^[a-z][a-z0-9-]*$/.test(k)) {
      problems.push(`${JSON.stringify(k)}: directive names are lowercase words with dashes`);
    } else if (name === "user") {
      problems.push("user: ACL users carry passwords and are managed by the role (redis_app_acl, redis_admin_user); refused");
    } else if ((SECRET_DIRECTIVES as readonly string[]).includes(name)) {
      problems.push(
        `${k}: carries a secret, which would be stored in plain text in redis.conf and shown by --diff; refused ` +
          `(the application password is redis_password / redis_password_secret_arn)`,
      );
    } else if (MANAGED_DIRECTIVES.includes(name)) {
      problems.push(`${k}: managed by the role and cannot be overridden`);
    } else {
      try {
        out[k] = line("single-line value")(val) as string;
      } catch (e) {
        problems.push(`${k}: ${(e as Error).message}`);
      }
    }
  }
  if (problems.length) throw new ValueProblems(problems);
  return out;
};

/** CloudWatch namespace: ASCII without spaces or quotes (it goes into a systemd unit), not AWS/. */
const namespace: Validator = (v) => {
  const s = line("CloudWatch namespace like Campaign/Redis", /^[A-Za-z0-9._/#-][A-Za-z0-9._/#:-]{0,254}$/)(v) as string;
  if (/^AWS\//i.test(s)) fail("must not start with AWS/ (reserved for AWS services)", s);
  return s;
};

export const VALIDATORS: Record<keyof RoleVars, Validator> = {
  redis_password: password,
  redis_password_secret_arn: line("Secrets Manager ARN", SECRET_ARN),
  redis_port: int(1, 65535),
  redis_bind_address: bindList,
  redis_protected_mode: bool,
  redis_tcp_keepalive: int(0, 86400),
  redis_timeout: int(0, 31536000),
  redis_maxmemory: line("memory size like 512mb", MEMORY_SIZE),
  redis_maxmemory_policy: oneOf(...EVICTION_POLICIES),
  redis_save_intervals: saveIntervals,
  asterisk_host_reserved_mib: int(0, 1048576),
  redis_appendonly: bool,
  redis_appendfsync: oneOf("always", "everysec", "no"),
  redis_loglevel: oneOf("debug", "verbose", "notice", "warning"),
  redis_databases: int(1, 10000),
  redis_app_acl: line("list of ACL rules", /^([+-]@?[a-z|-]+|~\S+|&\S+|%R?W?~\S+|allkeys|allchannels|allcommands|nocommands|resetkeys|resetchannels)(\s+([+-]@?[a-z|-]+|~\S+|&\S+|%R?W?~\S+|allkeys|allchannels|allcommands|nocommands|resetkeys|resetchannels))*$/),
  redis_admin_user: line("ACL user name", /^[a-z][a-z0-9_-]{0,63}$/),
  redis_amazon_linux_package: oneOf(...AMAZON_LINUX_REDIS_PACKAGES),
  redis_extra_config: extraConfig,
  redis_metrics_enabled: bool,
  redis_metrics_namespace: namespace,
  redis_metrics_interval_seconds: int(10, 3600),
  redis_metrics_region: line("AWS region like us-east-1 (or empty for the instance's own)", /^$|^[a-z]{2}(-[a-z]+)+-\d+$/),
  asterisk_ari_password: password,
  asterisk_ari_password_secret_arn: line("Secrets Manager ARN", SECRET_ARN),
  asterisk_ari_user: line("ARI user name (letters, digits, _ . -)", /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/),
  asterisk_ari_port: int(1, 65535),
  asterisk_ari_bind_address: (v) => {
    const s = line("IP address")(v) as string;
    if (!isIP(s)) fail("must be one IP address (http.conf bindaddr)", v);
    return s;
  },
  asterisk_worker_enabled: bool,
  // The unit allows no DNS (IPAddressDeny=any) and only the addresses it is told: an IP address or localhost.
  asterisk_worker_ari_url: line(
    "http(s)://ADDRESS[:PORT] URL of Asterisk's HTTP server with an IP address or localhost (no credentials, path or query), or empty",
    /^$|^https?:\/\/(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(:\d{1,5})?\/?$/,
  ),
  asterisk_worker_ari_app: line("Stasis application name (letters, digits, _ . -; the dialer-worker's ARI_APP)", /^[A-Za-z0-9_.-]{1,80}$/),
  asterisk_worker_ari_channel_prefix: line("channel id prefix (letters, digits, _ . -)", /^[A-Za-z0-9_.-]{1,40}$/),
  asterisk_worker_health_host: (v) => {
    const s = line("IP address")(v) as string;
    if (!isIP(s)) fail("must be one IP address the health endpoint listens on (127.0.0.1 by default)", v);
    return s;
  },
  asterisk_worker_health_port: int(1, 65535),
  asterisk_worker_health_allow: (v) => {
    const s = line("list of IP addresses or CIDR ranges")(v) as string;
    const parts = s.split(/\s+/).filter(Boolean);
    for (const p of parts) {
      const [a, bits, extra] = p.split("/");
      const max = isIP(a) === 6 ? 128 : 32;
      if (!isIP(a) || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
        fail("must be space-separated IP addresses or CIDR ranges (IPAddressAllow= of the unit)", p);
      }
    }
    return parts.join(" ");
  },
  asterisk_worker_log_level: oneOf("debug", "info", "warn", "error", "silent"),
  asterisk_worker_memory_max: line("systemd MemoryMax= size like 256M", /^[1-9]\d*[KMG]$/),
  redis_backup_bucket: line("S3 bucket name (the stack's output redis_backup_bucket), or empty for no backups", /^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
  redis_backup_prefix: line("key prefix like redis (lowercase segments, no leading or trailing /)", /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/),
  redis_backup_schedule: line('systemd OnCalendar expression like hourly or "*-*-* 02:30:00"', /^[A-Za-z0-9*:,/.~ -]{1,64}$/),
  redis_backup_region: line("AWS region like us-east-1 (or empty for the instance's own)", /^$|^[a-z]{2}(-[a-z]+)+-\d+$/),
  redis_backup_timeout_seconds: int(60, 86400),
  redis_metrics_imds_url: line("http://ADDRESS[:PORT] URL of the instance metadata service", /^http:\/\/(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(:\d{1,5})?$/),
};

/** Connection variables understood (Ansible names). */
export const CONNECTION_VARS = [
  "ansible_host",
  "ansible_port",
  "ansible_user",
  "ansible_ssh_private_key_file",
  "ansible_become",
  "ansible_ssh_common_args",
  "ansible_ssh_extra_args",
  "ansible_timeout",
] as const;

/** Ansible variables that are accepted only with the value(s) this tool implements; others are errors. */
export const ACCEPTED_ANSIBLE_VARS: Record<string, (v: unknown) => boolean> = {
  ansible_connection: (v) => v === "ssh" || v === "smart",
  ansible_become_method: (v) => v === "sudo",
  ansible_become_user: (v) => v === "root",
  ansible_python_interpreter: () => true,
  ansible_ssh_pipelining: () => true,
  ansible_pipelining: () => true,
};
