/**
 * Issue 13, point 4: the handler defects a new user found, each pinned on real servers
 * (PostgreSQL 15 behind PgBouncer, Redis 7, the ARI stand-in of servers.ts).
 */
import { run as dial, type DialResult } from "../../lambdas/dialer-worker/handler";
import { run as dispatch } from "../../lambdas/dispatcher/handler";
import { run as report } from "../../lambdas/report-generator/handler";
import type { Runtime } from "../../lambdas/shared/runtime";
import { InvalidEventError, MAX_ECHO, MAX_ISSUES } from "../../lambdas/shared/validate";
import { parseStatusEvent, run as status, type StatusResult } from "../../lambdas/status-checker/handler";
import { checkCampaign, run as validate, type ValidateResult } from "../../lambdas/validate-campaign/handler";
import { campaignEvent, readyCampaign, serversForFile, taskCounts } from "./helpers";

const f = serversForFile();
const rt = (name: Parameters<typeof f.rt>[0]) => f.rt(name);

const campaignExists = async (id: string) => (await f.admin.query("SELECT 1 FROM campaigns WHERE id = $1", [id])).rowCount === 1;

describe("time zones must be ones PostgreSQL knows", () => {
  test("US/Pacific-New: Node's Intl accepts it, PostgreSQL does not; validate-campaign refuses it and stores nothing", async () => {
    expect(() => new Intl.DateTimeFormat("en-US", { timeZone: "US/Pacific-New" })).not.toThrow();
    const event = campaignEvent(2, { callingWindow: { start: "00:00", end: "24:00", timeZone: "US/Pacific-New" } });
    const r = (await validate(f.rts.validate, event)) as ValidateResult;
    expect(r).toEqual({ valid: false, errors: [{ path: "callingWindow.timeZone", message: expect.stringMatching(/not a time zone the database knows.*"US\/Pacific-New"/) }] });
    expect(await campaignExists(event.campaignId)).toBe(false);
  });

  test("a zone in another case is refused with the database's spelling as the fix; the real spelling passes", async () => {
    const bad = (await validate(f.rts.validate, campaignEvent(1, { callingWindow: { start: "00:00", end: "24:00", timeZone: "america/new_york" } }))) as ValidateResult;
    expect(bad).toMatchObject({ valid: false, errors: [{ path: "callingWindow.timeZone", message: expect.stringContaining('did you mean "America/New_York"?') }] });
    const good = (await validate(f.rts.validate, campaignEvent(1, { callingWindow: { start: "00:00", end: "24:00", timeZone: "America/New_York" } }))) as ValidateResult;
    expect(good).toMatchObject({ valid: true, stored: true });
  });

  test("a campaign already stored with such a zone is skipped and reported; the other campaigns are dialed, nothing is stranded", async () => {
    const healthy = await readyCampaign(f.rts, 3, { maxConcurrentCalls: 3 });
    const broken = await readyCampaign(f.rts, 3, { maxConcurrentCalls: 3 });
    // What an older validate-campaign let through.
    await f.admin.query("UPDATE campaigns SET time_zone = 'US/Pacific-New' WHERE id = $1", [broken]);
    const calls = f.s.ari.calls.length;
    const r = (await dial(rt("dialer-worker"), {})) as DialResult;
    expect(r.skippedCampaigns).toEqual(expect.arrayContaining([{ campaignId: broken, code: "22023", error: expect.stringContaining('time zone "US/Pacific-New" not recognized') }]));
    expect(await taskCounts(f.admin, healthy)).toEqual({ dialing: 3 });
    expect(await taskCounts(f.admin, broken)).toEqual({ ready: 3 }); // its claim rolled back whole
    expect(f.s.ari.calls.length - calls).toBe(r.originated.length);
    const open = await f.admin.query("SELECT count(*)::int AS n FROM call_attempts WHERE campaign_id = $1", [broken]);
    expect(open.rows[0].n).toBe(0);
  });

  test("an origination that throws (ARI password unavailable) is a transient failure of that call, not a round that strands its claims", async () => {
    const id = await readyCampaign(f.rts, 2, { maxConcurrentCalls: 2 });
    const base = rt("dialer-worker");
    const broken: Runtime = { ...base, originate: () => Promise.reject(new Error("secret fetch failed: AccessDeniedException")) };
    const r = (await dial(broken, { campaignId: id })) as DialResult;
    expect(r.claimed).toBe(2);
    expect(r.failed).toEqual([expect.objectContaining({ kind: "transient", taskStatus: "ready", error: expect.stringContaining("secret fetch failed") }), expect.objectContaining({ kind: "transient", taskStatus: "ready" })]);
    expect(await taskCounts(f.admin, id)).toEqual({ ready: 2 });
  });
});

describe("control characters are a validation error, never a database error", () => {
  test.each([
    ["NUL in the campaign name", { name: "spring\u0000sale" }, "name", /control characters \(U\+0000 at position 6\)/],
    ["a newline in the campaign name", { name: "spring\nsale" }, "name", /U\+000A/],
    ["DEL in a contact name", { contacts: [{ phone: "+15551230001", name: "Ann\u007f" }] }, "contacts[0].name", /U\+007F/],
    ["a C1 control in a contact name", { contacts: [{ phone: "+15551230001", name: "Ann\u0085" }] }, "contacts[0].name", /U\+0085/],
    ["a lone surrogate in the name", { name: "bad \ud800 half" }, "name", /well-formed Unicode/],
  ])("%s", async (_label, change, path, message) => {
    const event = { ...campaignEvent(1), ...change };
    const r = (await validate(f.rts.validate, event)) as ValidateResult;
    expect(r).toEqual({ valid: false, errors: [{ path, message: expect.stringMatching(message) }] });
    expect(await campaignExists(event.campaignId)).toBe(false);
  });

  test("ordinary Unicode, including emoji (surrogate pairs), still passes", () => {
    expect(checkCampaign({ ...campaignEvent(1), name: "Zoë's 🎉 campaign" }).errors).toEqual([]);
  });
});

describe("echoed values and the error list are capped", () => {
  test("a 5 MB value is quoted back cut to a few dozen characters, with its length said", async () => {
    const huge = "9".repeat(5 * 1024 * 1024);
    const r = (await validate(f.rts.validate, { ...campaignEvent(1), callerId: huge })) as ValidateResult;
    expect(r.valid).toBe(false);
    const message = (r as { errors: { message: string }[] }).errors[0].message;
    expect(message.length).toBeLessThan(MAX_ECHO + 200);
    expect(message).toContain(`(${huge.length} characters)`);
    // The same cap inside InvalidEventError (its message is logged).
    let err: unknown;
    try {
      parseStatusEvent({ outcomes: [{ channelId: "c", outcome: huge }] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidEventError);
    expect((err as Error).message.length).toBeLessThan(500);
  });

  test(`50,000 bad phone numbers: the first ${MAX_ISSUES} problems and one entry saying how many more`, async () => {
    const event = { ...campaignEvent(1), contacts: Array.from({ length: 50_000 }, (_, i) => ({ phone: `bad-${i}` })) };
    const r = (await validate(f.rts.validate, event)) as ValidateResult;
    if (r.valid) throw new Error("expected invalid");
    expect(r.errors).toHaveLength(MAX_ISSUES + 1);
    expect(r.errors[0].path).toBe("contacts[0].phone");
    expect(r.errors[MAX_ISSUES]).toEqual({ path: "$", message: `... and ${50_000 - MAX_ISSUES} more problems not listed (50000 in all)` });
    expect(JSON.stringify(r).length).toBeLessThan(20_000);
  });
});

describe("status-checker: one channelId twice in one event", () => {
  test("the same outcome twice is recorded and reported once", async () => {
    const id = await readyCampaign(f.rts, 1);
    const d = (await dial(rt("dialer-worker"), { campaignId: id })) as DialResult;
    const channelId = d.originated[0].channelId;
    const r = (await status(f.rts.status, { outcomes: [{ channelId, outcome: "busy" }, { channelId, outcome: "busy" }] })) as StatusResult;
    expect(r.recorded).toEqual([{ channelId, taskStatus: "ready" }]);
    expect(r.duplicates).toEqual([]);
  });

  test("two different outcomes for one call: invalid event naming both entries; nothing recorded", async () => {
    const id = await readyCampaign(f.rts, 1);
    const d = (await dial(rt("dialer-worker"), { campaignId: id })) as DialResult;
    const channelId = d.originated[0].channelId;
    const event = { outcomes: [{ channelId, outcome: "answered", talkSeconds: 30 }, { channelId, outcome: "busy" }] };
    await expect(status(f.rts.status, event)).rejects.toThrow(InvalidEventError);
    await expect(status(f.rts.status, event)).rejects.toThrow(/outcomes\[1\]\.channelId: names the same call as outcomes\[0\] with a different outcome \(answered, 30 s vs busy\)/);
    expect(await taskCounts(f.admin, id)).toEqual({ dialing: 1 });
  });
});

describe("the health action is matched exactly", () => {
  test.each(["HEALTH", "Health", "health ", "status", 1])("{action: %p} is refused; the dialer dials nothing", async (action) => {
    const id = await readyCampaign(f.rts, 1);
    const calls = f.s.ari.requests.length;
    await expect(dial(rt("dialer-worker"), { action })).rejects.toThrow(InvalidEventError);
    await expect(dial(rt("dialer-worker"), { action })).rejects.toThrow(/action: must be "health"/);
    expect(f.s.ari.requests.length).toBe(calls);
    expect(await taskCounts(f.admin, id)).toEqual({ ready: 1 });
  });

  test('{action: "health"} still answers the health check', async () => {
    await expect(dial(rt("dialer-worker"), { action: "health" })).resolves.toMatchObject({ status: "healthy" });
  });
});

test("an unknown campaign id is an invalid event (dispatcher, report-generator), not a plain Error", async () => {
  const id = "0b7e3c1e-5f4a-4d3b-9c2a-1e0f9d8c7b6a";
  for (const p of [dispatch(f.rts.dispatch, { campaignId: id }), report(f.rts.report, { campaignId: id })]) {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidEventError);
    expect((err as InvalidEventError).issues).toEqual([{ path: "campaignId", message: `campaign ${id} not found` }]);
  }
});
