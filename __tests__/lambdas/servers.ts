/**
 * Real servers for the Lambda tests and the pool benchmark, each file/run with its own temp dir and
 * random free loopback ports:
 * - PostgreSQL 15 (initdb / pg_ctl, run as the postgres user when we are root), scram auth;
 * - PgBouncer in transaction mode, default_pool_size 20, the local stand-in for RDS Proxy
 *   (optionally with client TLS, like the proxy; no ignore_startup_parameters, so it rejects the
 *   same kind of startup parameters the proxy does);
 * - Redis 7 with a password (stoppable, pausable, restartable for outage tests);
 * - an ARI stand-in speaking POST /ari/channels with basic auth.
 * Only processes started here are stopped here (by pid / pg_ctl on our data dir).
 * Debian packages: redis-server, pgbouncer, openssl; PostgreSQL 15 binaries on PATH.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";
import { migrate } from "../../lambdas/migrate";

const run = promisify(execFile);
const IS_ROOT = process.getuid?.() === 0;

export const DB_NAME = "campaigns";
export const APP_USER = "app";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host: "127.0.0.1", port }, () => (sock.destroy(), resolve(true)));
      sock.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** PostgreSQL 15 binaries: on PATH, or where Debian's postgresql-15 package puts them. */
function pgBin(cmd: string): string {
  const debian = `/usr/lib/postgresql/15/bin/${cmd}`;
  return existsSync(debian) ? debian : cmd;
}

/** Run a command as the postgres user when we are root (initdb, postgres and pgbouncer refuse root). */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return IS_ROOT ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
}

/**
 * Same, for a server we signal: setpriv drops to postgres and execs the command in its own
 * process, so our child IS the server. runuser would stay as its parent and relay job control:
 * after a SIGCONT it sends the server its own SIGCONT whenever it gets scheduled, which can land
 * after the next SIGSTOP and resume a server a test has just paused (seen on a loaded machine).
 */
function execAsPostgres(cmd: string, args: string[]): [string, string[]] {
  return IS_ROOT ? ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", cmd, ...args]] : [cmd, args];
}

/** A process's state letter from /proc (R running, S sleeping, T stopped, Z zombie, ...), undefined once gone. */
export function processState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0];
  } catch {
    return undefined;
  }
}

/** Sends a job-control signal and waits until /proc shows it took effect (stopped, or no longer stopped). */
async function jobControl(pid: number, sig: "SIGSTOP" | "SIGCONT", timeoutMs = 10_000): Promise<void> {
  const want = (state: string | undefined) => (sig === "SIGSTOP" ? state === "T" : state !== "T");
  process.kill(pid, sig);
  const deadline = Date.now() + timeoutMs;
  while (!want(processState(pid))) {
    if (processState(pid) === undefined || processState(pid) === "Z") throw new Error(`${sig} to process ${pid}: it has exited`);
    if (Date.now() > deadline) throw new Error(`${sig} to process ${pid}: state still ${processState(pid)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function ownedByPostgres(path: string): void {
  mkdirSync(path, { recursive: true });
  if (IS_ROOT) {
    const uid = Number(readFileSync("/etc/passwd", "utf8").match(/^postgres:[^:]*:(\d+):(\d+):/m)?.[1]);
    const gid = Number(readFileSync("/etc/passwd", "utf8").match(/^postgres:[^:]*:(\d+):(\d+):/m)?.[2]);
    chownSync(path, uid, gid);
  }
}

export interface PgServer {
  port: number;
  superPassword: string;
  appPassword: string;
  admin(database?: string): Promise<Client>;
  stop(): Promise<void>;
}

export async function startPostgres(dir: string, opts: { maxConnections?: number } = {}): Promise<PgServer> {
  const data = join(dir, "pg");
  const sock = join(dir, "pgsock");
  ownedByPostgres(data);
  ownedByPostgres(sock);
  const superPassword = `su-${Math.random().toString(36).slice(2)}`;
  const appPassword = `app-${Math.random().toString(36).slice(2)}`;
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, superPassword + "\n", { mode: 0o644 });
  await run(...asPostgres(pgBin("initdb"), ["-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-sync", "--no-instructions"]));
  rmSync(pwfile);
  let port = 0;
  for (let tries = 0; ; tries++) {
    port = await freePort();
    const options = [
      `-p ${port}`,
      "-c listen_addresses=127.0.0.1",
      `-k ${sock}`,
      `-c max_connections=${opts.maxConnections ?? 100}`,
      "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB",
      "-c superuser_reserved_connections=3",
    ].join(" ");
    try {
      await run(...asPostgres(pgBin("pg_ctl"), ["-D", data, "-l", join(data, "server.log"), "-w", "-t", "60", "-o", options, "start"]));
      break;
    } catch (e) {
      if (tries >= 2) throw new Error(`postgres did not start: ${(e as Error).message}\n${readFileSync(join(data, "server.log"), "utf8").slice(-2000)}`);
    }
  }
  const stop = async () => {
    await run(...asPostgres(pgBin("pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"])).catch(() => undefined);
  };
  const admin = async (database = "postgres") => {
    const c = new Client({ host: "127.0.0.1", port, user: "postgres", password: superPassword, database });
    await c.connect();
    return c;
  };
  try {
    const c = await admin();
    await c.query(`CREATE ROLE ${APP_USER} LOGIN PASSWORD '${appPassword}'`);
    await c.query(`CREATE DATABASE ${DB_NAME} OWNER ${APP_USER}`);
    await c.end();
    const app = new Client({ host: "127.0.0.1", port, user: APP_USER, password: appPassword, database: DB_NAME });
    await app.connect();
    await migrate(app);
    await app.end();
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, superPassword, appPassword, admin, stop };
}

/** A self-signed certificate for 127.0.0.1 / localhost (the proxy's TLS, locally). */
export async function makeCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "tls.crt");
  const key = join(dir, "tls.key");
  await run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]);
  chmodSync(key, 0o644);
  return { cert, key };
}

export interface Bouncer {
  port: number;
  pid: number;
  /** query_wait_timeout: how long PgBouncer queues a client for a server connection (RDS Proxy's borrow timeout). */
  queryWaitTimeoutSeconds: number;
  /**
   * SIGSTOP / SIGCONT: the kernel still accepts connections, PgBouncer answers nothing (an
   * overloaded endpoint). Each resolves once /proc shows the state changed.
   */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Whether PgBouncer is stopped now (state T in /proc). */
  paused(): boolean;
  stop(): Promise<void>;
}

export interface BouncerOptions {
  /** default_pool_size. @default 20 */
  poolSize?: number;
  /** Client TLS, like the proxy. @default none */
  tls?: { cert: string; key: string };
  /** query_wait_timeout in seconds. @default 60 */
  queryWaitTimeoutSeconds?: number;
}

export async function startPgBouncer(dir: string, pg: PgServer, opts: BouncerOptions = {}): Promise<Bouncer> {
  const bdir = join(dir, "pgbouncer");
  ownedByPostgres(bdir);
  const userlist = join(bdir, "userlist.txt");
  // The server's SCRAM verifier, not the plaintext: PgBouncer then checks clients with HMACs only
  // (no PBKDF2 per client connection in its single thread) and passes SCRAM through to the server.
  const c = await pg.admin();
  const { rows } = await c.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [APP_USER]);
  await c.end();
  writeFileSync(userlist, `"${APP_USER}" "${rows[0].rolpassword}"\n`, { mode: 0o644 });
  const pidfile = join(bdir, "pgbouncer.pid");
  const queryWaitTimeoutSeconds = opts.queryWaitTimeoutSeconds ?? 60;
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const ini = join(bdir, "pgbouncer.ini");
    const tlsLines = opts.tls ? [`client_tls_sslmode = require`, `client_tls_cert_file = ${opts.tls.cert}`, `client_tls_key_file = ${opts.tls.key}`] : [];
    writeFileSync(
      ini,
      [
        "[databases]",
        `${DB_NAME} = host=127.0.0.1 port=${pg.port} dbname=${DB_NAME}`,
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        `listen_port = ${port}`,
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        `auth_file = ${userlist}`,
        "pool_mode = transaction",
        `default_pool_size = ${opts.poolSize ?? 20}`,
        "min_pool_size = 0",
        "reserve_pool_size = 0",
        "max_client_conn = 2000",
        "max_db_connections = 0",
        "server_login_retry = 1",
        `query_wait_timeout = ${queryWaitTimeoutSeconds}`,
        `logfile = ${join(bdir, "pgbouncer.log")}`,
        `pidfile = ${pidfile}`,
        ...tlsLines,
        "",
      ].join("\n"),
      { mode: 0o644 },
    );
    const [cmd, args] = execAsPostgres("pgbouncer", [ini]);
    // Raise the descriptor limit before dropping privileges (500+ clients); sh and setpriv exec,
    // so `child` is PgBouncer itself: the process we signal, and whose exit we see.
    const child = spawn("sh", ["-c", `ulimit -n 8192; exec "$0" "$@"`, cmd, ...args], { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await Promise.race([waitForPort(port, 10_000), exited.then(() => Promise.reject(new Error("pgbouncer exited")))]);
      const pid = child.pid as number;
      const fromPidfile = Number(readFileSync(pidfile, "utf8").trim());
      if (fromPidfile !== pid) throw new Error(`pgbouncer's pidfile names process ${fromPidfile}, not the one started (${pid})`);
      const running = () => child.exitCode === null && child.signalCode === null;
      const resume = async () => {
        if (running()) await jobControl(pid, "SIGCONT");
      };
      return {
        port,
        pid,
        queryWaitTimeoutSeconds,
        pause: () => jobControl(pid, "SIGSTOP"),
        resume,
        paused: () => processState(pid) === "T",
        stop: async () => {
          if (!running()) return;
          await resume().catch(() => undefined);
          child.kill("SIGINT");
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
          if (running()) {
            child.kill("SIGKILL");
            await exited;
          }
        },
      };
    } catch (e) {
      child.kill("SIGKILL");
      if (tries >= 2) throw new Error(`pgbouncer did not start: ${(e as Error).message}\n${safeRead(join(bdir, "pgbouncer.log")).slice(-2000)}`);
    }
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export interface RedisServer {
  port: number;
  password: string;
  pid(): number | undefined;
  /** Stop the server (SIGTERM, wait for exit). */
  stop(): Promise<void>;
  /** Start it again on the same port. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: accepts connections but never answers (a hung Redis). */
  pause(): void;
  resume(): void;
}

/** `persistent`: append-only file fsynced every write, so a restart keeps the data (like the Asterisk host's Redis). */
export async function startRedis(dir: string, opts: { persistent?: boolean } = {}): Promise<RedisServer> {
  const rdir = join(dir, "redis");
  mkdirSync(rdir, { recursive: true });
  const password = `redis-${Math.random().toString(36).slice(2)}`;
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const c = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", opts.persistent ? "yes" : "no", ...(opts.persistent ? ["--appendfsync", "always"] : []), "--dir", rdir, "--requirepass", password, "--daemonize", "no"], { stdio: "ignore" });
    child = c;
    exited = new Promise((resolve) => c.once("exit", () => resolve()));
    await Promise.race([waitForPort(port, 10_000), exited.then(() => Promise.reject(new Error(`redis-server exited (port ${port})`)))]);
  };
  await start();
  return {
    port,
    password,
    pid: () => child?.pid,
    start,
    stop: async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill("SIGCONT");
        child.kill("SIGTERM");
        await exited;
      }
    },
    pause: () => void child?.kill("SIGSTOP"),
    resume: () => void child?.kill("SIGCONT"),
  };
}

export interface AriCall {
  channelId: string;
  endpoint: string;
  callerId: string;
  app: string;
  timeout: string;
  variables: Record<string, string>;
}

export type AriMode = "ok" | "fail" | "hang" | "slow" | "drop";

export interface AriStub {
  url: string;
  user: string;
  password: string;
  /** Calls ARI accepted (2xx). */
  calls: AriCall[];
  /** Every authenticated origination request, accepted or not. */
  requests: AriCall[];
  /**
   * "ok": 200 with a channel; "fail": 500; "hang": never answers (places no call);
   * "slow": places the call (counted in `calls`) but answers 200 only after `slowMs`;
   * "drop": places the call, then closes the connection without answering.
   */
  mode: AriMode;
  /** Delay of the "slow" answer. */
  slowMs: number;
  /** Per-call answer when set: a status code (e.g. 400 for an endpoint Asterisk refuses), a mode, or undefined for `mode`. */
  respond?: (call: AriCall) => number | AriMode | undefined;
  unauthorized: number;
  close(): Promise<void>;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString()));
    req.on("end", () => resolve(data));
  });
}

export async function startAri(): Promise<AriStub> {
  const user = "dialer";
  const password = `ari-${Math.random().toString(36).slice(2)}`;
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const stub: AriStub = { url: "", user, password, calls: [], requests: [], mode: "ok", slowMs: 1000, unauthorized: 0, close: async () => undefined };
  const server: Server = createHttpServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const text = await body(req);
    if (req.method !== "POST" || url.pathname !== "/ari/channels") return void res.writeHead(404).end("not found");
    if (req.headers.authorization !== expected) {
      stub.unauthorized++;
      return void res.writeHead(401).end('{"message":"Authentication required"}');
    }
    const q = url.searchParams;
    const call: AriCall = {
      channelId: q.get("channelId") ?? "",
      endpoint: q.get("endpoint") ?? "",
      callerId: q.get("callerId") ?? "",
      app: q.get("app") ?? "",
      timeout: q.get("timeout") ?? "",
      variables: text ? ((JSON.parse(text) as { variables?: Record<string, string> }).variables ?? {}) : {},
    };
    stub.requests.push(call);
    const answer = stub.respond?.(call) ?? stub.mode;
    if (typeof answer === "number" && answer >= 300) return void res.writeHead(answer, { "content-type": "application/json" }).end(JSON.stringify({ message: answer < 500 ? "Invalid endpoint" : "Allocation failed" }));
    if (answer === "hang") return; // never answers
    if (answer === "fail") return void res.writeHead(500, { "content-type": "application/json" }).end('{"message":"Allocation failed"}');
    stub.calls.push(call); // Asterisk placed the call
    const ok = () => {
      if (!res.destroyed) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: call.channelId, state: "Down", name: call.endpoint }));
    };
    if (answer === "drop") return void req.socket.destroy();
    if (answer === "slow") return void setTimeout(ok, stub.slowMs).unref();
    ok();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  stub.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  stub.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return stub;
}

export interface Servers {
  dir: string;
  pg: PgServer;
  bouncer: Bouncer;
  redis: RedisServer;
  ari: AriStub;
  tls: { cert: string; key: string } | undefined;
  /** Environment of a function connecting through PgBouncer (TLS when started with it), Redis and ARI. */
  env(overrides?: Record<string, string | undefined>): Record<string, string | undefined>;
  /** Same, but straight to PostgreSQL (no pooler, no TLS). */
  directEnv(overrides?: Record<string, string | undefined>): Record<string, string | undefined>;
  stop(): Promise<void>;
}

export interface ServersOptions {
  /** PostgreSQL max_connections. @default 100 */
  maxConnections?: number;
  /** PgBouncer default_pool_size. @default 20 */
  poolSize?: number;
  /** PgBouncer query_wait_timeout (s). @default 60 */
  queryWaitTimeoutSeconds?: number;
  /** Client TLS on PgBouncer. @default false */
  tls?: boolean;
  /** Redis with an append-only file (survives a restart). @default false */
  persistentRedis?: boolean;
}

export async function startServers(opts: ServersOptions = {}): Promise<Servers> {
  const dir = mkdtempSync(join(tmpdir(), "lambdas-"));
  chmodSync(dir, 0o755); // postgres must reach its subdirectories
  const started: { stop(): Promise<void> }[] = [];
  try {
    const tls = opts.tls ? await makeCertificate(dir) : undefined;
    const settled = await Promise.allSettled([startPostgres(dir, opts), startRedis(dir, { persistent: opts.persistentRedis }), startAri()]);
    for (const r of settled) if (r.status === "fulfilled") started.push("close" in r.value ? { stop: r.value.close } : r.value);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const [pg, redis, ari] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [PgServer, RedisServer, AriStub];
    const bouncer = await startPgBouncer(dir, pg, { poolSize: opts.poolSize, queryWaitTimeoutSeconds: opts.queryWaitTimeoutSeconds, tls });
    started.push(bouncer);
    const common = {
      DATABASE_NAME: DB_NAME,
      DATABASE_USER: APP_USER,
      DATABASE_PASSWORD: pg.appPassword,
      REDIS_HOST: "127.0.0.1",
      REDIS_PORT: String(redis.port),
      REDIS_PASSWORD: redis.password,
      ARI_URL: ari.url,
      ARI_USER: ari.user,
      ARI_PASSWORD: ari.password,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    };
    return {
      dir,
      pg,
      bouncer,
      redis,
      ari,
      tls,
      env: (overrides = {}) => ({
        ...common,
        RDS_PROXY_ENDPOINT: "127.0.0.1",
        DATABASE_PORT: String(bouncer.port),
        // PgBouncer's query_wait_timeout plays the proxy's borrow timeout.
        DATABASE_BORROW_TIMEOUT_SECONDS: String(bouncer.queryWaitTimeoutSeconds),
        ...(tls ? { DATABASE_SSL: "verify-full", DATABASE_SSL_CA: tls.cert } : { DATABASE_SSL: "disable" }),
        ...overrides,
      }),
      directEnv: (overrides = {}) => ({
        ...common,
        RDS_PROXY_ENDPOINT: "127.0.0.1",
        DATABASE_PORT: String(pg.port),
        DATABASE_SSL: "disable",
        DATABASE_BORROW_TIMEOUT_SECONDS: "0", // no pooler queue in front of PostgreSQL
        ...overrides,
      }),
      stop: async () => {
        for (const s of started.reverse()) await s.stop().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface TcpProxy {
  port: number;
  connections: number;
  /**
   * Emulates what a Lambda environment finds after a freeze: the peer dropped every current
   * connection without the client noticing; the client's next write is answered with a TCP RST
   * (ECONNRESET). New connections work normally.
   */
  sever(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const live = new Set<{ client: import("node:net").Socket; upstream: import("node:net").Socket }>();
  const all = new Set<import("node:net").Socket>();
  const proxy: TcpProxy = { port: 0, connections: 0, sever: () => undefined, close: async () => undefined };
  const server = createServer((client) => {
    proxy.connections++;
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    all.add(client).add(upstream);
    client.once("close", () => all.delete(client));
    upstream.once("close", () => all.delete(upstream));
    const pair = { client, upstream };
    live.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  proxy.port = (server.address() as { port: number }).port;
  proxy.sever = () => {
    for (const pair of live) {
      live.delete(pair);
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.upstream.removeAllListeners("close");
      pair.upstream.destroy();
      pair.client.removeAllListeners("close");
      pair.client.once("data", () => pair.client.resetAndDestroy());
      pair.client.resume(); // unpipe paused it
    }
  };
  proxy.close = () =>
    new Promise((resolve) => {
      for (const socket of all) socket.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
