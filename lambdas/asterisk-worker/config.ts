/**
 * The Asterisk-side worker's configuration: environment variables (from the systemd unit's
 * EnvironmentFile, written by provisioning from the inventory) and secrets read from files
 * (systemd credentials: LoadCredential= puts them under $CREDENTIALS_DIRECTORY, readable only by
 * the service). A secret never comes from the environment in production: ARI_PASSWORD /
 * REDIS_PASSWORD are accepted only when no credential file is configured (local runs, tests).
 * Every problem names the variable; secret values are never quoted.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ARI } from "../contracts/ari";
import { parseLogLevel, type LogLevel } from "../shared/logging";

export interface WorkerConfig {
  ari: { url: string; user: string; password: string; app: string; channelPrefix: string; requestTimeoutMs: number };
  redis: { host: string; port: number; password: string };
  health: { host: string; port: number };
  reconnect: { minMs: number; maxMs: number };
  /** How long a destroyed channel waits for late (out-of-order) events before its outcome is final. */
  settleMs: number;
  /** Where outcomes Redis could not take yet are kept across restarts (JSON lines, 0600); null: memory only. */
  outboxFile: string | null;
  logLevel: LogLevel;
}

/** Every key the worker reads, with its default and meaning (docs/lambdas-worker.md lists the same). */
export const WORKER_ENV = {
  ARI_URL: { default: `http://127.0.0.1:${ARI.port}`, description: "Base URL of Asterisk's HTTP server (REST at /ari/..., events at /ari/events)." },
  ARI_USER: { description: "ARI user (ari.conf) the worker connects as." },
  ARI_PASSWORD_FILE: { description: "File holding the ARI password; default $CREDENTIALS_DIRECTORY/ari-password." },
  ARI_PASSWORD: { description: "Local runs only: the ARI password, when no password file is configured." },
  ARI_APP: { default: "campaign-dialer", description: "Stasis application; the same as the dialer-worker's ARI_APP." },
  ARI_CHANNEL_PREFIX: { default: "cmp-", description: "Only channels whose id starts with this are campaign calls (the dialer names them cmp-<uuid>)." },
  ARI_REQUEST_TIMEOUT_MS: { default: "5000", description: "Timeout of one REST request (reconciliation) and of the WebSocket handshake." },
  REDIS_HOST: { default: "127.0.0.1", description: "The local Redis." },
  REDIS_PORT: { default: "6379", description: "Its port." },
  REDIS_PASSWORD_FILE: { description: "File holding the Redis password; default $CREDENTIALS_DIRECTORY/redis-password." },
  REDIS_PASSWORD: { description: "Local runs only: the Redis password, when no password file is configured." },
  HEALTH_HOST: { default: "127.0.0.1", description: "Address the health endpoint listens on." },
  HEALTH_PORT: { default: "8090", description: "Port of GET /health." },
  RECONNECT_MIN_MS: { default: "500", description: "First ARI reconnect delay; doubles per failure (with jitter)." },
  RECONNECT_MAX_MS: { default: "30000", description: "Longest ARI reconnect delay." },
  OUTCOME_SETTLE_MS: { default: "250", description: "Wait after ChannelDestroyed for late events of the same channel." },
  OUTBOX_FILE: { description: "Outcomes not yet in Redis survive restarts here; default $STATE_DIRECTORY/outbox.jsonl, else memory only." },
  LOG_LEVEL: { default: "info", description: "debug | info | warn | error | silent." },
} as const;
export type WorkerEnvName = keyof typeof WORKER_ENV;

export class WorkerConfigError extends Error {
  constructor(
    readonly variable: WorkerEnvName,
    message: string,
  ) {
    super(`asterisk-worker: ${variable} ${message}`);
    this.name = "WorkerConfigError";
  }
}

type Env = Record<string, string | undefined>;

function value(env: Env, name: WorkerEnvName): string | undefined {
  const v = env[name]?.trim();
  if (v) return v;
  return (WORKER_ENV[name] as { default?: string }).default;
}

function required(env: Env, name: WorkerEnvName): string {
  const v = value(env, name);
  if (v === undefined) throw new WorkerConfigError(name, "is required but not set");
  return v;
}

function int(env: Env, name: WorkerEnvName, min: number, max: number): number {
  const v = required(env, name);
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new WorkerConfigError(name, `must be an integer between ${min} and ${max}, got ${JSON.stringify(v.slice(0, 40))}`);
  return n;
}

/** A secret from its file (credential), or the local-only variable; never quoted in an error. */
function secret(env: Env, fileVar: WorkerEnvName, plainVar: WorkerEnvName, credential: string): string {
  const file = value(env, fileVar) ?? (env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, credential) : undefined);
  if (file) {
    try {
      return readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new WorkerConfigError(fileVar, `names a file that cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"}): ${file}`);
    }
  }
  const plain = env[plainVar];
  if (plain === undefined) throw new WorkerConfigError(fileVar, `is not set and there is no systemd credential "${credential}" (CREDENTIALS_DIRECTORY unset)`);
  return plain;
}

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const url = required(env, "ARI_URL").replace(/\/+$/, "");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WorkerConfigError("ARI_URL", `must be an http(s) URL such as http://127.0.0.1:8088, got ${JSON.stringify(url.slice(0, 80))}`);
  }
  if (!/^https?:$/.test(parsed.protocol) || parsed.username || parsed.password || parsed.search) {
    throw new WorkerConfigError("ARI_URL", "must be an http(s) URL without credentials or query, such as http://127.0.0.1:8088");
  }
  const app = required(env, "ARI_APP");
  if (!/^[A-Za-z0-9_.-]{1,80}$/.test(app)) throw new WorkerConfigError("ARI_APP", `must be letters, digits, "_", "." or "-", got ${JSON.stringify(app.slice(0, 80))}`);
  const minMs = int(env, "RECONNECT_MIN_MS", 10, 60_000);
  const maxMs = int(env, "RECONNECT_MAX_MS", 10, 600_000);
  if (maxMs < minMs) throw new WorkerConfigError("RECONNECT_MAX_MS", `must be at least RECONNECT_MIN_MS (${minMs})`);
  const logLevel = parseLogLevel(value(env, "LOG_LEVEL"));
  if (!logLevel) throw new WorkerConfigError("LOG_LEVEL", "must be debug, info, warn, error or silent");
  const outbox = value(env, "OUTBOX_FILE") ?? (env.STATE_DIRECTORY ? join(env.STATE_DIRECTORY.split(":")[0], "outbox.jsonl") : null);
  return {
    ari: {
      url,
      user: required(env, "ARI_USER"),
      password: secret(env, "ARI_PASSWORD_FILE", "ARI_PASSWORD", "ari-password"),
      app,
      channelPrefix: required(env, "ARI_CHANNEL_PREFIX"),
      requestTimeoutMs: int(env, "ARI_REQUEST_TIMEOUT_MS", 100, 60_000),
    },
    redis: { host: required(env, "REDIS_HOST"), port: int(env, "REDIS_PORT", 1, 65_535), password: secret(env, "REDIS_PASSWORD_FILE", "REDIS_PASSWORD", "redis-password") },
    health: { host: required(env, "HEALTH_HOST"), port: int(env, "HEALTH_PORT", 0, 65_535) },
    reconnect: { minMs, maxMs },
    settleMs: int(env, "OUTCOME_SETTLE_MS", 0, 10_000),
    outboxFile: outbox,
    logLevel,
  };
}
