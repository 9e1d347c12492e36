/**
 * `npm run demo:campaign` as a test: 1,000 contacts end to end on local servers (PostgreSQL 15
 * behind PgBouncer, Redis 7, the ARI stand-in, the Asterisk-side worker, the six handlers), and
 * the report's counts must add up.
 */
import { checkDemo, formatDemo, runCampaignDemo, type DemoReport } from "../../lambdas/demo-campaign";

const opts = { contacts: 1000, maxConcurrentCalls: 50, maxAttempts: 3, timeScale: 300, progress: () => undefined };
let d: DemoReport;

beforeAll(async () => {
  d = await runCampaignDemo(opts);
}, 240_000);

test("1,000 contacts: the campaign completes, every call's outcome recorded by the worker, and the counts add up", () => {
  const r = d.report;
  expect(checkDemo(d, opts)).toEqual([]);
  expect(r).toMatchObject({ status: "completed", contacts: 1000, inProgress: 0, originateFailed: 0, originateRejected: 0, tasksFailed: 0 });
  expect(r.attempts).toBe(r.answered + r.busy + r.noAnswer + r.failed);
  expect(r.attempts).toBe(d.callsPlaced);
  expect(r.attempts).toBe(d.outcomesDecided);
  expect(d.distinctChannels).toBe(r.attempts);
  expect(d.tasks.done + d.tasks.exhausted).toBe(1000);
  expect(d.peakConcurrentCalls).toBeGreaterThan(1);
  expect(d.peakConcurrentCalls).toBeLessThanOrEqual(50);
  // A realistic mix: every outcome type occurs; retries happened (more attempts than contacts).
  for (const n of [r.answered, r.busy, r.noAnswer, r.failed]) expect(n).toBeGreaterThan(0);
  expect(r.attempts).toBeGreaterThan(1000);
  expect(formatDemo(d, 50)).toMatch(/attempts\s+\d+/);
});

test("the check can fail: a report whose counts do not add up is refused, naming what is off", () => {
  const broken: DemoReport = { ...d, report: { ...d.report, busy: d.report.busy + 1 }, peakConcurrentCalls: 51, distinctChannels: d.distinctChannels - 1 };
  const problems = checkDemo(broken, opts);
  expect(problems).toEqual(
    expect.arrayContaining([expect.stringMatching(/^attempts \d+ != answered/), expect.stringMatching(/distinct channels/), "peak concurrent calls 51 > cap 50"]),
  );
});
