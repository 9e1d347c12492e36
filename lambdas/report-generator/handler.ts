/**
 * report-generator: per-campaign totals (contacts, attempts, answered, no answer, busy, failed,
 * average talk time), cached in Redis for REPORT_CACHE_TTL_SECONDS. Redis trouble only means the
 * report is computed from the database. Event: {"campaignId": "...", "refresh": false}.
 * attempts counts calls that reached Asterisk; `failed` includes expired (stuck) calls.
 * Origination failures are reported apart: originateFailed (transient: ARI down, timeout, 5xx),
 * originateRejected (ARI refused the call, e.g. 400/404/422), and tasksFailed (contacts the
 * dialer gave up on after ARI_MAX_REJECTIONS rejections or ARI_MAX_TRANSIENT_FAILURES in a row).
 * originateUnconfirmed counts attempts whose origination answer was lost (request sent, then a
 * timeout or dropped connection: Asterisk may have placed the call). They are not origination
 * failures: they stay in attempts, in inProgress until settled, then under their outcome
 * (answered, ..., or failed when they expired without one).
 */
import { defineHandler } from "../shared/runtime";
import { optional } from "valibot";
import { bool, InvalidEventError, parseEvent, struct, uuid } from "../shared/validate";

export interface ReportEvent {
  campaignId: string;
  refresh: boolean;
}

export interface CampaignReport {
  campaignId: string;
  name: string;
  status: string;
  contacts: number;
  attempts: number;
  answered: number;
  noAnswer: number;
  busy: number;
  failed: number;
  originateFailed: number;
  originateRejected: number;
  originateUnconfirmed: number;
  tasksFailed: number;
  inProgress: number;
  averageTalkSeconds: number | null;
  generatedAt: string;
}

const REPORT_EVENT = struct({ campaignId: uuid, refresh: optional(bool, false) });

export function parseReportEvent(event: unknown): ReportEvent {
  return parseEvent("report-generator", REPORT_EVENT, event);
}

export function reportKey(campaignId: string): string {
  return `report:v3:${campaignId}`; // v2: originateRejected, tasksFailed; v3: originateUnconfirmed
}

export const { handler, run } = defineHandler(
  "report-generator",
  parseReportEvent,
  async (rt, { campaignId, refresh }): Promise<CampaignReport & { cached: boolean }> => {
    const { value, hit } = await rt.cache.getOrLoad<CampaignReport | null>(
      reportKey(campaignId),
      rt.config.reportTtlSeconds,
      async () => {
        const { rows } = await rt.db.query<CampaignReport>(
          `SELECT c.id AS "campaignId", c.name, c.status,
                  (SELECT count(*) FROM contacts k WHERE k.campaign_id = c.id)::int AS contacts,
                  count(a.id) FILTER (WHERE a.outcome IS NULL OR a.outcome NOT IN ('originate_failed', 'originate_rejected'))::int AS attempts,
                  count(a.id) FILTER (WHERE a.outcome = 'answered')::int AS answered,
                  count(a.id) FILTER (WHERE a.outcome = 'no_answer')::int AS "noAnswer",
                  count(a.id) FILTER (WHERE a.outcome = 'busy')::int AS busy,
                  count(a.id) FILTER (WHERE a.outcome IN ('failed', 'expired'))::int AS failed,
                  count(a.id) FILTER (WHERE a.outcome = 'originate_failed')::int AS "originateFailed",
                  count(a.id) FILTER (WHERE a.outcome = 'originate_rejected')::int AS "originateRejected",
                  count(a.id) FILTER (WHERE a.originate_unconfirmed)::int AS "originateUnconfirmed",
                  (SELECT count(*) FROM dial_tasks t WHERE t.campaign_id = c.id AND t.status = 'failed')::int AS "tasksFailed",
                  count(a.id) FILTER (WHERE a.id IS NOT NULL AND a.outcome IS NULL)::int AS "inProgress",
                  round(avg(a.talk_seconds) FILTER (WHERE a.outcome = 'answered'), 1)::float8 AS "averageTalkSeconds",
                  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "generatedAt"
           FROM campaigns c LEFT JOIN call_attempts a ON a.campaign_id = c.id
           WHERE c.id = $1
           GROUP BY c.id`,
          [campaignId],
          { idempotent: true },
        );
        return rows[0] ?? null;
      },
      { refresh },
    );
    if (!value) throw new InvalidEventError("report-generator", [{ path: "campaignId", message: `campaign ${campaignId} not found` }]);
    return { ...value, cached: hit };
  },
);
