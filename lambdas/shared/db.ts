/**
 * PostgreSQL through RDS Proxy, done the way the proxy needs it:
 * - one connection per execution environment: a pg Pool of size 1, created lazily on first use at
 *   module scope (see runtime.ts) and reused across invocations; never idle-closed by us;
 * - TLS on by default (DATABASE_SSL), credentials from the RDS secret fetched once;
 * - only unnamed, parameterised statements (no `name:` => no named prepared statements), no SET,
 *   no startup parameters besides application_name (no statement_timeout: the proxy rejects it),
 *   client-side query_timeout instead;
 * - a connection found dead (ECONNRESET after a freeze, pg_terminate_backend, proxy idle timeout)
 *   is destroyed and the work retried once when that is safe: the query is idempotent, or the
 *   failure happened on the first statement of a reused connection (nothing was executed);
 * - a connection attempt that times out, is refused or reset is retried after a jittered,
 *   exponentially growing wait (an overloaded endpoint is not hit again at once), at most
 *   connectAttempts times, and only when the wait plus a whole attempt fit in the invocation's
 *   remaining time (Lambda's context.getRemainingTimeInMillis, see useRemainingTime);
 * - timeouts follow from the function and the proxy: a statement may wait for the proxy to borrow a
 *   database connection (up to its borrow timeout) and then run (queryTimeoutMs), so the client
 *   waits queryTimeoutMs + borrowTimeoutMs; every wait (connect, statement) is capped by the
 *   invocation's remaining time minus reserveMs, so the handler fails with a clear error before
 *   Lambda kills it. SQLSTATE 53300 (too many connections) is not retried: it is the database's
 *   answer, not a lost packet.
 */
import { Pool, type PoolClient, type QueryConfig, type QueryResult, type QueryResultRow } from "pg";
import { ENV_VARS } from "../manifest";
import type { DatabaseClientConfig } from "./config";
import type { Logger } from "./logging";
import { invalidateSecret, resolveDatabaseCredentials } from "./secrets";

export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

export interface RunOptions {
  /** Safe to run twice (reads, ON CONFLICT inserts, guarded updates): retried once on a dead connection. */
  idempotent?: boolean;
}

const CONNECTION_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT", "ENOTCONN", "ECONNABORTED", "EHOSTUNREACH", "57P01", "57P02", "57P03"]);
const CONNECTION_MESSAGES = /Connection terminated|not queryable|Connection ended|socket hang up|read ECONNRESET|server closed the connection/i;

// Duck-typed, not `instanceof Error`: socket errors may come from another realm (e.g. a jest sandbox).
function errorParts(e: unknown): { code?: unknown; message: string } {
  return typeof e === "object" && e !== null ? { code: (e as { code?: unknown }).code, message: String((e as { message?: unknown }).message ?? "") } : { message: "" };
}

export function isConnectionError(e: unknown): boolean {
  const { code, message } = errorParts(e);
  if (typeof code === "string" && (CONNECTION_CODES.has(code) || code.startsWith("08"))) return true;
  return CONNECTION_MESSAGES.test(message);
}

function isAuthError(e: unknown): boolean {
  const { code } = errorParts(e);
  return code === "28P01" || code === "28000";
}

function isQueryTimeout(e: unknown): boolean {
  return /Query read timeout/.test(errorParts(e).message);
}

function isConnectTimeout(e: unknown): boolean {
  return /connection timeout|timeout expired/i.test(errorParts(e).message);
}

/** Thrown instead of starting a database wait the invocation has no time left for. */
export class DatabaseDeadlineError extends Error {
  readonly code = "DEADLINE";
  constructor(what: string, leftMs: number, reserveMs: number) {
    super(`no time left to ${what}: the invocation has ${Math.max(0, Math.round(leftMs))} ms left and keeps ${reserveMs} ms in reserve`);
    this.name = "DatabaseDeadlineError";
  }
}

/** For a DatabaseClientConfig built without them: the manifest's defaults (what loadConfig reads when the variables are unset). */
export const DATABASE_DEFAULTS = {
  borrowTimeoutMs: Number(ENV_VARS.DATABASE_BORROW_TIMEOUT_SECONDS.default) * 1000,
  connectAttempts: Number(ENV_VARS.DATABASE_CONNECT_ATTEMPTS.default),
  connectBackoffMs: Number(ENV_VARS.DATABASE_CONNECT_BACKOFF_MS.default),
  reserveMs: Number(ENV_VARS.DATABASE_TIME_RESERVE_MS.default),
};

/** The wait before retry n (1-based): uniformly random in [½, 1] × base × 2^(n-1) ("equal jitter"). */
export function connectBackoff(retry: number, baseMs: number, random: () => number = Math.random): number {
  const span = baseMs * 2 ** (retry - 1);
  return Math.round(span / 2 + random() * (span / 2));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Counts statements so a failure can be told apart: before anything ran, or in the middle. */
class CountingClient implements Queryable {
  statements = 0;
  constructor(
    private readonly client: PoolClient,
    private readonly timeoutMs: () => number,
  ) {}
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    this.statements++;
    // pg honours a per-query query_timeout (not in @types/pg's QueryConfig).
    const config = { text, values, query_timeout: this.timeoutMs() } as QueryConfig;
    return this.client.query<R>(config);
  }
}

export class Database implements Queryable {
  private pool: Pool | undefined;
  private creating: Promise<Pool> | undefined;
  /** Observability for tests and logs. */
  readonly stats = { connects: 0, retries: 0, discarded: 0 };
  /** Connection attempts: timed out, and retried after a backoff. */
  readonly connectStats = { timeouts: 0, retries: 0 };
  private remaining: (() => number) | undefined;
  private readonly limits: Required<Pick<DatabaseClientConfig, "borrowTimeoutMs" | "connectAttempts" | "connectBackoffMs" | "reserveMs">>;

  constructor(
    private readonly cfg: DatabaseClientConfig,
    private readonly log: Logger,
    /** Jitter source. */
    private readonly random: () => number = Math.random,
  ) {
    this.limits = {
      borrowTimeoutMs: cfg.borrowTimeoutMs ?? DATABASE_DEFAULTS.borrowTimeoutMs,
      connectAttempts: cfg.connectAttempts ?? DATABASE_DEFAULTS.connectAttempts,
      connectBackoffMs: cfg.connectBackoffMs ?? DATABASE_DEFAULTS.connectBackoffMs,
      reserveMs: cfg.reserveMs ?? DATABASE_DEFAULTS.reserveMs,
    };
  }

  /**
   * The current invocation's clock (Lambda's context.getRemainingTimeInMillis): every database
   * wait stays within it. Returns a function that puts back the previous clock. Without a clock
   * (local runs) only the configured timeouts and attempts apply.
   */
  useRemainingTime(remaining: (() => number) | undefined): () => void {
    const previous = this.remaining;
    this.remaining = remaining;
    return () => {
      if (this.remaining === remaining) this.remaining = previous;
    };
  }

  /** Whether the environment holds an open connection now (no handshake needed for the next statement). */
  get connected(): boolean {
    return (this.pool?.totalCount ?? 0) > 0;
  }

  /** Milliseconds a database wait may still take in this invocation (Infinity without a clock). */
  private budget(): number {
    return this.remaining ? this.remaining() - this.limits.reserveMs : Infinity;
  }

  private within(ms: number, what: string): number {
    const budget = this.budget();
    if (budget < 1) throw new DatabaseDeadlineError(what, budget + this.limits.reserveMs, this.limits.reserveMs);
    return Math.max(1, Math.floor(Math.min(ms, budget)));
  }

  /** The client-side timeout of the next statement: the proxy's borrow wait plus the statement, within the remaining time. */
  statementTimeoutMs(): number {
    return this.within(this.cfg.queryTimeoutMs + this.limits.borrowTimeoutMs, "run a database statement");
  }

  private async createPool(): Promise<Pool> {
    const creds = await resolveDatabaseCredentials(this.cfg.credentials);
    const pool = new Pool({
      host: this.cfg.host,
      port: this.cfg.port,
      database: this.cfg.database,
      user: creds.user,
      password: creds.password,
      ssl: this.cfg.ssl,
      application_name: this.cfg.applicationName,
      query_timeout: this.cfg.queryTimeoutMs + this.limits.borrowTimeoutMs,
      connectionTimeoutMillis: this.cfg.connectTimeoutMs,
      keepAlive: true,
      max: 1,
      idleTimeoutMillis: 0,
      allowExitOnIdle: true,
    });
    pool.on("connect", () => void this.stats.connects++);
    // An idle connection that dies (proxy timeout, terminated backend) is removed by the pool;
    // without this listener the 'error' event would crash the process.
    pool.on("error", (err) => {
      this.stats.discarded++;
      this.log.warn("idle database connection lost; will reconnect on next use", { error: err });
    });
    return pool;
  }

  private getPool(): Promise<Pool> {
    if (this.pool) return Promise.resolve(this.pool);
    this.creating ??= this.createPool().then(
      (p) => ((this.pool = p), (this.creating = undefined), p),
      (e) => {
        this.creating = undefined;
        throw e;
      },
    );
    return this.creating;
  }

  private async resetPool(): Promise<void> {
    const old = this.pool;
    this.pool = undefined;
    await old?.end().catch(() => undefined);
  }

  /**
   * The environment's connection: reused when open; otherwise connected, a timed-out, refused or
   * reset attempt retried after a jittered backoff while attempts are left and the wait plus a whole
   * attempt fit in the remaining time. Any other failure (53300, authentication) is thrown at once.
   */
  private async checkout(pool: Pool): Promise<PoolClient> {
    let failure: unknown;
    for (let attempt = 1; ; attempt++) {
      if (failure !== undefined) {
        // A backoff that overran the remaining time (a busy event loop) ends with the real failure.
        if (this.budget() < 1) throw failure;
        this.connectStats.retries++;
      }
      // Read by pg-pool (and passed to the new Client) at each connect: cap this attempt by the remaining time.
      pool.options.connectionTimeoutMillis = pool.totalCount > 0 ? this.cfg.connectTimeoutMs : this.within(this.cfg.connectTimeoutMs, "connect to the database");
      try {
        return await pool.connect();
      } catch (e) {
        if (!isConnectionError(e)) throw e;
        failure = e;
        if (isConnectTimeout(e)) this.connectStats.timeouts++;
        const wait = connectBackoff(attempt, this.limits.connectBackoffMs, this.random);
        if (attempt >= this.limits.connectAttempts || wait + this.cfg.connectTimeoutMs > this.budget()) throw e;
        this.log.warn("database connection attempt failed; retrying after a backoff", { error: e, attempt, waitMs: wait });
        await sleep(wait);
      }
    }
  }

  private async withClient<T>(fn: (c: CountingClient) => Promise<T>, opts: RunOptions, inTransaction: boolean): Promise<T> {
    // Each at most once, and independent: a connection found dead (retried on a new one) is often
    // what a rotation looks like, and the new connection's authentication failure still gets its re-read.
    let refetched = false;
    let retried = false;
    for (;;) {
      const pool = await this.getPool();
      let client: PoolClient;
      try {
        client = await this.checkout(pool);
      } catch (e) {
        if (!refetched && isAuthError(e) && this.cfg.credentials.kind === "secret") {
          // The secret may have been rotated since we cached it: refetch once.
          refetched = true;
          this.log.warn("database authentication failed; refetching the secret once", { error: e });
          invalidateSecret(this.cfg.credentials.arn);
          await this.resetPool();
          continue;
        }
        throw e;
      }
      // While checked out, a socket error is emitted on the client (the pool only listens to idle
      // ones); without a listener it would crash the process. The failing query rejects anyway.
      const onError = (error: Error) => this.log.debug("database connection error during a query", { error });
      client.on("error", onError);
      /** Back to the pool; with an error, the connection is destroyed instead. */
      const release = (destroyWith?: Error) => {
        client.off("error", onError);
        client.release(destroyWith);
      };
      const counting = new CountingClient(client, () => this.statementTimeoutMs());
      try {
        const result = await fn(counting);
        release();
        return result;
      } catch (e) {
        const dead = isConnectionError(e);
        const timedOut = isQueryTimeout(e);
        if (inTransaction && !dead && !timedOut) {
          try {
            await client.query("ROLLBACK");
          } catch (rollbackError) {
            release(rollbackError as Error);
            throw e;
          }
        }
        // Destroy a dead or timed-out connection (a timed-out query may still be running on it).
        release(dead || timedOut ? (e as Error) : undefined);
        if (dead) this.stats.discarded++;
        // In a transaction, a failure on BEGIN means nothing was executed on the dead connection.
        const nothingRan = inTransaction && counting.statements <= 1;
        if (dead && !retried && (opts.idempotent || nothingRan)) {
          retried = true;
          this.stats.retries++;
          this.log.warn("database connection lost; retrying once on a new connection", { error: e, statements: counting.statements });
          continue;
        }
        throw e;
      }
    }
  }

  /** One statement (autocommit). */
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[], opts: RunOptions = {}): Promise<QueryResult<R>> {
    return this.withClient((c) => c.query<R>(text, values), opts, false);
  }

  /** BEGIN ... COMMIT on the environment's connection; ROLLBACK on error. */
  tx<T>(fn: (q: Queryable) => Promise<T>, opts: RunOptions = {}): Promise<T> {
    return this.withClient(
      async (c) => {
        await c.query("BEGIN");
        const result = await fn(c);
        await c.query("COMMIT");
        return result;
      },
      opts,
      true,
    );
  }

  async ping(): Promise<boolean> {
    try {
      await this.query("SELECT 1", [], { idempotent: true });
      return true;
    } catch (e) {
      this.log.warn("database ping failed", { error: e });
      return false;
    }
  }

  async close(): Promise<void> {
    await this.resetPool();
  }
}
