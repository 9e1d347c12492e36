/**
 * The database client's timeouts and connect retries against real servers: PgBouncer with a
 * saturated pool (default_pool_size 2, both server connections held in open transactions) stands in
 * for a saturated RDS Proxy; PgBouncer stopped with SIGSTOP (the kernel still accepts, nothing
 * answers) stands in for an endpoint too overloaded to finish a handshake.
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import { run as dispatch } from "../../lambdas/dispatcher/handler";
import { connectBackoff, DatabaseDeadlineError } from "../../lambdas/shared/db";
import { createRuntime, type Runtime } from "../../lambdas/shared/runtime";
import { APP_USER, DB_NAME, startServers, type Servers } from "./servers";

let s: Servers;
const runtimes: Runtime[] = [];

beforeAll(async () => {
  s = await startServers({ poolSize: 2, queryWaitTimeoutSeconds: 60 });
}, 120_000);

afterAll(async () => {
  await Promise.all(runtimes.map((rt) => rt.close()));
  await s?.stop();
});

const rt = (env: Record<string, string | undefined>): Runtime => {
  const r = createRuntime("dispatcher", env);
  runtimes.push(r);
  return r;
};

/** Takes every server connection of PgBouncer's pool: each holder sits in an open transaction. */
async function saturate(): Promise<{ release(): Promise<void> }> {
  const holders: Client[] = [];
  for (let i = 0; i < 2; i++) {
    const c = new Client({ host: "127.0.0.1", port: s.bouncer.port, user: APP_USER, password: s.pg.appPassword, database: DB_NAME });
    await c.connect();
    await c.query("BEGIN");
    await c.query("SELECT 1");
    holders.push(c);
  }
  return {
    release: async () => {
      for (const c of holders.splice(0)) {
        await c.query("COMMIT").catch(() => undefined);
        await c.end().catch(() => undefined);
      }
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `done()` holds (the test's timeout bounds the wait; no timing is asserted). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(10);
}

/** Reads whether the promise has settled (as of the last turn of the event loop). */
function settledFlag(p: Promise<unknown>): () => boolean {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  return () => settled;
}

describe("statement timeout vs the pooler's borrow timeout (saturated PgBouncer)", () => {
  test("a statement queued for a server connection outlives its own 300 ms allowance: the client waits for the borrow too", async () => {
    const pool = await saturate();
    try {
      const db = rt(s.env({ DATABASE_QUERY_TIMEOUT_MS: "300" })).db; // borrow timeout 60 s (PgBouncer's query_wait_timeout)
      const answer = db.query<{ x: number }>("SELECT 1 AS x");
      const settled = settledFlag(answer);
      // Counted once the handshake is done; the statement (and its timer) is sent in the same turn.
      await until(() => db.stats.connects === 1 || settled());
      await sleep(1200); // 4× the statement allowance, queued all along
      expect(settled()).toBe(false);
      await pool.release();
      expect((await answer).rows).toEqual([{ x: 1 }]);
    } finally {
      await pool.release();
    }
  });

  test("the same wait without a borrow allowance (DATABASE_BORROW_TIMEOUT_SECONDS=0) gives up after 300 ms", async () => {
    const pool = await saturate();
    try {
      const db = rt(s.env({ DATABASE_QUERY_TIMEOUT_MS: "300", DATABASE_BORROW_TIMEOUT_SECONDS: "0" })).db;
      // The pool stays saturated until the statement has failed: only its own timeout can end it.
      await expect(db.query("SELECT 1")).rejects.toThrow(/Query read timeout/);
    } finally {
      await pool.release();
    }
  });

  test("an invocation's wait ends before the function's deadline: capped by the remaining time minus the reserve", async () => {
    const r = rt(s.env({ DATABASE_TIME_RESERVE_MS: "1000" }));
    // A warm environment: its connection is open, so the 300 ms below go to the statement alone
    // (a handshake on a loaded machine could otherwise use them up and fail as a connect timeout).
    await r.db.query("SELECT 1");
    const pool = await saturate();
    try {
      // 1.3 s left, 1 s kept in reserve: the statement may wait 300 ms, not 5 s + 60 s.
      const context = { awsRequestId: "t", getRemainingTimeInMillis: () => 1300 };
      await expect(dispatch(r, { campaignId: randomUUID() }, context)).rejects.toThrow(/Query read timeout/);
    } finally {
      await pool.release();
    }
  }, 15_000);

  test("with less time left than the reserve, nothing is started: a clear error, no connection", async () => {
    const r = rt(s.env({ DATABASE_TIME_RESERVE_MS: "1000" }));
    const context = { awsRequestId: "t", getRemainingTimeInMillis: () => 900 };
    const failure = dispatch(r, { campaignId: randomUUID() }, context);
    await expect(failure).rejects.toThrow(DatabaseDeadlineError);
    await expect(failure).rejects.toThrow("no time left to connect to the database: the invocation has 900 ms left and keeps 1000 ms in reserve");
    expect(r.db.stats.connects).toBe(0);
  });

  test("after the invocation the clock is dropped: the environment's next use has the configured timeouts again", async () => {
    const r = rt(s.env());
    await expect(dispatch(r, { campaignId: randomUUID() }, { getRemainingTimeInMillis: () => 10 })).rejects.toThrow(DatabaseDeadlineError);
    await expect(r.db.query("SELECT 1")).resolves.toMatchObject({ rowCount: 1 });
  });
});

describe("connect retries (PgBouncer stopped: connections accepted by the kernel, never answered)", () => {
  afterEach(() => s.bouncer.resume());

  /**
   * A fresh environment (no connection it could reuse), then PgBouncer stopped: pause() resolves
   * once /proc shows it stopped, so every connection attempt below meets a silent endpoint.
   */
  async function stoppedEndpoint(env: Record<string, string>) {
    const db = rt(s.env(env)).db;
    expect(db.connected).toBe(false);
    expect(db.stats.connects).toBe(0);
    await s.bouncer.pause();
    return db;
  }

  test("a timed-out attempt is retried after a backoff, and succeeds once the endpoint answers", async () => {
    // 1 s per attempt: after the resume, a loaded machine still finishes the handshake in time.
    const db = await stoppedEndpoint({ DATABASE_CONNECT_TIMEOUT_MS: "1000", DATABASE_CONNECT_ATTEMPTS: "5", DATABASE_CONNECT_BACKOFF_MS: "200" });
    const answer = db.query<{ x: number }>("SELECT 1 AS x");
    await until(() => db.connectStats.timeouts > 0);
    expect(s.bouncer.paused()).toBe(true); // the attempt timed out against the stopped endpoint
    await s.bouncer.resume();
    expect((await answer).rows).toEqual([{ x: 1 }]);
    expect(db.connectStats.timeouts).toBeGreaterThanOrEqual(1);
    expect(db.connectStats.retries).toBe(db.connectStats.timeouts);
  });

  test("at most DATABASE_CONNECT_ATTEMPTS attempts, then the connect timeout itself", async () => {
    const db = await stoppedEndpoint({ DATABASE_CONNECT_TIMEOUT_MS: "200", DATABASE_CONNECT_ATTEMPTS: "3", DATABASE_CONNECT_BACKOFF_MS: "50" });
    await expect(db.query("SELECT 1")).rejects.toThrow(/connection timeout/);
    expect(s.bouncer.paused()).toBe(true); // stopped through every attempt
    expect(db.connectStats).toEqual({ timeouts: 3, retries: 2 });
  });

  test("no retry that the remaining time cannot finish: 10 attempts allowed, only as many as fit in 1 s", async () => {
    const db = await stoppedEndpoint({ DATABASE_CONNECT_TIMEOUT_MS: "400", DATABASE_CONNECT_ATTEMPTS: "10", DATABASE_CONNECT_BACKOFF_MS: "100", DATABASE_TIME_RESERVE_MS: "0" });
    // The invocation's 1 s starts at the client's first look at the clock (the first attempt).
    let end: number | undefined;
    const restore = db.useRemainingTime(() => (end ??= Date.now() + 1000) - Date.now());
    try {
      await expect(db.query("SELECT 1")).rejects.toThrow(/connection timeout/);
    } finally {
      restore();
    }
    expect(s.bouncer.paused()).toBe(true); // stopped through every attempt
    // 400 ms + (50..100 ms + 400 ms) fit in 1 s; a third attempt cannot. A busy event loop can
    // only make the attempts end later, so fewer fit: 1 or 2, never 3 (no timing is asserted).
    expect(db.connectStats.timeouts).toBeGreaterThanOrEqual(1);
    expect(db.connectStats.timeouts).toBeLessThanOrEqual(2);
    expect(db.connectStats.retries).toBe(db.connectStats.timeouts - 1);
  });

  test("SQLSTATE 53300 (too many connections) is the database's answer: not retried", async () => {
    const admin = await s.pg.admin();
    await admin.query(`ALTER ROLE ${APP_USER} CONNECTION LIMIT 0`);
    try {
      const db = rt(s.directEnv({ DATABASE_CONNECT_ATTEMPTS: "5" })).db;
      await expect(db.query("SELECT 1")).rejects.toMatchObject({ code: "53300" });
      expect(db.connectStats).toEqual({ timeouts: 0, retries: 0 });
    } finally {
      await admin.query(`ALTER ROLE ${APP_USER} CONNECTION LIMIT -1`);
      await admin.end();
    }
  });
});

test("backoff: equal jitter, between half and all of base × 2^(n-1)", () => {
  expect([1, 2, 3].map((n) => connectBackoff(n, 200, () => 0))).toEqual([100, 200, 400]);
  expect([1, 2, 3].map((n) => connectBackoff(n, 200, () => 1))).toEqual([200, 400, 800]);
  expect(connectBackoff(2, 200, () => 0.5)).toBe(300);
});
