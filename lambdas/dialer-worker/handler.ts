/**
 * dialer-worker: claims due `ready` tasks and originates their calls through ARI.
 *
 * Claiming, per campaign, in one short transaction:
 *   1. lock the campaign row (FOR UPDATE): claimers of the same campaign take turns here, so the
 *      in-flight count read next cannot be stale (READ COMMITTED: each statement sees commits that
 *      happened before it started, including the other worker's claim);
 *   2. count its calls in flight (`dialing`) and take at most max_concurrent_calls - in_flight;
 *   3. claim them with FOR UPDATE SKIP LOCKED, mark them `dialing` and record the attempt.
 * The ARI requests happen after COMMIT (no transaction or proxy connection held during HTTP).
 * A failed origination puts the task back as `ready` with a later due time (max(retry delay, 60 s));
 * it does not use up one of the contact's attempts (an ARI outage must not burn the campaign).
 * A worker that dies between claim and origination leaves the task `dialing`: status-checker
 * expires it after DIALING_STUCK_AFTER_SECONDS.
 * Event: {} (all running campaigns) or {"campaignId": "...", "limit": 10}.
 */
import type { Queryable } from "../shared/db";
import { defineHandler, type Runtime } from "../shared/runtime";
import { Checker } from "../shared/validate";

export interface DialEvent {
  campaignId?: string;
  limit?: number;
}

interface ClaimedTask {
  id: string;
  campaign_id: string;
  attempts: number;
  channel_id: string;
  phone_e164: string;
  caller_id: string;
  contact_name: string | null;
}

export interface DialResult {
  claimed: number;
  originated: { taskId: number; channelId: string }[];
  failed: { taskId: number; error: string }[];
}

export function parseDialEvent(event: unknown): DialEvent {
  const c = new Checker();
  const e = c.object(event, "$");
  const campaignId = e && c.optional(e.campaignId, (v) => c.uuid(v, "campaignId"));
  const limit = e && c.optional(e.limit, (v) => c.int(v, "limit", 1, 1000));
  return c.done("dialer-worker", e ? { campaignId, limit } : undefined);
}

/** Is the campaign's local time inside [start, end)? Windows may cross midnight. */
export function inWindow(local: string, start: string, end: string): boolean {
  return start < end ? local >= start && local < end : local >= start || local < end;
}

async function claim(q: Queryable, campaignId: string, budget: number): Promise<ClaimedTask[]> {
  const campaign = await q.query<{ max_concurrent_calls: number; ws: string; we: string; local_time: string }>(
    `SELECT max_concurrent_calls, window_start::text AS ws, window_end::text AS we,
            (now() AT TIME ZONE time_zone)::time::text AS local_time
     FROM campaigns WHERE id = $1 AND status = 'running'
     FOR UPDATE`,
    [campaignId],
  );
  const c = campaign.rows[0];
  if (!c || !inWindow(c.local_time, c.ws, c.we)) return [];
  const inFlight = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM dial_tasks WHERE campaign_id = $1 AND status = 'dialing'`, [campaignId]);
  const free = Math.min(budget, c.max_concurrent_calls - inFlight.rows[0].n);
  if (free <= 0) return [];
  const { rows } = await q.query<ClaimedTask>(
    `WITH picked AS (
       SELECT id FROM dial_tasks
       WHERE campaign_id = $1 AND status = 'ready' AND due_at <= now()
       ORDER BY due_at, id LIMIT $2
       FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE dial_tasks t
       SET status = 'dialing', attempts = t.attempts + 1, channel_id = 'cmp-' || gen_random_uuid(),
           dialing_since = now(), updated_at = now()
       FROM picked WHERE t.id = picked.id
       RETURNING t.id, t.campaign_id, t.attempts, t.channel_id, t.phone_e164, t.caller_id, t.contact_name
     ), attempt AS (
       INSERT INTO call_attempts (task_id, campaign_id, attempt_no, channel_id)
       SELECT id, campaign_id, attempts, channel_id FROM claimed
     )
     SELECT * FROM claimed ORDER BY id`,
    [campaignId, free],
  );
  return rows;
}

async function putBack(rt: Runtime, failures: { channelId: string; error: string }[]): Promise<void> {
  if (failures.length === 0) return;
  await rt.db.query(
    `WITH f AS (
       SELECT * FROM unnest($1::text[], $2::text[]) AS f(channel_id, error)
     ), attempt AS (
       UPDATE call_attempts a SET outcome = 'originate_failed', ended_at = now(), error = f.error
       FROM f WHERE a.channel_id = f.channel_id AND a.outcome IS NULL
     )
     UPDATE dial_tasks t
     SET status = 'ready', attempts = t.attempts - 1, channel_id = NULL, dialing_since = NULL,
         due_at = now() + make_interval(secs => GREATEST(c.retry_delay_seconds, 60)),
         last_outcome = 'originate_failed', updated_at = now()
     FROM f, campaigns c
     WHERE t.channel_id = f.channel_id AND t.status = 'dialing' AND c.id = t.campaign_id`,
    [failures.map((f) => f.channelId), failures.map((f) => f.error)],
    { idempotent: true },
  );
}

export const { handler, run } = defineHandler("dialer-worker", parseDialEvent, async (rt, event): Promise<DialResult> => {
  let budget = event.limit ?? rt.config.ari!.batchLimit;
  const campaigns = event.campaignId
    ? [event.campaignId]
    : (
        await rt.db.query<{ campaign_id: string }>(
          `SELECT DISTINCT t.campaign_id FROM dial_tasks t JOIN campaigns c ON c.id = t.campaign_id
           WHERE c.status = 'running' AND t.status = 'ready' AND t.due_at <= now() LIMIT 100`,
          [],
          { idempotent: true },
        )
      ).rows.map((r) => r.campaign_id);

  const claimed: ClaimedTask[] = [];
  for (const campaignId of campaigns) {
    if (budget <= 0) break;
    const tasks = await rt.db.tx((q) => claim(q, campaignId, budget));
    budget -= tasks.length;
    claimed.push(...tasks);
  }

  const results = await Promise.all(
    claimed.map(async (t) => ({
      task: t,
      result: await rt.originate({
        channelId: t.channel_id,
        number: t.phone_e164,
        callerId: t.caller_id,
        variables: { CAMPAIGN_ID: t.campaign_id, TASK_ID: String(t.id), ATTEMPT: String(t.attempts), CONTACT_NAME: t.contact_name ?? "" },
      }),
    })),
  );
  const failed = results.flatMap(({ task, result }) => (result.ok ? [] : [{ taskId: Number(task.id), channelId: task.channel_id, error: result.error }]));
  await putBack(rt, failed);
  const originated = results.filter((r) => r.result.ok).map((r) => ({ taskId: Number(r.task.id), channelId: r.task.channel_id }));
  rt.log.info("dial round done", { campaigns: campaigns.length, claimed: claimed.length, originated: originated.length, failed: failed.length });
  if (failed.length) rt.log.warn("originations failed; tasks put back", { failed: failed.map((f) => ({ taskId: f.taskId, error: f.error })) });
  return { claimed: claimed.length, originated, failed: failed.map(({ taskId, error }) => ({ taskId, error })) };
});
