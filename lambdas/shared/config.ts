/**
 * Configuration from environment variables (documented in lambdas/manifest.ts ENV_VARS).
 * Validated on the first invocation; a missing or malformed variable throws an EnvConfigError that
 * names it. Passwords are never read here: only where they come from (an ARN, or a local override
 * that is ignored whenever the ARN is set). Error messages end up in CloudWatch Logs, so a value
 * is quoted only through `describeValue`: never for a secret-bearing variable (unless it is an
 * ARN), and with URL credentials (`user:pass@`) masked.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import * as v from "valibot";
import { SECRET_ARN } from "../contracts/secrets";
import { ENV_VARS, functionSpec, type EnvVarName, type FunctionName } from "../manifest";
import { maskCredentials, parseLogLevel, type LogLevel } from "./logging";

export class EnvConfigError extends Error {
  constructor(
    readonly variable: EnvVarName,
    message: string,
  ) {
    // Masked once more as a whole: a message may also embed text from elsewhere (e.g. an fs error naming the path).
    super(maskCredentials(`Configuration error: ${variable} ${message}`));
    this.name = "EnvConfigError";
  }
}

/** Variables whose value may be (or contain) a secret: their values are never quoted, except ARNs. */
const SECRET_BEARING = /PASSWORD|SECRET|TOKEN|KEY/i;

/**
 * How an error message shows the value of `name`: JSON-quoted with credentials masked
 * (`postgres://user:pass@host` → `"postgres://***@host"`, `user:pass@host` → `"***@host"`),
 * or not at all when the variable is secret-bearing and the value is not an ARN.
 */
export function describeValue(name: string, value: string | undefined): string {
  if (value === undefined) return "nothing";
  const arn = /^arn:[^\s:]+:\S*$/.test(value);
  if (SECRET_BEARING.test(name) && !arn) return `a value that is not shown (${name} may hold a secret)`;
  let shown = value;
  // Everything before the last "@" may be user-info (a password may itself contain "@", "/" or ":"),
  // with or without a scheme; only a leading "scheme://" is kept. ARNs may contain "@" in a name.
  const at = value.lastIndexOf("@");
  if (!arn && at >= 0) shown = `${/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(value)?.[0] ?? ""}***${value.slice(at)}`;
  return JSON.stringify(maskCredentials(shown));
}

/** Where a credential comes from: a Secrets Manager ARN, or (local runs only) a literal value. */
export type CredentialSource = { kind: "secret"; arn: string; variable: EnvVarName } | { kind: "local"; value: string };

export interface DatabaseClientConfig {
  host: string;
  port: number;
  database: string;
  /** RDS master secret (username + password) or local DATABASE_USER / DATABASE_PASSWORD. */
  credentials: { kind: "secret"; arn: string; variable: EnvVarName } | { kind: "local"; user: string; password: string };
  ssl: false | ConnectionOptions;
  applicationName: string;
  /** A statement's own run time once it has a database connection (DATABASE_QUERY_TIMEOUT_MS). */
  queryTimeoutMs: number;
  /** One connection attempt (DATABASE_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: number;
  /**
   * How long the pooler in front of the database may queue a statement for a server connection
   * (RDS Proxy's connection borrow timeout; 0 straight to the instance). Part of the client-side
   * query timeout: the client must not give up before the proxy would have served it.
   * @default 120_000 (RDS Proxy's default)
   */
  borrowTimeoutMs?: number;
  /** Connection attempts on a connect timeout, refusal or reset. @default 3 */
  connectAttempts?: number;
  /** Backoff unit: before the n-th retry, a random wait in [½, 1] × connectBackoffMs × 2^(n-1). @default 200 */
  connectBackoffMs?: number;
  /** No database wait reaches into the invocation's last reserveMs milliseconds. @default 1000 */
  reserveMs?: number;
}

export interface RedisClientConfig {
  host: string;
  port: number;
  password: CredentialSource;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  retryCooldownMs: number;
  /** TLS options (REDIS_TLS, REDIS_TLS_CA); false or absent: plain TCP. */
  tls?: false | ConnectionOptions;
}

export interface AriConfig {
  url: string;
  user: string;
  password: CredentialSource;
  app: string;
  endpointTemplate: string;
  timeoutMs: number;
  ringTimeoutSeconds: number;
  batchLimit: number;
  /** Rejections (4xx about this call) after which the task is marked failed. */
  maxRejections: number;
  /** Consecutive transient failures (ARI down, 5xx, timeout) after which the task is marked failed. */
  maxTransientFailures: number;
  /** Backoff after the n-th failure: min(retryBaseSeconds * 2^(n-1), retryMaxSeconds). */
  retryBaseSeconds: number;
  retryMaxSeconds: number;
}

export interface Config {
  functionName: FunctionName;
  logLevel: LogLevel;
  database: DatabaseClientConfig;
  redis: RedisClientConfig | null;
  ari: AriConfig | null;
  settingsTtlSeconds: number;
  reportTtlSeconds: number;
  dialingStuckAfterSeconds: number;
}

export type Env = Record<string, string | undefined>;

const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/**
 * One variable's rule, declared with valibot: the schema of its value (trimmed; blank = unset =
 * its ENV_VARS default) given its name, which the messages need (`describeValue` never quotes a secret).
 */
type Rule<T> = (name: EnvVarName) => v.GenericSchema<string | undefined, T>;
type Rules = Partial<Record<EnvVarName, Rule<unknown>>>;
type Values<R extends Rules> = { [K in keyof R]: R[K] extends Rule<infer T> ? T : never };

const required = (hint = ""): Rule<string> => () => v.string(`is required but not set${hint}`);

const int = (min: number, max: number): Rule<number> => (name) =>
  v.pipe(
    v.string("is required but not set"),
    v.check(
      (s) => /^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) && Number(s) >= min && Number(s) <= max,
      (i) => `must be an integer between ${min} and ${max}, got ${describeValue(name, i.input)}`,
    ),
    v.transform(Number),
  );

const host: Rule<string> = (name) =>
  v.pipe(v.string("is required but not set"), v.regex(HOST, (i) => `must be a bare host name or IPv4 address (no scheme, no port), got ${describeValue(name, i.input)}`));

const secretArn: Rule<string | undefined> = (name) =>
  v.optional(v.pipe(v.string(), v.regex(SECRET_ARN, (i) => `must be a Secrets Manager secret ARN, got ${describeValue(name, i.input)}`)));

const oneOf = <T extends string>(values: readonly T[]): Rule<T> => (name) =>
  v.pipe(
    v.string("is required but not set"),
    v.check((s): boolean => (values as readonly string[]).includes(s), (i) => `must be ${values.slice(0, -1).join(", ")} or ${values[values.length - 1]}, got ${describeValue(name, i.input)}`),
    v.transform((s) => s as T),
  );

const optionalText: Rule<string | undefined> = () => v.optional(v.string());

const TLS_MODES = ["verify-full", "no-verify", "disable"] as const;
const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/**
 * The variables `rules` names, each checked by its rule in the order declared; the first problem
 * throws an EnvConfigError naming its variable (an invocation fails on one message, fixed one at a time).
 */
function readEnv<R extends Rules>(env: Env, rules: R): Values<R> {
  const input: Record<string, string | undefined> = {};
  const entries: Record<string, v.GenericSchema> = {};
  for (const [name, rule] of Object.entries(rules) as [EnvVarName, Rule<unknown>][]) {
    const raw = env[name];
    input[name] = raw !== undefined && raw.trim() !== "" ? raw.trim() : (ENV_VARS[name] as { default?: string }).default;
    entries[name] = rule(name) as v.GenericSchema;
  }
  const r = v.safeParse(v.object(entries), input, { abortEarly: true });
  if (!r.success) throw new EnvConfigError(r.issues[0].path![0].key as EnvVarName, r.issues[0].message);
  return r.output as Values<R>;
}

/** ARN when set; otherwise the local override; otherwise an error naming the ARN variable. */
function credential(env: Env, arnVar: EnvVarName, arn: string | undefined, localVar: EnvVarName): CredentialSource {
  if (arn) return { kind: "secret", arn, variable: arnVar };
  const local = env[localVar];
  if (local === undefined) throw new EnvConfigError(arnVar, `is required but not set (for local runs only, ${localVar} may supply the value)`);
  return { kind: "local", value: local };
}

/** TLS options of a client (DATABASE_SSL / REDIS_TLS): `caVar` names the extra CA bundle's variable. */
function tlsOptions(mode: (typeof TLS_MODES)[number], caVar: EnvVarName, caPath: string | undefined): false | ConnectionOptions {
  if (mode === "disable") return false;
  const opts: ConnectionOptions = { rejectUnauthorized: mode === "verify-full" };
  if (caPath) {
    try {
      opts.ca = readFileSync(caPath, "utf8");
    } catch (e) {
      throw new EnvConfigError(caVar, `names a file that cannot be read (${(e as Error).message})`);
    }
  }
  return opts;
}

const DATABASE_ENV = {
  DATABASE_PORT: int(1, 65535),
  DATABASE_NAME: required(),
  DATABASE_SSL: oneOf(TLS_MODES),
  DATABASE_SSL_CA: optionalText,
  RDS_SECRET_ARN: secretArn,
  DATABASE_QUERY_TIMEOUT_MS: int(100, 900_000),
  DATABASE_CONNECT_TIMEOUT_MS: int(100, 60_000),
  DATABASE_BORROW_TIMEOUT_SECONDS: int(0, 3600),
  DATABASE_CONNECT_ATTEMPTS: int(1, 10),
  DATABASE_CONNECT_BACKOFF_MS: int(0, 60_000),
  DATABASE_TIME_RESERVE_MS: int(0, 60_000),
} satisfies Rules;

export function readDatabaseConfig(env: Env, applicationName: string, endpointVar: EnvVarName = "RDS_PROXY_ENDPOINT"): DatabaseClientConfig {
  const endpoint = readEnv(env, { [endpointVar]: host } as Record<EnvVarName, Rule<string>>)[endpointVar];
  const e = readEnv(env, DATABASE_ENV);
  const ssl = tlsOptions(e.DATABASE_SSL, "DATABASE_SSL_CA", e.DATABASE_SSL_CA);
  let credentials: DatabaseClientConfig["credentials"];
  if (e.RDS_SECRET_ARN) credentials = { kind: "secret", arn: e.RDS_SECRET_ARN, variable: "RDS_SECRET_ARN" };
  else {
    const user = env.DATABASE_USER;
    const password = env.DATABASE_PASSWORD;
    if (!user || password === undefined) {
      throw new EnvConfigError("RDS_SECRET_ARN", "is required but not set (for local runs only, DATABASE_USER and DATABASE_PASSWORD may supply the credentials)");
    }
    credentials = { kind: "local", user, password };
  }
  return {
    host: endpoint,
    port: e.DATABASE_PORT,
    database: e.DATABASE_NAME,
    credentials,
    ssl,
    applicationName,
    queryTimeoutMs: e.DATABASE_QUERY_TIMEOUT_MS,
    connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    borrowTimeoutMs: e.DATABASE_BORROW_TIMEOUT_SECONDS * 1000,
    connectAttempts: e.DATABASE_CONNECT_ATTEMPTS,
    connectBackoffMs: e.DATABASE_CONNECT_BACKOFF_MS,
    reserveMs: e.DATABASE_TIME_RESERVE_MS,
  };
}

const REDIS_ENV = {
  REDIS_HOST: host,
  REDIS_PORT: int(1, 65535),
  REDIS_PASSWORD_SECRET_ARN: secretArn,
  REDIS_CONNECT_TIMEOUT_MS: int(10, 500),
  REDIS_COMMAND_TIMEOUT_MS: int(10, 250),
  REDIS_RETRY_COOLDOWN_MS: int(0, 600_000),
  REDIS_TLS: oneOf(TLS_MODES),
  REDIS_TLS_CA: optionalText,
} satisfies Rules;

function readRedis(env: Env): RedisClientConfig {
  const e = readEnv(env, REDIS_ENV);
  return {
    host: e.REDIS_HOST,
    port: e.REDIS_PORT,
    password: credential(env, "REDIS_PASSWORD_SECRET_ARN", e.REDIS_PASSWORD_SECRET_ARN, "REDIS_PASSWORD"),
    connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
    commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    retryCooldownMs: e.REDIS_RETRY_COOLDOWN_MS,
    tls: tlsOptions(e.REDIS_TLS, "REDIS_TLS_CA", e.REDIS_TLS_CA),
  };
}

/** ARI_URL: an http(s) URL without credentials (the password comes from its secret). */
const ariUrl: Rule<string> = (name) =>
  v.pipe(
    v.string("is required but not set"),
    v.check((s) => /^https?:$/.test(URL.canParse(s) ? new URL(s).protocol : ""), (i) => `must be an http(s) URL, got ${describeValue(name, i.input)}`),
    v.check((s) => !new URL(s).username && !new URL(s).password, "must not contain credentials (use ARI_USER and ARI_PASSWORD_SECRET_ARN)"),
    v.transform((s) => s.replace(/\/+$/, "")),
  );

const ARI_ENV = {
  ARI_URL: ariUrl,
  ARI_ENDPOINT_TEMPLATE: (name: EnvVarName) => v.pipe(required()(name), v.includes("{number}", "must contain {number}")),
  ARI_RETRY_BASE_SECONDS: int(0, 86_400),
  ARI_RETRY_MAX_SECONDS: int(0, 604_800),
  ARI_USER: required(),
  ARI_PASSWORD_SECRET_ARN: secretArn,
  ARI_APP: required(),
  ARI_TIMEOUT_MS: int(100, 30_000),
  ARI_RING_TIMEOUT_SECONDS: int(5, 300),
  DIALER_BATCH_LIMIT: int(1, 1000),
  ARI_MAX_REJECTIONS: int(1, 100),
  ARI_MAX_TRANSIENT_FAILURES: int(1, 1000),
} satisfies Rules;

function readAri(env: Env): AriConfig {
  const e = readEnv(env, ARI_ENV);
  if (e.ARI_RETRY_MAX_SECONDS < e.ARI_RETRY_BASE_SECONDS) {
    throw new EnvConfigError("ARI_RETRY_MAX_SECONDS", `must be at least ARI_RETRY_BASE_SECONDS (${e.ARI_RETRY_BASE_SECONDS}), got ${e.ARI_RETRY_MAX_SECONDS}`);
  }
  return {
    url: e.ARI_URL,
    user: e.ARI_USER,
    password: credential(env, "ARI_PASSWORD_SECRET_ARN", e.ARI_PASSWORD_SECRET_ARN, "ARI_PASSWORD"),
    app: e.ARI_APP,
    endpointTemplate: e.ARI_ENDPOINT_TEMPLATE,
    timeoutMs: e.ARI_TIMEOUT_MS,
    ringTimeoutSeconds: e.ARI_RING_TIMEOUT_SECONDS,
    batchLimit: e.DIALER_BATCH_LIMIT,
    maxRejections: e.ARI_MAX_REJECTIONS,
    maxTransientFailures: e.ARI_MAX_TRANSIENT_FAILURES,
    retryBaseSeconds: e.ARI_RETRY_BASE_SECONDS,
    retryMaxSeconds: e.ARI_RETRY_MAX_SECONDS,
  };
}

const COMMON_ENV = {
  LOG_LEVEL: (name: EnvVarName) =>
    v.pipe(
      v.string(),
      v.check((s) => parseLogLevel(s) !== undefined, (i) => `must be ${LOG_LEVELS.slice(0, -1).join(", ")} or silent, got ${describeValue(name, i.input)}`),
      v.transform((s) => parseLogLevel(s) as LogLevel),
    ),
  CACHE_SETTINGS_TTL_SECONDS: int(1, 86_400),
  REPORT_CACHE_TTL_SECONDS: int(1, 86_400),
  DIALING_STUCK_AFTER_SECONDS: int(10, 86_400),
} satisfies Rules;

export function loadConfig(functionName: FunctionName, env: Env = process.env): Config {
  const spec = functionSpec(functionName);
  const { LOG_LEVEL } = readEnv(env, { LOG_LEVEL: COMMON_ENV.LOG_LEVEL });
  const database = readDatabaseConfig(env, env.AWS_LAMBDA_FUNCTION_NAME ?? functionName);
  const redis = spec.uses.redis ? readRedis(env) : null;
  const ari = spec.uses.ari ? readAri(env) : null;
  const e = readEnv(env, COMMON_ENV);
  return {
    functionName,
    logLevel: LOG_LEVEL,
    database,
    redis,
    ari,
    settingsTtlSeconds: e.CACHE_SETTINGS_TTL_SECONDS,
    reportTtlSeconds: e.REPORT_CACHE_TTL_SECONDS,
    dialingStuckAfterSeconds: e.DIALING_STUCK_AFTER_SECONDS,
  };
}
