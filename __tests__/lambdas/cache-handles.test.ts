/**
 * Nothing keeps a process alive after Redis refused the cache: ioredis's disconnect() on a client
 * whose socket had already closed armed a 2 s timer ("Jest did not exit one second after the test
 * run"), and a Lambda environment would carry it into its freeze.
 */
import { createHook } from "node:async_hooks";
import { Cache } from "../../lambdas/shared/cache";
import { createLogger } from "../../lambdas/shared/logging";
import { freePort } from "./servers";

/** Timers created by ioredis while `fn` runs that are still pending afterwards (neither fired nor cleared). */
async function pendingIoredisTimers(fn: () => Promise<void>): Promise<string[]> {
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type !== "Timeout") return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      const stack = new Error().stack ?? "";
      Error.stackTraceLimit = limit;
      if (stack.includes("ioredis")) live.set(id, stack);
    },
    destroy(id) {
      live.delete(id);
    },
  });
  hook.enable();
  try {
    await fn();
    await new Promise((r) => setImmediate(r));
  } finally {
    hook.disable();
  }
  return [...live.values()];
}

test("a refused Redis connection leaves no ioredis timer behind", async () => {
  const port = await freePort(); // nothing listens there
  const cache = new Cache({ host: "127.0.0.1", port, password: { kind: "local", value: "x" }, connectTimeoutMs: 500, commandTimeoutMs: 250, retryCooldownMs: 0 }, createLogger("silent", {}));
  const left = await pendingIoredisTimers(async () => {
    expect(await cache.ping()).toBe(false);
  });
  expect(cache.stats.errors).toBe(1);
  expect(left).toEqual([]);
  await cache.close();
});
