/**
 * An Asterisk stand-in that speaks ARI as Asterisk does (no Asterisk package exists for Debian 12),
 * for the worker's tests and `npm run demo:campaign`. Loopback only. Not part of the worker bundle.
 *
 * REST (basic auth, or ?api_key=user:password; 401 {"message": "Authentication required"}):
 *   POST   /ari/channels?endpoint=&app=&callerId=&timeout=&channelId=  body {"variables": {...}}
 *          200 Channel (state "Down"); 400 without endpoint; 409 for a channel id already in use
 *   GET    /ari/channels            200 [Channel]       (the live channels)
 *   GET    /ari/channels/{id}       200 Channel | 404 {"message": "Channel not found"}
 *   DELETE /ari/channels/{id}       204 (hung up: cause 16) | 404
 * Events: GET /ari/events?app=a[,b] upgraded to a WebSocket (400 without app, 401 without
 *   credentials); JSON messages {type, application, timestamp "YYYY-MM-DDTHH:MM:SS.mmm+0000",
 *   asterisk_id, ...}. The application named in the originate is subscribed to the channel from
 *   its creation and receives, for each call:
 *     Dial(peer, dialstatus "") → Dial RINGING + ChannelStateChange(Ringing) →
 *     answered:  Dial ANSWER, ChannelStateChange(Up), ChannelVarset, StasisStart(args []) …
 *                ChannelHangupRequest(cause 16), StasisEnd, ChannelDestroyed(16 "Normal Clearing")
 *     busy:      Dial BUSY, ChannelDestroyed(17 "User busy")
 *     no answer: Dial NOANSWER at min(ring time, the originate's timeout), ChannelDestroyed(19)
 *     failed:    Dial CHANUNAVAIL / CONGESTION, ChannelDestroyed(3 / 34 / 1 ...)
 *   Events for an application with no connected WebSocket are dropped, as in Asterisk (no replay).
 * `down()` makes ARI unreachable (listener closed, sockets cut) while calls go on; `up()` brings it
 * back on the same port. `timeScale` runs call time faster than real time (timestamps advance
 * timeScale ms per real ms), so a demo can place a thousand realistic calls in seconds.
 * `plan(call)` decides each call (default: a realistic mix); `deliver` lets a test reorder or
 * repeat a call's events to prove the worker copes; `hold` stops a call at its answer or its end
 * until the test calls `proceed(channelId)`, so a test decides what happens before what (e.g.
 * "ends while the worker is down") instead of racing the sped-up clock.
 */
import { randomInt } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { ARI } from "../contracts/ari";

export type PlannedOutcome = "answered" | "busy" | "no_answer" | "failed";

export interface CallPlan {
  outcome: PlannedOutcome;
  /** Virtual ms from origination until answer / busy / failure (no answer: the originate timeout, if shorter). */
  ringMs: number;
  /** Answered calls: virtual ms from answer to hangup. */
  talkMs?: number;
  /** Failed calls: the dial status and Q.850 cause (default CHANUNAVAIL, 3). */
  dialstatus?: "CHANUNAVAIL" | "CONGESTION";
  cause?: number;
  /** Deliver this call's events differently: each twice, or the answer after the hangup (late). */
  deliver?: "normal" | "duplicate" | "late-answer";
  /**
   * Steps that wait for `proceed(channelId)` once the call reaches them on its clock: "answer"
   * (answered calls) and/or "end" (hangup, busy, no answer, failure). A held step happens when
   * released, timestamped then; the talk time of a call answered late counts from its answer.
   */
  hold?: ("answer" | "end")[];
}

export interface OriginatedCall {
  channelId: string;
  endpoint: string;
  app: string;
  callerId: string;
  timeoutSeconds: number;
  variables: Record<string, string>;
  plan: CallPlan;
  createdAt: number;
  /** Timestamp of the answer events (answered calls), null before. */
  answeredAt: number | null;
  endedAt: number | null;
}

export interface AriStandInOptions {
  user?: string;
  password?: string;
  timeScale?: number;
  plan?: (call: Omit<OriginatedCall, "plan" | "createdAt" | "answeredAt" | "endedAt">) => CallPlan;
}

interface LiveChannel {
  call: OriginatedCall;
  name: string;
  state: string;
  timers: NodeJS.Timeout[];
  /** The held step the call waits at (CallPlan.hold), run by proceed(). */
  held: ((ts: number) => void) | null;
}

const CAUSE_TXT: Record<number, string> = {
  1: "Unallocated (unassigned) number",
  3: "No route to destination",
  16: "Normal Clearing",
  17: "User busy",
  18: "No user responding",
  19: "User alerting, no answer",
  21: "Call Rejected",
  34: "Circuit/channel congestion",
  38: "Network out of order",
};

/** A realistic mix: 45 % answered (talk 5-180 s), 25 % no answer, 15 % busy, 15 % failed. */
export function realisticPlan(): CallPlan {
  const r = randomInt(100);
  if (r < 45) return { outcome: "answered", ringMs: randomInt(2000, 20_000), talkMs: randomInt(5000, 180_000) };
  if (r < 70) return { outcome: "no_answer", ringMs: 60_000 };
  if (r < 85) return { outcome: "busy", ringMs: randomInt(500, 4000) };
  return r < 93
    ? { outcome: "failed", ringMs: randomInt(100, 1500), dialstatus: "CHANUNAVAIL", cause: 3 }
    : { outcome: "failed", ringMs: randomInt(100, 1500), dialstatus: "CONGESTION", cause: 34 };
}

/** ARI's timestamp format: 2026-12-01T19:40:00.123+0000. */
export function ariTime(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "+0000");
}

export class AriStandIn {
  readonly user: string;
  readonly password: string;
  readonly timeScale: number;
  private readonly planFor: NonNullable<AriStandInOptions["plan"]>;
  private server: Server | undefined;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<Socket>();
  private readonly subscribers = new Map<string, Set<WebSocket>>();
  private readonly live = new Map<string, LiveChannel>();
  private seq = 0;
  private readonly epoch = Date.now();
  port = 0;
  /** Every accepted origination, in order. */
  readonly calls: OriginatedCall[] = [];
  /** Most live channels at once, per CAMPAIGN_ID variable. */
  readonly peakLive = new Map<string, number>();
  /** Events sent to at least one WebSocket / dropped because none was connected. */
  delivered = 0;
  dropped = 0;

  constructor(opts: AriStandInOptions = {}) {
    this.user = opts.user ?? ARI.user;
    this.password = opts.password ?? `ari-${randomInt(2 ** 47).toString(36)}`;
    this.timeScale = opts.timeScale ?? 1;
    this.planFor = opts.plan ?? (() => realisticPlan());
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Virtual now: real time since start, sped up by timeScale. */
  now(): number {
    return this.epoch + (Date.now() - this.epoch) * this.timeScale;
  }

  /** Whether ARI is reachable (between up() and down()). */
  get isUp(): boolean {
    return this.server !== undefined;
  }

  /** Whether an event WebSocket is subscribed to the application (events for it are delivered, not dropped). */
  isSubscribed(app: string): boolean {
    return (this.subscribers.get(app)?.size ?? 0) > 0;
  }

  /** Whether the call waits at a held step (CallPlan.hold) for proceed(). */
  isHeld(channelId: string): boolean {
    return (this.live.get(channelId)?.held ?? null) !== null;
  }

  /** Runs the step a call is held at (its answer or its end) now, on the call clock. */
  proceed(channelId: string): void {
    const c = this.live.get(channelId);
    const step = c?.held;
    if (!c || !step) throw new Error(`ARI stand-in: channel ${channelId} is not waiting at a held step`);
    c.held = null;
    step(this.now());
  }

  liveCount(campaignId?: string): number {
    return campaignId === undefined ? this.live.size : [...this.live.values()].filter((c) => c.call.variables.CAMPAIGN_ID === campaignId).length;
  }

  async start(): Promise<void> {
    await this.up();
  }

  async up(): Promise<void> {
    const server = createServer((req, res) => void this.rest(req, res));
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
    });
    server.on("upgrade", (req, socket, head) => this.upgrade(req, socket as Socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  /** ARI unreachable: listener closed, every connection cut; calls in progress go on. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const set of this.subscribers.values()) for (const ws of set) ws.terminate();
    this.subscribers.clear();
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Everything off: ARI down and every call's timers cleared. */
  async stop(): Promise<void> {
    for (const c of this.live.values()) c.timers.forEach(clearTimeout);
    this.live.clear();
    await this.down();
    this.wss.close();
  }

  private authorized(req: IncomingMessage, url: URL): boolean {
    const expected = `${this.user}:${this.password}`;
    const header = req.headers.authorization;
    if (header?.startsWith("Basic ") && Buffer.from(header.slice(6), "base64").toString() === expected) return true;
    return url.searchParams.get("api_key") === expected;
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const refuse = (status: number, message: string) => {
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : status === 400 ? "Bad Request" : "Not Found"}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${JSON.stringify({ message })}`);
    };
    if (url.pathname !== "/ari/events") return refuse(404, "Resource not found");
    if (!this.authorized(req, url)) return refuse(401, "Authentication required");
    const apps = (url.searchParams.get("app") ?? "").split(",").filter(Boolean);
    if (apps.length === 0) return refuse(400, "Missing param: app");
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      for (const app of apps) {
        const set = this.subscribers.get(app) ?? new Set<WebSocket>();
        // Asterisk: a second connection for an application replaces the first.
        for (const old of set) {
          old.send(JSON.stringify({ type: "ApplicationReplaced", application: app, timestamp: ariTime(this.now()), asterisk_id: "standin" }));
          old.close();
        }
        set.clear();
        set.add(ws);
        this.subscribers.set(app, set);
      }
      ws.on("close", () => {
        for (const app of apps) this.subscribers.get(app)?.delete(ws);
      });
    });
  }

  private json(res: ServerResponse, status: number, body?: unknown): void {
    res.setHeader("date", new Date(this.now()).toUTCString()); // Asterisk dates its answers (here: on the call clock)
    if (body === undefined) return void res.writeHead(status).end();
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  private async rest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    let text = "";
    for await (const chunk of req) text += chunk;
    if (!this.authorized(req, url)) {
      res.setHeader("www-authenticate", 'Basic realm="Asterisk REST Interface"');
      return this.json(res, 401, { message: "Authentication required" });
    }
    const path = url.pathname.replace(/\/+$/, "");
    const one = /^\/ari\/channels\/([^/]+)$/.exec(path);
    if (path === "/ari/channels" && req.method === "GET") return this.json(res, 200, [...this.live.values()].map((c) => this.channelJson(c)));
    if (path === "/ari/channels" && req.method === "POST") return this.originate(url.searchParams, text, res);
    if (one && req.method === "GET") {
      const c = this.live.get(decodeURIComponent(one[1]));
      return c ? this.json(res, 200, this.channelJson(c)) : this.json(res, 404, { message: "Channel not found" });
    }
    if (one && req.method === "DELETE") {
      const c = this.live.get(decodeURIComponent(one[1]));
      if (!c) return this.json(res, 404, { message: "Channel not found" });
      c.timers.forEach(clearTimeout);
      this.hangup(c, 16, this.now());
      return this.json(res, 204);
    }
    return this.json(res, 404, { message: "Resource not found" });
  }

  private originate(q: URLSearchParams, text: string, res: ServerResponse): void {
    const endpoint = q.get("endpoint");
    if (!endpoint) return this.json(res, 400, { message: "Endpoint must be specified" });
    let variables: Record<string, string> = {};
    if (text) {
      try {
        variables = (JSON.parse(text) as { variables?: Record<string, string> }).variables ?? {};
      } catch {
        return this.json(res, 400, { message: "Failed to parse body" });
      }
    }
    const channelId = q.get("channelId") ?? `standin-${Date.now()}.${this.seq}`;
    if (this.live.has(channelId) || this.calls.some((c) => c.channelId === channelId && c.endedAt === null)) {
      return this.json(res, 409, { message: "Channel with given unique ID already exists" });
    }
    const base = { channelId, endpoint, app: q.get("app") ?? "", callerId: q.get("callerId") ?? "", timeoutSeconds: Number(q.get("timeout") ?? 30) || 30, variables };
    const call: OriginatedCall = { ...base, plan: this.planFor(base), createdAt: this.now(), answeredAt: null, endedAt: null };
    this.calls.push(call);
    const channel: LiveChannel = { call, name: `${endpoint.split("@")[0].replace(/\/\+?\d+$/, "")}/trunk-${(++this.seq).toString(16).padStart(8, "0")}`, state: "Down", timers: [], held: null };
    this.live.set(channelId, channel);
    const campaign = variables.CAMPAIGN_ID ?? "";
    this.peakLive.set(campaign, Math.max(this.peakLive.get(campaign) ?? 0, this.liveCount(campaign)));
    this.json(res, 200, this.channelJson(channel));
    this.script(channel);
  }

  private channelJson(c: LiveChannel): Record<string, unknown> {
    return {
      id: c.call.channelId,
      name: c.name,
      state: c.state,
      protocol_id: "",
      caller: { name: "", number: c.call.callerId },
      connected: { name: "", number: "" },
      accountcode: "",
      dialplan: { context: "default", exten: "s", priority: 1, app_name: c.state === "Up" ? "Stasis" : "AppDial2", app_data: c.call.app },
      creationtime: ariTime(c.call.createdAt),
      language: "en",
    };
  }

  /** Schedules the call's events (virtual times scaled to real delays; held steps wait for proceed()). */
  private script(c: LiveChannel): void {
    const { plan } = c.call;
    const t0 = c.call.createdAt;
    const hold = new Set(plan.hold ?? []);
    const at = (ts: number, fn: (ts: number) => void, step?: "answer" | "end") => {
      const run = step && hold.has(step) ? () => void (c.held = fn) : () => fn(ts);
      c.timers.push(setTimeout(run, Math.max(0, (ts - this.now()) / this.timeScale)));
    };
    const ring = plan.outcome === "no_answer" ? Math.min(plan.ringMs, c.call.timeoutSeconds * 1000) : plan.ringMs;
    const late: Record<string, unknown>[] = [];
    const send = (ts: number, type: string, extra: Record<string, unknown> = {}, holdBack = false) => {
      const event = { type, timestamp: ariTime(ts), ...extra, application: c.call.app, asterisk_id: "standin" };
      if (holdBack) return void late.push(event);
      this.emit(c.call.app, event, plan.deliver === "duplicate");
    };
    at(t0, (ts) => send(ts, "Dial", { peer: this.channelJson(c), dialstatus: "", dialstring: c.call.endpoint.split("/").slice(1).join("/") }));
    at(t0 + Math.min(50, ring / 2), (ts) => {
      c.state = "Ringing";
      send(ts, "Dial", { peer: this.channelJson(c), dialstatus: "RINGING" });
      send(ts, "ChannelStateChange", { channel: this.channelJson(c) });
    });
    if (plan.outcome === "answered") {
      at(t0 + ring, (ts) => {
        c.state = "Up";
        c.call.answeredAt = ts;
        send(ts, "Dial", { peer: this.channelJson(c), dialstatus: "ANSWER" }, plan.deliver === "late-answer");
        send(ts, "ChannelStateChange", { channel: this.channelJson(c) }, plan.deliver === "late-answer");
        send(ts, "ChannelVarset", { channel: this.channelJson(c), variable: "STASISSTATUS", value: "" });
        send(ts, "StasisStart", { channel: this.channelJson(c), args: [] }, plan.deliver === "late-answer");
        at(
          ts + (plan.talkMs ?? 30_000),
          (end) => {
            send(end, "ChannelHangupRequest", { channel: this.channelJson(c), cause: 16 });
            send(end, "StasisEnd", { channel: this.channelJson(c) });
            this.destroy(c, 16, end, late);
          },
          "end",
        );
      }, "answer");
      return;
    }
    at(t0 + ring, (ts) => {
      const [dialstatus, cause] = plan.outcome === "busy" ? ["BUSY", 17] : plan.outcome === "no_answer" ? ["NOANSWER", 19] : [plan.dialstatus ?? "CHANUNAVAIL", plan.cause ?? 3];
      send(ts, "Dial", { peer: this.channelJson(c), dialstatus });
      this.destroy(c, cause as number, ts, late);
    }, "end");
  }

  private hangup(c: LiveChannel, cause: number, ts: number): void {
    this.emit(c.call.app, { type: "ChannelHangupRequest", timestamp: ariTime(ts), channel: this.channelJson(c), cause, application: c.call.app, asterisk_id: "standin" }, false);
    this.destroy(c, cause, ts, []);
  }

  private destroy(c: LiveChannel, cause: number, ts: number, late: Record<string, unknown>[]): void {
    if (!this.live.delete(c.call.channelId)) return;
    c.call.endedAt = ts;
    const event = { type: "ChannelDestroyed", timestamp: ariTime(ts), channel: this.channelJson(c), cause, cause_txt: CAUSE_TXT[cause] ?? "Unknown", application: c.call.app, asterisk_id: "standin" };
    this.emit(c.call.app, event, c.call.plan.deliver === "duplicate");
    for (const e of late) this.emit(c.call.app, e, false); // held back: arrive after the hangup, with their own (earlier) timestamps
  }

  /** Sends an event to the application's WebSocket (twice when `twice`), or drops it like Asterisk. */
  emit(app: string, event: Record<string, unknown>, twice: boolean): void {
    const set = this.subscribers.get(app);
    if (!set || set.size === 0) return void this.dropped++;
    const text = JSON.stringify(event);
    for (const ws of set) {
      ws.send(text);
      if (twice) ws.send(text);
    }
    this.delivered++;
  }
}
