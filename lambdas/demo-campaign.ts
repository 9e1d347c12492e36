/**
 * `npm run demo:campaign`: one campaign end to end on local servers, no AWS account:
 * PostgreSQL 15 behind PgBouncer (the RDS Proxy stand-in), Redis 7, the ARI stand-in placing the
 * calls with a realistic mix of outcomes (lambdas/asterisk-worker/ari-standin.ts, call time sped
 * up), the Asterisk-side worker turning call events into stream entries, and the six handlers:
 * validate -> dispatch -> enrich -> dialer rounds -> worker outcomes -> status-checker -> report.
 * Prints progress to stderr and the final report to stdout; exits 1 if the counts do not add up.
 * Options: --contacts N (1000), --concurrency N (50), --max-attempts N (3), --json.
 * Needs the Debian packages redis-server and pgbouncer and PostgreSQL 15 on PATH (as the tests).
 */
import { randomUUID } from "node:crypto";
import { startServers, DB_NAME, type Servers } from "../__tests__/lambdas/servers";
import { commandLine, UsageError } from "./contracts/cli";
import { AriStandIn } from "./asterisk-worker/ari-standin";
import { loadWorkerConfig } from "./asterisk-worker/config";
import { AsteriskWorker } from "./asterisk-worker/worker";
import { run as dial, type DialResult } from "./dialer-worker/handler";
import { run as dispatch } from "./dispatcher/handler";
import { run as enrich } from "./enrich-dial-task/handler";
import type { FunctionName } from "./manifest";
import { run as report, type CampaignReport } from "./report-generator/handler";
import { createLogger } from "./shared/logging";
import { createRuntime, type Runtime } from "./shared/runtime";
import { run as status, type StatusResult } from "./status-checker/handler";
import { run as validate, type ValidateResult } from "./validate-campaign/handler";

export interface DemoOptions {
  contacts: number;
  maxConcurrentCalls: number;
  maxAttempts: number;
  /** Call time per real time (the stand-in's clock). */
  timeScale: number;
  progress: (line: string) => void;
}

export interface DemoReport {
  report: CampaignReport;
  /** Calls the ARI stand-in accepted (what Asterisk placed). */
  callsPlaced: number;
  /** Outcomes the worker decided from call events (or reconciliation). */
  outcomesDecided: number;
  /** Outcomes the status-checker saw twice (each recorded once). */
  duplicatesSeen: number;
  /** Distinct channel ids among the recorded attempts. */
  distinctChannels: number;
  tasks: Record<string, number>;
  peakConcurrentCalls: number;
  dialerRounds: number;
  seconds: number;
}

/** What must hold at the end; empty when the counts add up. */
export function checkDemo(d: DemoReport, opts: Pick<DemoOptions, "contacts" | "maxConcurrentCalls">): string[] {
  const r = d.report;
  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => void (ok || problems.push(what));
  expect(r.status === "completed", `campaign status ${r.status}, expected completed`);
  expect(r.contacts === opts.contacts, `contacts ${r.contacts} != ${opts.contacts}`);
  expect(r.attempts === r.answered + r.busy + r.noAnswer + r.failed, `attempts ${r.attempts} != answered ${r.answered} + busy ${r.busy} + no answer ${r.noAnswer} + failed ${r.failed}`);
  expect(r.attempts === d.callsPlaced, `attempts ${r.attempts} != calls placed ${d.callsPlaced}`);
  expect(r.attempts === d.outcomesDecided, `attempts ${r.attempts} != outcomes decided by the worker ${d.outcomesDecided}`);
  expect(d.distinctChannels === r.attempts, `${r.attempts} attempts but ${d.distinctChannels} distinct channels (a call counted twice)`);
  expect(r.inProgress === 0 && r.originateFailed === 0 && r.originateRejected === 0 && r.tasksFailed === 0, "calls left in progress or origination failures");
  expect((d.tasks.done ?? 0) === r.answered, `done tasks ${d.tasks.done ?? 0} != answered ${r.answered}`);
  expect((d.tasks.done ?? 0) + (d.tasks.exhausted ?? 0) === opts.contacts, `done + exhausted tasks != contacts`);
  expect(d.peakConcurrentCalls <= opts.maxConcurrentCalls, `peak concurrent calls ${d.peakConcurrentCalls} > cap ${opts.maxConcurrentCalls}`);
  return problems;
}

function contacts(n: number): { phone: string; name: string }[] {
  return Array.from({ length: n }, (_, i) => ({ phone: `+1555${String(1_000_000 + i).slice(1).padStart(7, "0")}`, name: `Contact ${i + 1}` }));
}

export async function runCampaignDemo(opts: DemoOptions, servers?: Servers): Promise<DemoReport> {
  const t0 = Date.now();
  const say = opts.progress;
  say("starting PostgreSQL 15, PgBouncer, Redis 7 and the ARI stand-in on loopback...");
  const s = servers ?? (await startServers({ persistentRedis: true }));
  const ari = new AriStandIn({ timeScale: opts.timeScale });
  await ari.start();
  const env = s.env({ ARI_URL: ari.url, ARI_USER: ari.user, ARI_PASSWORD: ari.password, LOG_LEVEL: "silent" });
  const runtimes: Runtime[] = [];
  const rt = (name: FunctionName) => {
    const r = createRuntime(name, env);
    runtimes.push(r);
    return r;
  };
  const cfg = loadWorkerConfig({ ARI_URL: ari.url, ARI_USER: ari.user, ARI_PASSWORD: ari.password, REDIS_PORT: String(s.redis.port), REDIS_PASSWORD: s.redis.password, HEALTH_PORT: "0", LOG_LEVEL: "silent", OUTCOME_SETTLE_MS: "20" });
  const worker = new AsteriskWorker(cfg, createLogger("silent"));
  const admin = await s.pg.admin(DB_NAME);
  try {
    await worker.start();
    say(`asterisk-worker up: health on http://127.0.0.1:${worker.healthPort}/health`);
    const campaignId = randomUUID();
    const v = (await validate(rt("validate-campaign"), {
      campaignId,
      name: `demo ${opts.contacts} contacts`,
      callerId: "+15550000000",
      callingWindow: { start: "00:00", end: "24:00", timeZone: "UTC" },
      maxConcurrentCalls: opts.maxConcurrentCalls,
      retryPolicy: { maxAttempts: opts.maxAttempts, retryDelaySeconds: 1 },
      contacts: contacts(opts.contacts),
    })) as ValidateResult;
    if (!v.valid) throw new Error(`validate-campaign refused the demo campaign: ${JSON.stringify(v.errors)}`);
    say(`validate-campaign: stored ${v.contacts} contacts (campaign ${campaignId})`);
    const d = await dispatch(rt("dispatcher"), { campaignId });
    say(`dispatcher: ${JSON.stringify(d)}`);
    const e = await enrich(rt("enrich-dial-task"), { campaignId, limit: 10_000 });
    say(`enrich-dial-task: ${"enriched" in e ? e.enriched.length : 0} tasks ready`);

    const dialer = rt("dialer-worker");
    const checker = rt("status-checker");
    let rounds = 0;
    let duplicatesSeen = 0;
    let lastPrint = 0;
    for (;;) {
      const dr = (await dial(dialer, { campaignId, limit: 100 })) as DialResult;
      rounds++;
      if (dr.failed.length) say(`dialer: ${dr.failed.length} origination failures: ${dr.failed[0].error}`);
      await new Promise((r) => setTimeout(r, 50));
      const sr = (await status(checker, {})) as StatusResult;
      duplicatesSeen += sr.duplicates.length;
      if (sr.completedCampaigns.includes(campaignId)) break;
      if (Date.now() - lastPrint > 1000) {
        lastPrint = Date.now();
        const { rows } = await admin.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM dial_tasks WHERE campaign_id = $1 GROUP BY status ORDER BY status", [campaignId]);
        const h = await worker.health();
        say(`${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  tasks ${rows.map((r) => `${r.status} ${r.n}`).join(", ")}  |  live calls ${ari.liveCount(campaignId)}  placed ${ari.calls.length}  outcomes ${worker.decided.length}  stream backlog ${h.backlog.total}`);
      }
      if (Date.now() - t0 > 10 * 60_000) throw new Error("the demo campaign did not complete within 10 minutes");
    }
    const r = (await report(rt("report-generator"), { campaignId, refresh: true })) as CampaignReport;
    const { rows: tasks } = await admin.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM dial_tasks WHERE campaign_id = $1 GROUP BY status", [campaignId]);
    const { rows: distinct } = await admin.query<{ n: number }>("SELECT count(DISTINCT channel_id)::int AS n FROM call_attempts WHERE campaign_id = $1", [campaignId]);
    return {
      report: r,
      callsPlaced: ari.calls.filter((c) => c.variables.CAMPAIGN_ID === campaignId).length,
      outcomesDecided: worker.decided.length,
      duplicatesSeen,
      distinctChannels: distinct[0].n,
      tasks: Object.fromEntries(tasks.map((t) => [t.status, t.n])),
      peakConcurrentCalls: ari.peakLive.get(campaignId) ?? 0,
      dialerRounds: rounds,
      seconds: Math.round((Date.now() - t0) / 100) / 10,
    };
  } finally {
    await worker.stop();
    await Promise.all(runtimes.map((r) => r.close()));
    await admin.end();
    await ari.stop();
    if (!servers) await s.stop();
  }
}

export function formatDemo(d: DemoReport, cap: number): string {
  const r = d.report;
  const pct = (n: number) => `${((100 * n) / Math.max(1, r.attempts)).toFixed(1)} %`;
  return [
    `campaign ${r.campaignId} (${r.name}): ${r.status}`,
    `  contacts             ${r.contacts}`,
    `  attempts             ${r.attempts}  (calls placed by ARI: ${d.callsPlaced}; outcomes from the worker: ${d.outcomesDecided})`,
    `    answered           ${r.answered}  ${pct(r.answered)}  (average talk ${r.averageTalkSeconds ?? "-"} s)`,
    `    no answer          ${r.noAnswer}  ${pct(r.noAnswer)}`,
    `    busy               ${r.busy}  ${pct(r.busy)}`,
    `    failed             ${r.failed}  ${pct(r.failed)}`,
    `  tasks                ${Object.entries(d.tasks).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `  duplicates           ${d.duplicatesSeen} redelivered outcome(s), each recorded once; ${d.distinctChannels} distinct channels`,
    `  peak concurrent      ${d.peakConcurrentCalls} (cap ${cap})`,
    `  dialer rounds        ${d.dialerRounds}, ${d.seconds} s`,
  ].join("\n");
}

const USAGE = `usage: npm run demo:campaign -- [--contacts N] [--concurrency N] [--max-attempts N] [--json]

Runs one campaign end to end on local PostgreSQL and Redis with the real handlers (AWS and Asterisk
stand-ins, time sped up) and checks that the counts add up.

  --contacts N       contacts in the campaign, 1..50000 (default 1000)
  --concurrency N    max concurrent calls, 1..1000 (default 50)
  --max-attempts N   attempts per contact, 1..20 (default 3)
  --json             print the report as JSON
  -h, --help         this text`;

async function main(): Promise<number> {
  const args = commandLine(USAGE, {
    options: { contacts: { type: "string", default: "1000" }, concurrency: { type: "string", default: "50" }, "max-attempts": { type: "string", default: "3" }, json: { type: "boolean", default: false } },
  });
  if (!args) return 0;
  const { values } = args;
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`, USAGE);
    return n;
  };
  const opts: DemoOptions = {
    contacts: int("contacts", values.contacts!, 1, 50_000),
    maxConcurrentCalls: int("concurrency", values.concurrency!, 1, 1000),
    maxAttempts: int("max-attempts", values["max-attempts"]!, 1, 20),
    timeScale: 200,
    progress: (line) => process.stderr.write(`demo: ${line}\n`),
  };
  const d = await runCampaignDemo(opts);
  process.stdout.write(values.json ? JSON.stringify(d, null, 2) + "\n" : `\n${formatDemo(d, opts.maxConcurrentCalls)}\n`);
  const problems = checkDemo(d, opts);
  if (problems.length) {
    process.stderr.write(`demo: the counts do not add up:\n${problems.map((p) => `  - ${p}`).join("\n")}\n`);
    return 1;
  }
  process.stderr.write("demo: counts add up (attempts = answered + busy + no answer + failed, no duplicates, cap respected)\n");
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`demo: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
