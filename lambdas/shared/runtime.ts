/**
 * One "execution environment": configuration, logger, database connection, cache client and ARI
 * credentials, created lazily on the first invocation and reused by every later one.
 *
 * `defineHandler` gives each function two entry points:
 * - `handler(event, context)`: the Lambda handler; uses the module-scope environment built from
 *   process.env (an EnvConfigError naming the variable fails the invocation until it is fixed);
 * - `run(runtime, event)`: the same logic on an explicit environment, so tests and the pool
 *   benchmark can emulate many separate execution environments in one process.
 */
import type { FunctionName } from "../manifest";
import { originate, type OriginateRequest, type OriginateResult } from "./ari";
import { Cache } from "./cache";
import { loadConfig, type Config, type Env } from "./config";
import { Database } from "./db";
import { actionIssue, checkHealth, isHealthEvent, type HealthReport } from "./health";
import { createLogger, type Logger } from "./logging";
import { readPassword, refetchPassword } from "./secrets";
import { InvalidEventError } from "./validate";

export interface Runtime {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Database;
  readonly cache: Cache;
  /** Originate through ARI (dialer-worker only). */
  originate(req: OriginateRequest): Promise<OriginateResult>;
  close(): Promise<void>;
}

export function createRuntime(name: FunctionName, env: Env = process.env): Runtime {
  const config = loadConfig(name, env);
  const log = createLogger(config.logLevel, { fn: name });
  const db = new Database(config.database, log);
  const cache = new Cache(config.redis, log);
  return {
    config,
    log,
    db,
    cache,
    async originate(req) {
      const ari = config.ari;
      if (!ari) throw new Error(`${name} is not configured for ARI`);
      // secrets.ts caches the secret per ARN (one fetch, shared in flight, a failure retried next time).
      const used = await readPassword(ari.password);
      const first = await originate(ari, used.password, req);
      if (first.ok || first.status !== 401) return first;
      // A 401 placed no call: the password may have been rotated. Re-read the secret (once for all
      // the originations that were refused with this value) and, when it changed, try once more.
      const fresh = await refetchPassword(ari.password, used).catch((error: Error) => {
        log.warn("ARI refused the password and re-reading its secret failed", { error });
        return undefined;
      });
      if (fresh === undefined) return first;
      log.debug("ARI refused the password; originating again with the re-read secret", { channelId: req.channelId });
      return originate(ari, fresh, req);
    },
    async close() {
      await Promise.all([db.close(), cache.close()]);
    },
  };
}

const environments = new Map<FunctionName, Runtime>();

/** The module-scope environment of a function (created on first use). */
export function environment(name: FunctionName): Runtime {
  let rt = environments.get(name);
  if (!rt) {
    rt = createRuntime(name);
    environments.set(name, rt);
  }
  return rt;
}

/** Drop module-scope environments (tests that change process.env between cases). */
export async function resetEnvironments(): Promise<void> {
  const all = [...environments.values()];
  environments.clear();
  await Promise.all(all.map((rt) => rt.close()));
}

export interface LambdaContext {
  awsRequestId?: string;
  /** Lambda's clock: the database keeps every wait (connect, retries, statements) within it. */
  getRemainingTimeInMillis?: () => number;
}

export function defineHandler<E, R>(name: FunctionName, parse: (event: unknown) => E, fn: (rt: Runtime, event: E) => Promise<R>) {
  async function run(rt: Runtime, event: unknown, context: LambdaContext = {}): Promise<R | HealthReport> {
    const clock = context.getRemainingTimeInMillis;
    const restoreClock = rt.db.useRemainingTime(clock ? () => clock.call(context) : undefined);
    try {
      if (isHealthEvent(event)) return await checkHealth(rt.db, rt.cache);
      const log = rt.log.child({ requestId: context.awsRequestId });
      const started = Date.now();
      try {
        const action = actionIssue(event);
        if (action) throw new InvalidEventError(name, [action]);
        const result = await fn(rt, parse(event));
        log.info("invocation done", { durationMs: Date.now() - started });
        return result;
      } catch (error) {
        log.error("invocation failed", { durationMs: Date.now() - started, error });
        throw error;
      }
    } finally {
      restoreClock();
    }
  }
  async function handler(event: unknown, context?: LambdaContext): Promise<R | HealthReport> {
    return run(environment(name), event, context);
  }
  return { handler, run };
}
