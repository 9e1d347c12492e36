/**
 * The Asterisk-side worker on local servers: the ARI stand-in (lambdas/asterisk-worker/ari-standin.ts,
 * the event WebSocket and REST as Asterisk speaks them), a real Redis 7 with an append-only file,
 * PostgreSQL 15 behind PgBouncer, and the real dialer-worker and status-checker. Calls are placed
 * by the dialer through the stand-in; the worker turns their events into stream entries; the
 * status-checker consumes the stream with its consumer group and records them.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import type { Client } from "pg";
import { AriStandIn, type CallPlan } from "../../lambdas/asterisk-worker/ari-standin";
import { loadWorkerConfig, WORKER_ENV, WorkerConfigError } from "../../lambdas/asterisk-worker/config";
import { AsteriskWorker } from "../../lambdas/asterisk-worker/worker";
import { run as dial, type DialResult } from "../../lambdas/dialer-worker/handler";
import { createLogger } from "../../lambdas/shared/logging";
import { OUTCOME_GROUP, OUTCOME_STREAM } from "../../lambdas/shared/outcomes";
import type { Runtime } from "../../lambdas/shared/runtime";
import { run as status, type StatusResult } from "../../lambdas/status-checker/handler";
import { campaignRuntimes, readyCampaign, runtimeTracker, taskCounts } from "./helpers";
import { DB_NAME, startServers, type Servers } from "./servers";

let s: Servers;
let admin: Client;
let redis: Redis;
let ari: AriStandIn;
let scratch: string;
const { rt, closeAll } = runtimeTracker((overrides) => s.env({ ARI_URL: ari.url, ARI_USER: ari.user, ARI_PASSWORD: ari.password, ...overrides }));
let rts: ReturnType<typeof campaignRuntimes>;
let dialer: Runtime;
const workers: AsteriskWorker[] = [];
/** Plans by contact name ("Contact 3"): each test says what each of its calls does. */
let plans: Record<string, CallPlan> = {};

const TIME_SCALE = 100; // 1 real ms = 100 ms of call time

beforeAll(async () => {
  s = await startServers({ persistentRedis: true });
  admin = await s.pg.admin(DB_NAME);
  redis = new Redis({ host: "127.0.0.1", port: s.redis.port, password: s.redis.password, lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  await redis.connect();
  ari = new AriStandIn({ timeScale: TIME_SCALE, plan: (call) => plans[call.variables.CONTACT_NAME] ?? { outcome: "busy", ringMs: 1000 } });
  await ari.start();
  scratch = mkdtempSync(join(tmpdir(), "asterisk-worker-"));
  rts = campaignRuntimes(rt);
  dialer = rt("dialer-worker");
}, 90_000);

afterAll(async () => {
  await closeAll();
  redis?.disconnect();
  await ari?.stop();
  await admin?.end();
  await s?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function workerEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ARI_URL: ari.url,
    ARI_USER: ari.user,
    ARI_PASSWORD: ari.password,
    REDIS_PORT: String(s.redis.port),
    REDIS_PASSWORD: s.redis.password,
    HEALTH_PORT: "0",
    RECONNECT_MIN_MS: "20",
    RECONNECT_MAX_MS: "200",
    OUTCOME_SETTLE_MS: "30",
    OUTBOX_FILE: join(scratch, "outbox.jsonl"),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...overrides,
  };
}

async function startWorker(overrides: Record<string, string> = {}): Promise<AsteriskWorker> {
  const cfg = loadWorkerConfig(workerEnv(overrides));
  const w = new AsteriskWorker(cfg, createLogger(cfg.logLevel, { fn: "asterisk-worker" }));
  workers.push(w);
  await w.start();
  await waitFor(async () => (await w.health()).ari.connected, "worker connected to ARI");
  return w;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the status-checker until the stream is drained; returns the merged results. */
async function drain(): Promise<StatusResult[]> {
  const results: StatusResult[] = [];
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = (await status(rts.status, {})) as StatusResult;
    results.push(r);
    if (r.stream.available && r.stream.read === 0) return results;
    if (Date.now() > deadline) throw new Error("the outcome stream did not drain");
    if (!r.stream.available) await new Promise((res) => setTimeout(res, 200)); // the cache's cool-down after an outage
  }
}

const recorded = (rs: StatusResult[]) => rs.flatMap((r) => r.recorded.map((x) => x.channelId));
/** This test's channels among those recorded (an earlier failed test may leave entries behind). */
const recordedOf = (rs: StatusResult[], channels: string[]) => recorded(rs).filter((id) => channels.includes(id));

/** The call as the stand-in placed it (its answer and end timestamps: what its events said). */
const callOf = (channelId: string) => ari.calls.find((c) => c.channelId === channelId)!;
/** Talk seconds from the timestamps of the answer and hangup events the stand-in sent. */
function talkSent(channelId: string): number {
  const c = callOf(channelId);
  if (c.answeredAt === null || c.endedAt === null) throw new Error(`${channelId} was not answered and ended`);
  return Math.round((c.endedAt - c.answeredAt) / 1000);
}

/** Releases a call held at its answer or its end (CallPlan.hold) once it has got there. */
async function proceed(channelId: string): Promise<void> {
  await waitFor(() => ari.isHeld(channelId), `${channelId} at its held step`);
  ari.proceed(channelId);
}

/** Lets `virtualMs` of call time pass on the stand-in's clock. */
async function callTimePasses(virtualMs: number): Promise<void> {
  const until = ari.now() + virtualMs;
  await waitFor(() => ari.now() >= until, `${virtualMs} ms of call time`);
}

let redisStopped = false;
async function stopRedis(): Promise<void> {
  redisStopped = true;
  await s.redis.stop();
}
async function startRedis(): Promise<void> {
  await s.redis.start();
  redisStopped = false;
}

async function attempts(campaignId: string) {
  const { rows } = await admin.query<{ contact: string; outcome: string | null; talk_seconds: number | null; hangup_cause: number | null; hangup_cause_txt: string | null; channel_id: string }>(
    `SELECT k.name AS contact, a.outcome, a.talk_seconds, a.hangup_cause, a.hangup_cause_txt, a.channel_id
     FROM call_attempts a JOIN dial_tasks t ON t.id = a.task_id JOIN contacts k ON k.id = t.contact_id
     WHERE a.campaign_id = $1 ORDER BY k.id, a.id`,
    [campaignId],
  );
  return rows;
}

/** A campaign of `n` contacts, all dialed at once (one attempt each). */
async function placeCalls(n: number, contactPlans: CallPlan[]): Promise<{ campaignId: string; channels: string[] }> {
  const campaignId = await readyCampaign(rts, n, { maxConcurrentCalls: n, retryPolicy: { maxAttempts: 1, retryDelaySeconds: 0 } });
  plans = Object.fromEntries(contactPlans.map((p, i) => [`Contact ${i}`, p]));
  const d = (await dial(dialer, { campaignId })) as DialResult;
  expect(d.originated).toHaveLength(n);
  return { campaignId, channels: d.originated.map((o) => o.channelId) };
}

afterEach(async () => {
  for (const w of workers.splice(0)) w.crash();
  // A test that failed half-way does not leave its outage to the next one.
  if (redisStopped) await startRedis();
  if (!ari.isUp) await ari.up();
});

describe("outcomes", () => {
  let worker: AsteriskWorker;
  beforeEach(async () => {
    worker = await startWorker();
  });

  test("every outcome type, with talk time and hangup cause, recorded by the status-checker from the stream; the campaign completes", async () => {
    const { campaignId, channels } = await placeCalls(5, [
      { outcome: "answered", ringMs: 3000, talkMs: 42_000 },
      { outcome: "busy", ringMs: 1500 },
      { outcome: "no_answer", ringMs: 120_000 }, // the originate timeout (30 s) ends it
      { outcome: "failed", ringMs: 500, dialstatus: "CHANUNAVAIL", cause: 3 },
      { outcome: "failed", ringMs: 500, dialstatus: "CONGESTION", cause: 34 },
    ]);
    await waitFor(() => ari.liveCount(campaignId) === 0, "all calls ended");
    // A call that ended is decided after the worker's settle window and then handed to Redis: wait for both.
    await waitFor(async () => worker.decided.filter((o) => channels.includes(o.channelId)).length === channels.length && (await worker.health()).backlog.unsent === 0, "all handed over");
    const results = await drain();
    expect(recordedOf(results, channels).sort()).toEqual([...channels].sort());
    expect(await attempts(campaignId)).toEqual([
      expect.objectContaining({ contact: "Contact 0", outcome: "answered", talk_seconds: 42, hangup_cause: 16, hangup_cause_txt: "Normal Clearing" }),
      expect.objectContaining({ contact: "Contact 1", outcome: "busy", talk_seconds: null, hangup_cause: 17, hangup_cause_txt: "User busy" }),
      expect.objectContaining({ contact: "Contact 2", outcome: "no_answer", hangup_cause: 19 }),
      expect.objectContaining({ contact: "Contact 3", outcome: "failed", hangup_cause: 3, hangup_cause_txt: "No route to destination" }),
      expect.objectContaining({ contact: "Contact 4", outcome: "failed", hangup_cause: 34, hangup_cause_txt: "Circuit/channel congestion" }),
    ]);
    expect(await taskCounts(admin, campaignId)).toEqual({ done: 1, exhausted: 4 });
    expect(results.flatMap((r) => r.completedCampaigns)).toContain(campaignId);
    // Acknowledged and deleted: nothing left behind.
    expect(await redis.xlen(OUTCOME_STREAM)).toBe(0);
  });

  test("duplicate events and an answer delivered after the hangup: each call decided once, and right", async () => {
    const before = worker.stats.published;
    const { campaignId, channels } = await placeCalls(3, [
      { outcome: "answered", ringMs: 2000, talkMs: 30_000, deliver: "duplicate" },
      { outcome: "answered", ringMs: 2000, talkMs: 12_000, deliver: "late-answer" },
      { outcome: "busy", ringMs: 800, deliver: "duplicate" },
    ]);
    await waitFor(() => ari.liveCount(campaignId) === 0 && worker.decided.filter((o) => channels.includes(o.channelId)).length === 3, "all decided");
    // A stray repeat of a ChannelDestroyed long after the fact changes nothing.
    const call = callOf(channels[0]);
    const ignored = worker.stats.ignored;
    ari.emit(call.app, { type: "ChannelDestroyed", timestamp: new Date().toISOString(), channel: { id: channels[0], state: "Down" }, cause: 17, cause_txt: "User busy", application: call.app }, true);
    await waitFor(() => worker.stats.ignored >= ignored + 2, "both copies of the stray event seen (and ignored)");
    expect(worker.decided.filter((o) => channels.includes(o.channelId))).toHaveLength(3);
    expect(worker.stats.published - before).toBe(3);
    const results = await drain();
    expect(recordedOf(results, channels).sort()).toEqual([...channels].sort());
    expect(results.flatMap((r) => r.duplicates)).toEqual([]);
    expect((await attempts(campaignId)).map((a) => [a.outcome, a.talk_seconds])).toEqual([
      ["answered", 30],
      ["answered", 12],
      ["busy", null],
    ]);
  });

  test("after a restart, a late event for a call the previous run decided is not tracked as a new call", async () => {
    const { campaignId, channels } = await placeCalls(1, [{ outcome: "busy", ringMs: 500 }]);
    await waitFor(() => ari.liveCount(campaignId) === 0 && worker.stats.published >= 1 && worker.decided.some((o) => o.channelId === channels[0]), "decided");
    worker.crash();
    const next = await startWorker();
    const call = callOf(channels[0]);
    ari.emit(call.app, { type: "ChannelStateChange", timestamp: new Date().toISOString(), channel: { id: channels[0], state: "Ringing" }, application: call.app }, false);
    await waitFor(async () => next.stats.events > 0 && (await next.health()).calls === 0 && next.stats.ignored === 1, "late event dropped");
    expect(await redis.hexists("asterisk-worker:calls:v1", channels[0])).toBe(0);
    expect(next.decided).toEqual([]);
    await drain();
  });

  test("the health endpoint: the seed's shape plus ARI and the backlog; 404 elsewhere", async () => {
    const res = await fetch(`http://127.0.0.1:${worker.healthPort}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "healthy",
      redis: { connected: true, endpoint: `127.0.0.1:${s.redis.port}` },
      ari: { connected: true, app: "campaign-dialer" },
      backlog: { unsent: 0, stream: 0, total: 0 },
      calls: 0,
    });
    expect((await fetch(`http://127.0.0.1:${worker.healthPort}/`)).status).toBe(404);
  });
});

test("worker restart mid-call: the new worker carries on with the answer time the old one saw; a call that ended in the gap is settled by reconciliation", async () => {
  const first = await startWorker();
  // Held at their ends: each ends when the test says, whatever the load (the clock runs 100x).
  const { campaignId, channels } = await placeCalls(2, [
    { outcome: "answered", ringMs: 2000, talkMs: 1000, hold: ["end"] }, // hangs up after the restart
    { outcome: "busy", ringMs: 1000, hold: ["end"] }, // ends while no worker runs
  ]);
  await waitFor(async () => (await redis.hget("asterisk-worker:calls:v1", channels[0]))?.includes('"answeredAt":1') ?? false, "answer seen and saved");
  first.crash(); // SIGKILL: nothing flushed
  await waitFor(() => !ari.isSubscribed(callOf(channels[1]).app), "the old worker's WebSocket gone");
  const dropped = ari.dropped;
  await proceed(channels[1]);
  expect(ari.dropped).toBeGreaterThan(dropped); // nobody heard it end
  await callTimePasses(10_000); // the new worker could not count talk time from its start unnoticed
  const second = await startWorker();
  await waitFor(() => second.decided.some((o) => o.channelId === channels[1]), "the call that ended in the gap settled by reconciliation");
  await proceed(channels[0]);
  await waitFor(() => ari.liveCount(campaignId) === 0 && second.decided.filter((o) => channels.includes(o.channelId)).length === 2, "both decided by the new worker", 20_000);
  const byId = new Map(second.decided.map((o) => [o.channelId, o]));
  // Talk time from the answer the old worker saw to the hangup, as the events' timestamps say.
  expect(byId.get(channels[0])).toMatchObject({ outcome: "answered", talkSeconds: talkSent(channels[0]), source: "event" });
  expect(byId.get(channels[1])).toMatchObject({ outcome: "failed", source: "reconcile", causeText: expect.stringContaining("not connected to ARI") });
  await drain();
  expect((await attempts(campaignId)).map((a) => a.outcome)).toEqual(["answered", "failed"]);
  expect(await taskCounts(admin, campaignId)).toEqual({ done: 1, exhausted: 1 });
  second.crash();
}, 40_000);

test("Redis down then up: outcomes wait in the outbox (health degraded, backlog counted) and none is lost; the status-checker skips the stream meanwhile", async () => {
  const worker = await startWorker();
  const { campaignId, channels } = await placeCalls(4, [
    { outcome: "busy", ringMs: 500 }, // before the outage, not yet consumed
    { outcome: "answered", ringMs: 1000, talkMs: 60_000, hold: ["end"] }, // ends during the outage
    { outcome: "no_answer", ringMs: 90_000, hold: ["end"] }, // ends during the outage (30 s timeout)
    { outcome: "failed", ringMs: 70_000, dialstatus: "CONGESTION", cause: 34, hold: ["end"] }, // ends during the outage
  ]);
  const published = worker.stats.published;
  await waitFor(() => worker.stats.published > published && worker.decided.some((o) => o.channelId === channels[0]), "first outcome in Redis");
  await stopRedis();
  for (const id of channels.slice(1)) await proceed(id);
  await waitFor(() => ari.liveCount(campaignId) === 0, "calls ended");
  await waitFor(() => worker.decided.filter((o) => channels.includes(o.channelId)).length === 4, "all decided");
  const h = await worker.health();
  expect(h).toMatchObject({ status: "degraded", redis: { connected: false }, ari: { connected: true }, backlog: { unsent: 3, stream: null, total: null } });
  const during = (await status(rts.status, {})) as StatusResult;
  expect(during.stream).toEqual({ read: 0, acknowledged: 0, invalid: 0, available: false });
  await startRedis();
  await waitFor(async () => (await worker.health()).backlog.unsent === 0, "outbox flushed", 20_000);
  const results = await drain();
  expect(recordedOf(results, channels).sort()).toEqual([...channels].sort());
  expect((await attempts(campaignId)).map((a) => a.outcome)).toEqual(["busy", "answered", "no_answer", "failed"]);
  worker.crash();
}, 40_000);

test("Redis down and the worker killed before Redis is back: the outcome waits in OUTBOX_FILE and the next worker delivers it", async () => {
  const outbox = join(scratch, "outbox-crash.jsonl");
  const worker = await startWorker({ OUTBOX_FILE: outbox });
  await stopRedis();
  const { campaignId, channels } = await placeCalls(1, [{ outcome: "busy", ringMs: 3000 }]);
  await waitFor(() => ari.liveCount(campaignId) === 0 && worker.decided.some((o) => o.channelId === channels[0]), "decided while Redis is down");
  await waitFor(() => {
    try {
      return readFileSync(outbox, "utf8").includes(channels[0]);
    } catch {
      return false;
    }
  }, "outcome saved to the outbox file");
  expect(statSync(outbox).mode & 0o777).toBe(0o600);
  worker.crash(); // SIGKILL while Redis is still down
  await startRedis();
  const next = await startWorker({ OUTBOX_FILE: outbox });
  await waitFor(async () => (await next.health()).backlog.unsent === 0 && next.stats.published === 1, "delivered by the next worker");
  expect(readFileSync(outbox, "utf8")).toBe("");
  const results = await drain();
  expect(recordedOf(results, channels)).toEqual(channels);
  expect((await attempts(campaignId)).map((a) => [a.outcome, a.hangup_cause])).toEqual([["busy", 17]]);
}, 40_000);

test("ARI down then up: the worker reconnects with backoff and reconciles what it missed", async () => {
  const worker = await startWorker();
  const { campaignId, channels } = await placeCalls(3, [
    { outcome: "answered", ringMs: 1000, talkMs: 1000, hold: ["end"] }, // answered before, hangs up after the outage
    { outcome: "busy", ringMs: 1000, hold: ["end"] }, // ends during the outage
    { outcome: "answered", ringMs: 1000, talkMs: 1000, hold: ["answer", "end"] }, // answered during the outage
  ]);
  await waitFor(async () => (await redis.hget("asterisk-worker:calls:v1", channels[0]))?.includes('"answeredAt":1') ?? false, "first call answered");
  await waitFor(() => ari.isHeld(channels[2]), "third call ringing");
  const connects = worker.stats.connects;
  await ari.down();
  await waitFor(async () => !(await worker.health()).ari.connected, "ARI seen down");
  expect((await worker.health()).status).toBe("degraded");
  await proceed(channels[1]); // the busy call ends
  await proceed(channels[2]); // the third is answered
  await callTimePasses(10_000);
  await ari.up();
  await waitFor(() => worker.stats.connects > connects, "reconnected");
  await waitFor(() => worker.decided.some((o) => o.channelId === channels[1]), "the call that ended unheard settled by reconciliation");
  await callTimePasses(10_000); // talk time after the reconnect, for the call answered unheard
  await proceed(channels[0]);
  await proceed(channels[2]);
  await waitFor(() => ari.liveCount(campaignId) === 0 && worker.decided.filter((o) => channels.includes(o.channelId)).length === 3, "all decided", 20_000);
  const byId = new Map(worker.decided.map((o) => [o.channelId, o]));
  expect(byId.get(channels[0])).toMatchObject({ outcome: "answered", talkSeconds: talkSent(channels[0]), source: "event" });
  expect(byId.get(channels[1])).toMatchObject({ outcome: "failed", source: "reconcile" });
  // Answered while ARI was unreachable: adopted at reconnect, talk time counted from then (a lower bound).
  expect(byId.get(channels[2])).toMatchObject({ outcome: "answered", source: "event" });
  expect(byId.get(channels[2])!.talkSeconds!).toBeGreaterThan(0);
  expect(byId.get(channels[2])!.talkSeconds!).toBeLessThan(talkSent(channels[2]));
  const results = await drain();
  expect(recordedOf(results, channels).sort()).toEqual([...channels].sort());
  worker.crash();
}, 40_000);

describe("status-checker as the stream's consumer group", () => {
  const add = (fields: string[]) => redis.xadd(OUTCOME_STREAM, "*", ...fields);

  test("the same outcome twice in the stream is recorded once (the second is a duplicate); an invalid entry is acknowledged and reported, not retried forever", async () => {
    await drain();
    const campaignId = await readyCampaign(rts, 1, { retryPolicy: { maxAttempts: 1, retryDelaySeconds: 0 } });
    plans = {};
    const d = (await dial(dialer, { campaignId })) as DialResult;
    const channelId = d.originated[0].channelId;
    await add(["channelId", channelId, "outcome", "answered", "talkSeconds", "17", "cause", "16", "causeText", "Normal Clearing", "source", "event"]);
    await add(["channelId", channelId, "outcome", "answered", "talkSeconds", "17", "source", "event"]);
    await add(["channelId", "cmp-x", "outcome", "maybe"]);
    const r = (await status(rts.status, {})) as StatusResult;
    expect(r.recorded).toEqual([{ channelId, taskStatus: "done" }]);
    expect(r.duplicates).toEqual([channelId]);
    expect(r.stream).toEqual({ read: 3, acknowledged: 3, invalid: 1, available: true });
    expect(await redis.xlen(OUTCOME_STREAM)).toBe(0);
  });

  test("an entry a crashed consumer took and never acknowledged is claimed again after the idle time, and recorded", async () => {
    await drain();
    const campaignId = await readyCampaign(rts, 1, { retryPolicy: { maxAttempts: 1, retryDelaySeconds: 0 } });
    const d = (await dial(dialer, { campaignId })) as DialResult;
    const channelId = d.originated[0].channelId;
    const id = await add(["channelId", channelId, "outcome", "busy", "cause", "17", "source", "event"]);
    // A status-checker that read it and died before recording it:
    await redis.xreadgroup("GROUP", OUTCOME_GROUP, "status-checker", "COUNT", 10, "STREAMS", OUTCOME_STREAM, ">");
    const soon = (await status(rts.status, {})) as StatusResult;
    expect(soon.stream.read).toBe(0); // pending, not idle long enough yet
    await redis.call("XCLAIM", OUTCOME_STREAM, OUTCOME_GROUP, "status-checker", "0", id!, "IDLE", "120000");
    const later = (await status(rts.status, {})) as StatusResult;
    expect(later.recorded).toEqual([{ channelId, taskStatus: "exhausted" }]);
    expect(await redis.xlen(OUTCOME_STREAM)).toBe(0);
  });
});

describe("worker configuration", () => {
  test("every key is documented in docs/lambdas-worker.md with its default", () => {
    const doc = readFileSync(join(__dirname, "../../docs/lambdas-worker.md"), "utf8");
    for (const [key, spec] of Object.entries(WORKER_ENV)) {
      const row = doc.split("\n").find((l) => l.startsWith(`| \`${key}\` |`));
      expect(row).toBeDefined();
      if ("default" in spec) expect(row).toContain(`\`${spec.default}\``);
    }
  });

  test("secrets come from systemd credentials; a missing one names the variable and the credential", () => {
    const env = { ARI_USER: "u", CREDENTIALS_DIRECTORY: join(scratch, "creds-missing") };
    expect(() => loadWorkerConfig(env)).toThrow(WorkerConfigError);
    expect(() => loadWorkerConfig(env)).toThrow(/ARI_PASSWORD_FILE names a file that cannot be read \(ENOENT\)/);
    expect(() => loadWorkerConfig({ ARI_USER: "u" })).toThrow(/ARI_PASSWORD_FILE is not set and there is no systemd credential "ari-password"/);
  });

  test.each([
    [{ ARI_USER: undefined }, /ARI_USER is required/],
    [{ ARI_URL: "http://user:hunter2@127.0.0.1:8088" }, /ARI_URL must be an http\(s\) URL without credentials/],
    [{ ARI_URL: "127.0.0.1:8088" }, /ARI_URL must be an http\(s\) URL/],
    [{ HEALTH_PORT: "http" }, /HEALTH_PORT must be an integer between 0 and 65535/],
    [{ RECONNECT_MIN_MS: "5000", RECONNECT_MAX_MS: "100" }, /RECONNECT_MAX_MS must be at least RECONNECT_MIN_MS/],
    [{ ARI_APP: "a b" }, /ARI_APP must be letters/],
  ])("%p is refused naming the variable", (change, message) => {
    const env: Record<string, string | undefined> = { ...workerEnv(), ...change };
    expect(() => loadWorkerConfig(env)).toThrow(message);
    try {
      loadWorkerConfig(env);
    } catch (e) {
      expect((e as Error).message).not.toContain("hunter2");
      expect((e as Error).message).not.toContain(s.redis.password);
    }
  });
});
