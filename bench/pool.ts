/**
 * `npm run bench:pool [-- --json] [--invocations 500] [--max-connections 87] [--pool-size 20]`
 *
 * Reproduces the reason for RDS Proxy: a burst of concurrent Lambda invocations, each in its own
 * execution environment with its own (module-scope, kept-open) database connection, against
 * PostgreSQL with max_connections as on db.t3.micro (~87):
 *   direct  - every environment connects to PostgreSQL itself;
 *   pooled  - every environment connects to PgBouncer (transaction mode, 20 server connections),
 *             the local stand-in for RDS Proxy.
 * The handler is the real dispatcher (a redelivered dispatch of a 10-contact campaign: 4 statements).
 * Environments are emulated with one createRuntime() each (own pg Pool of size 1), all started at
 * once and kept open until every invocation has finished, as warm Lambda environments would.
 * Both sides without TLS (apples to apples; the proxy side's TLS is covered by the tests).
 * Prints per side: invocations, failures by error code, peak server connections (pg_stat_activity,
 * sampled every 5 ms), p50/p99 latency of successful invocations (connect included) of the first,
 * cold burst; then a second burst on the same environments (warm: connections kept).
 * Caveat: 500 "environments" share this machine's 2 cores, so the cold burst's latency is dominated
 * by 500 SCRAM handshakes (PBKDF2) computed here at once; in Lambda each environment has its own CPU.
 */
import { run as dispatch } from "../lambdas/dispatcher/handler";
import { createRuntime, type Runtime } from "../lambdas/shared/runtime";
import { run as validate, type ValidateResult } from "../lambdas/validate-campaign/handler";
import { campaignEvent } from "../__tests__/lambdas/helpers";
import { DB_NAME, startServers, type Servers } from "../__tests__/lambdas/servers";

export interface Burst {
  invocations: number;
  errors: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
}

export interface SideResult extends Burst {
  peakServerConnections: number;
}

export interface BenchOptions {
  invocations?: number;
  maxConnections?: number;
  poolSize?: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i] * 10) / 10;
}

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : ((e as Error | null)?.name ?? "unknown");
}

async function side(s: Servers, env: Record<string, string | undefined>, campaignId: string, invocations: number): Promise<{ result: SideResult; warm: Burst }> {
  const monitor = await s.pg.admin(DB_NAME); // superuser: uses a reserved slot, excluded from the count
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await monitor.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND usename = 'app' AND backend_type = 'client backend'",
        [DB_NAME],
      );
      peak = Math.max(peak, rows[0].n);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const runtimes: Runtime[] = Array.from({ length: invocations }, () => createRuntime("dispatcher", { ...env, LOG_LEVEL: "silent" }));
  const burst = async () => {
    const latencies: number[] = [];
    const errors: Record<string, number> = {};
    await Promise.all(
      runtimes.map(async (rt) => {
        const t0 = performance.now();
        try {
          await dispatch(rt, { campaignId });
          latencies.push(performance.now() - t0);
        } catch (e) {
          const code = errorCode(e);
          errors[code] = (errors[code] ?? 0) + 1;
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    return { invocations, errors, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
  };
  const cold = await burst(); // every environment connects (cold starts)
  const warm = await burst(); // the same environments again: connections kept from the first burst
  await new Promise((r) => setTimeout(r, 20));
  sampling = false;
  await sampler;
  await Promise.all(runtimes.map((rt) => rt.close()));
  await monitor.end();
  const { invocations: n, errors, p50Ms, p99Ms } = cold;
  return { result: { invocations: n, errors, peakServerConnections: peak, p50Ms, p99Ms }, warm };
}

export interface BenchResult {
  direct: SideResult;
  pooled: SideResult;
  /** A second burst on the same (now warm) environments; not part of the --json contract. */
  warm: { direct: Burst; pooled: Burst };
}

export async function runPoolBenchmark(opts: BenchOptions = {}): Promise<BenchResult> {
  const invocations = opts.invocations ?? 500;
  const s = await startServers({ maxConnections: opts.maxConnections ?? 87, poolSize: opts.poolSize ?? 20, tls: false });
  try {
    const setup = createRuntime("validate-campaign", { ...s.env(), LOG_LEVEL: "silent" });
    const v = (await validate(setup, campaignEvent(10))) as ValidateResult;
    if (!v.valid) throw new Error("benchmark fixture is invalid");
    await setup.close();
    const direct = await side(s, s.directEnv(), v.campaignId, invocations);
    const pooled = await side(s, s.env(), v.campaignId, invocations);
    return { direct: direct.result, pooled: pooled.result, warm: { direct: direct.warm, pooled: pooled.warm } };
  } finally {
    await s.stop();
  }
}

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

function describe(label: string, r: Burst, peak?: number): string {
  const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const byCode = Object.entries(r.errors).map(([code, n]) => `${code}×${n}`).join(", ") || "none";
  const peakText = peak === undefined ? "" : `  peak server connections ${peak}`;
  return `${label.padEnd(13)} invocations ${r.invocations}  failed ${failed} (${byCode})${peakText}  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms`;
}

async function main(): Promise<void> {
  const opts: BenchOptions = { invocations: arg("--invocations"), maxConnections: arg("--max-connections"), poolSize: arg("--pool-size") };
  const result = await runPoolBenchmark(opts);
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify({ direct: result.direct, pooled: result.pooled }));
    return;
  }
  console.log(`PostgreSQL max_connections=${opts.maxConnections ?? 87} (3 reserved for superusers); PgBouncer transaction mode, ${opts.poolSize ?? 20} server connections`);
  console.log(describe("direct", result.direct, result.direct.peakServerConnections));
  console.log(describe("pooled", result.pooled, result.pooled.peakServerConnections));
  console.log("second burst on the same, now warm, environments:");
  console.log(describe("direct warm", result.warm.direct));
  console.log(describe("pooled warm", result.warm.pooled));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
