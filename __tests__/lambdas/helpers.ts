/** Shared by the Lambda test files: campaign fixtures and small database probes. */
import { randomUUID } from "node:crypto";
import type { Client } from "pg";
import { DB_NAME, startServers, type Servers } from "./servers";
import { run as dispatch } from "../../lambdas/dispatcher/handler";
import { run as enrich } from "../../lambdas/enrich-dial-task/handler";
import type { FunctionName } from "../../lambdas/manifest";
import type { Env } from "../../lambdas/shared/config";
import { createRuntime, type Runtime } from "../../lambdas/shared/runtime";
import { run as validate, type ValidateResult } from "../../lambdas/validate-campaign/handler";

export function campaignEvent(contacts: number, overrides: Record<string, unknown> = {}) {
  const id = randomUUID();
  const base = Number.parseInt(id.replace(/\D/g, "").slice(0, 6).padEnd(6, "1"), 10);
  return {
    campaignId: id,
    name: `test ${id.slice(0, 8)}`,
    callerId: "+15550000000",
    callingWindow: { start: "00:00", end: "24:00", timeZone: "UTC" },
    maxConcurrentCalls: 3,
    retryPolicy: { maxAttempts: 2, retryDelaySeconds: 0 },
    contacts: Array.from({ length: contacts }, (_, i) => ({ phone: `+1${String(base + i * 7).padStart(6, "0")}${String(i).padStart(4, "0")}`, name: `Contact ${i}` })),
    ...overrides,
  };
}

type SetupRuntimes = { validate: Runtime; dispatch: Runtime; enrich: Runtime };

/** validate -> dispatch -> enrich: a running campaign whose tasks are all ready to dial. */
export async function readyCampaign(rts: SetupRuntimes, contacts: number, overrides: Record<string, unknown> = {}): Promise<string> {
  return readyEvent(rts, campaignEvent(contacts, overrides));
}

/** readyCampaign for a given event (when a test needs its contacts). */
export async function readyEvent(rts: SetupRuntimes, event: ReturnType<typeof campaignEvent>): Promise<string> {
  const v = (await validate(rts.validate, event)) as ValidateResult;
  if (!v.valid) throw new Error(JSON.stringify(v.errors));
  await dispatch(rts.dispatch, { campaignId: v.campaignId });
  await enrich(rts.enrich, { campaignId: v.campaignId, limit: 10_000 });
  return v.campaignId;
}

/** Samples a campaign's calls in flight (`dialing` tasks) every few ms until stopped; resolves to the peak. */
export function watchInFlight(admin: Client, campaignId: string): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM dial_tasks WHERE campaign_id = $1 AND status = 'dialing'", [campaignId]);
      peak = Math.max(peak, rows[0].n);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

export async function taskCounts(admin: Client, campaignId: string): Promise<Record<string, number>> {
  const { rows } = await admin.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM dial_tasks WHERE campaign_id = $1 GROUP BY status", [campaignId]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** Test-made execution environments, each closed at the end (`closeAll`). */
export function runtimeTracker(env: (overrides: Record<string, string>) => Env) {
  const all: Runtime[] = [];
  return {
    rt(name: FunctionName, overrides: Record<string, string> = {}): Runtime {
      const r = createRuntime(name, env(overrides));
      all.push(r);
      return r;
    },
    closeAll: () => Promise.all(all.map((r) => r.close())),
  };
}

/** The runtimes a campaign fixture and its settling need (validate, dispatch, enrich, status, report). */
export function campaignRuntimes(rt: (name: FunctionName) => Runtime) {
  return { validate: rt("validate-campaign"), dispatch: rt("dispatcher"), enrich: rt("enrich-dial-task"), status: rt("status-checker"), report: rt("report-generator") };
}

/**
 * A test file's own servers (PostgreSQL + PgBouncer, Redis, the ARI stub) with an admin client and
 * the campaign runtimes, started in beforeAll and stopped in afterAll; the fields are set once
 * beforeAll ran. The ARI stub is reset to "ok" before each test.
 */
export function serversForFile(opts: Parameters<typeof startServers>[0] = {}) {
  const f = {} as { s: Servers; admin: Client; rts: ReturnType<typeof campaignRuntimes>; rt: (name: FunctionName, overrides?: Record<string, string>) => Runtime };
  const tracker = runtimeTracker((overrides) => f.s.env(overrides));
  f.rt = tracker.rt;
  beforeAll(async () => {
    f.s = await startServers(opts);
    f.admin = await f.s.pg.admin(DB_NAME);
    f.rts = campaignRuntimes(tracker.rt);
  }, 90_000);
  afterAll(async () => {
    await tracker.closeAll();
    await f.admin?.end();
    await f.s?.stop();
  });
  beforeEach(() => {
    f.s.ari.mode = "ok";
    f.s.ari.respond = undefined;
  });
  return f;
}
