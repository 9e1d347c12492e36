/**
 * The Lambdas' Redis client over TLS (REDIS_TLS), against a real redis-server 7 listening only on a
 * tls-port with a throwaway self-signed certificate: ElastiCache with in-transit encryption
 * "required" accepts nothing else. Verification is real: without the CA the handshake fails (a cache
 * miss), and a plain client gets nothing from the TLS port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cache } from "../../lambdas/shared/cache";
import { EnvConfigError, loadConfig } from "../../lambdas/shared/config";
import { createLogger } from "../../lambdas/shared/logging";
import { freePort, makeCertificate, waitForPort } from "./servers";

const PASSWORD = `tls-${Math.random().toString(36).slice(2)}-pw`;
let dir: string;
let port: number;
let cert: string;
let server: ChildProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "redis-tls-"));
  ({ cert } = await makeCertificate(dir).then((c) => ({ cert: c.cert, key: c.key })));
  const key = join(dir, "tls.key");
  port = await freePort();
  // The password in a config file, not on the command line.
  writeFileSync(
    join(dir, "redis.conf"),
    [`port 0`, `tls-port ${port}`, `bind 127.0.0.1`, `tls-cert-file ${cert}`, `tls-key-file ${key}`, `tls-ca-cert-file ${cert}`, `tls-auth-clients no`,
      `requirepass ${PASSWORD}`, `save ""`, `appendonly no`, `dir ${dir}`, `daemonize no`].join("\n"),
  );
  server = spawn("redis-server", [join(dir, "redis.conf")], { stdio: "ignore" });
  await waitForPort(port, 10_000);
}, 30_000);

afterAll(async () => {
  if (server.exitCode === null) {
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({
  RDS_PROXY_ENDPOINT: "127.0.0.1",
  DATABASE_NAME: "x",
  DATABASE_USER: "u",
  DATABASE_PASSWORD: "p",
  DATABASE_SSL: "disable",
  REDIS_HOST: "127.0.0.1",
  REDIS_PORT: String(port),
  REDIS_PASSWORD: PASSWORD,
  REDIS_RETRY_COOLDOWN_MS: "0",
  ...extra,
});

function cache(extra: Record<string, string>): Cache {
  return new Cache(loadConfig("report-generator", env(extra)).redis, createLogger("silent", {}));
}

test("verify-full with the CA: the cache works over TLS", async () => {
  const c = cache({ REDIS_TLS: "verify-full", REDIS_TLS_CA: cert });
  try {
    expect(await c.ping()).toBe(true);
    await c.setJson("tls:k", { v: 1 }, 60);
    expect(await c.getJson("tls:k")).toEqual({ v: 1 });
    expect(c.stats.errors).toBe(0);
  } finally {
    await c.close();
  }
});

test("verify-full without the CA: the self-signed certificate is refused (a miss, not a failed invocation)", async () => {
  const c = cache({ REDIS_TLS: "verify-full" });
  try {
    expect(await c.ping()).toBe(false);
    expect(c.stats.errors).toBe(1);
  } finally {
    await c.close();
  }
});

test("no-verify connects; a plain client gets nothing from the TLS port", async () => {
  const tls = cache({ REDIS_TLS: "no-verify" });
  const plain = cache({ REDIS_CONNECT_TIMEOUT_MS: "300" });
  try {
    expect(await tls.ping()).toBe(true);
    expect(await plain.ping()).toBe(false);
  } finally {
    await tls.close();
    await plain.close();
  }
});

test("the default is plain TCP; a bad mode or an unreadable CA names its variable", () => {
  expect(loadConfig("report-generator", env({})).redis!.tls).toBe(false);
  expect(() => loadConfig("report-generator", env({ REDIS_TLS: "yes" }))).toThrow('Configuration error: REDIS_TLS must be verify-full, no-verify or disable, got "yes"');
  expect(() => loadConfig("report-generator", env({ REDIS_TLS: "verify-full", REDIS_TLS_CA: join(dir, "missing.pem") }))).toThrow(EnvConfigError);
  expect(() => loadConfig("report-generator", env({ REDIS_TLS: "verify-full", REDIS_TLS_CA: join(dir, "missing.pem") }))).toThrow(/REDIS_TLS_CA names a file that cannot be read/);
});
