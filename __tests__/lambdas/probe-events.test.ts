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
