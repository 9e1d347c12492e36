/**
 * Role defaults and the schema of every variable this role reads (the `defaults/main.yml` of the
 * Ansible role it replaces), declared with zod: each variable has one schema, its default beside
 * it, and its type is inferred from it (RoleVars). A schema normalises the value as the inventory
 * wrote it (YAML, INI or --extra-vars strings) or fails with a message that the inventory loader
 * prefixes with the file and variable name. Shared formats come from lambdas/contracts/.
 */
import { isIP } from "node:net";
import { z } from "zod";
import { ARI } from "../lambdas/contracts/ari";
import { DEFAULT_EVICTION_POLICY, EVICTION_POLICIES } from "../lambdas/contracts/eviction";
import { MEMORY_SIZE } from "../lambdas/contracts/memory";
import { REDIS_METRICS } from "../lambdas/contracts/metrics";
import { AMAZON_LINUX_REDIS_PACKAGES } from "../lambdas/contracts/os";
import { MIN_PASSWORD_LENGTH, SECRET_ARN } from "../lambdas/contracts/secrets";

export const TARGET_GROUP = "asterisk";
export const STATE_DIR = "/var/lib/redis-provision";

/** A variable's schema (or a step of one): takes whatever the inventory wrote, gives a T. */
// Input any: a step can be piped after any other step (zod compares pipe inputs by type, not by what they accept).
type Leaf<T> = z.ZodType<T, any>;

/** How a failed value is shown after the message: as written, replaced, or (a secret) not at all. */
type Shown = ((input: unknown) => unknown) | "hidden";

/**
 * `schema`, with any failure reported once as `MESSAGE (got INPUT)`: the input as the inventory
 * wrote it (not as far as zod got converting it), or as `shown` replaces it.
 */
function described<T>(message: string, schema: z.ZodType<T>, shown: Shown = (input) => input): Leaf<T> {
  return z.unknown().transform((input, ctx): T => {
    const result = schema.safeParse(input);
    if (result.success) return result.data;
    ctx.addIssue({ code: "custom", input, message: shown === "hidden" ? message : `${message} (got ${JSON.stringify(shown(input))})` });
    return z.NEVER;
  });
}

const CONTROL = /[\x00-\x1f\x7f]/;
const withoutControl = z.string().refine((s) => !CONTROL.test(s));
const ipAddress = z.string().refine((s) => isIP(s) !== 0);
const words = (s: string) => s.split(/\s+/).filter(Boolean);

/** An integer min..max; digits in a string (INI, --extra-vars) count. */
function int(min: number, max: number) {
  const number = z.union([z.number(), z.string().trim().regex(/^\d+$/).transform(Number)]);
  return described(`must be an integer ${min}-${max}`, number.pipe(z.number().int().min(min).max(max)));
}

const TRUE = ["yes", "true", "1", "on"] as const;
const FALSE = ["no", "false", "0", "off"] as const;

/** true/false, or the words Ansible reads as booleans (yes/no, on/off, 1/0, any case). */
export const boolean = described(
  "must be a boolean (yes/no/true/false)",
  z.union([
    z.boolean(),
    z
      .union([z.string(), z.number()])
      .transform((v) => String(v).toLowerCase())
      .pipe(z.enum([...TRUE, ...FALSE]))
      .transform((s) => (TRUE as readonly string[]).includes(s)),
  ]),
);

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return described(`must be one of ${values.join(", ")}`, z.enum(values));
}

/** A single-line string without control characters (newlines would break the config and the ssh stdin protocol). */
function line(what: string, pattern?: RegExp): Leaf<string> {
  const text = described(`must be a ${what}`, z.union([z.string(), z.number().transform(String)]), (v) => (typeof v === "object" ? "<object>" : v));
  const single = text.pipe(described(`must be a ${what} without control characters`, withoutControl, () => "<hidden>"));
  return pattern ? single.pipe(described(`must be a ${what}`, z.string().regex(pattern))) : single;
}

/** Never echoes the value: this schema guards a secret. */
const password = described(
  `must be a string of at least ${MIN_PASSWORD_LENGTH} characters without control characters (value hidden)`,
  withoutControl.pipe(z.string().min(MIN_PASSWORD_LENGTH)),
  "hidden",
);

/** redis.conf `bind`: space-separated addresses, `*`, or `-ADDRESS` (optional). */
const bindList = line("list of IP addresses")
  .pipe(described("must name at least one address", z.string().transform(words).pipe(z.array(z.string()).min(1))))
  .pipe(
    described(
      "must be space-separated IP addresses (or *)",
      z.array(z.string().refine((p) => p.replace(/^-/, "") === "*" || isIP(p.replace(/^-/, "")) !== 0)),
      (parts) => (parts as string[]).join(" "),
    ),
  )
  .transform((parts) => parts.join(" "));

/** One IP address, `what` in the message. */
const oneAddress = (what: string) => line("IP address").pipe(described(what, ipAddress));

/** `save` lines: "SECONDS CHANGES", [seconds, changes] or {seconds, changes}, positive integers. */
const positive = z
  .union([z.number(), z.string()])
  .refine((x) => /^\d+$/.test(String(x)) && Number(x) > 0)
  .transform(Number);
const saveEntry = z
  .union([
    z.string().transform((s) => s.trim().split(/\s+/)),
    z.array(z.unknown()),
    z.object({ seconds: z.unknown(), changes: z.unknown() }).transform((o) => [o.seconds, o.changes]),
  ])
  .pipe(z.tuple([positive, positive]))
  .transform(([seconds, changes]) => `${seconds} ${changes}`);
const saveIntervals = described('must be a list of "SECONDS CHANGES" entries', z.array(z.unknown())).pipe(
  z.array(described('each entry must be "SECONDS CHANGES" or {seconds, changes} with positive integers', saveEntry)),
);

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

/** Why redis_extra_config may not set directive `key`, if it may not. */
function refusedDirective(key: string): string | undefined {
  const name = key.toLowerCase();
  if (!/^[a-z][a-z0-9-]*$/.test(key)) return `${JSON.stringify(key)}: directive names are lowercase words with dashes`;
  if (name === "user") return "user: ACL users carry passwords and are managed by the role (redis_app_acl, redis_admin_user); refused";
  if ((SECRET_DIRECTIVES as readonly string[]).includes(name)) {
    return (
      `${key}: carries a secret, which would be stored in plain text in redis.conf and shown by --diff; refused ` +
      `(the application password is redis_password / redis_password_secret_arn)`
    );
  }
  if (MANAGED_DIRECTIVES.includes(name)) return `${key}: managed by the role and cannot be overridden`;
  return undefined;
}

const directiveValue = line("single-line value");

/** Checks every entry and reports every problem (each names the directive), never a value that may be secret. */
const extraConfig = described("must be a map of directive: value", z.record(z.string(), z.unknown())).transform((map, ctx) => {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(map)) {
    const refused = refusedDirective(key);
    const parsed = refused === undefined ? directiveValue.safeParse(value) : undefined;
    if (parsed?.success) out[key] = parsed.data;
    else ctx.addIssue({ code: "custom", input: value, message: refused ?? `${key}: ${parsed!.error!.issues[0].message}` });
  }
  return out;
});

/**
 * Settings of a replaced config that the role drops and that have no role variable of their own: a
 * takeover refuses to drop them unless redis_takeover_accept lists them (provisioning/tasks/takeover.ts).
 */
export const TAKEOVER_ACCEPTABLE = ["user", "aclfile", "rename-command", "replicaof", "loadmodule"] as const;
export type TakeoverAcceptable = (typeof TAKEOVER_ACCEPTABLE)[number];
const takeoverAccept = described(
  `must be a list of setting names (${TAKEOVER_ACCEPTABLE.join(", ")})`,
  z.union([z.string().transform((s) => s.split(/[\s,]+/).filter(Boolean)), z.array(z.string())]).pipe(z.array(z.enum(TAKEOVER_ACCEPTABLE))),
);

/** CloudWatch namespace: ASCII without spaces or quotes (it goes into a systemd unit), not AWS/. */
const namespace = line("CloudWatch namespace like Campaign/Redis", /^[A-Za-z0-9._/#-][A-Za-z0-9._/#:-]{0,254}$/).pipe(
  described("must not start with AWS/ (reserved for AWS services)", z.string().refine((s) => !/^AWS\//i.test(s))),
);

/** IPAddressAllow= entries: addresses or CIDR ranges; "" = none. */
const allowList = line("list of IP addresses or CIDR ranges")
  .transform(words)
  .pipe(
    z.array(
      described(
        "must be space-separated IP addresses or CIDR ranges (IPAddressAllow= of the unit)",
        z.string().refine((p) => {
          const [address, bits, extra] = p.split("/");
          const max = isIP(address) === 6 ? 128 : 32;
          return isIP(address) !== 0 && extra === undefined && (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max));
        }),
      ),
    ),
  )
  .transform((parts) => parts.join(" "));

const secretArn = line("Secrets Manager ARN", SECRET_ARN);
const region = line("AWS region like us-east-1 (or empty for the instance's own)", /^$|^[a-z]{2}(-[a-z]+)+-\d+$/);
const port = int(1, 65535);
const ACL_RULE = String.raw`([+-]@?[a-z|-]+|~\S+|&\S+|%R?W?~\S+|allkeys|allchannels|allcommands|nocommands|resetkeys|resetchannels)`;

/** Every variable the role reads: its schema and (unless it has none) its default. */
export const ROLE_VARS = {
  redis_password: password.optional(),
  redis_password_secret_arn: secretArn.optional(),
  redis_port: port.default(6379),
  redis_bind_address: bindList.default("0.0.0.0"),
  redis_protected_mode: boolean.default(true),
  redis_tcp_keepalive: int(0, 86400).default(300),
  redis_timeout: int(0, 31536000).default(0),
  redis_maxmemory: line("memory size like 512mb", MEMORY_SIZE).default("512mb"),
  redis_maxmemory_policy: oneOf(EVICTION_POLICIES).default(DEFAULT_EVICTION_POLICY),
  /** MiB the host keeps for the OS, Asterisk and the worker besides Redis (the memory check: 2 x maxmemory + this <= MemTotal). */
  asterisk_host_reserved_mib: int(0, 1048576).default(512),
  redis_save_intervals: saveIntervals.default(["300 1"]),
  redis_appendonly: boolean.default(true),
  redis_appendfsync: oneOf(["always", "everysec", "no"]).default("everysec"),
  redis_loglevel: oneOf(["debug", "verbose", "notice", "warning"]).default("notice"),
  redis_databases: int(1, 10000).default(16),
  redis_app_acl: line("list of ACL rules", new RegExp(`^${ACL_RULE}(\\s+${ACL_RULE})*$`)).default(
    "+@all -@dangerous +info +client|setname +client|getname +client|id +client|info",
  ),
  redis_admin_user: line("ACL user name", /^[a-z][a-z0-9_-]{0,63}$/).default("provisioner"),
  redis_amazon_linux_package: oneOf(AMAZON_LINUX_REDIS_PACKAGES).default("valkey"),
  redis_extra_config: extraConfig.default({}),
  /** Settings of a replaced config that a takeover may drop (each refused otherwise): TAKEOVER_ACCEPTABLE. */
  redis_takeover_accept: takeoverAccept.default([]),
  redis_metrics_enabled: boolean.default(true),
  redis_metrics_namespace: namespace.default(REDIS_METRICS.namespace),
  redis_metrics_interval_seconds: int(10, 3600).default(60),
  redis_metrics_region: region.default(""),
  redis_metrics_imds_url: line("http://ADDRESS[:PORT] URL of the instance metadata service", /^http:\/\/(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(:\d{1,5})?$/).default(
    "http://169.254.169.254",
  ),
  redis_backup_bucket: line("S3 bucket name (the stack's output redis_backup_bucket), or empty for no backups", /^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/).default(""),
  redis_backup_prefix: line("key prefix like redis (lowercase segments, no leading or trailing /)", /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/).default("redis"),
  redis_backup_schedule: line('systemd OnCalendar expression like hourly or "*-*-* 02:30:00"', /^[A-Za-z0-9*:,/.~ -]{1,64}$/).default("hourly"),
  redis_backup_region: region.default(""),
  redis_backup_timeout_seconds: int(60, 86400).default(900),
  asterisk_ari_password: password.optional(),
  asterisk_ari_password_secret_arn: secretArn.optional(),
  asterisk_ari_user: line("ARI user name (letters, digits, _ . -)", /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/).default(ARI.user),
  asterisk_ari_port: port.default(ARI.port),
  asterisk_ari_bind_address: oneAddress("must be one IP address (http.conf bindaddr)").default("0.0.0.0"),
  /** The Asterisk-side worker service (provisioning/tasks/worker.ts); each name follows its config key. */
  asterisk_worker_enabled: boolean.default(false),
  /**
   * ARI_URL; "" = http://127.0.0.1:asterisk_ari_port (or asterisk_ari_bind_address when that is one address).
   * The unit allows no DNS (IPAddressDeny=any) and only the addresses it is told: an IP address or localhost.
   */
  asterisk_worker_ari_url: line(
    "http(s)://ADDRESS[:PORT] URL of Asterisk's HTTP server with an IP address or localhost (no credentials, path or query), or empty",
    /^$|^https?:\/\/(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(:\d{1,5})?\/?$/,
  ).default(""),
  asterisk_worker_ari_app: line("Stasis application name (letters, digits, _ . -; the dialer-worker's ARI_APP)", /^[A-Za-z0-9_.-]{1,80}$/).default("campaign-dialer"),
  asterisk_worker_ari_channel_prefix: line("channel id prefix (letters, digits, _ . -)", /^[A-Za-z0-9_.-]{1,40}$/).default("cmp-"),
  asterisk_worker_health_host: oneAddress("must be one IP address the health endpoint listens on (127.0.0.1 by default)").default("127.0.0.1"),
  asterisk_worker_health_port: port.default(8090),
  /** Extra IPAddressAllow= entries of the unit (a remote health probe); "" = loopback only. */
  asterisk_worker_health_allow: allowList.default(""),
  asterisk_worker_log_level: oneOf(["debug", "info", "warn", "error", "silent"]).default("info"),
  asterisk_worker_memory_max: line("systemd MemoryMax= size like 256M", /^[1-9]\d*[KMG]$/).default("256M"),
};

export const ROLE_SCHEMA = z.object(ROLE_VARS);

/** The role's variables, defaults applied (the optional passwords and their secret ARNs may be unset). */
export type RoleVars = z.output<typeof ROLE_SCHEMA>;
export type RoleVar = keyof typeof ROLE_VARS;
export type AppendFsync = RoleVars["redis_appendfsync"];

/** The defaults (`defaults/main.yml`): every variable but the optional ones. */
export const DEFAULTS: RoleVars = ROLE_SCHEMA.parse({});

export const ROLE_VAR_NAMES = Object.keys(ROLE_VARS) as RoleVar[];

export const isRoleVar = (name: string): name is RoleVar => Object.hasOwn(ROLE_VARS, name);

/** The normalised value of one occurrence of a role variable, or its problems (each its own line). */
export function checkRoleVar(name: RoleVar, input: unknown): { ok: true; value: unknown } | { ok: false; problems: string[] } {
  const result = ROLE_VARS[name].safeParse(input);
  return result.success ? { ok: true, value: result.data } : { ok: false, problems: [...new Set(result.error.issues.map((i) => i.message))] };
}

/** The value `schema` makes of `input`, or an Error carrying its problems. */
export function valueOf<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new Error([...new Set(result.error.issues.map((i) => i.message))].join("; "));
}

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
