/**
 * enrich-dial-task: completes pending dial tasks with their contact (number, name) and campaign
 * details (caller id), making them `ready` for the dialer. Campaign settings are read cache-aside
 * from Redis (they never change after validation); Redis trouble is only a miss.
 * Event: {"taskIds": [1, 2]} | {"taskId": 1} | {"campaignId": "...", "limit": 500}.
 * Idempotent: only `pending` tasks change; redelivered ids are reported as skipped.
 */
import type { Queryable } from "../shared/db";
import type { Cache } from "../shared/cache";
import type { CampaignSettings } from "../shared/campaign";
import { defineHandler } from "../shared/runtime";
import { custom, optional, pipe, transform } from "valibot";
import { int, InvalidEventError, list, parseEvent, struct, uuid, type Schema } from "../shared/validate";

export type EnrichEvent = { taskIds: number[] } | { campaignId: string; limit: number };

export type { CampaignSettings };

export interface EnrichResult {
  enriched: number[];
  skipped: number[];
  cache: { hits: number; misses: number };
}

const TASK_ID = int(1, Number.MAX_SAFE_INTEGER);
/** The three shapes, chosen by the field present: campaignId, else taskId, else taskIds. */
const BY_CAMPAIGN: Schema<EnrichEvent> = struct({ campaignId: uuid, limit: optional(int(1, 10_000), 500) });
const BY_TASK: Schema<EnrichEvent> = pipe(struct({ taskId: TASK_ID }), transform((e) => ({ taskIds: [e.taskId] })));
const BY_TASKS: Schema<EnrichEvent> = struct({
  taskIds: pipe(custom<unknown>((v) => v !== undefined, "is required (or give taskId, or campaignId)"), list(TASK_ID, 1, 10_000)),
});

/** The fields that choose the shape, in the order they are chosen by. */
const SELECTORS = ["campaignId", "taskId", "taskIds"] as const;

export function parseEnrichEvent(event: unknown): EnrichEvent {
  const e = event !== null && typeof event === "object" ? (event as Record<string, unknown>) : {};
  // Two shapes at once ({"taskId": 1, "taskIds": [2]}) would enrich one and silently drop the other.
  const given = SELECTORS.filter((k) => e[k] !== undefined);
  if (given.length > 1) {
    throw new InvalidEventError("enrich-dial-task", given.slice(1).map((k) => ({ path: k, message: `cannot be combined with ${given[0]} (give one of ${SELECTORS.join(", ")})` })));
  }
  const schema = e.campaignId !== undefined ? BY_CAMPAIGN : e.taskId !== undefined ? BY_TASK : BY_TASKS;
  return parseEvent("enrich-dial-task", schema, event);
}

export function settingsKey(campaignId: string): string {
  return `campaign:v1:${campaignId}:settings`;
}

export async function campaignSettings(db: Queryable, cache: Cache, campaignId: string, ttlSeconds: number) {
  return cache.getOrLoad<CampaignSettings | null>(settingsKey(campaignId), ttlSeconds, async () => {
    const { rows } = await db.query<CampaignSettings>(
      `SELECT id, name, caller_id AS "callerId", time_zone AS "timeZone",
              to_char(window_start, 'HH24:MI') AS "windowStart", to_char(window_end, 'HH24:MI') AS "windowEnd",
              max_concurrent_calls AS "maxConcurrentCalls", max_attempts AS "maxAttempts",
              retry_delay_seconds AS "retryDelaySeconds"
       FROM campaigns WHERE id = $1`,
      [campaignId],
    );
    return rows[0] ?? null;
  });
}

export const { handler, run } = defineHandler("enrich-dial-task", parseEnrichEvent, async (rt, event): Promise<EnrichResult> => {
  const reader: Queryable = { query: (text, values) => rt.db.query(text, values, { idempotent: true }) };
  const { rows: tasks } = await reader.query<{ id: string; campaign_id: string; phone_e164: string; name: string | null }>(
    "taskIds" in event
      ? `SELECT t.id, t.campaign_id, k.phone_e164, k.name FROM dial_tasks t JOIN contacts k ON k.id = t.contact_id
         WHERE t.id = ANY($1::bigint[]) AND t.status = 'pending' ORDER BY t.id`
      : `SELECT t.id, t.campaign_id, k.phone_e164, k.name FROM dial_tasks t JOIN contacts k ON k.id = t.contact_id
         WHERE t.campaign_id = $1 AND t.status = 'pending' ORDER BY t.id LIMIT $2`,
    "taskIds" in event ? [event.taskIds] : [event.campaignId, event.limit],
  );
  const settings = new Map<string, CampaignSettings | null>();
  let hits = 0;
  let misses = 0;
  for (const campaignId of new Set(tasks.map((t) => t.campaign_id))) {
    const s = await campaignSettings(reader, rt.cache, campaignId, rt.config.settingsTtlSeconds);
    s.hit ? hits++ : misses++;
    settings.set(campaignId, s.value);
  }
  const ready = tasks.filter((t) => settings.get(t.campaign_id));
  const { rows: updated } = await rt.db.query<{ id: string }>(
    `UPDATE dial_tasks t
     SET status = 'ready', phone_e164 = i.phone, contact_name = i.name, caller_id = i.caller_id,
         enriched_at = now(), due_at = now(), updated_at = now()
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS i(id, phone, name, caller_id)
     WHERE t.id = i.id AND t.status = 'pending'
     RETURNING t.id`,
    [ready.map((t) => t.id), ready.map((t) => t.phone_e164), ready.map((t) => t.name), ready.map((t) => settings.get(t.campaign_id)!.callerId)],
    { idempotent: true },
  );
  const enriched = updated.map((r) => Number(r.id)).sort((a, b) => a - b);
  const done = new Set(enriched);
  const requested = "taskIds" in event ? event.taskIds : tasks.map((t) => Number(t.id));
  const skipped = requested.filter((id) => !done.has(id));
  rt.log.info("dial tasks enriched", { enriched: enriched.length, skipped: skipped.length, cacheHits: hits, cacheMisses: misses });
  return { enriched, skipped, cache: { hits, misses } };
});
