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
 *
 * A certain failure (ARI never placed the call) never uses up one of the contact's attempts.
 * What happens to the task depends on the kind of failure (lambdas/shared/ari.ts):
 * - transient (ARI down: DNS failure, refused connection, no connection within ARI_TIMEOUT_MS,
 *   5xx, 401/403/408/425/429; the request certainly placed no call): `ready` again after
 *   backoff(n) = min(ARI_RETRY_BASE_SECONDS * 2^(n-1), ARI_RETRY_MAX_SECONDS), n = transient
 *   failures in a row for this task (reset when ARI accepts one of its calls). The
 *   ARI_MAX_TRANSIENT_FAILURES-th in a row marks it `failed` (defaults 60 s doubling to 1 h, 10
 *   failures: about 4 h of outage per task before giving up);
 * - rejected (ARI refused this call: other 4xx, e.g. 400 bad endpoint, 404, 422): counted; `ready`
 *   again after max(retry delay, backoff(n)), n = rejections so far; the ARI_MAX_REJECTIONS-th
 *   rejection marks it `failed`.
 * - ambiguous (the request was sent, then the answer timed out or the connection dropped):
 *   Asterisk may have placed the call, and a second call to the same person is worse than a lost
 *   attempt. The task stays `dialing` with this attempt's channel id, still counts against
 *   maxConcurrentCalls, and keeps the attempt (it may have reached the contact). Whatever comes
 *   first settles it, exactly like a call ARI accepted: the status-checker's outcome event for that
 *   channel id, or its expiry after DIALING_STUCK_AFTER_SECONDS (outcome `expired`, then the
 *   campaign's retry policy: `ready` after retryDelaySeconds or `exhausted`). The attempt is
 *   marked originate_unconfirmed. No GET /ari/channels/{id} before re-dialing: a 404 cannot tell
 *   "never created" from "created, rang and already hung up", and a POST still queued in Asterisk
 *   may create the channel after the GET, so it could not keep the no-double-dial guarantee.
 * A `failed` task is terminal (failure_reason says why), so the campaign can complete.
 * The settling statement is guarded by the task still being `dialing` with that channel id, so a
 * retry after a dead connection, or an outcome recorded meanwhile, counts nothing twice.
 * A worker that dies between claim and origination leaves the task `dialing`: status-checker
 * expires it after DIALING_STUCK_AFTER_SECONDS.
 * Campaigns are isolated: each claim is its own transaction, and one that fails (say a time zone
 * the database rejects) rolls back only that campaign's claim; it is skipped, reported in
 * `skippedCampaigns` and logged, and the round goes on with the others. Calls already claimed are
 * always originated and settled: an origination that throws (e.g. the ARI password cannot be
 * fetched) is a transient failure of that call (no request was sent), never an exception that
 * would strand the round's claimed tasks in `dialing`.
 * Event: {} (all running campaigns) or {"campaignId": "...", "limit": 10}.
 */
import type { FailureKind, OriginateResult } from "../shared/ari";
import type { Queryable } from "../shared/db";
import { defineHandler, type Runtime } from "../shared/runtime";
import { optional } from "valibot";
import { int, parseEvent, struct, uuid } from "../shared/validate";

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
  ari_transient_failures: number;
}

/** Where a failed origination left its task. */
export type TaskStatusAfter = "ready" | "failed" | "dialing" | "done" | "exhausted";

export interface DialFailure {
  taskId: number;
  /** The attempt's channel id (for an ambiguous outcome, the one its outcome event will name). */
  channelId: string;
  kind: FailureKind;
  error: string;
  /**
   * transient/rejected: `ready` (tried again in retryInSeconds) or `failed` (given up), null if it
   * was settled elsewhere meanwhile. ambiguous: the task's status, normally `dialing` (held until
   * its outcome event or the status-checker's expiry; never re-dialed by the dialer meanwhile).
   */
  taskStatus: TaskStatusAfter | null;
  /** When the dialer put the task back to `ready`; null otherwise (always null for ambiguous). */
  retryInSeconds: number | null;
}

/** A campaign this round left alone because claiming its tasks failed (nothing of it was claimed). */
export interface SkippedCampaign {
  campaignId: string;
  error: string;
  /** SQLSTATE when the database refused (e.g. 22023: a time zone PostgreSQL does not know). */
  code?: string;
}

export interface DialResult {
  claimed: number;
  originated: { taskId: number; channelId: string }[];
  failed: DialFailure[];
  /** Campaigns whose claim failed: skipped this round, reported, never blocking the others. */
  skippedCampaigns: SkippedCampaign[];
}

const DIAL_EVENT = struct({ campaignId: optional(uuid), limit: optional(int(1, 1000)) });

export function parseDialEvent(event: unknown): DialEvent {
  return parseEvent("dialer-worker", DIAL_EVENT, event);
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
       RETURNING t.id, t.campaign_id, t.attempts, t.channel_id, t.phone_e164, t.caller_id, t.contact_name, t.ari_transient_failures
     ), attempt AS (
       INSERT INTO call_attempts (task_id, campaign_id, attempt_no, channel_id)
       SELECT id, campaign_id, attempts, channel_id FROM claimed
     )
     SELECT * FROM claimed ORDER BY id`,
    [campaignId, free],
  );
  return rows;
}

/**
 * Settles the originations of one round in one statement: certain failures per their kind (see
 * the top of this file), ambiguous ones (the task is left `dialing`; the attempt is marked
 * originate_unconfirmed), and successes of tasks that had transient failures (their count starts
 * again; an ambiguous outcome starts it again too: it is not a transient failure, and from now on
 * the campaign's retry policy governs the task).
 */
async function settle(rt: Runtime, results: { task: ClaimedTask; result: OriginateResult }[]): Promise<DialFailure[]> {
  const rows = results.filter(({ task, result }) => !result.ok || task.ari_transient_failures > 0);
  if (rows.length === 0) return [];
  const ari = rt.config.ari!;
  const { rows: settled } = await rt.db.query<{ id: string; status: TaskStatusAfter; retry_in: number | null }>(
    `WITH f AS (
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS f(task_id, channel_id, kind, error)
     ), attempt AS (
       UPDATE call_attempts a
       SET outcome = CASE f.kind WHEN 'rejected' THEN 'originate_rejected' WHEN 'transient' THEN 'originate_failed' ELSE a.outcome END,
           ended_at = CASE WHEN f.kind = 'ambiguous' THEN a.ended_at ELSE now() END,
           originate_unconfirmed = (f.kind = 'ambiguous'), error = f.error
       FROM f WHERE a.channel_id = f.channel_id AND (f.kind = 'ambiguous' OR (f.kind <> 'ok' AND a.outcome IS NULL))
     ), accepted AS (
       UPDATE dial_tasks t SET ari_transient_failures = 0
       FROM f WHERE f.kind IN ('ok', 'ambiguous') AND t.id = f.task_id AND t.ari_transient_failures > 0
     ), unconfirmed AS (
       -- left as they are (normally still dialing; an outcome may already have settled one)
       SELECT t.id, t.status FROM f JOIN dial_tasks t ON t.id = f.task_id WHERE f.kind = 'ambiguous'
     ), n AS (
       SELECT t.id, f.channel_id, f.kind, f.error, c.retry_delay_seconds,
              t.ari_rejections + (f.kind = 'rejected')::int AS rejections,
              CASE f.kind WHEN 'transient' THEN t.ari_transient_failures + 1 ELSE t.ari_transient_failures END AS transients
       FROM f JOIN dial_tasks t ON t.id = f.task_id AND t.channel_id = f.channel_id AND t.status = 'dialing'
              JOIN campaigns c ON c.id = t.campaign_id
       WHERE f.kind IN ('transient', 'rejected')
     ), d AS (
       SELECT n.*,
              CASE WHEN kind = 'rejected' AND rejections >= $5 THEN format('ARI rejected the call %s times; last: %s', rejections, error)
                   WHEN kind = 'transient' AND transients >= $6 THEN format('ARI unavailable on %s attempts in a row; last: %s', transients, error)
              END AS reason,
              -- backoff(k) = min(base * 2^(k-1), max); the exponent is capped so the power stays finite
              CASE kind WHEN 'rejected' THEN GREATEST(retry_delay_seconds, LEAST($7 * power(2, LEAST(rejections - 1, 40)), $8))
                        ELSE LEAST($7 * power(2, LEAST(transients - 1, 40)), $8) END AS delay
       FROM n
     ), failed AS (
       UPDATE dial_tasks t
       SET status = CASE WHEN d.reason IS NULL THEN 'ready' ELSE 'failed' END,
           failure_reason = d.reason,
           due_at = CASE WHEN d.reason IS NULL THEN now() + make_interval(secs => d.delay) ELSE t.due_at END,
           attempts = t.attempts - 1, channel_id = NULL, dialing_since = NULL,
           ari_rejections = d.rejections, ari_transient_failures = d.transients,
           last_outcome = CASE d.kind WHEN 'rejected' THEN 'originate_rejected' ELSE 'originate_failed' END, updated_at = now()
       FROM d WHERE t.id = d.id AND t.channel_id = d.channel_id AND t.status = 'dialing' -- rechecked on the row it updates
       RETURNING t.id, t.status, CASE WHEN d.reason IS NULL THEN d.delay::int END AS retry_in
     )
     SELECT id, status, retry_in FROM failed
     UNION ALL SELECT id, status, NULL FROM unconfirmed`,
    [
      rows.map((r) => r.task.id),
      rows.map((r) => r.task.channel_id),
      rows.map((r) => (r.result.ok ? "ok" : r.result.kind)),
      rows.map((r) => (r.result.ok ? null : r.result.error)),
      ari.maxRejections,
      ari.maxTransientFailures,
      ari.retryBaseSeconds,
      ari.retryMaxSeconds,
    ],
    { idempotent: true },
  );
  const byId = new Map(settled.map((r) => [String(r.id), r]));
  return results.flatMap(({ task, result }) => {
    if (result.ok) return [];
    const row = byId.get(String(task.id));
    return [
      {
        taskId: Number(task.id),
        channelId: task.channel_id,
        kind: result.kind,
        error: result.error,
        taskStatus: row?.status ?? null,
        retryInSeconds: row?.retry_in ?? null,
      },
    ];
  });
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
  const skippedCampaigns: SkippedCampaign[] = [];
  for (const campaignId of campaigns) {
    if (budget <= 0) break;
    try {
      const tasks = await rt.db.tx((q) => claim(q, campaignId, budget));
      budget -= tasks.length;
      claimed.push(...tasks);
    } catch (e) {
      const err = e as Error & { code?: string };
      skippedCampaigns.push({ campaignId, error: err.message.slice(0, 300), ...(err.code ? { code: err.code } : {}) });
    }
  }
  if (skippedCampaigns.length) rt.log.error("campaigns skipped this round: claiming their tasks failed (nothing claimed for them)", { campaigns: skippedCampaigns });

  const results = await Promise.all(
    claimed.map(async (t) => ({
      task: t,
      result: await rt
        .originate({
          channelId: t.channel_id,
          number: t.phone_e164,
          callerId: t.caller_id,
          variables: { CAMPAIGN_ID: t.campaign_id, TASK_ID: String(t.id), ATTEMPT: String(t.attempts), CONTACT_NAME: t.contact_name ?? "" },
        })
        .catch((e: Error): OriginateResult => ({ ok: false, kind: "transient", error: `origination not attempted: ${e.message.slice(0, 200)} (request not sent)` })),
    })),
  );
  const failed = await settle(rt, results);
  const originated = results.filter((r) => r.result.ok).map((r) => ({ taskId: Number(r.task.id), channelId: r.task.channel_id }));
  const count = (k: FailureKind) => failed.filter((f) => f.kind === k).length;
  const gaveUp = failed.filter((f) => f.taskStatus === "failed");
  const unconfirmed = failed.filter((f) => f.kind === "ambiguous");
  const certain = failed.filter((f) => f.kind !== "ambiguous");
  rt.log.info("dial round done", {
    campaigns: campaigns.length,
    skippedCampaigns: skippedCampaigns.length,
    claimed: claimed.length,
    originated: originated.length,
    transient: count("transient"),
    rejected: count("rejected"),
    ambiguous: unconfirmed.length,
    gaveUp: gaveUp.length,
  });
  if (certain.length) rt.log.warn("originations failed", { failed: certain });
  if (unconfirmed.length) {
    rt.log.warn("origination outcome unknown (request sent, no answer): the call may have been placed; task kept dialing until its outcome event or expiry, not re-dialed", {
      tasks: unconfirmed.map((f) => ({ taskId: f.taskId, channelId: f.channelId, taskStatus: f.taskStatus, error: f.error })),
    });
  }
  if (gaveUp.length) rt.log.error("tasks failed for good (ARI origination)", { tasks: gaveUp.map((f) => ({ taskId: f.taskId, error: f.error })) });
  return { claimed: claimed.length, originated, failed, skippedCampaigns };
});
