/**
 * Redis backups and restores on a real Debian 12 host (systemd-nspawn test bed; docs/backups.md):
 * the task installs the timer; one run of the service snapshots (BGSAVE, redis-check-rdb) and
 * uploads through the recording `aws` stand-in; `--restore FILE` brings every key back (with and
 * without TTL, several databases) in AOF mode and in RDB mode, proving the count across a restart;
 * bad snapshots and an S3 key the host cannot fetch change nothing. Needs root on Linux.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const CONTROL = mkdtempSync(join(tmpdir(), "prov-ssh-bk-"));
process.env.PROVISION_SSH_CONTROL_DIR = CONTROL;

import Redis from "ioredis";
import * as testbed from "../../provisioning/testbed";
import { installAwsStandIn, parseAwsCalls } from "../../provisioning/testbed/aws";
import { closeClients, hostFile, missingPrereqs, onHost, provisionIn, recap, redis, serverInfo } from "./realhost";

const PASSWORD = "Bk-pa55word-never-printed-91c2";
const BUCKET = "campaign-test-redis-backup-20261201";
const env = { REDIS_PASSWORD: PASSWORD, PROVISION_SSH_CONTROL_DIR: CONTROL };
const missing = missingPrereqs();
if (missing.length && !process.env.CI) {
  console.warn(`\n!! SKIPPING the real-host backup tests: missing ${missing.join(", ")} (needs root on Linux; CI runs them)\n`);
}
const suite = missing.length && !process.env.CI ? describe.skip : describe;

let tb: testbed.Testbed;
const work = mkdtempSync(join(tmpdir(), "redis-backup-test-"));
const provision = (...args: string[]) => provisionIn(tb, env, ...args);
const sh = (cmd: string) => onHost(tb, "host1", cmd);
const line = (out: string, task: string) => out.split("\n").find((l) => l.includes(`[host1] ${task} =>`)) ?? `(no ${task} line in)\n${out}`;
function hostVars(vars: Record<string, unknown>): void {
  const dir = join(dirname(tb.inventory), "host_vars");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "host1.yml"), `${JSON.stringify(vars)}\n`);
}

/** Every key of a database, by SCAN (the application user may not run KEYS). */
async function allKeys(c: Redis): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await c.scan(cursor, "COUNT", 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== "0");
  return out;
}

/** Deletes every key of db0 and db2 (the application user may not FLUSHALL). */
async function wipe(): Promise<void> {
  for (const db of [0, 2]) {
    const c = new Redis({ host: tb.hosts[0].ip, port: 6379, password: PASSWORD, db, lazyConnect: true, maxRetriesPerRequest: 0 });
    await c.connect();
    const keys = await allKeys(c);
    if (keys.length) await c.del(...keys);
    c.disconnect();
  }
}

/** 600 keys in db0 (200 of them with a TTL), a hash, a list, and 40 keys in db2 (10 with a TTL). */
async function load(): Promise<Map<string, string>> {
  const want = new Map<string, string>();
  const c0 = redis(tb, "host1", PASSWORD);
  await c0.connect();
  await wipe();
  const p = c0.pipeline();
  for (let i = 0; i < 600; i++) {
    const v = `value-${i}-${"x".repeat(i % 50)}`;
    if (i % 3 === 0) p.set(`k:${i}`, v, "EX", 3600);
    else p.set(`k:${i}`, v);
    want.set(`0/k:${i}`, v);
  }
  p.hset("h:campaign", { a: "1", b: "2" });
  p.rpush("l:queue", "one", "two", "three");
  await p.exec();
  const c2 = new Redis({ host: tb.hosts[0].ip, port: 6379, password: PASSWORD, db: 2, lazyConnect: true, maxRetriesPerRequest: 0 });
  await c2.connect();
  for (let i = 0; i < 40; i++) {
    if (i % 4 === 0) await c2.set(`d2:${i}`, `v${i}`, "EX", 7200);
    else await c2.set(`d2:${i}`, `v${i}`);
    want.set(`2/d2:${i}`, `v${i}`);
  }
  c2.disconnect();
  c0.disconnect();
  return want;
}

/** Every key/value/TTL class of db0 and db2 as the server has them now. */
async function dump(): Promise<{ values: Map<string, string>; ttl: Map<string, boolean>; hash: Record<string, string>; list: string[] }> {
  const values = new Map<string, string>();
  const ttl = new Map<string, boolean>();
  let hash: Record<string, string> = {};
  let list: string[] = [];
  for (const db of [0, 2]) {
    const c = new Redis({ host: tb.hosts[0].ip, port: 6379, password: PASSWORD, db, lazyConnect: true, maxRetriesPerRequest: 0 });
    await c.connect();
    const keys = (await allKeys(c)).filter((k) => k.startsWith("k:") || k.startsWith("d2:"));
    for (const k of keys) {
      values.set(`${db}/${k}`, (await c.get(k))!);
      ttl.set(`${db}/${k}`, (await c.ttl(k)) > 0);
    }
    if (db === 0) {
      hash = await c.hgetall("h:campaign");
      list = await c.lrange("l:queue", 0, -1);
    }
    c.disconnect();
  }
  return { values, ttl, hash, list };
}

const keyCount = (info: Record<string, string>) =>
  Object.entries(info).filter(([k]) => /^db\d+$/.test(k)).reduce((n, [, v]) => n + Number(/keys=(\d+)/.exec(v)![1]), 0);

suite("Redis backups and restores (real Debian 12 host)", () => {
  if (missing.length) {
    it("requires root, Linux and the test bed tools in CI", () => {
      throw new Error(`cannot run real-host tests: missing ${missing.join(", ")}`);
    });
    return;
  }
  let want: Map<string, string>;
  let snapshot: string;
  let snapshotSha: string;

  beforeAll(async () => {
    tb = await testbed.up({
      count: 1,
      log: (m) => process.stderr.write(`testbed: ${m}\n`),
      groupVars: { redis_metrics_enabled: false, redis_backup_bucket: BUCKET, redis_backup_region: "eu-west-3" },
    });
    installAwsStandIn(tb.hosts[0]);
  }, 600_000);

  afterAll(async () => {
    closeClients();
    if (tb) await testbed.down(tb);
    rmSync(CONTROL, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it("installs the backup timer (check predicts it), then a second run changes nothing", async () => {
    const check = await provision("--check");
    expect(line(check.out, "redis backup")).toBe(`changed: [host1] redis backup => redis-backup.timer: would write script, service, timer, enable, start; hourly to s3://${BUCKET}/redis/`);
    const r = await provision("--diff");
    expect(r.code).toBe(0);
    expect(line(r.out, "redis backup")).toBe(`changed: [host1] redis backup => redis-backup.timer: wrote script, service, timer, enabled, started; hourly to s3://${BUCKET}/redis/`);
    expect(r.out).toContain("+OnCalendar=hourly");
    expect(readFileSync(hostFile(tb, "host1", "usr/local/libexec/redis-backup"), "utf8")).toBe(readFileSync(join(__dirname, "../../provisioning/scripts/redis-backup.sh"), "utf8"));
    expect(await sh("systemctl is-enabled redis-backup.timer; systemctl is-active redis-backup.timer")).toBe("enabled\nactive\n");
    expect(await sh("systemctl show -p TimersCalendar --value redis-backup.timer")).toMatch(/OnCalendar=\*-\*-\* \*:00:00/);
    const again = await provision();
    expect(recap(again, "host1")).toMatchObject({ changed: 0, failed: 0 });
    expect(line(again.out, "redis backup")).toBe(`ok: [host1] redis backup => redis-backup.timer active, hourly to s3://${BUCKET}/redis/`);
  }, 300_000);

  it("one run takes a checked BGSAVE snapshot and uploads it under a timestamped key through aws, no secret in argv, env or journal", async () => {
    want = await load();
    const info = await serverInfo(tb, "host1", PASSWORD);
    const t0 = Math.floor(Date.now() / 1000);
    await sh("sudo systemctl start redis-backup.service");
    const id = (await sh("systemctl show -p InvocationID --value redis-backup.service")).trim();
    const journal = await sh(`sudo journalctl -o cat --no-pager _SYSTEMD_INVOCATION_ID=${id}`);
    expect(await sh("systemctl show -p Result --value redis-backup.service")).toBe("success\n");
    const calls = parseAwsCalls(journal);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, "/");
    expect(call.args.slice(0, 2)).toEqual(["s3", "cp"]);
    expect(call.args[2]).toMatch(/^\/var\/cache\/redis-backup\/snapshot\.\w+$/);
    expect(call.args[3]).toMatch(new RegExp(`^s3://${BUCKET}/redis/host1/${day}/redis-host1-\\d{8}T\\d{6}Z\\.rdb$`));
    expect(call.args.slice(4, 8)).toEqual(["--region", "eu-west-3", "--only-show-errors", "--metadata"]);
    const meta = Object.fromEntries(call.args[8].split(",").map((kv) => kv.split("=")));
    // 600 + hash + list in db0, 40 in db2; 200 + 10 with a TTL.
    expect(keyCount(info)).toBe(642);
    expect(meta).toMatchObject({ keys: "642", expires: "210", "redis-version": "7.0.15", host: "host1" });
    expect(call.args.slice(9)).toEqual(["--cli-connect-timeout", "10", "--cli-read-timeout", "60"]);
    expect(journal).toMatch(new RegExp(`backed up s3://${BUCKET}/redis/host1/.*: \\d+ bytes, 642 keys \\(210 with TTL\\), sha256 ${meta.sha256}`));
    // The BGSAVE is the server's latest save, taken during this run.
    const after = await serverInfo(tb, "host1", PASSWORD);
    expect(Number(after.rdb_last_save_time)).toBeGreaterThanOrEqual(t0);
    expect(after.rdb_last_bgsave_status).toBe("ok");
    // It ran as the Redis user, with the password only as a unit credential; the staged copy is gone.
    expect(call.env.USER ?? call.env.LOGNAME ?? "").toMatch(/^(redis|)$/);
    expect(Object.keys(call.env)).not.toContain("REDISCLI_AUTH");
    const admin = readFileSync(hostFile(tb, "host1", "var/lib/redis-provision/admin.secret"), "utf8").trim();
    for (const s of [admin, PASSWORD]) {
      expect(JSON.stringify(call)).not.toContain(s);
      expect(journal).not.toContain(s);
    }
    expect(await sh("sudo ls -A /var/cache/redis-backup")).toBe("");
    // The snapshot uploaded is the server's dump.rdb (nothing written since): keep it for the restores.
    snapshot = join(work, "snapshot.rdb");
    writeFileSync(snapshot, readFileSync(hostFile(tb, "host1", "var/lib/redis/dump.rdb")));
    snapshotSha = createHash("sha256").update(readFileSync(snapshot)).digest("hex");
    expect(snapshotSha).toBe(meta.sha256);
  }, 120_000);

  it("a failing snapshot fails the unit with Redis's reason and uploads nothing", async () => {
    // A data directory the server cannot write: BGSAVE fails.
    const mode = (await sh("stat -c %a /var/lib/redis")).trim();
    await sh("sudo chmod 0500 /var/lib/redis");
    try {
      await sh("sudo systemctl start redis-backup.service || true");
      const id = (await sh("systemctl show -p InvocationID --value redis-backup.service")).trim();
      const journal = await sh(`sudo journalctl -o cat --no-pager _SYSTEMD_INVOCATION_ID=${id}`);
      expect(await sh("systemctl show -p Result --value redis-backup.service")).toBe("exit-code\n");
      expect(journal).toMatch(/redis-backup: BGSAVE failed \(rdb_last_bgsave_status err\)/);
      expect(parseAwsCalls(journal)).toEqual([]);
    } finally {
      await sh(`sudo chmod ${mode} /var/lib/redis`);
    }
    // Writable again: the next run succeeds (and the server accepts writes again: stop-writes-on-bgsave-error).
    await sh("sudo systemctl start redis-backup.service");
    expect(await sh("systemctl show -p Result --value redis-backup.service")).toBe("success\n");
  }, 120_000);

  it("--restore FILE in AOF mode: every key back (with and without TTL), the new AOF proven by a restart, the config untouched, next run changed=0", async () => {
    const conf = readFileSync(hostFile(tb, "host1", "etc/redis/redis.conf"), "utf8");
    expect(conf).toMatch(/^appendonly yes$/m);
    // The data moves on after the snapshot: keys deleted, changed, added (also in db2).
    const c = redis(tb, "host1", PASSWORD);
    await c.connect();
    await c.del(...Array.from({ length: 100 }, (_, i) => `k:${i}`));
    await c.set("k:500", "changed");
    await c.set("new:after-snapshot", "x");
    c.disconnect();
    const r = await provision("--limit", "host1", "--restore", snapshot);
    if (r.code !== 0 || r.err) throw new Error(`restore failed (${r.code}):\n${r.out}\n${r.err}`);
    expect(line(r.out, "fetch snapshot")).toMatch(/^changed: \[host1\] fetch snapshot => uploaded \d+ bytes \(sha256 verified\)$/);
    expect(line(r.out, "check snapshot")).toBe("ok: [host1] check snapshot => RDB looks OK: 642 keys (210 with TTL, 0 already expired)");
    expect(line(r.out, "restore snapshot")).toMatch(
      /^changed: \[host1\] restore snapshot => 642 keys in the snapshot \(210 with TTL, 0 expired since\), 642 in Redis after a restart from its new AOF \(appendonly yes\); before: 543; previous data kept in \/var\/lib\/redis-provision\/restore\/previous-\d{8}T\d{6}Z$/,
    );
    const now = await dump();
    expect(now.values).toEqual(new Map([...want.entries()]));
    expect([...now.ttl.entries()].filter(([, t]) => t).map(([k]) => k).sort()).toEqual(
      [...want.keys()].filter((k) => (k.startsWith("0/") ? Number(k.slice(4)) % 3 === 0 : Number(k.slice(5)) % 4 === 0)).sort(),
    );
    expect(now.hash).toEqual({ a: "1", b: "2" });
    expect(now.list).toEqual(["one", "two", "three"]);
    const info = await serverInfo(tb, "host1", PASSWORD);
    expect(info.aof_enabled).toBe("1");
    expect(keyCount(info)).toBe(642);
    expect(readFileSync(hostFile(tb, "host1", "etc/redis/redis.conf"), "utf8")).toBe(conf);
    expect(await sh("sudo ls /var/lib/redis/appendonlydir")).toMatch(/appendonly\.aof\.\d+\.base\.rdb/);
    expect(await sh("sudo sh -c 'ls -A /var/lib/redis-provision/restore/previous-*/data'")).toMatch(/appendonlydir\ndump\.rdb/);
    expect(await sh("sudo test ! -e /var/lib/redis-provision/restore/incoming.rdb && sudo test ! -e /var/lib/redis-provision/lock && echo clean")).toBe("clean\n");
    expect(r.out).not.toContain(PASSWORD);
    const again = await provision();
    expect(recap(again, "host1")).toMatchObject({ changed: 0, failed: 0 });
  }, 300_000);

  it("bad input changes nothing: not an RDB (refused before any connection), a truncated RDB (refused by redis-check-rdb on the host), an S3 key the host cannot fetch", async () => {
    const before = await serverInfo(tb, "host1", PASSWORD);
    const text = join(work, "notes.txt");
    writeFileSync(text, "not a snapshot at all\n");
    const notRdb = await provision("--limit", "host1", "--restore", text);
    expect(notRdb.code).toBe(1);
    expect(notRdb.err).toMatch(/notes\.txt: not an RDB file \(it does not start with REDIS\).*; nothing changed/);
    expect(notRdb.out).toBe("");
    const two = await provision("--restore", join(work, "missing.rdb"));
    expect(two.code).toBe(1);

    const cut = join(work, "truncated.rdb");
    writeFileSync(cut, readFileSync(snapshot).subarray(0, 3000));
    const trunc = await provision("--limit", "host1", "--restore", cut);
    expect(trunc.code).toBe(2);
    expect(line(trunc.out, "check snapshot")).toMatch(/^failed: \[host1\] check snapshot => redis-check-rdb refuses it: .*Unexpected EOF.*; nothing changed$/);
    expect(trunc.out).not.toContain("restore snapshot =>");

    const key = await provision("--limit", "host1", "--restore", "redis/host1/2026/12/01/redis-host1-20261201T000000Z.rdb");
    expect(key.code).toBe(2);
    // The recording stand-in writes no file: the host reports the download as failed.
    expect(line(key.out, "fetch snapshot")).toMatch(new RegExp(`^failed: \\[host1\\] fetch snapshot => aws s3 cp s3://${BUCKET}/redis/host1/\\S+\\.rdb failed \\(exit 0: `));
    expect(line(key.out, "fetch snapshot")).toMatch(/; nothing changed$/);
    const calls = parseAwsCalls(line(key.out, "fetch snapshot").replace(/ AWS-STANDIN/g, "\nAWS-STANDIN"));
    expect(calls[0]?.args.slice(0, 6)).toEqual(["s3", "cp", `s3://${BUCKET}/redis/host1/2026/12/01/redis-host1-20261201T000000Z.rdb`, "/var/lib/redis-provision/restore/incoming.rdb", "--region", "eu-west-3"]);

    const after = await serverInfo(tb, "host1", PASSWORD);
    expect(after.run_id).toBe(before.run_id);
    expect(keyCount(after)).toBe(642);
  }, 300_000);

  it("--check fetches and checks only; --restore FILE in RDB mode (appendonly no) restores every key too", async () => {
    const before = await serverInfo(tb, "host1", PASSWORD);
    const check = await provision("--limit", "host1", "--check", "--restore", snapshot);
    if (check.code !== 0) throw new Error(`check failed (${check.code}):\n${check.out}`);
    expect(line(check.out, "restore snapshot")).toBe("changed: [host1] restore snapshot => would stop redis-server, replace its data with the snapshot (642 keys, 210 with TTL) in AOF mode and prove the key count");
    expect((await serverInfo(tb, "host1", PASSWORD)).run_id).toBe(before.run_id);

    hostVars({ redis_appendonly: false });
    const rdb = await provision("--limit", "host1");
    expect(rdb.code).toBe(0);
    expect(readFileSync(hostFile(tb, "host1", "etc/redis/redis.conf"), "utf8")).toMatch(/^appendonly no$/m);
    await wipe();
    const r = await provision("--limit", "host1", "--restore", snapshot);
    if (r.code !== 0) throw new Error(`restore failed (${r.code}):\n${r.out}`);
    expect(line(r.out, "restore snapshot")).toMatch(/=> 642 keys in the snapshot \(210 with TTL, 0 expired since\), 642 in Redis after a restart from its RDB \(appendonly no\); before: 0;/);
    expect((await dump()).values).toEqual(want);
    expect(recap(await provision("--limit", "host1"), "host1")).toMatchObject({ changed: 0, failed: 0 });
  }, 300_000);

  it("a snapshot the server refuses to load (keys in db2, the host now has 2 databases): the previous data and config are put back and Redis runs with them", async () => {
    await wipe();
    const c = redis(tb, "host1", PASSWORD);
    await c.connect();
    await c.set("kept:1", "a");
    await c.set("kept:2", "b", "EX", 3600);
    c.disconnect();
    hostVars({ redis_appendonly: false, redis_databases: 2 });
    const conf = await provision("--limit", "host1");
    if (conf.code !== 0) throw new Error(conf.out);
    const confText = readFileSync(hostFile(tb, "host1", "etc/redis/redis.conf"), "utf8");
    const r = await provision("--limit", "host1", "--restore", snapshot);
    expect(r.code).toBe(2);
    expect(line(r.out, "check snapshot")).toMatch(/^ok: /); // the checker does not know the host's databases setting
    expect(line(r.out, "restore snapshot")).toMatch(/^failed: \[host1\] restore snapshot => Redis did not start on the snapshot: .*databases.*; previous data and config put back, Redis running with 2 keys$/);
    expect(keyCount(await serverInfo(tb, "host1", PASSWORD))).toBe(2);
    const k = redis(tb, "host1", PASSWORD);
    await k.connect();
    expect(await k.mget("kept:1", "kept:2")).toEqual(["a", "b"]);
    expect(await k.ttl("kept:2")).toBeGreaterThan(0);
    k.disconnect();
    expect(readFileSync(hostFile(tb, "host1", "etc/redis/redis.conf"), "utf8")).toBe(confText);
    expect(await sh("sudo test ! -e /var/lib/redis-provision/restore/incoming.rdb && echo clean")).toBe("clean\n");
  }, 300_000);
});
