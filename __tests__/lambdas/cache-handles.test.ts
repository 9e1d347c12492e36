/**
 * Nothing keeps a process alive after Redis refused the cache: ioredis's disconnect() on a client
 * whose socket had already closed armed a 2 s timer ("Jest did not exit one second after the test
 * run"), and a Lambda environment would carry it into its freeze.
 */
import { Cache } from "../../lambdas/shared/cache";
import { createLogger } from "../../lambdas/shared/logging";
import { freePort } from "./servers";

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

test("a refused Redis connection leaves no timer behind", async () => {
  const port = await freePort(); // nothing listens there
  const cache = new Cache({ host: "127.0.0.1", port, password: { kind: "local", value: "x" }, connectTimeoutMs: 500, commandTimeoutMs: 250, retryCooldownMs: 0 }, createLogger("silent", {}));
  const before = timers();
  expect(await cache.ping()).toBe(false);
  expect(cache.stats.errors).toBe(1);
  await new Promise((r) => setImmediate(r));
  expect(timers()).toBe(before);
  await cache.close();
});
