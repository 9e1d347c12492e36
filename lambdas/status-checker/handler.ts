/**
 * status-checker: records call outcomes, schedules retries per the campaign's policy, expires calls
 * stuck in `dialing`, and completes campaigns with nothing left open.
 * Event: {"outcomes": [{"channelId": "cmp-...", "outcome": "answered", "talkSeconds": 42}]}
 * (outcomes optional; the sweeps run on every invocation, e.g. on a schedule).
 * Outcome -> task: answered -> done; no_answer/busy/failed -> ready again after retryDelaySeconds,
 * or exhausted once maxAttempts is used up. Redelivered outcomes change nothing (reported as duplicate).
 * A channelId repeated inside one event with the same outcome counts once (reported once); repeated
 * with a different outcome, the event is invalid (InvalidEventError naming both entries).
 * Calls stuck in `dialing` past DIALING_STUCK_AFTER_SECONDS are expired (outcome expired, then the
 * same retry policy). That includes ambiguous originations (dialer-worker: the request was sent but
 * its answer was lost) that got no outcome event. DIALING_STUCK_AFTER_SECONDS must stay above the
 * dialer-worker's run time (its Lambda timeout), or a call still being originated could expire and
 * be dialed again.
 */
import { defineHandler } from "../shared/runtime";
import { Checker, join } from "../shared/validate";

export const OUTCOMES = ["answered", "no_answer", "busy", "failed"] as const;
export type Outcome = (typeof OUTCOMES)[number];
const OUTCOME = new RegExp(`^(${OUTCOMES.join("|")})$`);

export interface StatusEvent {
  outcomes: { channelId: string; outcome: Outcome; talkSeconds: number | null }[];
}

export interface StatusResult {
  recorded: { channelId: string; taskStatus: string | null }[];
  duplicates: string[];
  unknown: string[];
  expired: number;
  completedCampaigns: string[];
}

export function parseStatusEvent(event: unknown): StatusEvent {
  const c = new Checker();
  const e = c.object(event, "$");
  const list = e && c.optional(e.outcomes, (v) => c.array(v, "outcomes", 0, 5000));
  const outcomes: StatusEvent["outcomes"] = [];
  const seen = new Map<string, { index: number; outcome: Outcome; talkSeconds: number | null }>();
  list?.forEach((item, i) => {
    const path = join("outcomes", i);
    const o = c.object(item, path);
    if (!o) return;
    const channelId = c.string(o.channelId, join(path, "channelId"), { max: 200 });
    const outcome = c.string(o.outcome, join(path, "outcome"), { pattern: OUTCOME, expected: OUTCOMES.join(" | ") }) as Outcome | undefined;
    const talkSeconds = c.optional(o.talkSeconds, (v) => c.int(v, join(path, "talkSeconds"), 0, 86_400));
    if (talkSeconds !== undefined && outcome && outcome !== "answered") c.fail(join(path, "talkSeconds"), "is only allowed for answered calls");
    if (!channelId || !outcome) return;
    const first = seen.get(channelId);
    if (first) {
      // The same outcome twice (an at-least-once redelivery inside one batch) is one outcome;
      // two different outcomes for one call cannot both be true: refused, nothing recorded.
      if (first.outcome !== outcome || first.talkSeconds !== (talkSeconds ?? null))
        c.fail(join(path, "channelId"), `names the same call as outcomes[${first.index}] with a different outcome (${first.outcome}${first.talkSeconds === null ? "" : `, ${first.talkSeconds} s`} vs ${outcome}${talkSeconds === undefined ? "" : `, ${talkSeconds} s`})`);
      return;
    }
    seen.set(channelId, { index: i, outcome, talkSeconds: talkSeconds ?? null });
    outcomes.push({ channelId, outcome, talkSeconds: talkSeconds ?? null });
  });
  return c.done("status-checker", e ? { outcomes } : undefined);
}

/** Shared by the outcome and expiry paths: where a finished attempt leaves its task. */
const NEXT_STATUS = `CASE WHEN o.outcome = 'answered' THEN 'done'
                          WHEN t.attempts >= c.max_attempts THEN 'exhausted'
                          ELSE 'ready' END`;
const NEXT_DUE = `CASE WHEN o.outcome = 'answered' OR t.attempts >= c.max_attempts THEN t.due_at
                       ELSE now() + make_interval(secs => c.retry_delay_seconds) END`;

export const { handler, run } = defineHandler("status-checker", parseStatusEvent, async (rt, event): Promise<StatusResult> => {
  const result: StatusResult = { recorded: [], duplicates: [], unknown: [], expired: 0, completedCampaigns: [] };
  if (event.outcomes.length > 0) {
    const { rows } = await rt.db.query<{ channel_id: string; known: boolean; recorded: boolean; task_status: string | null }>(
      `WITH o AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) AS o(channel_id, outcome, talk_seconds)
       ), attempt AS (
         UPDATE call_attempts a SET outcome = o.outcome, talk_seconds = o.talk_seconds, ended_at = now()
         FROM o WHERE a.channel_id = o.channel_id AND a.outcome IS NULL
         RETURNING a.task_id, a.channel_id, a.outcome
       ), task AS (
         UPDATE dial_tasks t
         SET status = ${NEXT_STATUS}, due_at = ${NEXT_DUE}, last_outcome = o.outcome,
             channel_id = NULL, dialing_since = NULL, updated_at = now()
         FROM attempt o, campaigns c
         WHERE t.id = o.task_id AND t.channel_id = o.channel_id AND t.status = 'dialing' AND c.id = t.campaign_id
         RETURNING o.channel_id, t.status
       )
       SELECT o.channel_id,
              EXISTS (SELECT 1 FROM call_attempts a WHERE a.channel_id = o.channel_id) AS known,
              attempt.channel_id IS NOT NULL AS recorded, task.status AS task_status
       FROM o LEFT JOIN attempt ON attempt.channel_id = o.channel_id LEFT JOIN task ON task.channel_id = o.channel_id`,
      [event.outcomes.map((o) => o.channelId), event.outcomes.map((o) => o.outcome), event.outcomes.map((o) => o.talkSeconds)],
      { idempotent: true },
    );
    for (const r of rows) {
      if (r.recorded) result.recorded.push({ channelId: r.channel_id, taskStatus: r.task_status });
      else if (r.known) result.duplicates.push(r.channel_id);
      else result.unknown.push(r.channel_id);
    }
  }

  const expired = await rt.db.query<{ expired: number; unconfirmed: number }>(
    `WITH stuck AS (
       SELECT id, channel_id FROM dial_tasks
       WHERE status = 'dialing' AND dialing_since < now() - make_interval(secs => $1)
       ORDER BY dialing_since LIMIT 1000
       FOR UPDATE SKIP LOCKED
     ), attempt AS (
       UPDATE call_attempts a SET outcome = 'expired', ended_at = now()
       FROM stuck WHERE a.channel_id = stuck.channel_id AND a.outcome IS NULL
       RETURNING a.channel_id, a.originate_unconfirmed
     ), task AS (
       UPDATE dial_tasks t
       SET status = ${NEXT_STATUS}, due_at = ${NEXT_DUE}, last_outcome = 'expired',
           channel_id = NULL, dialing_since = NULL, updated_at = now()
       FROM stuck, campaigns c, (SELECT 'expired'::text AS outcome) o
       WHERE t.id = stuck.id AND c.id = t.campaign_id
       RETURNING stuck.channel_id
     )
     SELECT count(*)::int AS expired, count(*) FILTER (WHERE attempt.originate_unconfirmed)::int AS unconfirmed
     FROM task LEFT JOIN attempt ON attempt.channel_id = task.channel_id`,
    [rt.config.dialingStuckAfterSeconds],
    { idempotent: true },
  );
  result.expired = expired.rows[0].expired;
  // Ambiguous originations (request sent, answer lost) that got no outcome event: settled here per the retry policy.
  if (expired.rows[0].unconfirmed > 0) rt.log.warn("expired unconfirmed originations (no outcome event; retried per policy)", { count: expired.rows[0].unconfirmed });

  const completed = await rt.db.query<{ id: string }>(
    `UPDATE campaigns c SET status = 'completed', completed_at = now()
     WHERE c.status = 'running'
       AND NOT EXISTS (SELECT 1 FROM dial_tasks t WHERE t.campaign_id = c.id AND t.status IN ('pending', 'ready', 'dialing'))
       AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.campaign_id = c.id
                         AND NOT EXISTS (SELECT 1 FROM dial_tasks t WHERE t.contact_id = k.id))
     RETURNING c.id`,
    [],
    { idempotent: true },
  );
  result.completedCampaigns = completed.rows.map((r) => r.id);
  rt.log.info("status check done", {
    recorded: result.recorded.length,
    duplicates: result.duplicates.length,
    unknown: result.unknown.length,
    expired: result.expired,
    completed: result.completedCampaigns.length,
  });
  return result;
});
