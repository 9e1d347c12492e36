/**
 * The hand-over of call outcomes from the Asterisk-side worker (lambdas/asterisk-worker) to the
 * status-checker: one Redis stream on the Asterisk host's Redis, read by the consumer group
 * OUTCOME_GROUP. At least once: an entry is acknowledged (XACK) and deleted (XDEL) only after the
 * status-checker recorded it in the database; an entry left pending by a consumer that died is
 * claimed again (XAUTOCLAIM) after OUTCOME_CLAIM_IDLE_MS. The status-checker's SQL is idempotent
 * (an attempt's outcome is written once), so a redelivery is reported as a duplicate, never
 * counted twice. Dependency-free: the worker bundle imports it without pg.
 *
 * An entry is a flat list of fields (all strings):
 *   channelId   the attempt's channel id (the dialer's `cmp-<uuid>`)
 *   outcome     answered | no_answer | busy | failed
 *   talkSeconds answered calls only: seconds from answer to hangup (event timestamps)
 *   cause       Q.850 hangup cause from ChannelDestroyed (e.g. 16, 17, 19, 34), if known
 *   causeText   its text (cause_txt), or why it is unknown
 *   endedAt     ISO time the channel ended (or was found gone)
 *   source      "event" (seen live) or "reconcile" (found gone after an ARI reconnect)
 */
export const OUTCOMES = ["answered", "no_answer", "busy", "failed"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const OUTCOME_STREAM = "campaign:outcomes:v1";
export const OUTCOME_GROUP = "status-checker";
/** An entry delivered to a consumer and not acknowledged for this long is handed to the next reader. */
export const OUTCOME_CLAIM_IDLE_MS = 60_000;

export interface OutcomeRecord {
  channelId: string;
  outcome: Outcome;
  talkSeconds: number | null;
  cause: number | null;
  causeText: string | null;
  endedAt: string;
  source: "event" | "reconcile";
}

export function encodeOutcome(o: OutcomeRecord): string[] {
  const fields = ["channelId", o.channelId, "outcome", o.outcome];
  if (o.talkSeconds !== null) fields.push("talkSeconds", String(o.talkSeconds));
  if (o.cause !== null) fields.push("cause", String(o.cause));
  if (o.causeText !== null) fields.push("causeText", o.causeText);
  fields.push("endedAt", o.endedAt, "source", o.source);
  return fields;
}

/** A stream entry's fields as the object status-checker validates (its outcome event item). */
export function fieldsToObject(fields: string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) o[fields[i]] = fields[i + 1];
  for (const k of ["talkSeconds", "cause"]) if (typeof o[k] === "string" && /^\d+$/.test(o[k] as string)) o[k] = Number(o[k]);
  return o;
}
