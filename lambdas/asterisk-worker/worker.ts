/**
 * The Asterisk-side worker: closes the call loop on the Asterisk host.
 *
 * - ARI events: one WebSocket to {ARI_URL}/ari/events?app=<ARI_APP> (basic auth on the upgrade
 *   request, so the password is in no URL). It reconnects with exponential backoff and jitter
 *   (a connection whose reconciliation fails counts as a failed one: the backoff goes on);
 *   a ping every 15 s finds a dead connection. Events sent while no WebSocket is connected are
 *   lost (ARI does not replay them), so every (re)connect is followed by a reconciliation
 *   through REST: GET /ari/channels lists the live channels; a tracked call missing from it ended
 *   while the worker was not listening (outcome from what was known, source "reconcile"); a live
 *   campaign channel the worker did not know is adopted.
 * - Outcomes (lambdas/asterisk-worker/calls.ts) go to the local Redis stream OUTCOME_STREAM with
 *   a Lua script that adds the entry only once per channel (a marker key with a 7-day TTL) and
 *   drops the call's saved state in the same step. Until Redis takes an outcome it waits in the
 *   outbox (memory, and OUTBOX_FILE when Redis refused it, so a restart does not lose it), retried
 *   every second and whenever Redis is back.
 * - Live calls are also kept in a Redis hash, so a worker restarted mid-call carries on with the
 *   answer time it had seen: at start the saved calls are read before the event WebSocket opens
 *   (so the first reconciliation does not adopt them afresh), and a call this run already knows
 *   when they are read (Redis came back later) is merged with its saved state, not replaced.
 * - start() waits (at most START_WAIT_MS each) for Redis and for the first ARI connection, so a
 *   caller that originates calls right after it does not lose their first events.
 * - GET /health on HEALTH_HOST:HEALTH_PORT: {status, redis: {connected, endpoint}, ari:
 *   {connected, app}, backlog: {unsent, stream, total}, calls}; 200 healthy, 503 degraded (Redis
 *   or ARI down).
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import Redis from "ioredis";
import WebSocket from "ws";
import type { Logger } from "../shared/logging";
import { encodeOutcome, OUTCOME_GROUP, OUTCOME_STREAM, type OutcomeRecord } from "../shared/outcomes";
import { applyEvent, channelOf, destroyedOf, eventTime, mergeSaved, newCall, outcomeOf, vanishedOutcome, type AriChannel, type AriEvent, type CallState, type Destroyed } from "./calls";
import type { WorkerConfig } from "./config";

export const CALLS_KEY = "asterisk-worker:calls:v1";
export const SENT_PREFIX = "asterisk-worker:sent:v1:";
const SENT_TTL_SECONDS = 7 * 86_400;
const FINALIZED_MEMORY = 50_000;
const PING_MS = 15_000;
const FLUSH_RETRY_MS = 1000;
const START_WAIT_MS = 3000;

const PUBLISH = `
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
redis.call('HDEL', KEYS[3], ARGV[2])
return 0`;

type PublishingRedis = Redis & { publishOutcome(stream: string, sent: string, calls: string, ttl: string, channelId: string, ...fields: string[]): Promise<number> };

export interface WorkerHealth {
  status: "healthy" | "degraded";
  redis: { connected: boolean; endpoint: string };
  ari: { connected: boolean; app: string };
  backlog: { unsent: number; stream: number | null; total: number | null };
  calls: number;
}

export interface WorkerStats {
  events: number;
  published: number;
  /** Outcomes Redis already had (same channel published before, e.g. by a previous run). */
  alreadyPublished: number;
  /** Events for a channel already finalised, or a repeated ChannelDestroyed. */
  ignored: number;
  reconciled: number;
  adopted: number;
  connects: number;
}

export class AsteriskWorker {
  private readonly calls = new Map<string, CallState>();
  private readonly settling = new Map<string, { state: CallState; destroyed: Destroyed; timer: NodeJS.Timeout }>();
  private readonly finalized = new Set<string>();
  private outbox: OutcomeRecord[] = [];
  private redis!: PublishingRedis;
  private ws: WebSocket | undefined;
  private server: Server | undefined;
  private stopped = false;
  private ariOpen = false;
  private restored = false;
  /** The consumer group and the saved calls, read when Redis is ready (start() waits for it). */
  private restoring: Promise<void> | undefined;
  /** Called at the first ARI connection (start() waits for it). */
  private firstAriOpen: (() => void) | undefined;
  private failures = 0;
  /** Another connection took over the application: wait the longest delay before taking it back. */
  private replaced = false;
  /** Event clock (ARI's timestamps) minus the local clock, from the newest event or REST Date header. */
  private clockOffset = 0;
  private newestEvent = 0;
  /** Bumped per event; a call's `seq` says when it was last heard of (reconciliation races). */
  private seq = 0;
  private readonly heard = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  private retryTimer = false;
  /** Bumped when the outbox changes; the file is rewritten only when it is behind. */
  private outboxVersion = 0;
  private savedVersion = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  readonly stats: WorkerStats = { events: 0, published: 0, alreadyPublished: 0, ignored: 0, reconciled: 0, adopted: 0, connects: 0 };
  /** Every outcome as it was decided (tests and the demo watch it). */
  readonly decided: OutcomeRecord[] = [];
  healthPort = 0;

  constructor(
    private readonly cfg: WorkerConfig,
    private readonly log: Logger,
  ) {}

  private get auth(): string {
    return `Basic ${Buffer.from(`${this.cfg.ari.user}:${this.cfg.ari.password}`).toString("base64")}`;
  }

  async start(): Promise<void> {
    this.loadOutbox();
    const r = new Redis({
      host: this.cfg.redis.host,
      port: this.cfg.redis.port,
      password: this.cfg.redis.password || undefined,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      commandTimeout: 2000,
      retryStrategy: (n) => Math.min(100 * 2 ** Math.min(n, 6), 5000),
    }) as PublishingRedis;
    r.defineCommand("publishOutcome", { numberOfKeys: 3, lua: PUBLISH });
    r.on("error", (error) => this.log.debug("redis error", { error }));
    r.on("ready", () => void this.onRedisReady());
    this.redis = r;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, START_WAIT_MS);
      r.once("ready", () => (clearTimeout(t), resolve()));
    });
    if (r.status !== "ready") this.log.warn("redis not reachable at start; outcomes wait in the outbox", { endpoint: this.redisEndpoint });
    // Saved calls first: events or a reconciliation before them would track those calls afresh.
    else await this.restoring;
    await this.startHealthServer();
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, START_WAIT_MS);
      this.firstAriOpen = () => (clearTimeout(t), resolve());
      this.connectAri();
    });
    this.firstAriOpen = undefined;
    if (!this.ariOpen) this.log.warn("ARI not reachable at start; retrying with backoff", { url: this.cfg.ari.url });
  }

  get redisEndpoint(): string {
    return `${this.cfg.redis.host}:${this.cfg.redis.port}`;
  }

  private async onRedisReady(): Promise<void> {
    if (this.stopped) return;
    this.log.info("redis connected", { endpoint: this.redisEndpoint });
    this.restoring = (async () => {
      await this.redis.xgroup("CREATE", OUTCOME_STREAM, OUTCOME_GROUP, "0", "MKSTREAM").catch((e: Error) => {
        if (!/BUSYGROUP/.test(e.message)) this.log.warn("could not create the outcome consumer group", { error: e });
      });
      if (!this.restored) await this.restoreCalls();
    })();
    await this.restoring;
    await this.flush();
  }

  /** Calls a previous run was tracking (worker restarted mid-call); the next reconciliation checks them. */
  private async restoreCalls(): Promise<void> {
    if (this.restored || this.stopped) return;
    try {
      const saved = await this.redis.hgetall(CALLS_KEY);
      const unsent = new Set(this.outbox.map((o) => o.channelId));
      let n = 0;
      for (const [id, json] of Object.entries(saved)) {
        if (this.finalized.has(id) || unsent.has(id)) continue;
        let state: CallState;
        try {
          state = JSON.parse(json) as CallState;
        } catch {
          this.log.warn("dropping an unreadable saved call state", { channelId: id });
          continue;
        }
        n++;
        const known = this.calls.get(id) ?? this.settling.get(id)?.state;
        if (known) mergeSaved(known, state);
        else this.calls.set(id, state);
      }
      this.restored = true;
      for (const c of this.calls.values()) this.persist(c); // held back until now (see persist)
      if (n) this.log.info("restored calls from a previous run", { calls: n });
      if (n && this.ariOpen) void this.reconcile();
    } catch (error) {
      this.log.warn("could not restore saved calls; retrying", { error });
      if (this.redis.status === "ready") this.later(() => void this.restoreCalls(), FLUSH_RETRY_MS); // else at the next "ready"
    }
  }

  // ---- ARI -----------------------------------------------------------------------------------

  private connectAri(): void {
    if (this.stopped) return;
    const url = `${this.cfg.ari.url.replace(/^http/, "ws")}/ari/events?app=${encodeURIComponent(this.cfg.ari.app)}`;
    const ws = new WebSocket(url, { headers: { authorization: this.auth }, handshakeTimeout: this.cfg.ari.requestTimeoutMs });
    this.ws = ws;
    let alive = true;
    let ping: NodeJS.Timeout | undefined;
    ws.on("open", () => {
      this.ariOpen = true;
      // failures is reset by a successful reconciliation, not here: a connection whose
      // reconciliation fails is dropped at once, and must back off like a failed connect.
      this.stats.connects++;
      this.log.info("ARI events connected", { app: this.cfg.ari.app });
      this.firstAriOpen?.();
      ping = setInterval(() => {
        if (!alive) return void ws.terminate();
        alive = false;
        ws.ping();
      }, PING_MS);
      void this.reconcile();
    });
    ws.on("pong", () => void (alive = true));
    ws.on("message", (data) => {
      let e: AriEvent;
      try {
        e = JSON.parse(data.toString()) as AriEvent;
      } catch {
        return this.log.warn("ARI sent a message that is not JSON; ignored");
      }
      // JSON but not an event (null, a number, an array): reading its fields would throw inside
      // the WebSocket's listener, an uncaught exception that ends the process.
      if (e === null || typeof e !== "object" || Array.isArray(e)) return this.log.warn("ARI sent a message that is not an event object; ignored", { got: Array.isArray(e) ? "array" : e === null ? "null" : typeof e });
      this.onEvent(e);
    });
    ws.on("unexpected-response", (_req, res) => {
      this.log.error("ARI refused the event WebSocket", { status: res.statusCode, app: this.cfg.ari.app });
      ws.terminate();
    });
    ws.on("error", (error) => this.log.debug("ARI WebSocket error", { error }));
    ws.on("close", () => {
      clearInterval(ping);
      if (this.ariOpen) {
        // Up to now every ChannelDestroyed reached us: the tracked calls were alive at this moment.
        const now = this.ariNow();
        for (const s of this.calls.values()) s.lastSeenAt = Math.max(s.lastSeenAt, now);
        this.log.warn("ARI events disconnected; reconnecting", { calls: this.calls.size });
      }
      this.ariOpen = false;
      if (this.ws === ws) this.ws = undefined;
      if (this.stopped) return;
      const base = this.replaced ? this.cfg.reconnect.maxMs : Math.min(this.cfg.reconnect.maxMs, this.cfg.reconnect.minMs * 2 ** Math.min(this.failures, 20));
      this.replaced = false;
      this.failures++;
      this.later(() => this.connectAri(), Math.round(base * (0.5 + Math.random() / 2)));
    });
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Now on ARI's clock (its event timestamps), which talk times are measured in. */
  ariNow(): number {
    return Date.now() + this.clockOffset;
  }

  private async ariGet<T>(path: string): Promise<T> {
    const res = await fetch(`${this.cfg.ari.url}${path}`, { headers: { authorization: this.auth }, signal: AbortSignal.timeout(this.cfg.ari.requestTimeoutMs) });
    if (!res.ok) throw new Error(`GET ${path}: ARI answered ${res.status}`);
    // Asterisk's HTTP server dates its answers: after an outage it is the freshest reading of its clock.
    const date = Date.parse(res.headers.get("date") ?? "");
    if (Number.isFinite(date) && date + 1000 > this.newestEvent) this.clockOffset = date + 500 - Date.now();
    return (await res.json()) as T;
  }

  /** After a (re)connect: settle calls that ended unseen, adopt live ones we did not know. */
  async reconcile(): Promise<void> {
    const startSeq = this.seq;
    let live: AriChannel[];
    try {
      live = (await this.ariGet<AriChannel[]>("/ari/channels")).filter((c) => typeof c?.id === "string" && c.id.startsWith(this.cfg.ari.channelPrefix));
    } catch (error) {
      this.log.warn("ARI reconciliation failed; reconnecting to try again", { error });
      this.ws?.terminate();
      return;
    }
    this.failures = 0; // connected and in step with ARI: the next disconnect starts the backoff afresh
    const now = this.ariNow();
    const ids = new Set(live.map((c) => c.id));
    for (const s of [...this.calls.values()]) {
      // An event since the request started means the call was alive then: the list may predate it.
      if (ids.has(s.channelId) || (this.heard.get(s.channelId) ?? 0) > startSeq) continue;
      this.stats.reconciled++;
      this.finalize(vanishedOutcome(s, now));
    }
    for (const c of live) {
      if (this.settling.has(c.id) || this.finalized.has(c.id)) continue;
      let s = this.calls.get(c.id);
      if (!s) {
        const created = c.creationtime ? Date.parse(c.creationtime) : NaN;
        s = newCall(c.id, Number.isFinite(created) ? created : now);
        this.calls.set(c.id, s);
        this.stats.adopted++;
      }
      s.lastSeenAt = Math.max(s.lastSeenAt, now);
      if (c.state === "Up" && s.answeredAt === null) s.answeredAt = now; // answered while we were away: talk time from now
      this.persist(s);
    }
    if (this.stats.reconciled || this.stats.adopted) this.log.info("ARI reconciled", { live: live.length, reconciled: this.stats.reconciled, adopted: this.stats.adopted });
  }

  onEvent(e: AriEvent): void {
    this.stats.events++;
    if (e.type === "ApplicationReplaced") {
      this.replaced = true;
      return this.log.error("another connection took over the Stasis application (a second worker?); backing off", { app: this.cfg.ari.app });
    }
    const ch = channelOf(e, this.cfg.ari.channelPrefix);
    if (!ch) return;
    const id = ch.id;
    const at = eventTime(e, this.ariNow());
    if (at >= this.newestEvent) {
      this.newestEvent = at;
      this.clockOffset = at - Date.now();
    }
    this.heard.set(id, ++this.seq);
    if (this.finalized.has(id)) return void this.stats.ignored++;
    const settling = this.settling.get(id);
    if (e.type === "ChannelDestroyed") {
      if (settling) return void this.stats.ignored++;
      const state = this.calls.get(id) ?? newCall(id, at);
      const destroyed = destroyedOf(e, at);
      const timer = setTimeout(() => this.finalize(outcomeOf(state, destroyed)), this.cfg.settleMs);
      this.settling.set(id, { state, destroyed, timer });
      return;
    }
    if (settling) {
      // A late event (sent before the channel was destroyed) still counts; a later one cannot be.
      if (at <= settling.destroyed.at) applyEvent(settling.state, e, at);
      else this.stats.ignored++;
      return;
    }
    let s = this.calls.get(id);
    const fresh = !s;
    if (!s) {
      s = newCall(id, at);
      this.calls.set(id, s);
    }
    applyEvent(s, e, at);
    this.persist(s);
    if (fresh) void this.dropIfAlreadySent(id);
  }

  /**
   * A channel this run has not seen may be one a previous run already decided (a late or repeated
   * event after a restart): its sent marker says so, and then it is not tracked (it would never
   * see another ChannelDestroyed).
   */
  private async dropIfAlreadySent(id: string): Promise<void> {
    if (this.redis.status !== "ready") return;
    try {
      if (!(await this.redis.exists(SENT_PREFIX + id)) || !this.calls.has(id) || this.settling.has(id)) return;
      this.calls.delete(id);
      this.heard.delete(id);
      this.finalized.add(id);
      this.stats.ignored++;
      await this.redis.hdel(CALLS_KEY, id);
    } catch (error) {
      this.log.debug("could not check a channel's sent marker", { error });
    }
  }

  private persist(s: CallState): void {
    // Not before the previous run's saved calls are read: this run's partial view would overwrite them.
    if (this.redis.status !== "ready" || !this.restored) return;
    this.redis.hset(CALLS_KEY, s.channelId, JSON.stringify(s)).catch((error: Error) => this.log.debug("could not save call state", { error }));
  }

  private finalize(record: OutcomeRecord): void {
    const id = record.channelId;
    const settling = this.settling.get(id);
    if (settling) clearTimeout(settling.timer);
    this.settling.delete(id);
    this.calls.delete(id);
    this.heard.delete(id);
    this.finalized.add(id);
    if (this.finalized.size > FINALIZED_MEMORY) this.finalized.delete(this.finalized.values().next().value as string);
    this.decided.push(record);
    this.outbox.push(record);
    this.outboxVersion++;
    void this.flush();
  }

  // ---- Redis hand-over -----------------------------------------------------------------------

  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async drain(): Promise<void> {
    const hadBacklog = this.outbox.length;
    while (this.outbox.length && this.redis.status === "ready") {
      const o = this.outbox[0];
      try {
        const added = await this.redis.publishOutcome(OUTCOME_STREAM, SENT_PREFIX + o.channelId, CALLS_KEY, String(SENT_TTL_SECONDS), o.channelId, ...encodeOutcome(o));
        added === 1 ? this.stats.published++ : this.stats.alreadyPublished++;
        this.outbox.shift();
        this.outboxVersion++;
      } catch (error) {
        this.log.warn("redis did not take an outcome; kept in the outbox", { error, unsent: this.outbox.length });
        break;
      }
    }
    if (this.outbox.length) {
      this.saveOutbox();
      if (!this.stopped && !this.retryTimer) {
        this.retryTimer = true; // one retry chain, however many outcomes are waiting
        this.later(() => {
          this.retryTimer = false;
          void this.flush();
        }, FLUSH_RETRY_MS);
      }
    } else if (hadBacklog) this.saveOutbox();
  }

  private loadOutbox(): void {
    const file = this.cfg.outboxFile;
    if (!file) return;
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") this.log.error("cannot read the outbox file", { file, error: e });
      return;
    }
    for (const line of text.split("\n").filter(Boolean)) {
      try {
        this.outbox.push(JSON.parse(line) as OutcomeRecord);
      } catch {
        this.log.error("dropping an unreadable outbox line", { file });
      }
    }
    if (this.outbox.length) this.log.info("outcomes from a previous run wait for Redis", { unsent: this.outbox.length });
  }

  private saveOutbox(): void {
    const file = this.cfg.outboxFile;
    if (!file || this.savedVersion === this.outboxVersion) return;
    this.savedVersion = this.outboxVersion;
    try {
      writeFileSync(`${file}.tmp`, this.outbox.map((o) => JSON.stringify(o) + "\n").join(""), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch (error) {
      this.log.error("cannot write the outbox file; unsent outcomes are in memory only", { file, error });
    }
  }

  // ---- health --------------------------------------------------------------------------------

  async health(): Promise<WorkerHealth> {
    const redisOk = this.redis.status === "ready";
    const stream = redisOk ? await this.redis.xlen(OUTCOME_STREAM).catch(() => null) : null;
    const connected = redisOk && stream !== null;
    return {
      status: connected && this.ariOpen ? "healthy" : "degraded",
      redis: { connected, endpoint: this.redisEndpoint },
      ari: { connected: this.ariOpen, app: this.cfg.ari.app },
      backlog: { unsent: this.outbox.length, stream, total: stream === null ? null : stream + this.outbox.length },
      calls: this.calls.size + this.settling.size,
    };
  }

  private async startHealthServer(): Promise<void> {
    const server = createServer((req, res) => {
      if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/health") return void res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found; try GET /health"}');
      this.health().then(
        (h) => res.writeHead(h.status === "healthy" ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(h)),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.cfg.health.port, this.cfg.health.host, () => resolve());
    });
    this.server = server;
    this.healthPort = (server.address() as { port: number }).port;
  }

  /** Orderly stop (SIGTERM): settling calls are decided now, the outbox is flushed or saved. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const [, s] of [...this.settling]) this.finalize(outcomeOf(s.state, s.destroyed));
    // The flush gets at most 2 s; the timer is cleared when it is done first (a pending timer would
    // keep the process, or a test run, alive for the rest of the 2 s).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise((r) => (timer = setTimeout(r, 2000)))]).finally(() => clearTimeout(timer));
    this.saveOutbox();
    this.shutdown();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Like SIGKILL (tests): everything in memory is gone, nothing is flushed or saved. */
  crash(): void {
    this.stopped = true;
    for (const s of this.settling.values()) clearTimeout(s.timer);
    this.shutdown();
    this.redis.disconnect();
  }

  private shutdown(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.ws?.terminate();
    this.server?.closeAllConnections();
    this.server?.close();
  }
}
