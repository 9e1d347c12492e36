/**
 * The six handlers on real servers: PostgreSQL 15 behind PgBouncer (transaction mode, 20 server
 * connections, client TLS verified like the proxy's), Redis 7, and an ARI stand-in.
 */
import Redis from "ioredis";
import type { Client } from "pg";
import { handler as dialHandler, run as dial, type DialResult } from "../../lambdas/dialer-worker/handler";
import { handler as dispatchHandler, run as dispatch, type DispatchResult } from "../../lambdas/dispatcher/handler";
import { handler as enrichHandler, run as enrich, settingsKey, type EnrichResult } from "../../lambdas/enrich-dial-task/handler";
import { handler as reportHandler, reportKey, run as report, type CampaignReport } from "../../lambdas/report-generator/handler";
import type { HealthReport } from "../../lambdas/shared/health";
import { environment, resetEnvironments } from "../../lambdas/shared/runtime";
import { InvalidEventError } from "../../lambdas/shared/validate";
import { handler as statusHandler, run as status, type StatusResult } from "../../lambdas/status-checker/handler";
import { handler as validateHandler, run as validate, type ValidateResult } from "../../lambdas/validate-campaign/handler";
import { campaignEvent, campaignRuntimes, readyCampaign, readyEvent, runtimeTracker, taskCounts, watchInFlight } from "./helpers";
import { DB_NAME, startServers, type Servers } from "./servers";

let s: Servers;
let admin: Client;
let redis: Redis;
const { rt, closeAll } = runtimeTracker((overrides) => s.env(overrides));
let rts: ReturnType<typeof campaignRuntimes>;

beforeAll(async () => {
  s = await startServers({ tls: true });
  Object.assign(process.env, s.env());
  admin = await s.pg.admin(DB_NAME);
  redis = new Redis({ host: "127.0.0.1", port: s.redis.port, password: s.redis.password, lazyConnect: true });
  await redis.connect();
  rts = campaignRuntimes(rt);
}, 90_000);

afterAll(async () => {
  await resetEnvironments();
  await closeAll();
  redis?.disconnect();
  await admin?.end();
  await s?.stop();
});

beforeEach(() => {
  s.ari.mode = "ok";
  s.ari.respond = undefined;
});

describe("validate-campaign", () => {
  test("stores the campaign and its contacts in one transaction (through PgBouncer over verified TLS)", async () => {
    const event = campaignEvent(4);
    const r = (await validateHandler(event)) as ValidateResult;
    expect(r).toEqual({ valid: true, campaignId: event.campaignId, contacts: 4, stored: true, alreadyExists: false });
    const { rows } = await admin.query("SELECT name, caller_id, time_zone, window_start::text, window_end::text, max_concurrent_calls, max_attempts, retry_delay_seconds, status, (SELECT count(*)::int FROM contacts WHERE campaign_id = c.id) AS contacts FROM campaigns c WHERE id = $1", [event.campaignId]);
    expect(rows[0]).toMatchObject({ caller_id: "+15550000000", time_zone: "UTC", window_start: "00:00:00", window_end: "24:00:00", max_concurrent_calls: 3, max_attempts: 2, retry_delay_seconds: 0, status: "validated", contacts: 4 });
  });

  test("redelivery of the same campaign stores nothing twice", async () => {
    const event = campaignEvent(3);
    await validateHandler(event);
    const again = (await validateHandler(event)) as ValidateResult;
    expect(again).toMatchObject({ valid: true, stored: false, alreadyExists: true });
    const { rows } = await admin.query("SELECT count(*)::int AS n FROM contacts WHERE campaign_id = $1", [event.campaignId]);
    expect(rows[0].n).toBe(3);
  });

  test("redelivery with the contacts in another order is the same campaign", async () => {
    const event = campaignEvent(4);
    await validateHandler(event);
    const again = (await validateHandler({ ...event, contacts: [...event.contacts].reverse() })) as ValidateResult;
    expect(again).toEqual({ valid: true, campaignId: event.campaignId, contacts: 4, stored: false, alreadyExists: true });
  });

  const stored = async (id: string) =>
    (
      await admin.query(
        "SELECT name, max_concurrent_calls, (SELECT json_agg(json_build_array(phone_e164, name) ORDER BY id) FROM contacts WHERE campaign_id = c.id) AS contacts FROM campaigns c WHERE id = $1",
        [id],
      )
    ).rows[0];

  test.each([
    ["name", (e: ReturnType<typeof campaignEvent>) => ({ ...e, name: "another campaign" }), "name"],
    ["settings", (e: ReturnType<typeof campaignEvent>) => ({ ...e, maxConcurrentCalls: 9, callingWindow: { ...e.callingWindow, start: "08:00" } }), "callingWindow.start, maxConcurrentCalls"],
    ["retry policy", (e: ReturnType<typeof campaignEvent>) => ({ ...e, retryPolicy: { maxAttempts: 5, retryDelaySeconds: 0 } }), "retryPolicy.maxAttempts"],
    ["one contact's name", (e: ReturnType<typeof campaignEvent>) => ({ ...e, contacts: e.contacts.map((c, i) => (i === 1 ? { ...c, name: "Someone else" } : c)) }), "contacts"],
    ["one contact fewer", (e: ReturnType<typeof campaignEvent>) => ({ ...e, contacts: e.contacts.slice(1) }), "contacts"],
    ["one contact more", (e: ReturnType<typeof campaignEvent>) => ({ ...e, contacts: [...e.contacts, { phone: "+15559998877", name: "New" }] }), "contacts"],
  ])("a different campaign reusing an existing campaignId (%s) is refused naming campaignId and the fields, and stores nothing", async (_, change, fields) => {
    const event = campaignEvent(3);
    await validateHandler(event);
    const before = await stored(event.campaignId);
    const r = (await validateHandler(change(event))) as ValidateResult;
    expect(r).toEqual({
      valid: false,
      errors: [
        {
          path: "campaignId",
          message: `campaign ${event.campaignId} already exists with different content (${fields}); a redelivery must repeat the same campaign, a new campaign needs a new campaignId`,
        },
      ],
    });
    expect(await stored(event.campaignId)).toEqual(before);
    // The original stays redeliverable.
    expect(await validateHandler(event)).toMatchObject({ valid: true, alreadyExists: true });
  });

  test("two deliveries racing on one campaignId: the same campaign is stored once; a different one is refused and leaves the winner intact", async () => {
    const workers = [rt("validate-campaign"), rt("validate-campaign")];
    for (let i = 0; i < 5; i++) {
      const event = campaignEvent(200);
      const same = (await Promise.all(workers.map((w) => validate(w, event)))) as ValidateResult[];
      expect(same.map((r) => (r.valid ? r.alreadyExists : "invalid")).sort()).toEqual([false, true]);

      const a = campaignEvent(200);
      const b = { ...campaignEvent(150), campaignId: a.campaignId };
      const raced = (await Promise.all([validate(workers[0], a), validate(workers[1], b)])) as ValidateResult[];
      const winner = raced.findIndex((r) => r.valid);
      expect(winner).toBeGreaterThanOrEqual(0);
      const loser = raced[1 - winner];
      expect(loser).toMatchObject({ valid: false, errors: [{ path: "campaignId", message: expect.stringMatching(/already exists with different content \(name, contacts\)/) }] });
      const won = [a, b][winner];
      const row = await stored(a.campaignId);
      expect(row.name).toBe(won.name);
      expect(row.contacts).toEqual(won.contacts.map((c) => [c.phone, c.name]));
    }
  });

  test("a delivery that meets an uncommitted insert of its id waits for it, then compares with what was committed", async () => {
    const event = campaignEvent(3);
    const other = await s.pg.admin(DB_NAME);
    try {
      await other.query("BEGIN");
      await other.query(
        "INSERT INTO campaigns (id, name, caller_id, time_zone, window_start, window_end, max_concurrent_calls, max_attempts, retry_delay_seconds) VALUES ($1, $2, '+15550000000', 'UTC', '00:00', '24:00', 3, 2, 0)",
        [event.campaignId, event.name],
      );
      let settled = false;
      const pending = validate(rt("validate-campaign"), event).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false); // blocked on the conflicting row
      // Same settings, but only two of the three contacts: a different campaign.
      await other.query("INSERT INTO contacts (campaign_id, phone_e164, name) SELECT $1, unnest($2::text[]), unnest($3::text[])", [
        event.campaignId,
        event.contacts.slice(0, 2).map((c) => c.phone),
        event.contacts.slice(0, 2).map((c) => c.name),
      ]);
      await other.query("COMMIT");
      expect(await pending).toMatchObject({ valid: false, errors: [{ path: "campaignId", message: expect.stringContaining("different content (contacts)") }] });
    } finally {
      await other.end();
    }
  });

  test("invalid input returns every problem and stores nothing", async () => {
    const before = await admin.query("SELECT (SELECT count(*) FROM campaigns)::int AS c, (SELECT count(*) FROM contacts)::int AS k");
    const event = campaignEvent(3, { maxConcurrentCalls: 0 });
    event.contacts[2].phone = event.contacts[0].phone;
    const r = (await validateHandler(event)) as ValidateResult;
    expect(r).toEqual({
      valid: false,
      errors: [
        { path: "maxConcurrentCalls", message: "must be between 1 and 1000, got 0" },
        { path: "contacts[2].phone", message: `duplicate of contacts[0].phone (${event.contacts[0].phone})` },
      ],
    });
    const after = await admin.query("SELECT (SELECT count(*) FROM campaigns)::int AS c, (SELECT count(*) FROM contacts)::int AS k");
    expect(after.rows[0]).toEqual(before.rows[0]);
  });
});

describe("dispatcher", () => {
  test("creates tasks in batches, marks the campaign running, and is idempotent on redelivery", async () => {
    const event = campaignEvent(5);
    await validateHandler(event);
    const first = (await dispatchHandler({ campaignId: event.campaignId, batchSize: 2 })) as DispatchResult;
    expect(first).toEqual({ campaignId: event.campaignId, created: 5, batches: 3, status: "running" });
    const again = (await dispatchHandler({ campaignId: event.campaignId, batchSize: 2 })) as DispatchResult;
    expect(again).toEqual({ campaignId: event.campaignId, created: 0, batches: 3, status: "running" });
    expect(await taskCounts(admin, event.campaignId)).toEqual({ pending: 5 });
  });

  test("two dispatchers racing on the same campaign create each task once", async () => {
    const event = campaignEvent(40);
    await validateHandler(event);
    const [a, b] = await Promise.all([dispatch(rt("dispatcher"), { campaignId: event.campaignId, batchSize: 3 }), dispatch(rt("dispatcher"), { campaignId: event.campaignId, batchSize: 3 })]);
    expect((a as DispatchResult).created + (b as DispatchResult).created).toBe(40);
    expect(await taskCounts(admin, event.campaignId)).toEqual({ pending: 40 });
  });

  test("unknown campaign and bad payloads fail clearly", async () => {
    await expect(dispatchHandler({ campaignId: "0b7e3c1e-5f4a-4d3b-9c2a-1e0f9d8c7b6a" })).rejects.toThrow(/campaign 0b7e3c1e-5f4a-4d3b-9c2a-1e0f9d8c7b6a not found/);
    await expect(dispatchHandler({ campaign: "x" })).rejects.toThrow(InvalidEventError);
    await expect(dispatchHandler({ campaign: "x" })).rejects.toThrow("dispatcher: invalid event: campaignId: must be a string (a UUID)");
  });
});

describe("enrich-dial-task", () => {
  test("completes tasks with contact and campaign details; settings read cache-aside; redelivery skips", async () => {
    const event = campaignEvent(3, { callerId: "+15557654321" });
    await validateHandler(event);
    await dispatchHandler({ campaignId: event.campaignId });
    const ids = (await admin.query<{ id: string }>("SELECT id FROM dial_tasks WHERE campaign_id = $1 ORDER BY id", [event.campaignId])).rows.map((r) => Number(r.id));
    await redis.del(settingsKey(event.campaignId));

    const first = (await enrichHandler({ taskIds: ids.slice(0, 2) })) as EnrichResult;
    expect(first).toEqual({ enriched: ids.slice(0, 2), skipped: [], cache: { hits: 0, misses: 1 } });
    expect(JSON.parse((await redis.get(settingsKey(event.campaignId)))!)).toMatchObject({ callerId: "+15557654321", maxConcurrentCalls: 3, windowEnd: "24:00" });
    const ttl = await redis.ttl(settingsKey(event.campaignId));
    expect(ttl).toBeGreaterThan(250);
    expect(ttl).toBeLessThanOrEqual(300);

    const second = (await enrichHandler({ taskId: ids[2] })) as EnrichResult;
    expect(second).toEqual({ enriched: [ids[2]], skipped: [], cache: { hits: 1, misses: 0 } });
    const redelivered = (await enrichHandler({ taskIds: ids })) as EnrichResult;
    expect(redelivered).toEqual({ enriched: [], skipped: ids, cache: { hits: 0, misses: 0 } });

    const { rows } = await admin.query("SELECT status, phone_e164, contact_name, caller_id FROM dial_tasks WHERE id = $1", [ids[0]]);
    expect(rows[0]).toEqual({ status: "ready", phone_e164: event.contacts[0].phone, contact_name: "Contact 0", caller_id: "+15557654321" });
  });

  test("bad payload names the field", async () => {
    await expect(enrichHandler({ taskIds: [1, -2] })).rejects.toThrow("enrich-dial-task: invalid event: taskIds[1]: must be between 1 and 9007199254740991, got -2");
  });
});

describe("dialer-worker", () => {
  test("originates up to the campaign's max concurrent calls through ARI and records the attempts", async () => {
    const id = await readyCampaign(rts, 5, { maxConcurrentCalls: 2, callerId: "+15551112222" });
    const callsBefore = s.ari.calls.length;
    const r = (await dialHandler({ campaignId: id })) as DialResult;
    expect(r.claimed).toBe(2);
    expect(r.failed).toEqual([]);
    const calls = s.ari.calls.slice(callsBefore);
    expect(calls).toHaveLength(2);
    const { rows: tasks } = await admin.query<{ id: string; channel_id: string; phone_e164: string; attempts: number }>("SELECT id, channel_id, phone_e164, attempts FROM dial_tasks WHERE campaign_id = $1 AND status = 'dialing' ORDER BY id", [id]);
    expect(calls.map((c) => c.channelId).sort()).toEqual(tasks.map((t) => t.channel_id).sort());
    for (const c of calls) {
      const t = tasks.find((x) => x.channel_id === c.channelId)!;
      expect(c).toMatchObject({ endpoint: `PJSIP/${t.phone_e164}@trunk`, callerId: "+15551112222", app: "campaign-dialer", timeout: "30" });
      expect(c.variables).toMatchObject({ CAMPAIGN_ID: id, TASK_ID: t.id, ATTEMPT: "1" });
    }
    const attempts = await admin.query("SELECT count(*)::int AS n FROM call_attempts WHERE campaign_id = $1 AND outcome IS NULL", [id]);
    expect(attempts.rows[0].n).toBe(2);
    // Slots are full: another invocation claims nothing.
    expect(((await dialHandler({ campaignId: id })) as DialResult).claimed).toBe(0);
    expect(s.ari.unauthorized).toBe(0);
  });

  /** Tasks put back by a failed origination become due now (instead of waiting for their backoff). */
  const makeDue = (id: string) => admin.query("UPDATE dial_tasks SET due_at = now() WHERE campaign_id = $1 AND status = 'ready'", [id]);
  const tasksOf = async (id: string) =>
    (await admin.query("SELECT status, attempts, ari_transient_failures, ari_rejections, failure_reason, last_outcome, channel_id FROM dial_tasks WHERE campaign_id = $1 ORDER BY id", [id])).rows;

  test("ARI down (5xx) is transient: the task goes back with exponential backoff, no attempt used, and fails after ARI_MAX_TRANSIENT_FAILURES in a row", async () => {
    const id = await readyCampaign(rts, 1, { retryPolicy: { maxAttempts: 2, retryDelaySeconds: 900 } });
    const worker = rt("dialer-worker", { ARI_MAX_TRANSIENT_FAILURES: "4", ARI_RETRY_BASE_SECONDS: "100", ARI_RETRY_MAX_SECONDS: "250" });
    s.ari.mode = "fail";
    const delays: (number | null)[] = [];
    for (let i = 0; i < 4; i++) {
      if (i > 0) {
        // Not due yet: nothing is claimed before the backoff is over.
        expect(((await dial(worker, { campaignId: id })) as DialResult).claimed).toBe(0);
        await makeDue(id);
      }
      const r = (await dial(worker, { campaignId: id })) as DialResult;
      expect(r.failed).toEqual([{ taskId: expect.any(Number), channelId: expect.stringMatching(/^cmp-/), kind: "transient", error: expect.stringMatching(/^ARI answered 500/), taskStatus: i < 3 ? "ready" : "failed", retryInSeconds: i < 3 ? expect.any(Number) : null }]);
      delays.push(r.failed[0].retryInSeconds);
      if (i === 0) {
        const { rows } = await admin.query("SELECT due_at - now() BETWEEN interval '95 seconds' AND interval '105 seconds' AS due_in_100s FROM dial_tasks WHERE campaign_id = $1", [id]);
        expect(rows[0].due_in_100s).toBe(true); // the campaign's retry delay (900 s) does not apply to an outage
      }
    }
    expect(delays).toEqual([100, 200, 250, null]); // doubling, capped at ARI_RETRY_MAX_SECONDS, then given up
    expect(await tasksOf(id)).toEqual([
      { status: "failed", attempts: 0, ari_transient_failures: 4, ari_rejections: 0, failure_reason: expect.stringMatching(/^ARI unavailable on 4 attempts in a row; last: ARI answered 500/), last_outcome: "originate_failed", channel_id: null },
    ]);
    const att = await admin.query("SELECT outcome, error FROM call_attempts WHERE campaign_id = $1", [id]);
    expect(att.rows).toHaveLength(4);
    expect(att.rows.every((a) => a.outcome === "originate_failed" && /500/.test(a.error))).toBe(true);
    // A failed task is terminal: nothing left open, so the campaign completes, and the report says why.
    s.ari.mode = "ok";
    await makeDue(id);
    expect(((await dial(worker, { campaignId: id })) as DialResult).claimed).toBe(0);
    expect(((await status(rts.status, {})) as StatusResult).completedCampaigns).toContain(id);
    expect(await report(rts.report, { campaignId: id, refresh: true })).toMatchObject({ status: "completed", attempts: 0, originateFailed: 4, originateRejected: 0, tasksFailed: 1, inProgress: 0 });
  });

  test("a call ARI accepts starts the transient count again", async () => {
    const id = await readyCampaign(rts, 1, { retryPolicy: { maxAttempts: 3, retryDelaySeconds: 0 } });
    const worker = rt("dialer-worker", { ARI_RETRY_BASE_SECONDS: "30" });
    s.ari.mode = "fail";
    await dial(worker, { campaignId: id });
    await makeDue(id);
    expect(((await dial(worker, { campaignId: id })) as DialResult).failed[0].retryInSeconds).toBe(60);
    expect((await tasksOf(id))[0]).toMatchObject({ status: "ready", ari_transient_failures: 2, attempts: 0 });
    s.ari.mode = "ok";
    await makeDue(id);
    const ok = (await dial(worker, { campaignId: id })) as DialResult;
    expect(ok.originated).toHaveLength(1);
    expect((await tasksOf(id))[0]).toMatchObject({ status: "dialing", ari_transient_failures: 0, attempts: 1 });
    await status(rts.status, { outcomes: [{ channelId: ok.originated[0].channelId, outcome: "no_answer" }] });
    s.ari.mode = "fail";
    expect(((await dial(worker, { campaignId: id })) as DialResult).failed[0]).toMatchObject({ kind: "transient", taskStatus: "ready", retryInSeconds: 30 });
    expect((await tasksOf(id))[0]).toMatchObject({ status: "ready", ari_transient_failures: 1, attempts: 1 });
  });

  test("ARI rejecting a number (4xx) counts it; the ARI_MAX_REJECTIONS-th rejection (default 3) fails the task with the reason; the campaign completes", async () => {
    const event = campaignEvent(3, { maxConcurrentCalls: 3, retryPolicy: { maxAttempts: 2, retryDelaySeconds: 300 } });
    const bad = event.contacts[1].phone;
    const id = await readyEvent(rts, event);
    const answers = [404, 400, 422];
    let round = 0;
    s.ari.respond = (call) => (call.endpoint === `PJSIP/${bad}@trunk` ? answers[round] : undefined);
    try {
      const first = (await dialHandler({ campaignId: id })) as DialResult;
      expect(first.originated).toHaveLength(2);
      expect(first.failed).toEqual([{ taskId: expect.any(Number), channelId: expect.stringMatching(/^cmp-/), kind: "rejected", error: 'ARI answered 404: {"message":"Invalid endpoint"}', taskStatus: "ready", retryInSeconds: 300 }]);
      await status(rts.status, { outcomes: first.originated.map((o) => ({ channelId: o.channelId, outcome: "answered", talkSeconds: 5 })) });
      for (round = 1; round < 3; round++) {
        await makeDue(id);
        const r = (await dialHandler({ campaignId: id })) as DialResult;
        expect(r).toMatchObject({ claimed: 1, originated: [] });
        expect(r.failed[0]).toMatchObject({ kind: "rejected", error: expect.stringContaining(`ARI answered ${answers[round]}`), taskStatus: round < 2 ? "ready" : "failed" });
      }
    } finally {
      s.ari.respond = undefined;
    }
    const tasks = await admin.query("SELECT phone_e164, status, attempts, ari_rejections, failure_reason FROM dial_tasks WHERE campaign_id = $1 AND status = 'failed'", [id]);
    expect(tasks.rows).toEqual([{ phone_e164: bad, status: "failed", attempts: 0, ari_rejections: 3, failure_reason: 'ARI rejected the call 3 times; last: ARI answered 422: {"message":"Invalid endpoint"}' }]);
    expect(((await status(rts.status, {})) as StatusResult).completedCampaigns).toContain(id);
    expect(await report(rts.report, { campaignId: id, refresh: true })).toMatchObject({ status: "completed", contacts: 3, attempts: 2, answered: 2, originateFailed: 0, originateRejected: 3, tasksFailed: 1 });
  });

  test("an ARI that takes the request but never answers times out; the outcome is unknown, so the task stays dialing (see ari-ambiguous.test.ts)", async () => {
    const id = await readyCampaign(rts, 1);
    s.ari.mode = "hang";
    const worker = rt("dialer-worker", { ARI_TIMEOUT_MS: "300" });
    const t0 = Date.now();
    const r = (await dial(worker, { campaignId: id })) as DialResult;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.failed).toEqual([
      {
        taskId: expect.any(Number),
        channelId: expect.stringMatching(/^cmp-/),
        kind: "ambiguous",
        error: "ARI did not answer within 300 ms after the request was sent; the call may have been placed",
        taskStatus: "dialing",
        retryInSeconds: null,
      },
    ]);
    expect(await taskCounts(admin, id)).toEqual({ dialing: 1 });
  });

  test("wrong ARI credentials are a transient failure (not this number's fault), not a crash", async () => {
    const id = await readyCampaign(rts, 1);
    const worker = rt("dialer-worker", { ARI_PASSWORD: "wrong" });
    const r = (await dial(worker, { campaignId: id })) as DialResult;
    expect(r.failed).toEqual([{ taskId: expect.any(Number), channelId: expect.stringMatching(/^cmp-/), kind: "transient", error: expect.stringMatching(/ARI answered 401/), taskStatus: "ready", retryInSeconds: 60 }]);
    expect((await tasksOf(id))[0]).toMatchObject({ ari_rejections: 0, ari_transient_failures: 1 });
  });

  test("outside the calling window nothing is dialed", async () => {
    const h = new Date().getUTCHours();
    const pad = (n: number) => String(n % 24).padStart(2, "0") + ":00";
    const id = await readyCampaign(rts, 2, { callingWindow: { start: pad(h + 2), end: pad(h + 3), timeZone: "UTC" } });
    expect(((await dialHandler({ campaignId: id })) as DialResult).claimed).toBe(0);
  });

  test("two dialer-workers racing never double-claim and never exceed the concurrency cap", async () => {
    const cap = 4;
    const id = await readyCampaign(rts, 30, { maxConcurrentCalls: cap });
    const workers = [rt("dialer-worker"), rt("dialer-worker")];
    const callsBefore = s.ari.calls.length;
    const inFlight = watchInFlight(admin, id);
    const checker = rt("status-checker");
    let answered = 0;
    for (let round = 0; round < 6; round++) {
      // Each worker fires several invocations at once (as Lambda would with concurrent events).
      const results = (await Promise.all(workers.flatMap((w) => [dial(w, { campaignId: id }), dial(w, { campaignId: id })]))) as DialResult[];
      expect(results.reduce((n, r) => n + r.claimed, 0)).toBeLessThanOrEqual(cap);
      const { rows } = await admin.query<{ channel_id: string }>("SELECT channel_id FROM dial_tasks WHERE campaign_id = $1 AND status = 'dialing'", [id]);
      expect(rows.length).toBeLessThanOrEqual(cap);
      const r = (await status(checker, { outcomes: rows.map((x) => ({ channelId: x.channel_id, outcome: "answered", talkSeconds: 10 })) })) as StatusResult;
      answered += r.recorded.length;
    }
    expect(await inFlight.stop()).toBeLessThanOrEqual(cap);
    expect(answered).toBe(24);
    const calls = s.ari.calls.slice(callsBefore).filter((c) => c.variables.CAMPAIGN_ID === id);
    expect(calls).toHaveLength(24);
    const tasks = calls.map((c) => c.variables.TASK_ID);
    expect(new Set(tasks).size).toBe(24); // each task dialed once
    const att = await admin.query("SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS tasks FROM call_attempts WHERE campaign_id = $1", [id]);
    expect(att.rows[0]).toEqual({ n: 24, tasks: 24 });
  });

  test("two dialer-workers racing on an ARI that rejects or fails some numbers: every failure counted once, each task given up after exactly its limit", async () => {
    const cap = 4;
    const event = campaignEvent(12, { maxConcurrentCalls: cap, retryPolicy: { maxAttempts: 2, retryDelaySeconds: 0 } });
    const id = await readyEvent(rts, event);
    // Contact i: i % 3 == 0 rejected (400), 1 ARI failing (503), 2 accepted. Backoff 0: retried at once.
    const answerFor = new Map(event.contacts.map((c, i) => [`PJSIP/${c.phone}@trunk`, [400, 503, undefined][i % 3]]));
    s.ari.respond = (call) => (call.variables.CAMPAIGN_ID === id ? answerFor.get(call.endpoint) : undefined);
    const env = { ARI_RETRY_BASE_SECONDS: "0", ARI_MAX_REJECTIONS: "3", ARI_MAX_TRANSIENT_FAILURES: "2" };
    const workers = [rt("dialer-worker", env), rt("dialer-worker", env)];
    const requestsBefore = s.ari.requests.length;
    const inFlight = watchInFlight(admin, id);
    let peak = Infinity;
    try {
      for (let round = 0; round < 30 && Object.keys(await taskCounts(admin, id)).some((k) => k === "ready" || k === "dialing"); round++) {
        await Promise.all(workers.flatMap((w) => [dial(w, { campaignId: id }), dial(w, { campaignId: id })]));
        const { rows } = await admin.query<{ channel_id: string }>("SELECT channel_id FROM dial_tasks WHERE campaign_id = $1 AND status = 'dialing'", [id]);
        await status(rts.status, { outcomes: rows.map((x) => ({ channelId: x.channel_id, outcome: "answered", talkSeconds: 1 })) });
      }
    } finally {
      s.ari.respond = undefined;
      peak = await inFlight.stop();
    }
    expect(peak).toBeLessThanOrEqual(cap);
    const requests = s.ari.requests.slice(requestsBefore).filter((c) => c.variables.CAMPAIGN_ID === id);
    const perNumber = (endpoint: string) => requests.filter((c) => c.endpoint === endpoint).length;
    event.contacts.forEach((c, i) => expect([`${i % 3}`, perNumber(`PJSIP/${c.phone}@trunk`)]).toEqual([`${i % 3}`, [3, 2, 1][i % 3]]));
    const { rows } = await admin.query<{ status: string; n: number; rejections: number; transients: number }>(
      "SELECT status, count(*)::int AS n, sum(ari_rejections)::int AS rejections, sum(ari_transient_failures)::int AS transients FROM dial_tasks WHERE campaign_id = $1 GROUP BY status ORDER BY status",
      [id],
    );
    expect(rows).toEqual([
      { status: "done", n: 4, rejections: 0, transients: 0 },
      { status: "failed", n: 8, rejections: 12, transients: 8 },
    ]);
    const att = await admin.query("SELECT outcome, count(*)::int AS n FROM call_attempts WHERE campaign_id = $1 GROUP BY outcome ORDER BY outcome", [id]);
    expect(att.rows).toEqual([
      { outcome: "answered", n: 4 },
      { outcome: "originate_failed", n: 8 },
      { outcome: "originate_rejected", n: 12 },
    ]);
    expect(await report(rts.report, { campaignId: id, refresh: true })).toMatchObject({ status: "completed", attempts: 4, answered: 4, originateFailed: 8, originateRejected: 12, tasksFailed: 8 });
  });

  test("without a campaign id it serves every running campaign, each within its cap", async () => {
    const a = await readyCampaign(rts, 3, { maxConcurrentCalls: 1 });
    const b = await readyCampaign(rts, 3, { maxConcurrentCalls: 2 });
    await dialHandler({});
    expect((await taskCounts(admin, a)).dialing).toBe(1);
    expect((await taskCounts(admin, b)).dialing).toBe(2);
  });
});

describe("status-checker", () => {
  async function dialing(id: string) {
    return (await admin.query<{ id: string; channel_id: string }>("SELECT id, channel_id FROM dial_tasks WHERE campaign_id = $1 AND status = 'dialing' ORDER BY id", [id])).rows;
  }

  test("records outcomes, retries per policy, exhausts, ignores redelivery, completes the campaign", async () => {
    const id = await readyCampaign(rts, 3, { maxConcurrentCalls: 3, retryPolicy: { maxAttempts: 2, retryDelaySeconds: 0 } });
    await dialHandler({ campaignId: id });
    const [t1, t2, t3] = await dialing(id);
    const r1 = (await statusHandler({
      outcomes: [
        { channelId: t1.channel_id, outcome: "answered", talkSeconds: 30 },
        { channelId: t2.channel_id, outcome: "busy" },
        { channelId: t3.channel_id, outcome: "no_answer" },
        { channelId: "cmp-unknown", outcome: "failed" },
      ],
    })) as StatusResult;
    expect(r1.recorded).toEqual([
      { channelId: t1.channel_id, taskStatus: "done" },
      { channelId: t2.channel_id, taskStatus: "ready" },
      { channelId: t3.channel_id, taskStatus: "ready" },
    ]);
    expect(r1.unknown).toEqual(["cmp-unknown"]);
    const redelivered = (await statusHandler({ outcomes: [{ channelId: t1.channel_id, outcome: "answered", talkSeconds: 30 }] })) as StatusResult;
    expect(redelivered).toMatchObject({ recorded: [], duplicates: [t1.channel_id] });

    // Second (last) attempt for the two retries.
    await dialHandler({ campaignId: id });
    const second = await dialing(id);
    expect(second.map((t) => t.id)).toEqual([t2.id, t3.id]);
    const r2 = (await statusHandler({ outcomes: second.map((t) => ({ channelId: t.channel_id, outcome: "failed" })) })) as StatusResult;
    expect(r2.recorded.map((x) => x.taskStatus)).toEqual(["exhausted", "exhausted"]);
    expect(r2.completedCampaigns).toContain(id);
    const c = await admin.query("SELECT status, completed_at IS NOT NULL AS done FROM campaigns WHERE id = $1", [id]);
    expect(c.rows[0]).toEqual({ status: "completed", done: true });
    // A completed campaign is not reopened by a redelivered dispatch.
    expect(((await dispatchHandler({ campaignId: id })) as DispatchResult).status).toBe("completed");
  });

  test("calls stuck in dialing are expired and retried", async () => {
    const id = await readyCampaign(rts, 1, { retryPolicy: { maxAttempts: 3, retryDelaySeconds: 0 } });
    await dialHandler({ campaignId: id });
    const [t] = await dialing(id);
    await admin.query("UPDATE dial_tasks SET dialing_since = now() - interval '1 day' WHERE id = $1", [t.id]);
    const r = (await statusHandler({})) as StatusResult;
    expect(r.expired).toBeGreaterThanOrEqual(1);
    expect(await taskCounts(admin, id)).toEqual({ ready: 1 });
    const a = await admin.query("SELECT outcome FROM call_attempts WHERE channel_id = $1", [t.channel_id]);
    expect(a.rows[0].outcome).toBe("expired");
    // A late outcome for the expired call is a duplicate, not a second transition.
    expect(((await statusHandler({ outcomes: [{ channelId: t.channel_id, outcome: "answered", talkSeconds: 1 }] })) as StatusResult).duplicates).toEqual([t.channel_id]);
  });
});

describe("report-generator", () => {
  test("per-campaign totals, cached in Redis with a TTL, refreshable", async () => {
    const id = await readyCampaign(rts, 4, { maxConcurrentCalls: 4 });
    await dialHandler({ campaignId: id });
    const ch = (await admin.query<{ channel_id: string }>("SELECT channel_id FROM dial_tasks WHERE campaign_id = $1 AND status = 'dialing' ORDER BY id", [id])).rows.map((r) => r.channel_id);
    await status(rts.status, {
      outcomes: [
        { channelId: ch[0], outcome: "answered", talkSeconds: 20 },
        { channelId: ch[1], outcome: "answered", talkSeconds: 41 },
        { channelId: ch[2], outcome: "busy" },
        { channelId: ch[3], outcome: "no_answer" },
      ],
    });
    const first = (await reportHandler({ campaignId: id })) as CampaignReport & { cached: boolean };
    expect(first).toMatchObject({ campaignId: id, status: "running", contacts: 4, attempts: 4, answered: 2, noAnswer: 1, busy: 1, failed: 0, originateFailed: 0, originateRejected: 0, tasksFailed: 0, inProgress: 0, averageTalkSeconds: 30.5, cached: false });
    const ttl = await redis.ttl(reportKey(id));
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(((await reportHandler({ campaignId: id })) as { cached: boolean }).cached).toBe(true);
    const refreshed = (await report(rts.report, { campaignId: id, refresh: true })) as { cached: boolean };
    expect(refreshed.cached).toBe(false);
  });

  test("unknown campaign and bad payloads fail clearly", async () => {
    await expect(reportHandler({ campaignId: "0b7e3c1e-5f4a-4d3b-9c2a-1e0f9d8c7b6a" })).rejects.toThrow(/not found/);
    await expect(reportHandler({})).rejects.toThrow("report-generator: invalid event: campaignId: must be a string (a UUID)");
  });
});

test("health check: healthy with both dependencies up", async () => {
  expect(await reportHandler({ action: "health" })).toEqual({ status: "healthy", redis: { connected: true, endpoint: `127.0.0.1:${s.redis.port}` }, database: { connected: true } } satisfies HealthReport);
  // A function that does not use Redis is healthy on the database alone.
  expect(await dispatchHandler({ action: "health" })).toEqual({ status: "healthy", redis: { connected: false, endpoint: null }, database: { connected: true } });
});

test("TLS to the pooler is required and verified: plain or unverified connections fail", async () => {
  const plain = rt("report-generator", { DATABASE_SSL: "disable" });
  await expect(plain.db.query("SELECT 1")).rejects.toThrow(/SSL required|TLS|ssl/i);
  const unverified = rt("report-generator", { DATABASE_SSL_CA: "" });
  await expect(unverified.db.query("SELECT 1")).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
});

test("module-scope environments: one connection per function, reused by every invocation", async () => {
  for (const name of ["validate-campaign", "dispatcher", "enrich-dial-task", "dialer-worker", "status-checker", "report-generator"] as const) {
    expect(environment(name).db.stats).toEqual({ connects: 1, retries: 0, discarded: 0 });
  }
  // enrich ran through both entry points: the explicit one has its own connection.
  expect(rts.enrich.db.stats.connects).toBe(1);
  void enrich;
});

test("npm run migrate --status lists what is applied; a migration changed after applying is refused", async () => {
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const { cpSync, mkdtempSync, appendFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const env = { ...process.env, ...s.directEnv(), DATABASE_DIRECT_ENDPOINT: "127.0.0.1" };
  const out = await promisify(execFile)(process.execPath, [require.resolve("tsx/cli"), "lambdas/migrate.ts", "--status"], { env, cwd: join(__dirname, "..", "..") });
  expect(out.stdout).toMatch(/^applied {2}001_campaigns$/m);
  expect(out.stdout).toMatch(/^applied {2}002_origination_failures$/m);
  expect(out.stdout).toMatch(/^applied {2}003_originate_unconfirmed$/m);
  // A migration edited after it was applied is an error, not silently skipped.
  const { migrate } = await import("../../lambdas/migrate");
  const dir = mkdtempSync(join(tmpdir(), "migrations-"));
  try {
    cpSync(join(__dirname, "..", "..", "lambdas", "migrations"), dir, { recursive: true });
    appendFileSync(join(dir, "001_campaigns.sql"), "\n-- edited\n");
    const c = await s.pg.admin(DB_NAME);
    await expect(migrate(c, { dir })).rejects.toThrow(/001_campaigns was changed after it was applied/);
    await c.end();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
