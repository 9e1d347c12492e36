/**
 * The worker as systemd runs it: the esbuild bundle (build/asterisk-worker/index.js) in its own
 * Node.js process, secrets as credential files under $CREDENTIALS_DIRECTORY, against the ARI
 * stand-in and a real Redis. One call goes through; SIGTERM stops it cleanly; a configuration
 * error exits 78 (EX_CONFIG: the unit does not restart in a loop) without quoting a secret.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { AriStandIn } from "../../lambdas/asterisk-worker/ari-standin";
import { buildAsteriskWorker } from "../../lambdas/build";
import { fieldsToObject, OUTCOME_STREAM } from "../../lambdas/shared/outcomes";
import { freePort, startRedis, type RedisServer } from "./servers";

let dir: string;
let bundle: string;
let redisServer: RedisServer;
let redis: Redis;
let ari: AriStandIn;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "worker-bundle-"));
  [{ file: bundle }, redisServer] = await Promise.all([buildAsteriskWorker({ outDir: join(dir, "build") }), startRedis(dir)]);
  redis = new Redis({ host: "127.0.0.1", port: redisServer.port, password: redisServer.password, lazyConnect: true });
  await redis.connect();
  ari = new AriStandIn({ timeScale: 100, plan: () => ({ outcome: "answered", ringMs: 1000, talkMs: 25_000 }) });
  await ari.start();
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  redis?.disconnect();
  await ari?.stop();
  await redisServer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function runWorker(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bundle], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out, exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))) };
}

async function waitFor(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("the bundle runs with systemd credentials, answers /health, turns a call into a stream entry, and stops on SIGTERM", async () => {
  const creds = join(dir, "creds");
  mkdirSync(creds, { mode: 0o700 });
  writeFileSync(join(creds, "ari-password"), ari.password + "\n", { mode: 0o400 });
  writeFileSync(join(creds, "redis-password"), redisServer.password, { mode: 0o400 });
  const port = await freePort();
  const state = join(dir, "state");
  mkdirSync(state);
  const w = runWorker({
    ARI_URL: ari.url,
    ARI_USER: ari.user,
    REDIS_PORT: String(redisServer.port),
    HEALTH_PORT: String(port),
    CREDENTIALS_DIRECTORY: creds,
    STATE_DIRECTORY: state,
  });
  const health = async () => (await fetch(`http://127.0.0.1:${port}/health`)).json() as Promise<{ status: string }>;
  await waitFor(async () => (await health()).status === "healthy", "healthy");
  expect(await health()).toMatchObject({ status: "healthy", redis: { connected: true, endpoint: `127.0.0.1:${redisServer.port}` }, ari: { connected: true, app: "campaign-dialer" } });

  const res = await fetch(`${ari.url}/ari/channels?endpoint=PJSIP/%2B15551230001@trunk&app=campaign-dialer&channelId=cmp-bundle-1&timeout=30`, {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from(`${ari.user}:${ari.password}`).toString("base64")}`, "content-type": "application/json" },
    body: JSON.stringify({ variables: {} }),
  });
  expect(res.status).toBe(200);
  await waitFor(async () => (await redis.xlen(OUTCOME_STREAM)) === 1, "outcome in the stream");
  const [[, fields]] = (await redis.xrange(OUTCOME_STREAM, "-", "+")) as [string, string[]][];
  expect(fieldsToObject(fields)).toMatchObject({ channelId: "cmp-bundle-1", outcome: "answered", talkSeconds: 25, cause: 16, causeText: "Normal Clearing", source: "event" });

  w.child.kill("SIGTERM");
  expect(await w.exited).toBe(0);
  expect(w.output()).not.toContain(ari.password);
  expect(w.output()).not.toContain(redisServer.password);
}, 30_000);

test("a configuration error exits 78 naming the variable, and quotes no secret", async () => {
  const w = runWorker({ ARI_USER: "dialer", ARI_PASSWORD: "s3cret-value", REDIS_PASSWORD: "another-secret", HEALTH_PORT: "99999" });
  expect(await w.exited).toBe(78);
  expect(w.output()).toMatch(/asterisk-worker: HEALTH_PORT must be an integer between 0 and 65535/);
  expect(w.output()).not.toMatch(/s3cret-value|another-secret/);
});
