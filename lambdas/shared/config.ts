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

class Reader {
  constructor(private readonly env: Env) {}

  raw(name: EnvVarName): string | undefined {
    const v = this.env[name];
    if (v !== undefined && v.trim() !== "") return v.trim();
    const def = (ENV_VARS[name] as { default?: string }).default;
    return def;
  }

  required(name: EnvVarName, hint = ""): string {
    const v = this.raw(name);
    if (v === undefined) throw new EnvConfigError(name, `is required but not set${hint}`);
    return v;
  }

  int(name: EnvVarName, min: number, max: number): number {
    const v = this.required(name);
    const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new EnvConfigError(name, `must be an integer between ${min} and ${max}, got ${describeValue(name, v)}`);
    }
    return n;
  }

  host(name: EnvVarName): string {
    const v = this.required(name);
    if (!HOST.test(v)) throw new EnvConfigError(name, `must be a bare host name or IPv4 address (no scheme, no port), got ${describeValue(name, v)}`);
    return v;
  }

  arn(name: EnvVarName): string | undefined {
    const v = this.raw(name);
    if (v !== undefined && !SECRET_ARN.test(v)) throw new EnvConfigError(name, `must be a Secrets Manager secret ARN, got ${describeValue(name, v)}`);
    return v;
  }

  /** ARN when set; otherwise the local override; otherwise an error naming the ARN variable. */
  credential(arnVar: EnvVarName, localVar: EnvVarName): CredentialSource {
    const arn = this.arn(arnVar);
    if (arn) return { kind: "secret", arn, variable: arnVar };
    const local = this.env[localVar];
    if (local === undefined) throw new EnvConfigError(arnVar, `is required but not set (for local runs only, ${localVar} may supply the value)`);
    return { kind: "local", value: local };
  }
}

function databaseSsl(r: Reader): false | ConnectionOptions {
  const mode = r.required("DATABASE_SSL");
  if (mode === "disable") return false;
  if (mode !== "verify-full" && mode !== "no-verify") {
    throw new EnvConfigError("DATABASE_SSL", `must be verify-full, no-verify or disable, got ${describeValue("DATABASE_SSL", mode)}`);
  }
  const opts: ConnectionOptions = { rejectUnauthorized: mode === "verify-full" };
  const caPath = r.raw("DATABASE_SSL_CA");
  if (caPath) {
    try {
      opts.ca = readFileSync(caPath, "utf8");
    } catch (e) {
      throw new EnvConfigError("DATABASE_SSL_CA", `names a file that cannot be read (${(e as Error).message})`);
    }
  }
  return opts;
}

export function readDatabaseConfig(env: Env, applicationName: string, endpointVar: EnvVarName = "RDS_PROXY_ENDPOINT"): DatabaseClientConfig {
  const r = new Reader(env);
  const host = r.host(endpointVar);
  const port = r.int("DATABASE_PORT", 1, 65535);
  const database = r.required("DATABASE_NAME");
  const ssl = databaseSsl(r);
  const arn = r.arn("RDS_SECRET_ARN");
  let credentials: DatabaseClientConfig["credentials"];
  if (arn) credentials = { kind: "secret", arn, variable: "RDS_SECRET_ARN" };
  else {
    const user = env.DATABASE_USER;
    const password = env.DATABASE_PASSWORD;
    if (!user || password === undefined) {
      throw new EnvConfigError("RDS_SECRET_ARN", "is required but not set (for local runs only, DATABASE_USER and DATABASE_PASSWORD may supply the credentials)");
    }
    credentials = { kind: "local", user, password };
  }
  return {
    host,
    port,
    database,
    credentials,
    ssl,
    applicationName,
    queryTimeoutMs: r.int("DATABASE_QUERY_TIMEOUT_MS", 100, 900_000),
    connectTimeoutMs: r.int("DATABASE_CONNECT_TIMEOUT_MS", 100, 60_000),
    borrowTimeoutMs: r.int("DATABASE_BORROW_TIMEOUT_SECONDS", 0, 3600) * 1000,
    connectAttempts: r.int("DATABASE_CONNECT_ATTEMPTS", 1, 10),
    connectBackoffMs: r.int("DATABASE_CONNECT_BACKOFF_MS", 0, 60_000),
    reserveMs: r.int("DATABASE_TIME_RESERVE_MS", 0, 60_000),
  };
}

function readRedis(r: Reader): RedisClientConfig {
  return {
    host: r.host("REDIS_HOST"),
    port: r.int("REDIS_PORT", 1, 65535),
    password: r.credential("REDIS_PASSWORD_SECRET_ARN", "REDIS_PASSWORD"),
    connectTimeoutMs: r.int("REDIS_CONNECT_TIMEOUT_MS", 10, 500),
    commandTimeoutMs: r.int("REDIS_COMMAND_TIMEOUT_MS", 10, 250),
    retryCooldownMs: r.int("REDIS_RETRY_COOLDOWN_MS", 0, 600_000),
  };
}

function readAri(r: Reader): AriConfig {
  const url = r.required("ARI_URL");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EnvConfigError("ARI_URL", `must be an http(s) URL, got ${describeValue("ARI_URL", url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new EnvConfigError("ARI_URL", `must be an http(s) URL, got ${describeValue("ARI_URL", url)}`);
  if (parsed.username || parsed.password) throw new EnvConfigError("ARI_URL", "must not contain credentials (use ARI_USER and ARI_PASSWORD_SECRET_ARN)");
  const endpointTemplate = r.required("ARI_ENDPOINT_TEMPLATE");
  if (!endpointTemplate.includes("{number}")) throw new EnvConfigError("ARI_ENDPOINT_TEMPLATE", "must contain {number}");
  const retryBaseSeconds = r.int("ARI_RETRY_BASE_SECONDS", 0, 86_400);
  const retryMaxSeconds = r.int("ARI_RETRY_MAX_SECONDS", 0, 604_800);
  if (retryMaxSeconds < retryBaseSeconds) throw new EnvConfigError("ARI_RETRY_MAX_SECONDS", `must be at least ARI_RETRY_BASE_SECONDS (${retryBaseSeconds}), got ${retryMaxSeconds}`);
  return {
    url: url.replace(/\/+$/, ""),
    user: r.required("ARI_USER"),
    password: r.credential("ARI_PASSWORD_SECRET_ARN", "ARI_PASSWORD"),
    app: r.required("ARI_APP"),
    endpointTemplate,
    timeoutMs: r.int("ARI_TIMEOUT_MS", 100, 30_000),
    ringTimeoutSeconds: r.int("ARI_RING_TIMEOUT_SECONDS", 5, 300),
    batchLimit: r.int("DIALER_BATCH_LIMIT", 1, 1000),
    maxRejections: r.int("ARI_MAX_REJECTIONS", 1, 100),
    maxTransientFailures: r.int("ARI_MAX_TRANSIENT_FAILURES", 1, 1000),
    retryBaseSeconds,
    retryMaxSeconds,
  };
}

export function loadConfig(functionName: FunctionName, env: Env = process.env): Config {
  const spec = functionSpec(functionName);
  const r = new Reader(env);
  const level = parseLogLevel(r.raw("LOG_LEVEL"));
  if (!level) throw new EnvConfigError("LOG_LEVEL", `must be debug, info, warn, error or silent, got ${describeValue("LOG_LEVEL", env.LOG_LEVEL)}`);
  return {
    functionName,
    logLevel: level,
    database: readDatabaseConfig(env, env.AWS_LAMBDA_FUNCTION_NAME ?? functionName),
    redis: spec.uses.redis ? readRedis(r) : null,
    ari: spec.uses.ari ? readAri(r) : null,
    settingsTtlSeconds: r.int("CACHE_SETTINGS_TTL_SECONDS", 1, 86_400),
    reportTtlSeconds: r.int("REPORT_CACHE_TTL_SECONDS", 1, 86_400),
    dialingStuckAfterSeconds: r.int("DIALING_STUCK_AFTER_SECONDS", 10, 86_400),
  };
}
