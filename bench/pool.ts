/**
 * `npm run bench:pool [-- --json] [--runs 3] [--invocations 500] [--max-connections 87] [--pool-size 20] [--cold-starts N]`
 *
 * Reproduces the reason for RDS Proxy: a burst of concurrent Lambda invocations, each in its own
 * execution environment with its own (module-scope, kept-open) database connection, against
 * PostgreSQL with max_connections as on db.t3.micro (~87):
 *   direct  - every environment connects to PostgreSQL itself;
 *   pooled  - every environment connects to PgBouncer (transaction mode, 20 server connections),
 *             the local stand-in for RDS Proxy.
 * The handler is the real dispatcher (a redelivered dispatch of a 10-contact campaign: 4 statements),
 * invoked with a Lambda context (its remaining time counts down from the function's timeout).
 * Environments are emulated with one createRuntime() each (own pg Pool of size 1), all kept open
 * until both phases are over, as warm Lambda environments would be.
 *
 * What keeps the figures about connections, not about this machine's CPU queue:
 * - each side runs on its own, freshly started PostgreSQL and PgBouncer (nothing left in a backlog
 *   by the other side);
 * - in Lambda every environment has its own CPU for its connection handshake (SCRAM's PBKDF2 on the
 *   client, a backend fork on the server). Here 500 environments share a few cores with both
 *   servers, so handshakes are admitted N at a time (N = this machine's cores unless --cold-starts
 *   says otherwise): the cold phase is a bounded arrival ramp. The server connection count and the
 *   53300 refusals do not depend on the ramp, because no environment gives its connection back;
 * - then the warm phase invokes every environment at the same instant: no handshake for those that
 *   hold a connection (this is the concurrency the pooler multiplexes); those without one (refused
 *   in the cold phase) connect again, through the same N-at-a-time ramp.
 * Failures are counted per kind: SQLSTATE 53300 (too many connections) apart from timeouts
 * (connect or query); connection attempts that timed out and were retried are counted too.
 * Peak server connections: pg_stat_activity (the functions' user), sampled every 5 ms by a superuser.
 * Both sides without TLS (apples to apples; the proxy side's TLS is covered by the tests).
 */
import { availableParallelism, cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { run as dispatch } from "../lambdas/dispatcher/handler";
import { functionSpec } from "../lambdas/manifest";
import { isConnectionError } from "../lambdas/shared/db";
import { createRuntime, type Runtime } from "../lambdas/shared/runtime";
import { run as validate, type ValidateResult } from "../lambdas/validate-campaign/handler";
import { campaignEvent } from "../__tests__/lambdas/helpers";
import { DB_NAME, startServers, type Servers } from "../__tests__/lambdas/servers";
import { commandLine, UsageError } from "../lambdas/contracts/cli";
import { formatSpread, percentile, spread } from "./stats";

export interface Phase {
  invocations: number;
  succeeded: number;
  /** Failed invocations by kind: "53300", "connect timeout", "query timeout", or the error's SQLSTATE / name. */
  errors: Record<string, number>;
  /** Failed invocations whose error was SQLSTATE 53300 (too many connections). */
  tooManyConnections: number;
  /** Failed invocations whose error was a timeout (connect or query). */
  timeouts: number;
  /** Connection attempts that timed out, including those whose retry then succeeded. */
  connectAttemptTimeouts: number;
  peakServerConnections: number;
  /** Latency of the successful invocations (connect included; the wait for a handshake slot excluded). */
  p50Ms: number;
  p99Ms: number;
}

export interface SideResult {
  /** Every environment's first invocation (it connects), N handshakes at a time. */
  cold: Phase;
  /** Every environment invoked again at the same instant. */
  warm: Phase;
  /** Over both phases. */
  peakServerConnections: number;
}

export interface BenchResult {
  invocations: number;
  maxConnections: number;
  poolSize: number;
  /** Handshakes (cold starts) admitted at once. */
  coldStarts: number;
  functionTimeoutSeconds: number;
  /** Connections PostgreSQL lets the functions' user hold: max_connections − 3 reserved − 1 (the sampler's, a superuser). */
  directLimit: number;
  direct: SideResult;
  pooled: SideResult;
}

export interface BenchOptions {
  /** Environments (and invocations per phase) per side. @default 500 */
  invocations?: number;
  /** PostgreSQL max_connections (3 of them reserved for superusers). @default 87 (db.t3.micro) */
  maxConnections?: number;
  /** PgBouncer default_pool_size. @default 20 */
  poolSize?: number;
  /** Handshakes admitted at once. @default this machine's cores (os.availableParallelism()) */
  coldStarts?: number;
}

/** How a failed invocation is counted. */
export function failureKind(e: unknown): string {
  const { code, message, name } = (e ?? {}) as { code?: unknown; message?: unknown; name?: unknown };
  if (code === "53300") return "53300";
  const text = String(message ?? "");
  if (/connection timeout|timeout expired/i.test(text)) return "connect timeout";
  if (/Query read timeout/.test(text)) return "query timeout";
  if (typeof code === "string") return code;
  if (isConnectionError(e)) return "connection error";
  return typeof name === "string" ? name : "unknown";
}

/** At most `slots` tasks at once; the others wait in arrival order. */
class Gate {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(slots: number) {
    this.free = slots;
  }
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

type Outcome = { ok: true; ms: number } | { ok: false; kind: string };

/** One invocation with a Lambda-like context: the remaining time counts down from the function's timeout. */
async function invoke(rt: Runtime, campaignId: string, timeoutMs: number, n: number): Promise<Outcome> {
  const t0 = performance.now();
  const context = { awsRequestId: `bench-${n}`, getRemainingTimeInMillis: () => t0 + timeoutMs - performance.now() };
  try {
    await dispatch(rt, { campaignId }, context);
    return { ok: true, ms: performance.now() - t0 };
  } catch (e) {
    return { ok: false, kind: failureKind(e) };
  }
}

function phaseResult(outcomes: Outcome[], runtimes: Runtime[], timeoutsBefore: number, peak: number): Phase {
  const errors: Record<string, number> = {};
  const latencies: number[] = [];
  for (const o of outcomes) {
    if (o.ok) latencies.push(o.ms);
    else errors[o.kind] = (errors[o.kind] ?? 0) + 1;
  }
  latencies.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    invocations: outcomes.length,
    succeeded: latencies.length,
    errors,
    tooManyConnections: errors["53300"] ?? 0,
    timeouts: (errors["connect timeout"] ?? 0) + (errors["query timeout"] ?? 0),
    connectAttemptTimeouts: attemptTimeouts(runtimes) - timeoutsBefore,
    peakServerConnections: peak,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
  };
}

const attemptTimeouts = (runtimes: Runtime[]) => runtimes.reduce((n, rt) => n + rt.db.connectStats.timeouts, 0);

/** servers.ts starts PostgreSQL with superuser_reserved_connections = 3. */
const SUPERUSER_RESERVED = 3;

const SERVER_CONNECTIONS = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND usename = 'app' AND backend_type = 'client backend'";

async function side(s: Servers, which: Side, campaignId: string, o: Required<BenchOptions>, timeoutMs: number): Promise<SideResult> {
  const env = which === "direct" ? s.directEnv() : s.env();
  const monitor = await s.pg.admin(DB_NAME); // superuser: counted apart (not the functions' user)
  const count = async () => (await monitor.query<{ n: number }>(SERVER_CONNECTIONS, [DB_NAME])).rows[0].n;
  // Start from a drained server: the fixture's own direct connection has gone (through PgBouncer it
  // stays as one of the pool's server connections).
  if (which === "direct") for (let i = 0; (await count()) > 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 50));
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await count());
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const runtimes: Runtime[] = Array.from({ length: o.invocations }, () => createRuntime("dispatcher", { ...env, LOG_LEVEL: "silent" }));
  const gate = new Gate(o.coldStarts);
  try {
    // Cold: every environment's first invocation connects; handshakes N at a time.
    const cold = await Promise.all(runtimes.map((rt, i) => gate.run(() => invoke(rt, campaignId, timeoutMs, i))));
    await new Promise((r) => setTimeout(r, 20)); // let the sampler see the final count
    const coldPhase = phaseResult(cold, runtimes, 0, peak);
    // Warm: all at once; only environments without a connection need a handshake slot.
    peak = 0;
    const before = attemptTimeouts(runtimes);
    const warm = await Promise.all(
      runtimes.map((rt, i) => (rt.db.connected ? invoke(rt, campaignId, timeoutMs, o.invocations + i) : gate.run(() => invoke(rt, campaignId, timeoutMs, o.invocations + i)))),
    );
    await new Promise((r) => setTimeout(r, 20));
    const warmPhase = phaseResult(warm, runtimes, before, peak);
    return { cold: coldPhase, warm: warmPhase, peakServerConnections: Math.max(coldPhase.peakServerConnections, warmPhase.peakServerConnections) };
  } finally {
    sampling = false;
    await sampler.catch(() => undefined);
    await Promise.all(runtimes.map((rt) => rt.close()));
    await monitor.end();
  }
}

type Side = "direct" | "pooled";

/** One side on its own, freshly started servers. */
async function freshSide(which: Side, o: Required<BenchOptions>, timeoutMs: number): Promise<SideResult> {
  const s = await startServers({ maxConnections: o.maxConnections, poolSize: o.poolSize, tls: false });
  try {
    const setup = createRuntime("validate-campaign", { ...(which === "direct" ? s.directEnv() : s.env()), LOG_LEVEL: "silent" });
    const v = (await validate(setup, campaignEvent(10))) as ValidateResult;
    await setup.close();
    if (!v.valid) throw new Error("benchmark fixture is invalid");
    return await side(s, which, v.campaignId, o, timeoutMs);
  } finally {
    await s.stop();
  }
}

export async function runPoolBenchmark(opts: BenchOptions = {}): Promise<BenchResult> {
  const o: Required<BenchOptions> = {
    invocations: opts.invocations ?? 500,
    maxConnections: opts.maxConnections ?? 87,
    poolSize: opts.poolSize ?? 20,
    coldStarts: opts.coldStarts ?? availableParallelism(),
  };
  const functionTimeoutSeconds = functionSpec("dispatcher").timeoutSeconds;
  const direct = await freshSide("direct", o, functionTimeoutSeconds * 1000);
  const pooled = await freshSide("pooled", o, functionTimeoutSeconds * 1000);
  return { ...o, functionTimeoutSeconds, directLimit: o.maxConnections - SUPERUSER_RESERVED - 1, direct, pooled };
}

const POOL_USAGE = `usage: npm run bench:pool -- [--json] [--runs N] [--invocations N] [--max-connections N] [--pool-size N] [--cold-starts N]

Starts its own PostgreSQL and PgBouncer (per side, per run) and prints connection figures for a burst of
Lambda invocations, direct to PostgreSQL and through the pooler (the local stand-in for RDS Proxy).

  --runs N              repetitions (default 3)
  --invocations N       environments / invocations per phase and side (default 500)
  --max-connections N   PostgreSQL max_connections (default 87, as on db.t3.micro)
  --pool-size N         PgBouncer default_pool_size (default 20)
  --cold-starts N       handshakes admitted at once (default: this machine's cores)
  --json                print the results as JSON
  -h, --help            this text`;

/** Parses bench:pool's arguments (undefined after printing the usage for --help); throws a UsageError on bad input. */
function parsePoolArgs(argv: string[]): { json: boolean; runs: number; opts: BenchOptions } | undefined {
  const number = { type: "string" } as const;
  const parsed = commandLine(POOL_USAGE, {
    args: argv,
    options: { json: { type: "boolean" }, runs: number, invocations: number, "max-connections": number, "pool-size": number, "cold-starts": number },
  });
  if (!parsed) return undefined;
  const { values } = parsed;
  const positive = (name: "runs" | "invocations" | "max-connections" | "pool-size" | "cold-starts"): number | undefined => {
    const text = values[name];
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} needs a positive integer, got ${JSON.stringify(text)}`, POOL_USAGE);
    return n;
  };
  const opts: BenchOptions = { invocations: positive("invocations"), maxConnections: positive("max-connections"), poolSize: positive("pool-size"), coldStarts: positive("cold-starts") };
  return { json: values.json ?? false, runs: positive("runs") ?? 3, opts };
}

const failed = (p: Phase) => p.invocations - p.succeeded;
const others = (p: Phase) => failed(p) - p.tooManyConnections - p.timeouts;

/** One figure over the runs: the value when all agree, else min / median / max. */
function over(results: BenchResult[], pick: (r: BenchResult) => number, digits = 0): string {
  return formatSpread(spread(results.map(pick)), digits);
}

function report(results: BenchResult[]): string {
  const r0 = results[0];
  const lines = [
    `pool benchmark: ${results.length} run(s); per side ${r0.invocations} dispatcher environments, each with its own connection kept open`,
    `machine: ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? "unknown CPU"}), load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`,
    `PostgreSQL 15 max_connections=${r0.maxConnections}: the functions may hold ${r0.directLimit} (${SUPERUSER_RESERVED} reserved for superusers, 1 is the sampler's); PgBouncer transaction mode, default_pool_size ${r0.poolSize} (RDS Proxy stand-in); no TLS`,
    `each side on freshly started servers; function timeout ${r0.functionTimeoutSeconds} s (Lambda context)`,
    `cold phase: every environment's first invocation, handshakes admitted ${r0.coldStarts} at a time (in Lambda each environment has its own CPU for it);`,
    `warm phase: every environment invoked at the same instant (those without a connection reconnect through the same ramp)`,
    "",
  ];
  const header = ["side", "phase", "ok", "53300", "timeouts", "other", "peak server conns", "retried connect timeouts", "p50 ms", "p99 ms"];
  const rows: string[][] = [];
  for (const which of ["direct", "pooled"] as const) {
    for (const phase of ["cold", "warm"] as const) {
      const p = (r: BenchResult) => r[which][phase];
      rows.push([
        which,
        phase,
        over(results, (r) => p(r).succeeded),
        over(results, (r) => p(r).tooManyConnections),
        over(results, (r) => p(r).timeouts),
        over(results, (r) => others(p(r))),
        over(results, (r) => p(r).peakServerConnections),
        over(results, (r) => p(r).connectAttemptTimeouts),
        over(results, (r) => p(r).p50Ms, 1),
        over(results, (r) => p(r).p99Ms, 1),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  lines.push(fmt(header), ...rows.map(fmt));
  const otherKinds = new Set(results.flatMap((r) => [r.direct.cold, r.direct.warm, r.pooled.cold, r.pooled.warm].flatMap((p) => Object.keys(p.errors))));
  otherKinds.delete("53300");
  if (otherKinds.size) lines.push("", `failure kinds besides 53300: ${[...otherKinds].join(", ")}`);
  if (results.length > 1) lines.push("", "(a figure that differed between runs shows as min / median / max)");
  return lines.join("\n");
}

async function main(): Promise<void> {
  const args = parsePoolArgs(process.argv.slice(2));
  if (!args) return;
  const results: BenchResult[] = [];
  for (let i = 0; i < args.runs; i++) {
    results.push(await runPoolBenchmark(args.opts));
    if (!args.json) process.stderr.write(`run ${i + 1}/${args.runs} done\n`);
  }
  console.log(args.json ? JSON.stringify(results) : report(results));
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(e instanceof UsageError ? e.message : e);
    process.exit(1);
  });
}
