/**
 * Hostile probes of secret rotation and bad secrets, against the real servers (Redis 7, PgBouncer,
 * PostgreSQL, the ARI stand-in) and the real AWS SDK talking to a local Secrets Manager stand-in:
 * - Redis restarted with a new password (the secret rotated): the cache re-fetches the secret once
 *   and reconnects, and with a secret that is still wrong it does not loop on Secrets Manager;
 * - ARI answering 401 after its password was rotated: the dialer re-fetches the secret once and
 *   places the call in the same run (a 401 placed no call), never twice;
 * - a malformed secret is not cached: once it is fixed, the next use reads the good value;
 * - Secrets Manager that accepts the connection and never answers: the cache is a bounded miss,
 *   and the database names the secret instead of hanging until Lambda kills the invocation.
 */
import Redis from "ioredis";
import { run as dial, type DialResult } from "../../lambdas/dialer-worker/handler";
import { run as report, type CampaignReport } from "../../lambdas/report-generator/handler";
import { createRuntime } from "../../lambdas/shared/runtime";
import { resolvePassword } from "../../lambdas/shared/secrets";
import { readyCampaign, serversForFile } from "./helpers";
import { startSecretsManager, type SecretsManagerStandIn } from "./secrets-manager";
import { APP_USER, startTcpProxy } from "./servers";

const ARN = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:probe-${name}-AbCdEf`;

/** Secrets Manager stand-in (fetches counted per secret; `hang` names secrets it never answers for). */
let sm: SecretsManagerStandIn;
const f = serversForFile();

beforeAll(async () => {
  sm = await startSecretsManager();
});

afterAll(() => sm.close());

const passwordSecret = (password: string) => JSON.stringify({ password });

/** Changes the Redis password the way a restart with a rotated secret does: new requirepass, every client disconnected. */
async function rotateRedisPassword(from: string, to: string): Promise<void> {
  const admin = new Redis({ host: "127.0.0.1", port: f.s.redis.port, password: from, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await admin.connect();
  try {
    await admin.config("SET", "requirepass", to);
    await admin.client("KILL", "TYPE", "normal", "SKIPME", "yes");
    // Wait until the server has dropped them all (only this admin connection is left).
    for (let i = 0; i < 100 && ((await admin.client("LIST")) as string).trim().split("\n").length > 1; i++) await new Promise((r) => setTimeout(r, 10));
  } finally {
    admin.disconnect();
  }
  await new Promise((r) => setTimeout(r, 20)); // the killed clients see their socket close
}

describe("Redis password rotated", () => {
  let current: string;
  beforeAll(() => void (current = f.s.redis.password));
  afterAll(async () => rotateRedisPassword(current, f.s.redis.password));

  test("the cache re-fetches the secret once and reconnects; a still-wrong secret is fetched once per cool-down, no loop", async () => {
    const arn = ARN("redis");
    sm.secrets[arn] = passwordSecret(current);
    const rt = f.rt("report-generator", { REDIS_PASSWORD_SECRET_ARN: arn, REDIS_RETRY_COOLDOWN_MS: "600000" });
    const campaignId = await readyCampaign(f.rts, 2);
    expect(((await report(rt, { campaignId })) as CampaignReport & { cached: boolean }).cached).toBe(false);
    expect(((await report(rt, { campaignId })) as { cached: boolean }).cached).toBe(true);
    expect(sm.fetches[arn]).toBe(1);

    // Rotation: the secret gets the new password, Redis restarts with it.
    const rotated = "rotated-redis-password-1";
    sm.secrets[arn] = passwordSecret(rotated);
    await rotateRedisPassword(current, rotated);
    current = rotated;
    expect(((await report(rt, { campaignId })) as { cached: boolean }).cached).toBe(true);
    expect(sm.fetches[arn]).toBe(2);
    expect(rt.cache.stats.errors).toBe(0);

    // Redis rotated again, but the secret not (yet): one re-fetch, then a miss and the cool-down, not a loop.
    const ahead = "rotated-redis-password-2";
    await rotateRedisPassword(current, ahead);
    current = ahead;
    for (let i = 0; i < 5; i++) expect(((await report(rt, { campaignId })) as CampaignReport).contacts).toBe(2);
    expect(sm.fetches[arn]).toBe(3);
    expect(rt.cache.stats.errors).toBe(1);
  });
});

describe("ARI password rotated", () => {
  const realPassword = () => f.s.ari.password;

  test("a 401 re-fetches the secret once and places the call in the same run, exactly once", async () => {
    const arn = ARN("ari");
    sm.secrets[arn] = passwordSecret("the-old-ari-password");
    const rt = f.rt("dialer-worker", { ARI_PASSWORD_SECRET_ARN: arn });
    const campaignId = await readyCampaign(f.rts, 1);
    // The environment read the old password before the rotation (e.g. a warm Lambda).
    await expect(resolvePassword({ kind: "secret", arn, variable: "ARI_PASSWORD_SECRET_ARN" })).resolves.toBe("the-old-ari-password");
    sm.secrets[arn] = passwordSecret(realPassword());
    const unauthorizedBefore = f.s.ari.unauthorized;
    const r = (await dial(rt, { campaignId })) as DialResult;
    expect(r.failed).toEqual([]);
    expect(r.originated).toHaveLength(1);
    expect(f.s.ari.calls.filter((c) => c.channelId === r.originated[0].channelId)).toHaveLength(1);
    expect(f.s.ari.unauthorized - unauthorizedBefore).toBe(1);
    expect(sm.fetches[arn]).toBe(2);
  });

  test("a secret that is still wrong: one re-fetch per origination round, the 401 stays transient", async () => {
    const arn = ARN("ari-wrong");
    sm.secrets[arn] = passwordSecret("not-the-ari-password");
    const rt = f.rt("dialer-worker", { ARI_PASSWORD_SECRET_ARN: arn });
    const campaignId = await readyCampaign(f.rts, 3);
    const r = (await dial(rt, { campaignId })) as DialResult;
    expect(r.originated).toEqual([]);
    expect(r.failed.map((x) => x.kind)).toEqual(["transient", "transient", "transient"]);
    expect(r.failed[0].error).toMatch(/ARI answered 401/);
    expect(sm.fetches[arn]).toBe(2);
    expect(f.s.ari.calls.filter((c) => c.variables.CAMPAIGN_ID === campaignId)).toEqual([]);
  });
});

describe("malformed and unreachable secrets", () => {
  test("a malformed secret is not cached: fixed in Secrets Manager, the next use reads it", async () => {
    const arn = ARN("malformed");
    sm.secrets[arn] = "hunter2-plain-string";
    const source = { kind: "secret", arn, variable: "REDIS_PASSWORD_SECRET_ARN" } as const;
    const e = (await resolvePassword(source).catch((x: Error) => x)) as Error;
    expect(e.message).toBe(`secret REDIS_PASSWORD_SECRET_ARN (${arn}): the secret is not JSON of the form {"password": "..."}`);
    expect(e.message).not.toContain("hunter2");
    sm.secrets[arn] = passwordSecret("a-good-password");
    await expect(resolvePassword(source)).resolves.toBe("a-good-password");
    expect(sm.fetches[arn]).toBe(2);
  });

  test("Secrets Manager that never answers: the cache is a bounded miss, the invocation succeeds", async () => {
    const arn = ARN("hung-redis");
    sm.hang.add(arn);
    const rt = f.rt("report-generator", { REDIS_PASSWORD_SECRET_ARN: arn });
    const campaignId = await readyCampaign(f.rts, 1);
    const r = (await report(rt, { campaignId })) as CampaignReport & { cached: boolean };
    expect(r).toMatchObject({ contacts: 1, cached: false });
    expect(rt.cache.stats.errors).toBe(1);
  }, 10_000);

  test("Secrets Manager that never answers the database secret: a clear error naming the variable, no hang", async () => {
    const arn = ARN("hung-rds");
    sm.hang.add(arn);
    const rt = f.rt("report-generator", { RDS_SECRET_ARN: arn });
    const e = (await report(rt, { campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f" }, { getRemainingTimeInMillis: () => 30_000 }).catch((x: Error) => x)) as Error;
    expect(e).toBeInstanceOf(Error);
    expect(e.message).toMatch(/RDS_SECRET_ARN/);
    expect(e.message).toMatch(/did not answer/);
  }, 20_000);
});

describe("database password rotated (straight to PostgreSQL, through a TCP proxy that can sever)", () => {
  test("a dead connection, then an authentication failure on the new one: the secret is re-read once and the invocation succeeds; a secret still behind fails clearly, one re-read per invocation", async () => {
    const arn = ARN("rds");
    sm.secrets[arn] = JSON.stringify({ username: APP_USER, password: f.s.pg.appPassword });
    const proxy = await startTcpProxy(f.s.pg.port);
    const rt = createRuntime("report-generator", f.s.directEnv({ RDS_SECRET_ARN: arn, DATABASE_PORT: String(proxy.port) }));
    const rotate = (pw: string) => f.admin.query(`ALTER ROLE ${APP_USER} PASSWORD '${pw}'`);
    try {
      const campaignId = await readyCampaign(f.rts, 1);
      expect(((await report(rt, { campaignId, refresh: true })) as CampaignReport).contacts).toBe(1);
      expect(sm.fetches[arn]).toBe(1);

      // Rotation while the environment was frozen: the password changed and its connection is gone.
      await rotate("rotated-db-password-1");
      sm.secrets[arn] = JSON.stringify({ username: APP_USER, password: "rotated-db-password-1" });
      proxy.sever();
      expect(((await report(rt, { campaignId, refresh: true })) as CampaignReport).contacts).toBe(1);
      expect(sm.fetches[arn]).toBe(2);
      expect(rt.db.stats.retries).toBe(1);

      await rotate("rotated-db-password-2"); // the secret not (yet)
      proxy.sever();
      for (const n of [3, 4]) {
        const e = (await report(rt, { campaignId, refresh: true }).catch((x: Error) => x)) as Error & { code?: string };
        expect(e.code).toBe("28P01");
        expect(e.message).toBe(`password authentication failed for user "${APP_USER}"`);
        expect(sm.fetches[arn]).toBe(n);
      }
    } finally {
      await rotate(f.s.pg.appPassword);
      await rt.close();
      await proxy.close();
    }
  });
});
