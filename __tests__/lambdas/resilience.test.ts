/**
 * Failure behaviour on real servers: Redis stopped, hung and refusing the password (the cache is a
 * miss, invocations succeed with a bounded delay, health says degraded), and database connections
 * killed (pg_terminate_backend, a connection dead after a "freeze") recovered.
 */
import type { Client } from "pg";
import { run as enrich, type EnrichResult } from "../../lambdas/enrich-dial-task/handler";
import { run as dispatch } from "../../lambdas/dispatcher/handler";
import { run as dial, type DialResult } from "../../lambdas/dialer-worker/handler";
import { run as report, type CampaignReport } from "../../lambdas/report-generator/handler";
import type { HealthReport } from "../../lambdas/shared/health";
import { createRuntime, type Runtime } from "../../lambdas/shared/runtime";
import { run as validate, type ValidateResult } from "../../lambdas/validate-campaign/handler";
import { campaignEvent, readyCampaign, timed } from "./helpers";
import { DB_NAME, startServers, startTcpProxy, type Servers } from "./servers";

/** Loose upper bound per invocation while Redis is in trouble (the machine is noisy). */
const BOUND_MS = 1500;

let s: Servers;
let admin: Client;
const runtimes: Runtime[] = [];
const rt = (name: Parameters<typeof createRuntime>[0], env: Record<string, string | undefined>) => {
  const r = createRuntime(name, env);
  runtimes.push(r);
  return r;
};
let rts: { validate: Runtime; dispatch: Runtime; enrich: Runtime };

beforeAll(async () => {
  s = await startServers({ tls: true });
  admin = await s.pg.admin(DB_NAME);
  rts = { validate: rt("validate-campaign", s.env()), dispatch: rt("dispatcher", s.env()), enrich: rt("enrich-dial-task", s.env()) };
}, 90_000);

afterAll(async () => {
  s?.redis.resume();
  await Promise.all(runtimes.map((r) => r.close()));
  await admin?.end();
  await s?.stop();
});

async function pendingTasks(contacts: number): Promise<{ campaignId: string; ids: number[] }> {
  const v = (await validate(rts.validate, campaignEvent(contacts))) as ValidateResult;
  if (!v.valid) throw new Error("invalid fixture");
  await dispatch(rts.dispatch, { campaignId: v.campaignId });
  const { rows } = await admin.query<{ id: string }>("SELECT id FROM dial_tasks WHERE campaign_id = $1 ORDER BY id", [v.campaignId]);
  return { campaignId: v.campaignId, ids: rows.map((r) => Number(r.id)) };
}

describe("Redis is a cache and nothing more", () => {
  test("Redis stopped mid-test: handlers succeed, health degraded, delay bounded, no retry storm; back after restart", async () => {
    const enrichRt = rt("enrich-dial-task", s.env());
    const reportRt = rt("report-generator", s.env());
    const { campaignId, ids } = await pendingTasks(12);
    // Warm: both environments connected to Redis.
    expect(((await enrich(enrichRt, { taskId: ids[0] })) as EnrichResult).cache.misses).toBe(1);
    expect(((await report(reportRt, { campaignId })) as { cached: boolean }).cached).toBe(false);
    expect(((await enrich(enrichRt, { action: "health" })) as HealthReport).status).toBe("healthy");

    await s.redis.stop();
    for (let i = 1; i < 11; i++) {
      const { value, ms } = await timed(() => enrich(enrichRt, { taskId: ids[i] }));
      expect((value as EnrichResult).enriched).toEqual([ids[i]]);
      expect(ms).toBeLessThan(BOUND_MS);
      const r = await timed(() => report(reportRt, { campaignId }));
      expect((r.value as CampaignReport & { cached: boolean }).cached).toBe(false);
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
    // One failure noticed, then the cache is skipped for the cool-down: no reconnect per call.
    expect(enrichRt.cache.stats.errors).toBe(1);
    expect(reportRt.cache.stats.errors).toBe(1);
    const health = (await timed(() => report(reportRt, { action: "health" })));
    expect(health.value).toEqual({ status: "degraded", redis: { connected: false, endpoint: `127.0.0.1:${s.redis.port}` }, database: { connected: true } });
    expect(health.ms).toBeLessThan(BOUND_MS);

    // A fresh environment (cold start) during the outage pays at most one connect attempt.
    const cold = rt("enrich-dial-task", s.env());
    const c = await timed(() => enrich(cold, { taskId: ids[11] }));
    expect((c.value as EnrichResult).enriched).toEqual([ids[11]]);
    expect(c.ms).toBeLessThan(BOUND_MS);

    // Back: after the cool-down the cache is used again.
    await s.redis.start();
    const quick = rt("report-generator", s.env({ REDIS_RETRY_COOLDOWN_MS: "100" }));
    await report(quick, { campaignId }); // may still be inside a cool-down from nothing: fills the cache
    await new Promise((r) => setTimeout(r, 150));
    await report(quick, { campaignId });
    expect(((await report(quick, { campaignId })) as { cached: boolean }).cached).toBe(true);
    expect(((await report(quick, { action: "health" })) as HealthReport).status).toBe("healthy");
  });

  test("hung Redis (accepts connections, never answers): command timeout, still a bounded miss", async () => {
    const reportRt = rt("report-generator", s.env());
    const { campaignId } = await pendingTasks(1);
    await report(reportRt, { campaignId });
    s.redis.pause();
    try {
      const first = await timed(() => report(reportRt, { campaignId, refresh: false }));
      expect(first.ms).toBeLessThan(BOUND_MS);
      expect((first.value as { cached: boolean }).cached).toBe(false);
      const second = await timed(() => report(reportRt, { campaignId }));
      expect(second.ms).toBeLessThan(BOUND_MS);
      const cold = rt("report-generator", s.env());
      const c = await timed(() => report(cold, { campaignId }));
      expect(c.ms).toBeLessThan(BOUND_MS);
      expect(((await report(cold, { action: "health" })) as HealthReport).status).toBe("degraded");
    } finally {
      s.redis.resume();
    }
  });

  test("Redis refusing the password is a miss, not a failed invocation", async () => {
    const wrong = rt("report-generator", s.env({ REDIS_PASSWORD: "not-the-password" }));
    const { campaignId } = await pendingTasks(1);
    const r = await timed(() => report(wrong, { campaignId }));
    expect((r.value as CampaignReport).contacts).toBe(1);
    expect(r.ms).toBeLessThan(BOUND_MS);
    expect(await report(wrong, { action: "health" })).toMatchObject({ status: "degraded", redis: { connected: false } });
  });
});

describe("database connections killed and recovered", () => {
  test("pg_terminate_backend on an idle connection (direct to PostgreSQL): next invocation reconnects", async () => {
    const r = rt("report-generator", s.directEnv());
    const { campaignId } = await pendingTasks(1);
    await report(r, { campaignId, refresh: true });
    const killed = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'report-generator' AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND usename = 'app' AND client_port IS NOT NULL AND state = 'idle'");
    expect(killed.rowCount).toBeGreaterThanOrEqual(1);
    await new Promise((res) => setTimeout(res, 100));
    expect(((await report(r, { campaignId, refresh: true })) as CampaignReport).contacts).toBe(1);
    expect(r.db.stats.connects).toBe(2);
  });

  test("pg_terminate_backend in the middle of an idempotent statement: retried once on a new connection", async () => {
    const d = rt("dispatcher", s.directEnv({ DATABASE_SSL: "disable" }));
    const v = (await validate(rts.validate, campaignEvent(2))) as ValidateResult;
    if (!v.valid) throw new Error("fixture");
    const contact = await admin.query<{ id: string }>("SELECT id FROM contacts WHERE campaign_id = $1 ORDER BY id LIMIT 1", [v.campaignId]);
    // Hold a conflicting insert open so the dispatcher's INSERT ... ON CONFLICT waits on it.
    const blocker = await s.pg.admin(DB_NAME);
    await blocker.query("BEGIN");
    await blocker.query("INSERT INTO dial_tasks (campaign_id, contact_id) VALUES ($1, $2)", [v.campaignId, contact.rows[0].id]);
    const running = dispatch(d, { campaignId: v.campaignId });
    let pid: number | undefined;
    for (let i = 0; i < 200 && !pid; i++) {
      const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'dispatcher' AND wait_event_type = 'Lock'");
      pid = rows[0]?.pid;
      if (!pid) await new Promise((res) => setTimeout(res, 20));
    }
    expect(pid).toBeDefined();
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await new Promise((res) => setTimeout(res, 100));
    await blocker.query("ROLLBACK");
    await blocker.end();
    await expect(running).resolves.toMatchObject({ created: 2, status: "running" });
    expect(d.db.stats.retries).toBe(1);
  });

  test("a connection dead after a freeze (ECONNRESET on the next write) is dropped and the query retried once", async () => {
    const proxy = await startTcpProxy(s.bouncer.port);
    try {
      const env = s.env({ DATABASE_PORT: String(proxy.port) });
      const reportRt = rt("report-generator", env);
      const dialer = rt("dialer-worker", env);
      const id = await readyCampaign(rts, 2, { maxConcurrentCalls: 2 });
      await report(reportRt, { campaignId: id, refresh: true });
      await dial(dialer, { campaignId: id, limit: 1 });
      expect(proxy.connections).toBe(2);

      proxy.sever(); // both environments "thaw" with a dead connection
      expect(((await report(reportRt, { campaignId: id, refresh: true })) as CampaignReport).contacts).toBe(2);
      expect(reportRt.db.stats).toMatchObject({ connects: 2, retries: 1 });
      // A transaction whose BEGIN hits the dead connection is safe to retry too.
      expect(((await dial(dialer, { campaignId: id, limit: 1 })) as DialResult).claimed).toBe(1);
      expect(dialer.db.stats).toMatchObject({ connects: 2, retries: 1 });
      expect(proxy.connections).toBe(4);
    } finally {
      await proxy.close();
    }
  });

  test("killing PgBouncer's server connections is invisible to the functions", async () => {
    const r = rt("report-generator", s.env());
    const { campaignId } = await pendingTasks(1);
    await report(r, { campaignId, refresh: true });
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app' AND pid <> pg_backend_pid()");
    expect(((await report(r, { campaignId, refresh: true })) as CampaignReport).contacts).toBe(1);
  });

  test("health reports the database down without throwing", async () => {
    const r = rt("report-generator", s.env({ DATABASE_PORT: "1" }));
    expect(await report(r, { action: "health" })).toEqual({ status: "degraded", redis: { connected: true, endpoint: `127.0.0.1:${s.redis.port}` }, database: { connected: false } });
  });
});
