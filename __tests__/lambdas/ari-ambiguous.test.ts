/**
 * dialer-worker on ambiguous originations, on real servers (PostgreSQL behind PgBouncer, Redis, the
 * ARI stand-in): a POST /ari/channels whose answer is lost may still have placed the call, so the
 * contact must not be dialed again until the call is settled by its outcome event or by the
 * status-checker's expiry. Failures that certainly placed no call still retry as transient.
 * Short timeouts via env keep it fast: ARI_TIMEOUT_MS=200, the stand-in answers after 600 ms.
 */
import type { Client } from "pg";
import { run as dial, type DialResult } from "../../lambdas/dialer-worker/handler";
import { run as report, type CampaignReport } from "../../lambdas/report-generator/handler";
import type { Runtime } from "../../lambdas/shared/runtime";
import { run as status, type StatusResult } from "../../lambdas/status-checker/handler";
import { campaignEvent, campaignRuntimes, readyEvent, runtimeTracker, taskCounts, watchInFlight } from "./helpers";
import { DB_NAME, freePort, startServers, type AriMode, type Servers } from "./servers";

let s: Servers;
let admin: Client;
const { rt, closeAll } = runtimeTracker((overrides) => s.env(overrides));
let rts: ReturnType<typeof campaignRuntimes>;
let worker: Runtime;
const TIMEOUT_MS = 200;

beforeAll(async () => {
  s = await startServers();
  admin = await s.pg.admin(DB_NAME);
  rts = campaignRuntimes(rt);
  worker = rt("dialer-worker", { ARI_TIMEOUT_MS: String(TIMEOUT_MS) });
}, 90_000);

afterAll(async () => {
  await closeAll();
  await admin?.end();
  await s?.stop();
});

beforeEach(() => {
  s.ari.mode = "ok";
  s.ari.slowMs = 3 * TIMEOUT_MS; // accepts the call, answers after the dialer gave up waiting
  s.ari.respond = undefined;
});

/** POSTs the stand-in received for a contact (accepted or not). */
const postsFor = (phone: string) => s.ari.requests.filter((c) => c.endpoint === `PJSIP/${phone}@trunk`);
const taskOf = async (campaignId: string) =>
  (await admin.query("SELECT id::int, status, attempts, channel_id, ari_transient_failures, last_outcome FROM dial_tasks WHERE campaign_id = $1 ORDER BY id", [campaignId])).rows;
const attemptsOf = async (campaignId: string) =>
  (await admin.query("SELECT channel_id, outcome, originate_unconfirmed, error FROM call_attempts WHERE campaign_id = $1 ORDER BY id", [campaignId])).rows;
/** Makes the campaign's dialing calls older than DIALING_STUCK_AFTER_SECONDS (default 7200 s). */
const ageDialing = (campaignId: string) => admin.query("UPDATE dial_tasks SET dialing_since = now() - interval '1 day' WHERE campaign_id = $1 AND status = 'dialing'", [campaignId]);
/** Tasks put back to ready become due now (instead of after their backoff / retry delay). */
const makeDue = (campaignId: string) => admin.query("UPDATE dial_tasks SET due_at = now() WHERE campaign_id = $1 AND status = 'ready'", [campaignId]);
const settleAri = () => new Promise((r) => setTimeout(r, s.ari.slowMs + 100)); // let the late 200s arrive

async function oneContact(retryPolicy = { maxAttempts: 2, retryDelaySeconds: 0 }) {
  const event = campaignEvent(1, { retryPolicy });
  const id = await readyEvent(rts, event);
  return { id, phone: event.contacts[0].phone };
}

async function ambiguousRound(id: string, mode: AriMode = "slow") {
  s.ari.mode = mode;
  const r = (await dial(worker, { campaignId: id })) as DialResult;
  s.ari.mode = "ok";
  return r;
}

describe("an origination whose answer is lost (request sent) is ambiguous: the task stays dialing and is not dialed again", () => {
  test("ARI takes the call but answers after ARI_TIMEOUT_MS: dialing, attempt kept; several dialer runs send no second POST; the outcome event settles it", async () => {
    const { id, phone } = await oneContact();
    const t0 = Date.now();
    const r = await ambiguousRound(id);
    expect(Date.now() - t0).toBeLessThan(TIMEOUT_MS + 1500);
    const [task] = await taskOf(id);
    expect(r).toEqual({
      claimed: 1,
      originated: [],
      failed: [
        {
          taskId: task.id,
          channelId: task.channel_id,
          kind: "ambiguous",
          error: `ARI did not answer within ${TIMEOUT_MS} ms after the request was sent; the call may have been placed`,
          taskStatus: "dialing",
          retryInSeconds: null,
        },
      ],
      skippedCampaigns: [],
    });
    expect(task).toMatchObject({ status: "dialing", attempts: 1, channel_id: expect.stringMatching(/^cmp-/) });
    expect(await attemptsOf(id)).toEqual([{ channel_id: task.channel_id, outcome: null, originate_unconfirmed: true, error: expect.stringMatching(/may have been placed/) }]);

    // The stand-in did place it (its late 200 changes nothing), and later dialer runs leave it alone.
    await settleAri();
    for (let i = 0; i < 3; i++) {
      await makeDue(id);
      expect(((await dial(worker, { campaignId: id })) as DialResult).claimed).toBe(0);
    }
    expect(postsFor(phone)).toHaveLength(1);
    expect(s.ari.calls.filter((c) => c.channelId === task.channel_id)).toHaveLength(1);
    expect((await taskOf(id))[0]).toMatchObject({ status: "dialing", channel_id: task.channel_id });

    // Asterisk's outcome event for that channel settles it as for any call.
    const st = (await status(rts.status, { outcomes: [{ channelId: task.channel_id, outcome: "answered", talkSeconds: 12 }] })) as StatusResult;
    expect(st.recorded).toEqual([{ channelId: task.channel_id, taskStatus: "done" }]);
    expect(st.completedCampaigns).toContain(id);
    expect(postsFor(phone)).toHaveLength(1);
    expect((await report(rts.report, { campaignId: id, refresh: true })) as CampaignReport).toMatchObject({
      status: "completed",
      attempts: 1,
      answered: 1,
      originateFailed: 0,
      originateUnconfirmed: 1,
      inProgress: 0,
    });
  });

  test("no outcome event: the status-checker's expiry settles it and the retry policy applies (exactly one more POST)", async () => {
    const { id, phone } = await oneContact({ maxAttempts: 2, retryDelaySeconds: 0 });
    const first = await ambiguousRound(id);
    expect(first.failed[0]).toMatchObject({ kind: "ambiguous", taskStatus: "dialing" });
    const firstChannel = first.failed[0].channelId;
    await settleAri();
    // Not stuck long enough yet: the status-checker leaves it dialing, the dialer does not touch it.
    await status(rts.status, {});
    expect((await taskOf(id))[0]).toMatchObject({ status: "dialing", channel_id: firstChannel });
    expect(((await dial(worker, { campaignId: id })) as DialResult).claimed).toBe(0);
    expect(postsFor(phone)).toHaveLength(1);

    await ageDialing(id);
    const st = (await status(rts.status, {})) as StatusResult;
    expect(st.expired).toBeGreaterThanOrEqual(1);
    expect((await taskOf(id))[0]).toMatchObject({ status: "ready", attempts: 1, last_outcome: "expired", channel_id: null });
    const second = (await dial(worker, { campaignId: id })) as DialResult;
    expect(second).toMatchObject({ claimed: 1, failed: [] });
    expect(second.originated[0].channelId).not.toBe(firstChannel);
    expect(postsFor(phone)).toHaveLength(2);
    expect((await taskOf(id))[0]).toMatchObject({ status: "dialing", attempts: 2 });
    expect(await attemptsOf(id)).toEqual([
      { channel_id: firstChannel, outcome: "expired", originate_unconfirmed: true, error: expect.any(String) },
      { channel_id: second.originated[0].channelId, outcome: null, originate_unconfirmed: false, error: null },
    ]);
    // A late outcome for the expired call is a duplicate and does not disturb the new attempt.
    expect(((await status(rts.status, { outcomes: [{ channelId: firstChannel, outcome: "answered", talkSeconds: 3 }] })) as StatusResult).duplicates).toEqual([firstChannel]);
    expect((await taskOf(id))[0]).toMatchObject({ status: "dialing", channel_id: second.originated[0].channelId });
  });

  test("on the last attempt, expiry exhausts the task: no second POST at all, the campaign completes", async () => {
    const { id, phone } = await oneContact({ maxAttempts: 1, retryDelaySeconds: 0 });
    expect((await ambiguousRound(id)).failed[0].kind).toBe("ambiguous");
    await ageDialing(id);
    const st = (await status(rts.status, {})) as StatusResult;
    expect(st.completedCampaigns).toContain(id);
    expect(await taskCounts(admin, id)).toEqual({ exhausted: 1 });
    await makeDue(id);
    expect(((await dial(worker, { campaignId: id })) as DialResult).claimed).toBe(0);
    expect(postsFor(phone)).toHaveLength(1);
    expect((await report(rts.report, { campaignId: id, refresh: true })) as CampaignReport).toMatchObject({ attempts: 1, failed: 1, originateUnconfirmed: 1, inProgress: 0 });
  });

  test("the connection dropped after the request was sent (no status line) is ambiguous too", async () => {
    const { id, phone } = await oneContact();
    const r = await ambiguousRound(id, "drop");
    expect(r.failed).toEqual([
      {
        taskId: expect.any(Number),
        channelId: expect.stringMatching(/^cmp-/),
        kind: "ambiguous",
        error: expect.stringMatching(/^ARI connection lost after the request was sent \((ECONNRESET|socket hang up)\); the call may have been placed$/),
        taskStatus: "dialing",
        retryInSeconds: null,
      },
    ]);
    await makeDue(id);
    expect(((await dial(worker, { campaignId: id })) as DialResult).claimed).toBe(0);
    expect(postsFor(phone)).toHaveLength(1);
  });

  test("an ambiguous call holds its slot: the campaign's maxConcurrentCalls still applies", async () => {
    const event = campaignEvent(4, { maxConcurrentCalls: 2 });
    const id = await readyEvent(rts, event);
    const r = await ambiguousRound(id);
    expect(r.failed.map((f) => [f.kind, f.taskStatus])).toEqual([
      ["ambiguous", "dialing"],
      ["ambiguous", "dialing"],
    ]);
    expect(((await dial(worker, { campaignId: id })) as DialResult).claimed).toBe(0);
    expect(await taskCounts(admin, id)).toEqual({ dialing: 2, ready: 2 });
    // One of them gets its outcome: exactly one slot frees up.
    await status(rts.status, { outcomes: [{ channelId: r.failed[0].channelId, outcome: "busy" }] });
    expect(((await dial(worker, { campaignId: id })) as DialResult).claimed).toBe(1);
  });
});

describe("failures that certainly placed no call still retry as transient", () => {
  test("connection refused: transient, the task is ready again with backoff, no attempt used", async () => {
    const { id, phone } = await oneContact();
    const closed = await freePort();
    const refused = rt("dialer-worker", { ARI_URL: `http://127.0.0.1:${closed}`, ARI_TIMEOUT_MS: String(TIMEOUT_MS) });
    const r = (await dial(refused, { campaignId: id })) as DialResult;
    expect(r.failed).toEqual([
      { taskId: expect.any(Number), channelId: expect.stringMatching(/^cmp-/), kind: "transient", error: "ARI request failed: ECONNREFUSED (request not sent)", taskStatus: "ready", retryInSeconds: 60 },
    ]);
    expect((await taskOf(id))[0]).toMatchObject({ status: "ready", attempts: 0, ari_transient_failures: 1, channel_id: null, last_outcome: "originate_failed" });
    // ARI back: dialed again (the refused request never reached it).
    await makeDue(id);
    expect(((await dial(worker, { campaignId: id })) as DialResult).originated).toHaveLength(1);
    expect(postsFor(phone)).toHaveLength(1);
    expect((await taskOf(id))[0]).toMatchObject({ status: "dialing", attempts: 1, ari_transient_failures: 0 });
  });

  test("a host name that does not resolve: transient, request not sent", async () => {
    const { id } = await oneContact();
    const nowhere = rt("dialer-worker", { ARI_URL: "http://ari.invalid:8088", ARI_TIMEOUT_MS: String(TIMEOUT_MS) });
    const r = (await dial(nowhere, { campaignId: id })) as DialResult;
    // ENOTFOUND, or EAI_AGAIN / no connection within the timeout when no resolver answers: never sent either way.
    expect(r.failed).toEqual([{ taskId: expect.any(Number), channelId: expect.any(String), kind: "transient", error: expect.stringMatching(/\(request not sent\)$/), taskStatus: "ready", retryInSeconds: 60 }]);
  });

  test("a 5xx answer is certain (ARI answered): transient as before", async () => {
    const { id } = await oneContact();
    const r = await ambiguousRound(id, "fail");
    expect(r.failed[0]).toMatchObject({ kind: "transient", taskStatus: "ready", error: expect.stringMatching(/^ARI answered 500/) });
  });
});

test("two dialer-workers racing while some originations are ambiguous: never above maxConcurrentCalls, no channel POSTed twice, no contact re-dialed before its call was settled", async () => {
  const cap = 3;
  const event = campaignEvent(9, { maxConcurrentCalls: cap, retryPolicy: { maxAttempts: 2, retryDelaySeconds: 0 } });
  const id = await readyEvent(rts, event);
  // Contacts 0, 3, 6: ARI takes the call but answers late (ambiguous); the others are answered at once.
  const slow = new Set(event.contacts.filter((_, i) => i % 3 === 0).map((c) => `PJSIP/${c.phone}@trunk`));
  s.ari.respond = (call) => (call.variables.CAMPAIGN_ID === id && slow.has(call.endpoint) ? "slow" : undefined);
  const workers = [rt("dialer-worker", { ARI_TIMEOUT_MS: String(TIMEOUT_MS) }), rt("dialer-worker", { ARI_TIMEOUT_MS: String(TIMEOUT_MS) })];
  const before = s.ari.requests.length;
  // When a POST for a contact arrives, its previous attempt (if any) must already be settled.
  const violations: string[] = [];
  const settled = new Set<string>();
  const inner = s.ari.respond;
  s.ari.respond = (call) => {
    if (call.variables.CAMPAIGN_ID === id) {
      const open = s.ari.requests.slice(before, -1).filter((c) => c.endpoint === call.endpoint && !settled.has(c.channelId));
      if (open.length) violations.push(`${call.endpoint} re-dialed while ${open.map((c) => c.channelId).join(",")} was open`);
    }
    return inner(call);
  };
  const inFlight = watchInFlight(admin, id);
  let peak = Infinity;
  try {
    for (let round = 0; round < 40 && Object.keys(await taskCounts(admin, id)).some((k) => k === "ready" || k === "dialing"); round++) {
      const results = (await Promise.all(workers.flatMap((w) => [dial(w, { campaignId: id }), dial(w, { campaignId: id })]))) as DialResult[];
      expect(results.reduce((n, r) => n + r.claimed, 0)).toBeLessThanOrEqual(cap);
      // Confirmed calls get their outcome at once; ambiguous ones only by expiry (every other round).
      const confirmed = results.flatMap((r) => r.originated.map((o) => o.channelId));
      const st = (await status(rts.status, { outcomes: confirmed.map((channelId) => ({ channelId, outcome: "no_answer" as const })) })) as StatusResult;
      st.recorded.forEach((x) => settled.add(x.channelId));
      if (round % 2 === 1) {
        const { rows } = await admin.query<{ channel_id: string }>("SELECT channel_id FROM dial_tasks WHERE campaign_id = $1 AND status = 'dialing'", [id]);
        await ageDialing(id);
        await status(rts.status, {});
        rows.forEach((x) => settled.add(x.channel_id));
      }
    }
  } finally {
    s.ari.respond = undefined;
    peak = await inFlight.stop();
  }
  expect(peak).toBeLessThanOrEqual(cap);
  expect(violations).toEqual([]);
  const requests = s.ari.requests.slice(before).filter((c) => c.variables.CAMPAIGN_ID === id);
  expect(new Set(requests.map((c) => c.channelId)).size).toBe(requests.length);
  // Every contact was called exactly maxAttempts (2) times: one POST per attempt, none repeated.
  for (const c of event.contacts) expect([c.phone, requests.filter((r) => r.endpoint === `PJSIP/${c.phone}@trunk`).length]).toEqual([c.phone, 2]);
  expect(await taskCounts(admin, id)).toEqual({ exhausted: 9 });
  const att = await admin.query("SELECT outcome, originate_unconfirmed AS u, count(*)::int AS n FROM call_attempts WHERE campaign_id = $1 GROUP BY 1, 2 ORDER BY 1, 2", [id]);
  expect(att.rows).toEqual([
    { outcome: "expired", u: true, n: 6 },
    { outcome: "no_answer", u: false, n: 12 },
  ]);
  await settleAri();
}, 60_000);
