/**
 * validate-campaign: checks a campaign and stores it with its contacts in one transaction.
 * Invalid input returns every problem with its field path and stores nothing.
 * Redelivery: pass `campaignId` (a UUID chosen by the caller) and a second delivery stores nothing
 * and answers `alreadyExists: true`; without it a new id is generated.
 */
import { randomUUID } from "node:crypto";
import type { CampaignSettings } from "../shared/campaign";
import { defineHandler } from "../shared/runtime";
import { Checker, join, type Issue } from "../shared/validate";

export const MAX_CONTACTS = 50_000;
const TIME = /^(?:[01]\d|2[0-3]):[0-5]\d$/;

export interface CampaignInput extends Omit<CampaignSettings, "id"> {
  campaignId: string;
  contacts: { phone: string; name: string | null }[];
}

export type ValidateResult =
  | { valid: false; errors: Issue[] }
  | { valid: true; campaignId: string; contacts: number; stored: boolean; alreadyExists: boolean };

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Every problem, with its path; `undefined` campaign when there is any. */
export function checkCampaign(event: unknown): { campaign?: CampaignInput; errors: Issue[] } {
  const c = new Checker();
  const e = c.object(event, "$");
  if (!e) return { errors: c.issues };
  const campaignId = c.optional(e.campaignId, (v) => c.uuid(v, "campaignId"));
  const name = c.string(e.name, "name", { max: 200 });
  const callerId = c.e164(e.callerId, "callerId");

  const w = c.object(e.callingWindow, "callingWindow");
  const start = w && c.string(w.start, "callingWindow.start", { pattern: TIME, expected: 'a time "HH:MM"' });
  const end = w && c.string(w.end, "callingWindow.end", { pattern: /^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$/, expected: 'a time "HH:MM" (or "24:00")' });
  if (start && end && start === end) c.fail("callingWindow.end", "must differ from callingWindow.start");
  const tz = w && c.string(w.timeZone, "callingWindow.timeZone", { max: 64 });
  if (tz && !validTimeZone(tz)) c.fail("callingWindow.timeZone", `must be an IANA time zone such as "America/New_York", got ${JSON.stringify(tz)}`);

  const maxConcurrentCalls = c.int(e.maxConcurrentCalls, "maxConcurrentCalls", 1, 1000);
  const r = c.object(e.retryPolicy, "retryPolicy");
  const maxAttempts = r && c.int(r.maxAttempts, "retryPolicy.maxAttempts", 1, 20);
  const retryDelaySeconds = r && c.int(r.retryDelaySeconds, "retryPolicy.retryDelaySeconds", 0, 604_800);

  const list = c.array(e.contacts, "contacts", 1, MAX_CONTACTS);
  const contacts: CampaignInput["contacts"] = [];
  const seen = new Map<string, number>();
  list?.forEach((item, i) => {
    const path = join("contacts", i);
    const k = c.object(item, path);
    if (!k) return;
    const phone = c.e164(k.phone, join(path, "phone"));
    const contactName = c.optional(k.name, (v) => c.string(v, join(path, "name"), { max: 200 }));
    if (!phone) return;
    const first = seen.get(phone);
    if (first !== undefined) c.fail(join(path, "phone"), `duplicate of contacts[${first}].phone (${phone})`);
    else seen.set(phone, i);
    contacts.push({ phone, name: contactName ?? null });
  });

  if (c.issues.length > 0) return { errors: c.issues };
  return {
    errors: [],
    campaign: {
      campaignId: campaignId ?? randomUUID(),
      name: name!,
      callerId: callerId!,
      timeZone: tz!,
      windowStart: start!,
      windowEnd: end!,
      maxConcurrentCalls: maxConcurrentCalls!,
      maxAttempts: maxAttempts!,
      retryDelaySeconds: retryDelaySeconds!,
      contacts,
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
    const stored = await rt.db.tx(
      async (q) => {
        const ins = await q.query(
          `INSERT INTO campaigns (id, name, caller_id, time_zone, window_start, window_end,
                                  max_concurrent_calls, max_attempts, retry_delay_seconds)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (id) DO NOTHING`,
          [
            campaign.campaignId,
            campaign.name,
            campaign.callerId,
            campaign.timeZone,
            campaign.windowStart,
            campaign.windowEnd,
            campaign.maxConcurrentCalls,
            campaign.maxAttempts,
            campaign.retryDelaySeconds,
          ],
        );
        if (ins.rowCount === 0) return false; // redelivery: already stored with its contacts
        // One statement with array parameters: small statement text (no proxy pinning > 16 KB).
        await q.query(
          `INSERT INTO contacts (campaign_id, phone_e164, name)
           SELECT $1, phone, name FROM unnest($2::text[], $3::text[]) AS t(phone, name)`,
          [campaign.campaignId, campaign.contacts.map((k) => k.phone), campaign.contacts.map((k) => k.name)],
        );
        return true;
      },
      { idempotent: true },
    );
    rt.log.info("campaign validated", { campaignId: campaign.campaignId, contacts: campaign.contacts.length, stored });
    return { valid: true, campaignId: campaign.campaignId, contacts: campaign.contacts.length, stored, alreadyExists: !stored };
  },
);
