/**
 * The pool benchmark's claim, at a reduced size for CI: a burst of invocations, each with its own
 * connection, fails with SQLSTATE 53300 straight against PostgreSQL (max_connections 87) and
 * succeeds through PgBouncer with at most 20 server connections. (`npm run bench:pool` runs 500.)
 */
import { runPoolBenchmark } from "../../bench/pool";

test("direct connections run out (53300); the pooler serves every invocation with ≤ 20 server connections", async () => {
  const r = await runPoolBenchmark({ invocations: 200, maxConnections: 87, poolSize: 20 });
  expect(r.direct.invocations).toBe(200);
  expect(Object.keys(r.direct.errors)).toEqual(["53300"]);
  expect(r.direct.errors["53300"]).toBeGreaterThan(100);
  expect(r.direct.peakServerConnections).toBeLessThanOrEqual(84);
  expect(r.direct.peakServerConnections).toBeGreaterThan(20);
  expect(r.pooled).toMatchObject({ invocations: 200, errors: {} });
  expect(r.pooled.peakServerConnections).toBeLessThanOrEqual(20);
  expect(r.pooled.p50Ms).toBeGreaterThan(0);
  expect(r.pooled.p99Ms).toBeGreaterThanOrEqual(r.pooled.p50Ms);
}, 120_000);
