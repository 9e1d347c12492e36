/**
 * Hostile event payloads against the real database: an event must be refused with a message naming
 * the field, and change nothing.
 */
import { run as enrich } from "../../lambdas/enrich-dial-task/handler";
import { run as dispatch } from "../../lambdas/dispatcher/handler";
import { InvalidEventError } from "../../lambdas/shared/validate";
import { run as validate, type ValidateResult } from "../../lambdas/validate-campaign/handler";
import { campaignEvent, serversForFile, taskCounts } from "./helpers";

const f = serversForFile();

async function pendingCampaign(contacts: number): Promise<{ campaignId: string; ids: number[] }> {
  const v = (await validate(f.rts.validate, campaignEvent(contacts))) as ValidateResult;
  if (!v.valid) throw new Error("invalid fixture");
  await dispatch(f.rts.dispatch, { campaignId: v.campaignId });
  const { rows } = await f.admin.query<{ id: string }>("SELECT id FROM dial_tasks WHERE campaign_id = $1 ORDER BY id", [v.campaignId]);
  return { campaignId: v.campaignId, ids: rows.map((r) => Number(r.id)) };
}

describe("enrich-dial-task: one shape per event", () => {
  test.each([
    ["taskId and taskIds", (c: { campaignId: string; ids: number[] }) => ({ taskId: c.ids[0], taskIds: [c.ids[1]] }), "taskIds: cannot be combined with taskId"],
    ["campaignId and taskIds", (c: { campaignId: string; ids: number[] }) => ({ campaignId: c.campaignId, taskIds: [c.ids[1]] }), "taskIds: cannot be combined with campaignId"],
    ["campaignId and taskId", (c: { campaignId: string; ids: number[] }) => ({ campaignId: c.campaignId, taskId: c.ids[1] }), "taskId: cannot be combined with campaignId"],
  ])("%s: refused, naming the field, nothing enriched", async (_, event, message) => {
    const c = await pendingCampaign(2);
    const e = (await enrich(f.rts.enrich, event(c)).catch((x: unknown) => x)) as InvalidEventError;
    expect(e).toBeInstanceOf(InvalidEventError);
    expect(e.message).toContain(`enrich-dial-task: invalid event: ${message} (give one of campaignId, taskId, taskIds)`);
    expect(await taskCounts(f.admin, c.campaignId)).toEqual({ pending: 2 });
  });
});

describe("an event passed as its JSON text", () => {
  const id = "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f";
  test("is refused saying it is a string holding JSON, and nothing is dispatched", async () => {
    const e = (await dispatch(f.rts.dispatch, JSON.stringify({ campaignId: id })).catch((x: unknown) => x)) as InvalidEventError;
    expect(e).toBeInstanceOf(InvalidEventError);
    expect(e.message).toBe("dispatcher: invalid event: $: must be an object, got a string holding JSON (pass the object itself, not its text)");
    const { rows } = await f.admin.query("SELECT 1 FROM dial_tasks WHERE campaign_id = $1", [id]);
    expect(rows).toEqual([]);
  });
  test("a nested field too; other scalars say what they were", async () => {
    const v = (await validate(f.rts.validate, { ...campaignEvent(1), callingWindow: '{"start": "09:00"}' })) as ValidateResult;
    expect(v).toEqual({ valid: false, errors: [{ path: "callingWindow", message: "must be an object, got a string holding JSON (pass the object itself, not its text)" }] });
    await expect(enrich(f.rts.enrich, 42)).rejects.toThrow("enrich-dial-task: invalid event: $: must be an object, got a number");
  });
});
