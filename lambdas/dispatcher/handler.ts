/**
 * dispatcher: creates the dial tasks of a campaign's uncalled contacts in batches (keyset over
 * contact ids, one short transaction per batch) and then marks the campaign running.
 * Idempotent: one task per contact (UNIQUE contact_id + ON CONFLICT DO NOTHING), so the same event
 * delivered twice, or two dispatchers racing, create no duplicate task; a completed campaign is
 * not reopened.
 */
import { defineHandler } from "../shared/runtime";
import { optional } from "valibot";
import { InvalidEventError, int, parseEvent, struct, uuid } from "../shared/validate";

export interface DispatchEvent {
  campaignId: string;
  batchSize: number;
}

export interface DispatchResult {
  campaignId: string;
  created: number;
  batches: number;
  status: string;
}

const DISPATCH_EVENT = struct({ campaignId: uuid, batchSize: optional(int(1, 5000), 500) });

export function parseDispatchEvent(event: unknown): DispatchEvent {
  return parseEvent("dispatcher", DISPATCH_EVENT, event);
}

export const { handler, run } = defineHandler("dispatcher", parseDispatchEvent, async (rt, { campaignId, batchSize }): Promise<DispatchResult> => {
  const found = await rt.db.query<{ status: string }>("SELECT status FROM campaigns WHERE id = $1", [campaignId], { idempotent: true });
  if (found.rowCount === 0) throw new InvalidEventError("dispatcher", [{ path: "campaignId", message: `campaign ${campaignId} not found` }]);
  let status = found.rows[0].status;
  let created = 0;
  let batches = 0;
  if (status !== "completed") {
    let after = "0";
    for (;;) {
      const { rows } = await rt.db.query<{ last: string | null; inserted: number }>(
        `WITH batch AS (
           SELECT id FROM contacts WHERE campaign_id = $1 AND id > $2 ORDER BY id LIMIT $3
         ), ins AS (
           INSERT INTO dial_tasks (campaign_id, contact_id)
           SELECT $1, id FROM batch
           ON CONFLICT (contact_id) DO NOTHING
           RETURNING 1
         )
         SELECT (SELECT max(id) FROM batch)::text AS last, (SELECT count(*) FROM ins)::int AS inserted`,
        [campaignId, after, batchSize],
        { idempotent: true },
      );
      if (rows[0].last === null) break;
      batches++;
      created += rows[0].inserted;
      after = rows[0].last;
    }
    const upd = await rt.db.query<{ status: string }>(
      `UPDATE campaigns SET status = 'running', started_at = coalesce(started_at, now())
       WHERE id = $1 AND status = 'validated' RETURNING status`,
      [campaignId],
      { idempotent: true },
    );
    if (upd.rowCount === 1) status = "running";
  }
  rt.log.info("campaign dispatched", { campaignId, created, batches, status });
  return { campaignId, created, batches, status };
});
