/**
 * The pool benchmark's claim, at a reduced size for CI (`npm run bench:pool` runs 500 per side):
 * environments that each keep their own connection run out of PostgreSQL's slots straight against
 * it (max_connections 87: SQLSTATE 53300 for every environment past the limit, and nothing else:
 * no timeouts), and all succeed through PgBouncer with at most 20 server connections. Counts only:
 * no latency figure is asserted (those are the benchmark's to print). The benchmark admits cold-start
 * handshakes a few at a time (each Lambda environment has its own CPU for its handshake; this
 * machine's few cores do not), so the outcome does not depend on how busy the machine is.
 */
import { runPoolBenchmark, type Phase } from "../../bench/pool";

const N = 150;

test("direct connections run out (53300 only, no timeouts); the pooler serves every invocation with ≤ 20 server connections", async () => {
  const r = await runPoolBenchmark({ invocations: N, maxConnections: 87, poolSize: 20 });
  expect(r.directLimit).toBe(83);
  const refused = (p: Phase) => {
    expect(p.invocations).toBe(N);
    expect(p.timeouts).toBe(0);
    expect(Object.keys(p.errors)).toEqual(["53300"]);
    expect(p.tooManyConnections).toBe(N - p.succeeded);
    // Every slot is used; two handshakes racing for the last free slots may both be refused.
    expect(p.succeeded).toBeLessThanOrEqual(r.directLimit);
    expect(p.succeeded).toBeGreaterThanOrEqual(r.directLimit - r.coldStarts);
    expect(p.peakServerConnections).toBeGreaterThanOrEqual(p.succeeded);
    expect(p.peakServerConnections).toBeLessThanOrEqual(r.directLimit + r.coldStarts);
  };
  refused(r.direct.cold);
  refused(r.direct.warm);
  // Warm: the environments that held a connection keep it; the others are refused again.
  expect(r.direct.warm.succeeded).toBe(r.direct.cold.succeeded);

  for (const p of [r.pooled.cold, r.pooled.warm]) {
    expect(p).toMatchObject({ invocations: N, succeeded: N, errors: {}, tooManyConnections: 0, timeouts: 0 });
    expect(p.peakServerConnections).toBeGreaterThanOrEqual(1);
    expect(p.peakServerConnections).toBeLessThanOrEqual(20);
  }
}, 300_000);
