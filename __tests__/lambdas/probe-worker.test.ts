/**
 * Hostile ARI for the Asterisk-side worker: the event WebSocket opens, but the reconciliation that
 * must follow every (re)connect fails (GET /ari/channels answers 500, as Asterisk's HTTP server does
 * while its ARI module is reloading). The worker drops the WebSocket to try again; it must back off
 * between those tries, as it does when the connection itself fails, not reconnect at the first
 * delay forever (a reconnect storm and a warning every RECONNECT_MIN_MS).
 * A small HTTP + WebSocket server stands in for ARI here (the full stand-in cannot fail its REST
 * only); Redis is the real redis-server 7.
 */
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocketServer } from "ws";
import { loadWorkerConfig } from "../../lambdas/asterisk-worker/config";
import { AsteriskWorker } from "../../lambdas/asterisk-worker/worker";
import { createLogger } from "../../lambdas/shared/logging";
import { startRedis, type RedisServer } from "./servers";

let dir: string;
let redis: RedisServer;
let server: Server;
const wss = new WebSocketServer({ noServer: true });
/** When each event WebSocket was opened. */
const opened: number[] = [];
let restFails = true;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "probe-worker-"));
  redis = await startRedis(dir);
  server = createServer((req, res) => {
    if (req.method === "GET" && req.url?.startsWith("/ari/channels")) {
      if (restFails) return void res.writeHead(500, { "content-type": "application/json" }).end('{"message":"Internal Server Error"}');
      return void res.writeHead(200, { "content-type": "application/json" }).end("[]");
    }
    res.writeHead(404).end();
  });
  server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => (opened.push(performance.now()), ws.on("error", () => undefined))));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
}, 30_000);

afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  wss.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function newWorker(): AsteriskWorker {
  const port = (server.address() as { port: number }).port;
  const cfg = loadWorkerConfig({
    ARI_URL: `http://127.0.0.1:${port}`,
    ARI_USER: "campaign_dialer",
    ARI_PASSWORD: "ari-password-1",
    REDIS_PORT: String(redis.port),
    REDIS_PASSWORD: redis.password,
    HEALTH_PORT: "0",
    RECONNECT_MIN_MS: "40",
    RECONNECT_MAX_MS: "400",
    OUTCOME_SETTLE_MS: "30",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
  });
  return new AsteriskWorker(cfg, createLogger(cfg.logLevel, { fn: "asterisk-worker" }));
}

test("reconciliation failing after every connect: the reconnects back off (doubling), and recover once it succeeds", async () => {
  const worker = newWorker();
  try {
    await worker.start();
    while (opened.length < 5) await new Promise((r) => setTimeout(r, 10));
    // Delay before reconnect n (1-based) is at least ½ × 40 ms × 2^(n-1): 20, 40, 80, 160 ms.
    // Without the backoff every delay is drawn from [20, 40] ms.
    const gaps = opened.slice(1, 5).map((t, i) => t - opened[i]);
    expect(gaps[3]).toBeGreaterThanOrEqual(160);
    expect(gaps[2]).toBeGreaterThanOrEqual(80);
    // REST back: the next connect reconciles and the worker stays connected.
    restFails = false;
    // Connected, and still on the same connection 100 ms later (a reconciliation that failed would have dropped it).
    const deadline = Date.now() + 10_000;
    let stable = false;
    while (!stable && Date.now() < deadline) {
      const connects = opened.length;
      await new Promise((r) => setTimeout(r, 100));
      stable = (await worker.health()).ari.connected && opened.length === connects;
    }
    expect(stable).toBe(true);
  } finally {
    worker.crash();
  }
}, 20_000);

test("messages that are JSON but not an event (null, a number, an array, a string, a channel that is not an object) are ignored; the worker stays up", async () => {
  restFails = false;
  const worker = newWorker();
  try {
    await worker.start();
    expect((await worker.health()).ari.connected).toBe(true);
    const connects = opened.length;
    const ws = [...wss.clients].filter((c) => c.readyState === c.OPEN).pop()!;
    const events = worker.stats.events;
    for (const m of ["null", "5", "[]", '"ChannelDestroyed"', '{"type": "ChannelDestroyed", "channel": null}', '{"type": "ChannelDestroyed", "channel": "cmp-1"}', '{"type": "Dial", "peer": 7}']) ws.send(m);
    ws.send(JSON.stringify({ type: "ChannelCreated", timestamp: new Date().toISOString(), channel: { id: "cmp-probe-1", state: "Down" }, application: "campaign-dialer" }));
    const deadline = Date.now() + 5000;
    while ((await worker.health()).calls < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect((await worker.health()).calls).toBe(1); // the good event after the bad ones was taken
    expect(worker.stats.events - events).toBeGreaterThanOrEqual(1);
    expect((await worker.health()).ari.connected).toBe(true);
    expect(opened.length).toBe(connects);
  } finally {
    worker.crash();
  }
}, 20_000);
