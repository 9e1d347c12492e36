/**
 * Machine-readable contract between the Lambda code (this directory) and the CDKTF stacks that
 * deploy it. Dependency-free on purpose: the stacks import it without pulling in pg or ioredis.
 *
 * - Bundle: `buildLambdas()` in lambdas/build.ts (called by the Lambdas construct at synth, and by
 *   `npm run build:lambdas`) writes `build/lambdas/<name>/index.js` (its BUNDLE_DIR), one CommonJS
 *   file exporting `handler`; `@aws-sdk/*` is left to the nodejs22.x runtime.
 * - `uses` says which networks/permissions a function needs (database via RDS Proxy, Redis on the
 *   Asterisk host, ARI on the Asterisk host).
 * - `env.required` must be set by the stack; the other variables have defaults (see ENV_VARS).
 * - `secretArnEnv` names the variables holding Secrets Manager ARNs the function reads
 *   (grant secretsmanager:GetSecretValue on exactly those secrets).
 */
export const FUNCTION_NAMES = [
  "validate-campaign",
  "dispatcher",
  "enrich-dial-task",
  "dialer-worker",
  "status-checker",
  "report-generator",
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export interface EnvVarSpec {
  /** Set by the stack in AWS. Local overrides (e.g. DATABASE_PASSWORD) never replace an ARN. */
  readonly requiredInAws: boolean;
  readonly default?: string;
  /** Only for local runs/tests; ignored whenever the matching *_SECRET_ARN is set. */
  readonly localOnly?: boolean;
  readonly description: string;
}

export const ENV_VARS = {
  // database (all functions)
  RDS_PROXY_ENDPOINT: { requiredInAws: true, description: "Host name of the RDS Proxy endpoint (no scheme, no port)." },
  DATABASE_PORT: { requiredInAws: false, default: "5432", description: "Port of the proxy endpoint." },
  DATABASE_NAME: { requiredInAws: true, description: "PostgreSQL database name." },
  RDS_SECRET_ARN: { requiredInAws: true, description: "ARN of the RDS-managed master secret (JSON with username, password)." },
  DATABASE_USER: { requiredInAws: false, localOnly: true, description: "Local override: user name, used only when RDS_SECRET_ARN is unset." },
  DATABASE_PASSWORD: { requiredInAws: false, localOnly: true, description: "Local override: password, used only when RDS_SECRET_ARN is unset." },
  DATABASE_SSL: {
    requiredInAws: false,
    default: "verify-full",
    description: "TLS to the proxy: verify-full (default, system CAs + DATABASE_SSL_CA), no-verify, or disable (local PgBouncer only).",
  },
  DATABASE_SSL_CA: { requiredInAws: false, description: "Path of an extra PEM CA bundle trusted for the database TLS connection." },
  DATABASE_QUERY_TIMEOUT_MS: {
    requiredInAws: false,
    default: "5000",
    description:
      "A statement's own run time once it has a database connection; the client-side query timeout is this plus DATABASE_BORROW_TIMEOUT_SECONDS, capped by the invocation's remaining time (no statement_timeout startup parameter: the proxy rejects it).",
  },
  DATABASE_CONNECT_TIMEOUT_MS: { requiredInAws: false, default: "3000", description: "One connection attempt (TCP + TLS + auth), capped by the invocation's remaining time." },
  DATABASE_BORROW_TIMEOUT_SECONDS: {
    requiredInAws: false,
    default: "120",
    description:
      "How long the pooler may queue a statement for a database connection (RDS Proxy's connection_borrow_timeout, default 120); 0 when the functions reach the instance itself. The stack sets it when it differs from 120.",
  },
  DATABASE_CONNECT_ATTEMPTS: {
    requiredInAws: false,
    default: "3",
    description: "Connection attempts on a connect timeout, refusal or reset, with jittered exponential backoff; a retry is made only if it fits in the invocation's remaining time.",
  },
  DATABASE_CONNECT_BACKOFF_MS: { requiredInAws: false, default: "200", description: "Backoff before the n-th retry: between half and all of this × 2^(n-1), at random." },
  DATABASE_TIME_RESERVE_MS: {
    requiredInAws: false,
    default: "1000",
    description: "Kept free at the end of an invocation: no database wait reaches into the function's last this-many milliseconds, so it can fail with a clear error instead of being killed.",
  },
  DATABASE_DIRECT_ENDPOINT: {
    requiredInAws: false,
    description: "`npm run migrate` only: the instance's direct endpoint (admin path; never the proxy, never a handler).",
  },
  // redis (cache)
  REDIS_HOST: { requiredInAws: true, description: "Redis host (the Asterisk EC2 host's private address)." },
  REDIS_PORT: { requiredInAws: false, default: "6379", description: "Redis port." },
  REDIS_PASSWORD_SECRET_ARN: { requiredInAws: true, description: 'ARN of the Redis password secret (JSON {"password": "..."}).' },
  REDIS_PASSWORD: { requiredInAws: false, localOnly: true, description: "Local override: Redis password, used only when REDIS_PASSWORD_SECRET_ARN is unset." },
  REDIS_CONNECT_TIMEOUT_MS: { requiredInAws: false, default: "500", description: "Redis connect timeout; an outage costs at most this per cool-down period." },
  REDIS_COMMAND_TIMEOUT_MS: { requiredInAws: false, default: "250", description: "Redis command timeout; a timeout is a cache miss." },
  REDIS_RETRY_COOLDOWN_MS: { requiredInAws: false, default: "5000", description: "After a Redis failure, skip the cache (miss) for this long before reconnecting." },
  REDIS_TLS: {
    requiredInAws: false,
    default: "disable",
    description:
      "TLS to Redis: disable (default: the self-hosted Redis on the Asterisk host), verify-full (system CAs + REDIS_TLS_CA, host name checked: ElastiCache with in-transit encryption), or no-verify.",
  },
  REDIS_TLS_CA: { requiredInAws: false, description: "Path of an extra PEM CA bundle trusted for the Redis TLS connection." },
  CACHE_SETTINGS_TTL_SECONDS: { requiredInAws: false, default: "300", description: "TTL of cached campaign settings." },
  REPORT_CACHE_TTL_SECONDS: { requiredInAws: false, default: "60", description: "TTL of cached campaign reports." },
  // ARI (dialer-worker)
  ARI_URL: { requiredInAws: true, description: "Base URL of Asterisk ARI, e.g. http://10.0.1.10:8088 (POST {ARI_URL}/ari/channels)." },
  ARI_USER: { requiredInAws: true, description: "ARI user (basic auth)." },
  ARI_PASSWORD_SECRET_ARN: { requiredInAws: true, description: 'ARN of the ARI password secret (JSON {"password": "..."}).' },
  ARI_PASSWORD: { requiredInAws: false, localOnly: true, description: "Local override: ARI password, used only when ARI_PASSWORD_SECRET_ARN is unset." },
  ARI_APP: { requiredInAws: false, default: "campaign-dialer", description: "Stasis application the originated channels enter." },
  ARI_ENDPOINT_TEMPLATE: { requiredInAws: false, default: "PJSIP/{number}@trunk", description: "Dial endpoint; {number} is replaced by the contact's E.164 number." },
  ARI_TIMEOUT_MS: { requiredInAws: false, default: "3000", description: "HTTP timeout of one origination request." },
  ARI_RING_TIMEOUT_SECONDS: { requiredInAws: false, default: "30", description: "Ring timeout passed to ARI (timeout parameter)." },
  DIALER_BATCH_LIMIT: { requiredInAws: false, default: "50", description: "Most calls one dialer-worker invocation originates." },
  ARI_MAX_REJECTIONS: {
    requiredInAws: false,
    default: "3",
    description: "After this many rejections of a call by ARI (4xx other than 401/403/408/425/429: bad endpoint or number) the task is marked failed.",
  },
  ARI_MAX_TRANSIENT_FAILURES: {
    requiredInAws: false,
    default: "10",
    description: "After this many consecutive transient origination failures (ARI unreachable, timeout, 5xx, 401/403/408/425/429) the task is marked failed.",
  },
  ARI_RETRY_BASE_SECONDS: { requiredInAws: false, default: "60", description: "Backoff after the n-th origination failure of a task: base * 2^(n-1) seconds, capped." },
  ARI_RETRY_MAX_SECONDS: { requiredInAws: false, default: "3600", description: "Cap of the origination backoff (at least ARI_RETRY_BASE_SECONDS)." },
  // status-checker
  DIALING_STUCK_AFTER_SECONDS: {
    requiredInAws: false,
    // A connected call stays 'dialing' until its outcome event: expiring it earlier would re-dial
    // a person who is still on the phone. Longer than any call, far above the dialer's run time.
    default: "7200",
    description: "A call still 'dialing' (ringing or connected) after this long without an outcome is expired and retried per policy. Must exceed the longest call.",
  },
  // all
  LOG_LEVEL: { requiredInAws: false, default: "info", description: "debug | info | warn | error | silent." },
} as const satisfies Record<string, EnvVarSpec>;
export type EnvVarName = keyof typeof ENV_VARS;

export interface LambdaFunctionSpec {
  readonly name: FunctionName;
  readonly description: string;
  readonly handler: "index.handler";
  readonly runtime: "nodejs22.x";
  readonly timeoutSeconds: number;
  readonly memorySizeMb: number;
  readonly uses: { readonly database: boolean; readonly redis: boolean; readonly ari: boolean };
  /** The variables the stack must set (the functions' optional ones have defaults: see ENV_VARS). */
  readonly env: { readonly required: readonly EnvVarName[] };
  readonly secretArnEnv: readonly EnvVarName[];
}

const DB_REQUIRED = ["RDS_PROXY_ENDPOINT", "DATABASE_NAME", "RDS_SECRET_ARN"] as const;
const REDIS_REQUIRED = ["REDIS_HOST", "REDIS_PASSWORD_SECRET_ARN"] as const;
const ARI_REQUIRED = ["ARI_URL", "ARI_USER", "ARI_PASSWORD_SECRET_ARN"] as const;

function spec(
  name: FunctionName,
  description: string,
  uses: LambdaFunctionSpec["uses"],
  timeoutSeconds = 30,
): LambdaFunctionSpec {
  const required: EnvVarName[] = [...DB_REQUIRED];
  if (uses.redis) required.push(...REDIS_REQUIRED);
  if (uses.ari) required.push(...ARI_REQUIRED);
  return {
    name,
    description,
    handler: "index.handler",
    runtime: "nodejs22.x",
    timeoutSeconds,
    memorySizeMb: 256,
    uses,
    env: { required },
    secretArnEnv: required.filter((v) => v.endsWith("_SECRET_ARN")),
  };
}

export const LAMBDA_FUNCTIONS: readonly LambdaFunctionSpec[] = [
  spec("validate-campaign", "Validates a campaign and stores it with its contacts in one transaction.", { database: true, redis: false, ari: false }),
  spec("dispatcher", "Creates the dial tasks of a campaign's uncalled contacts in batches and marks it running.", { database: true, redis: false, ari: false }, 60),
  spec("enrich-dial-task", "Completes dial tasks with contact and campaign details (settings cache-aside in Redis).", { database: true, redis: true, ari: false }),
  spec("dialer-worker", "Claims due tasks (SKIP LOCKED, per-campaign concurrency cap) and originates calls through ARI.", { database: true, redis: false, ari: true }, 60),
  // Redis: reads the outcome stream the Asterisk-side worker writes (lambdas/shared/outcomes.ts).
  spec("status-checker", "Records call outcomes (event and the worker's Redis stream), schedules retries, expires stuck calls, completes campaigns.", { database: true, redis: true, ari: false }),
  spec("report-generator", "Per-campaign totals, cached in Redis with a TTL.", { database: true, redis: true, ari: false }),
];

export function functionSpec(name: FunctionName): LambdaFunctionSpec {
  const found = LAMBDA_FUNCTIONS.find((f) => f.name === name);
  if (!found) throw new Error(`unknown function ${name}`);
  return found;
}
