/**
 * Redis as a cache and nothing more. Every failure is a miss, never a failed invocation:
 * - connect bounded by REDIS_CONNECT_TIMEOUT_MS (≤ 500, TLS handshake included), commands by REDIS_COMMAND_TIMEOUT_MS (≤ 250);
 * - TLS when REDIS_TLS says so (ElastiCache in-transit encryption), certificate and host name verified by default;
 * - no offline queue, no per-command retries, no automatic reconnect loop: after a failure the cache
 *   is skipped for REDIS_RETRY_COOLDOWN_MS and reconnected on demand afterwards, so an outage costs
 *   one bounded delay per cool-down period instead of a retry storm.
 */
import { isIP } from "node:net";
import Redis from "ioredis";
import type { RedisClientConfig } from "./config";
import type { Logger } from "./logging";
import { readPassword, refetchPassword } from "./secrets";

export interface CacheStats {
  hits: number;
  misses: number;
  errors: number;
}

/** Redis refused the credentials (WRONGPASS, or NOAUTH when it asks for a password we did not send). */
function isAuthError(e: unknown): boolean {
  return /^(WRONGPASS|NOAUTH)\b|invalid password/i.test(String((e as { message?: unknown } | null)?.message ?? ""));
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export class Cache {
  private client: Redis | undefined;
  private connecting: Promise<Redis | null> | undefined;
  private downUntil = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0, errors: 0 };

  constructor(
    private readonly cfg: RedisClientConfig | null,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.cfg !== null;
  }

  get endpoint(): string | null {
    return this.cfg ? `${this.cfg.host}:${this.cfg.port}` : null;
  }

  private markDown(error: unknown): void {
    this.stats.errors++;
    const cooldownMs = this.cfg?.retryCooldownMs ?? 0;
    this.log.warn("redis unavailable; treating as cache miss", { error, endpoint: this.endpoint, cooldownMs });
    this.downUntil = Date.now() + cooldownMs;
    this.dropClient();
  }

  private dropClient(): void {
    const c = this.client;
    this.client = undefined;
    // A client whose socket already closed (refused, reset) is "end": ioredis's disconnect() would
    // arm a 2 s timer waiting for a "close" event that already happened, keeping the process alive.
    if (c && c.status !== "end") c.disconnect();
  }

  /**
   * Connected, or null (a miss; the cool-down has started). The whole of it (reading the password
   * secret, the handshake, and a re-read and second handshake after a refused password) is bounded
   * by REDIS_CONNECT_TIMEOUT_MS: a hung Secrets Manager is a miss too (its fetch goes on and serves
   * the next connect). A password Redis refuses is re-read once (a rotated secret) and, when it
   * changed, tried once more at once; a value still refused waits for the cool-down, so Secrets
   * Manager is asked at most once per cool-down.
   */
  private async connect(cfg: RedisClientConfig): Promise<Redis | null> {
    try {
      return await timeout(this.establish(cfg), cfg.connectTimeoutMs, "redis connect");
    } catch (e) {
      this.markDown(e);
      return null;
    }
  }

  private async establish(cfg: RedisClientConfig): Promise<Redis> {
    const used = await readPassword(cfg.password);
    try {
      return await this.open(cfg, used.password);
    } catch (e) {
      if (!isAuthError(e)) throw e;
      const fresh = await refetchPassword(cfg.password, used).catch(() => undefined);
      if (fresh === undefined) throw e;
      this.log.warn("redis refused the password; connecting again with the re-read secret", { error: e, endpoint: this.endpoint });
      this.dropClient();
      return await this.open(cfg, fresh);
    }
  }

  private async open(cfg: RedisClientConfig, password: string): Promise<Redis> {
    const client = new Redis({
      host: cfg.host,
      port: cfg.port,
      password: password === "" ? undefined : password,
      // ElastiCache with in-transit encryption (REDIS_TLS); the host name is checked against the certificate.
      ...(cfg.tls ? { tls: { ...cfg.tls, servername: isIP(cfg.host) ? undefined : cfg.host } } : {}),
      lazyConnect: true,
      connectTimeout: cfg.connectTimeoutMs,
      // A socket that never answered (a hung server, plain TCP to a TLS port) is destroyed this long
      // after disconnect() instead of ioredis's 2 s, which would keep a frozen environment's timer.
      disconnectTimeout: cfg.connectTimeoutMs,
      commandTimeout: cfg.commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null, // no reconnect loop; we reconnect on demand after the cool-down
      reconnectOnError: () => false,
      autoResubscribe: false,
    });
    let cause: unknown;
    client.on("error", (error) => {
      cause = error;
      this.log.debug("redis client error", { error });
    });
    this.client = client;
    // connect() resolves on "ready" (after AUTH and the ready check); bound the whole handshake.
    await timeout(client.connect(), cfg.connectTimeoutMs, "redis connect").catch((e) => {
      throw cause ?? e; // "Connection is closed." hides the reason (WRONGPASS, ECONNREFUSED, ...)
    });
    return client;
  }

  private ready(): Promise<Redis | null> {
    const cfg = this.cfg;
    if (!cfg) return Promise.resolve(null);
    if (this.client?.status === "ready") return Promise.resolve(this.client);
    if (Date.now() < this.downUntil) return Promise.resolve(null);
    this.connecting ??= this.connect(cfg).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async run<T>(op: (c: Redis) => Promise<T>): Promise<T | undefined> {
    const c = await this.ready();
    if (!c) return undefined;
    try {
      return await op(c);
    } catch (e) {
      this.markDown(e);
      return undefined;
    }
  }

  /**
   * Any command on the shared client with the cache's failure handling: undefined when Redis is
   * unavailable (and the cool-down starts). Errors the caller expects must be caught inside `op`.
   */
  command<T>(op: (c: Redis) => Promise<T>): Promise<T | undefined> {
    return this.run(op);
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const raw = await this.run((c) => c.get(key));
    if (raw === undefined || raw === null) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return undefined;
    }
  }

  async setJson(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.run((c) => c.set(key, JSON.stringify(value), "EX", ttlSeconds));
  }

  /** Cache-aside: the cached value, or `load()` stored with a TTL. Redis trouble only costs the bounded delay. */
  async getOrLoad<T>(key: string, ttlSeconds: number, load: () => Promise<T>, opts: { refresh?: boolean } = {}): Promise<{ value: T; hit: boolean }> {
    if (!opts.refresh) {
      const cached = await this.getJson<T>(key);
      if (cached !== undefined) {
        this.stats.hits++;
        return { value: cached, hit: true };
      }
    }
    this.stats.misses++;
    const value = await load();
    if (value !== undefined && value !== null) await this.setJson(key, value, ttlSeconds);
    return { value, hit: false };
  }

  async ping(): Promise<boolean> {
    return (await this.run((c) => c.ping())) === "PONG";
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.quit().catch(() => c.disconnect());
  }
}
