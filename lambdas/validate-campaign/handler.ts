/**
 * validate-campaign: checks a campaign and stores it with its contacts in one transaction.
 * Invalid input returns every problem with its field path and stores nothing.
 * Redelivery: pass `campaignId` (a UUID chosen by the caller) and a second delivery of the same
 * campaign stores nothing and answers `alreadyExists: true`; without it a new id is generated.
 * "The same campaign" is compared with what is stored: every setting, and the contacts as a set
 * (number and name; their order does not matter). A different campaign reusing an existing id is
 * refused ({valid: false} with an error on `campaignId` naming the fields that differ) and stores
 * nothing. The comparison runs in the inserting transaction after ON CONFLICT DO NOTHING, which
 * waits for a concurrent insert of the same id to commit, so it sees that campaign's contacts too.
 */
import { randomUUID } from "node:crypto";
import type { CampaignSettings } from "../shared/campaign";
import type { Queryable } from "../shared/db";
import { defineHandler } from "../shared/runtime";
import { check as rule, forward, optional, partialCheck, pipe } from "valibot";
import { check, e164, echo, int, listWith, struct, text, uuid, type Issue } from "../shared/validate";

export const MAX_CONTACTS = 50_000;
const TIME = /^(?:[01]\d|2[0-3]):[0-5]\d$/;

export interface CampaignInput extends Omit<CampaignSettings, "id"> {
  campaignId: string;
  contacts: { phone: string; name: string | null }[];
}

export type ValidateResult =
  | { valid: false; errors: Issue[] }
  | { valid: true; campaignId: string; contacts: number; stored: boolean; alreadyExists: boolean };

/** The campaigns row's values: $1..$9 of both the insert and the comparison with a stored campaign. */
function campaignRow(c: CampaignInput): unknown[] {
  return [c.campaignId, c.name, c.callerId, c.timeZone, c.windowStart, c.windowEnd, c.maxConcurrentCalls, c.maxAttempts, c.retryDelaySeconds];
}

/** Fields of `campaign` that differ from the stored campaign with its id (empty: the same campaign). */
async function differences(q: Queryable, campaign: CampaignInput): Promise<string[]> {
  const { rows } = await q.query<Record<string, boolean>>(
    `SELECT c.name = $2 AS "name", c.caller_id = $3 AS "callerId",
            c.window_start = $5::time AS "callingWindow.start", c.window_end = $6::time AS "callingWindow.end",
            c.time_zone = $4 AS "callingWindow.timeZone", c.max_concurrent_calls = $7 AS "maxConcurrentCalls",
            c.max_attempts = $8 AS "retryPolicy.maxAttempts", c.retry_delay_seconds = $9 AS "retryPolicy.retryDelaySeconds",
            (SELECT count(*) FROM contacts k WHERE k.campaign_id = c.id) = cardinality($10::text[])
              AND NOT EXISTS (SELECT phone_e164, name FROM contacts k WHERE k.campaign_id = c.id
                              EXCEPT SELECT * FROM unnest($10::text[], $11::text[])) AS "contacts"
     FROM campaigns c WHERE c.id = $1`,
    [...campaignRow(campaign), campaign.contacts.map((k) => k.phone), campaign.contacts.map((k) => k.name)],
  );
  if (!rows[0]) throw new Error(`validate-campaign: campaign ${campaign.campaignId} conflicted on insert but cannot be read`);
  return Object.entries(rows[0])
    .filter(([, same]) => !same)
    .map(([field]) => field);
}

/** Zones the database accepted, per execution environment (the lookup scans its tz files: ~80 ms). */
const knownZones = new Set<string>();

/**
 * The zone must also be one PostgreSQL knows: the dialer computes each campaign's local time with
 * `now() AT TIME ZONE time_zone`, and Node's Intl accepts names PostgreSQL's tzdata dropped (e.g.
 * "US/Pacific-New"). Exact spelling, as stored; a case-insensitive match is offered as the fix.
 */
async function postgresTimeZoneIssue(q: Queryable, tz: string): Promise<Issue | undefined> {
  if (knownZones.has(tz)) return undefined;
  const { rows } = await q.query<{ exact: boolean; suggestion: string | null }>(
    `SELECT bool_or(name = $1) AS exact, min(name) FILTER (WHERE lower(name) = lower($1)) AS suggestion
     FROM pg_timezone_names WHERE lower(name) = lower($1)`,
    [tz],
  );
  if (rows[0]?.exact) {
    knownZones.add(tz);
    return undefined;
  }
  const hint = rows[0]?.suggestion ? `; did you mean "${rows[0].suggestion}"?` : "";
  return { path: "callingWindow.timeZone", message: `is not a time zone the database knows (PostgreSQL's time zone names), got ${echo(tz)}${hint}` };
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const CALLING_WINDOW = pipe(
  struct({
    start: text({ pattern: TIME, expected: 'a time "HH:MM"' }),
    end: text({ pattern: /^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$/, expected: 'a time "HH:MM" (or "24:00")' }),
    timeZone: text({ max: 64 }, rule(validTimeZone, (i) => `must be an IANA time zone such as "America/New_York", got ${echo(i.input)}`)),
  }),
  forward(partialCheck([["start"], ["end"]], (w) => w.start !== w.end, "must differ from callingWindow.start"), ["end"]),
);

const CONTACT = struct({ phone: e164, name: optional(text({ max: 200 })) });

/** A phone number once per campaign: a later one names the first. */
function onePerPhone(): (k: { phone: string }, index: number, fail: (field: string, message: string) => void) => boolean {
  const seen = new Map<string, number>();
  return (k, index, fail) => {
    const first = seen.get(k.phone);
    if (first === undefined) seen.set(k.phone, index);
    else fail("phone", `duplicate of contacts[${first}].phone (${k.phone})`);
    return first === undefined;
  };
}

export const CAMPAIGN_EVENT = struct({
  campaignId: optional(uuid),
  name: text({ max: 200 }),
  callerId: e164,
  callingWindow: CALLING_WINDOW,
  maxConcurrentCalls: int(1, 1000),
  retryPolicy: struct({ maxAttempts: int(1, 20), retryDelaySeconds: int(0, 604_800) }),
  contacts: listWith(CONTACT, 1, MAX_CONTACTS, onePerPhone),
});

/** Every problem, with its path; `undefined` campaign when there is any. */
export function checkCampaign(event: unknown): { campaign?: CampaignInput; errors: Issue[] } {
  const { output: e, issues } = check(CAMPAIGN_EVENT, event);
  if (!e) return { errors: issues };
  return {
    errors: [],
    campaign: {
      campaignId: e.campaignId ?? randomUUID(),
      name: e.name,
      callerId: e.callerId,
      timeZone: e.callingWindow.timeZone,
      windowStart: e.callingWindow.start,
      windowEnd: e.callingWindow.end,
      maxConcurrentCalls: e.maxConcurrentCalls,
      maxAttempts: e.retryPolicy.maxAttempts,
      retryDelaySeconds: e.retryPolicy.retryDelaySeconds,
      contacts: e.contacts.map((k) => ({ phone: k.phone, name: k.name ?? null })),
    },
  };
}

export const { handler, run } = defineHandler(
  "validate-campaign",
  (event) => event,
  async (rt, event): Promise<ValidateResult> => {
    const { campaign, errors } = checkCampaign(event);
    if (!campaign) {
      rt.log.info("campaign rejected", { problems: errors.length });
      return { valid: false, errors };
    }
    const tzIssue = await postgresTimeZoneIssue({ query: (text, values) => rt.db.query(text, values, { idempotent: true }) }, campaign.timeZone);
    if (tzIssue) {
      rt.log.info("campaign rejected", { problems: 1 });
      return { valid: false, errors: [tzIssue] };
    }
    const outcome = await rt.db.tx(
      async (q): Promise<{ stored: true } | { stored: false; differs: string[] }> => {
        const ins = await q.query(
          `INSERT INTO campaigns (id, name, caller_id, time_zone, window_start, window_end,
                                  max_concurrent_calls, max_attempts, retry_delay_seconds)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (id) DO NOTHING`,
          campaignRow(campaign),
        );
        // The id exists: a redelivery of this campaign, or a different campaign reusing the id.
        if (ins.rowCount === 0) return { stored: false, differs: await differences(q, campaign) };
        // One statement with array parameters: small statement text (no proxy pinning > 16 KB).
        await q.query(
          `INSERT INTO contacts (campaign_id, phone_e164, name)
           SELECT $1, phone, name FROM unnest($2::text[], $3::text[]) AS t(phone, name)`,
          [campaign.campaignId, campaign.contacts.map((k) => k.phone), campaign.contacts.map((k) => k.name)],
        );
        return { stored: true };
      },
      { idempotent: true },
    );
    if (!outcome.stored && outcome.differs.length > 0) {
      rt.log.warn("campaign id reused by a different campaign", { campaignId: campaign.campaignId, differs: outcome.differs });
      const message = `campaign ${campaign.campaignId} already exists with different content (${outcome.differs.join(", ")}); a redelivery must repeat the same campaign, a new campaign needs a new campaignId`;
      return { valid: false, errors: [{ path: "campaignId", message }] };
    }
    const { stored } = outcome;
    rt.log.info("campaign validated", { campaignId: campaign.campaignId, contacts: campaign.contacts.length, stored });
    return { valid: true, campaignId: campaign.campaignId, contacts: campaign.contacts.length, stored, alreadyExists: !stored };
  },
);
