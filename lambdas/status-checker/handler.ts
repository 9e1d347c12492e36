/**
 * status-checker: records call outcomes, schedules retries per the campaign's policy, expires calls
 * stuck in `dialing`, and completes campaigns with nothing left open.
 * Event: {"outcomes": [{"channelId": "cmp-...", "outcome": "answered", "talkSeconds": 42}]}
 * (outcomes optional; the sweeps run on every invocation, e.g. on a schedule). An outcome may
 * carry the hangup cause: "cause" (Q.850 code, 0-255) and "causeText".
 * Outcomes also arrive through the Redis stream the Asterisk-side worker writes (see
 * lambdas/shared/outcomes.ts): every invocation reads up to STREAM_MAX_PER_RUN entries with the
 * consumer group (entries another invocation left unacknowledged for OUTCOME_CLAIM_IDLE_MS are
 * claimed first), records them with the event's outcomes, and acknowledges + deletes them only
 * after the database took them. Redis trouble skips the stream for this run (the entries wait);
 * an entry that is not a valid outcome is acknowledged, logged and reported in stream.invalid
 * (it would otherwise come back forever).
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
import type Redis from "ioredis";
import { fieldsToObject, OUTCOME_CLAIM_IDLE_MS, OUTCOME_GROUP, OUTCOME_STREAM, OUTCOMES, type Outcome } from "../shared/outcomes";
import { defineHandler, type Runtime } from "../shared/runtime";
import { forward, optional, partialCheck, pipe, transform } from "valibot";
import { check, echo, int, listWith, parseEvent, struct, text, type Schema } from "../shared/validate";

export { OUTCOMES, type Outcome };
const OUTCOME = new RegExp(`^(${OUTCOMES.join("|")})$`);

export interface OutcomeItem {
  channelId: string;
  outcome: Outcome;
  talkSeconds: number | null;
  cause: number | null;
  causeText: string | null;
}

export interface StatusEvent {
  outcomes: OutcomeItem[];
}

export interface StatusResult {
  recorded: { channelId: string; taskStatus: string | null }[];
  duplicates: string[];
  unknown: string[];
  expired: number;
  completedCampaigns: string[];
  /** The Redis outcome stream: entries read, acknowledged (recorded or duplicate), and invalid ones (acknowledged, logged). */
  stream: { read: number; acknowledged: number; invalid: number; available: boolean };
}

/** Most stream entries one invocation takes (in batches of STREAM_BATCH). */
export const STREAM_MAX_PER_RUN = 5000;
const STREAM_BATCH = 500;
const STREAM_CONSUMER = "status-checker";

/** One outcome item (event or stream entry). */
const OUTCOME_ITEM: Schema<OutcomeItem> = pipe(
  struct({
    channelId: text({ max: 200 }),
    outcome: text({ pattern: OUTCOME, expected: OUTCOMES.join(" | ") }) as Schema<Outcome>,
    talkSeconds: optional(int(0, 86_400)),
    cause: optional(int(0, 255)),
    causeText: optional(text({ max: 200 })),
  }),
  forward(partialCheck([["talkSeconds"], ["outcome"]], (o) => o.talkSeconds === undefined || o.outcome === "answered", "is only allowed for answered calls"), ["talkSeconds"]),
  transform((o) => ({ channelId: o.channelId, outcome: o.outcome, talkSeconds: o.talkSeconds ?? null, cause: o.cause ?? null, causeText: o.causeText ?? null })),
);

const same = (a: OutcomeItem, b: OutcomeItem) => a.outcome === b.outcome && a.talkSeconds === b.talkSeconds;

/**
 * The same outcome twice (an at-least-once redelivery inside one batch) is one outcome; two
 * different outcomes for one call cannot both be true: refused, nothing recorded.
 */
function oneOutcomePerCall(): (item: OutcomeItem, index: number, fail: (field: string, message: string) => void) => boolean {
  const seen = new Map<string, { index: number; item: OutcomeItem }>();
  return (item, index, fail) => {
    const first = seen.get(item.channelId);
    if (!first) {
      seen.set(item.channelId, { index, item });
      return true;
    }
    const { outcome, talkSeconds } = item;
    const f = first.item;
    if (!same(f, item)) {
      fail("channelId", `names the same call as outcomes[${first.index}] with a different outcome (${f.outcome}${f.talkSeconds === null ? "" : `, ${f.talkSeconds} s`} vs ${outcome}${talkSeconds === null ? "" : `, ${talkSeconds} s`})`);
    }
    return false;
  };
}

const STATUS_EVENT: Schema<StatusEvent> = struct({ outcomes: optional(listWith(OUTCOME_ITEM, 0, 5000, oneOutcomePerCall), []) });

export function parseStatusEvent(event: unknown): StatusEvent {
  return parseEvent("status-checker", STATUS_EVENT, event);
}

/** Shared by the outcome and expiry paths: where a finished attempt leaves its task. */
const NEXT_STATUS = `CASE WHEN o.outcome = 'answered' THEN 'done'
                          WHEN t.attempts >= c.max_attempts THEN 'exhausted'
                          ELSE 'ready' END`;
const NEXT_DUE = `CASE WHEN o.outcome = 'answered' OR t.attempts >= c.max_attempts THEN t.due_at
                       ELSE now() + make_interval(secs => c.retry_delay_seconds) END`;

interface StreamEntry {
  id: string;
  fields: string[];
}

type Entries = [string, string[]][] | null;

async function ensureGroup(c: Redis): Promise<void> {
  await c.xgroup("CREATE", OUTCOME_STREAM, OUTCOME_GROUP, "0", "MKSTREAM").catch((e: Error) => {
    if (!/BUSYGROUP/.test(e.message)) throw e;
  });
}

/** Entries left unacknowledged too long (a consumer died), then new ones; undefined when Redis is unavailable. */
async function readStream(rt: Runtime, count: number): Promise<StreamEntry[] | undefined> {
  return rt.cache.command(async (c) => {
    await ensureGroup(c);
    const claimed = (await c.call("XAUTOCLAIM", OUTCOME_STREAM, OUTCOME_GROUP, STREAM_CONSUMER, String(OUTCOME_CLAIM_IDLE_MS), "0-0", "COUNT", String(count))) as [string, Entries];
    const entries = (claimed[1] ?? []).filter((e): e is [string, string[]] => Array.isArray(e));
    if (entries.length < count) {
      const fresh = (await c.xreadgroup("GROUP", OUTCOME_GROUP, STREAM_CONSUMER, "COUNT", count - entries.length, "STREAMS", OUTCOME_STREAM, ">")) as [string, Entries][] | null;
      entries.push(...(fresh?.[0]?.[1] ?? []));
    }
    return entries.map(([id, fields]) => ({ id, fields }));
  });
}

async function acknowledge(rt: Runtime, ids: string[]): Promise<boolean> {
  if (ids.length === 0) return true;
  const r = await rt.cache.command((c) => c.multi().xack(OUTCOME_STREAM, OUTCOME_GROUP, ...ids).xdel(OUTCOME_STREAM, ...ids).exec());
  return r !== undefined && r !== null && r.every(([e]) => !e);
}

async function record(rt: Runtime, outcomes: OutcomeItem[], result: StatusResult): Promise<void> {
  if (outcomes.length === 0) return;
  const { rows } = await rt.db.query<{ channel_id: string; known: boolean; recorded: boolean; task_status: string | null }>(
      `WITH o AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[]) AS o(channel_id, outcome, talk_seconds, cause, cause_txt)
       ), attempt AS (
         UPDATE call_attempts a SET outcome = o.outcome, talk_seconds = o.talk_seconds, ended_at = now(),
                                    hangup_cause = o.cause, hangup_cause_txt = o.cause_txt
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
      [outcomes.map((o) => o.channelId), outcomes.map((o) => o.outcome), outcomes.map((o) => o.talkSeconds), outcomes.map((o) => o.cause), outcomes.map((o) => o.causeText)],
      { idempotent: true },
    );
  for (const r of rows) {
    if (r.recorded) result.recorded.push({ channelId: r.channel_id, taskStatus: r.task_status });
    else if (r.known) result.duplicates.push(r.channel_id);
    else result.unknown.push(r.channel_id);
  }
}

/**
 * Reads the outcome stream in batches, records each batch, then acknowledges it. A channel id
 * seen twice (a redelivery, or twice in the stream) is recorded once and reported as a duplicate.
 */
async function consumeStream(rt: Runtime, result: StatusResult, seen: Map<string, OutcomeItem>): Promise<void> {
  while (result.stream.read < STREAM_MAX_PER_RUN) {
    const entries = await readStream(rt, Math.min(STREAM_BATCH, STREAM_MAX_PER_RUN - result.stream.read));
    if (entries === undefined) {
      result.stream.available = false;
      return;
    }
    if (entries.length === 0) return;
    result.stream.read += entries.length;
    const batch: OutcomeItem[] = [];
    const invalid: { id: string; problems: string[] }[] = [];
    for (const entry of entries) {
      const { output: item, issues } = check(OUTCOME_ITEM, fieldsToObject(entry.fields), "entry");
      if (!item) {
        invalid.push({ id: entry.id, problems: issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`) });
        continue;
      }
      const first = seen.get(item.channelId);
      if (first) {
        if (!same(first, item)) rt.log.warn("outcome stream: a second, different outcome for a call already recorded in this run; kept the first", { channelId: item.channelId, first: first.outcome, second: item.outcome });
        result.duplicates.push(item.channelId);
        continue;
      }
      seen.set(item.channelId, item);
      batch.push(item);
    }
    if (invalid.length) rt.log.error("outcome stream: invalid entries acknowledged and dropped", { entries: invalid.slice(0, 20).map((e) => ({ ...e, id: echo(e.id) })), count: invalid.length });
    await record(rt, batch, result); // throws on database trouble: nothing acknowledged, the entries come back
    if (!(await acknowledge(rt, entries.map((e) => e.id)))) {
      rt.log.warn("outcome stream: acknowledgement failed; the entries will be delivered again (and reported as duplicates)", { count: entries.length });
      result.stream.available = false;
      return;
    }
    result.stream.acknowledged += entries.length;
    result.stream.invalid += invalid.length;
    if (entries.length < STREAM_BATCH) return;
  }
}

export const { handler, run } = defineHandler("status-checker", parseStatusEvent, async (rt, event): Promise<StatusResult> => {
  const result: StatusResult = { recorded: [], duplicates: [], unknown: [], expired: 0, completedCampaigns: [], stream: { read: 0, acknowledged: 0, invalid: 0, available: rt.cache.enabled } };
  await record(rt, event.outcomes, result);
  if (rt.cache.enabled) await consumeStream(rt, result, new Map(event.outcomes.map((o) => [o.channelId, o])));

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
    streamRead: result.stream.read,
    streamInvalid: result.stream.invalid,
  });
  return result;
});
