/**
 * Real hosts the tool will really meet (issue 11): a host the old playbook configured (plaintext
 * requirepass, AOF on, 5,000 keys with and without TTL), a second operator running at the same time,
 * a failing disk under /etc/redis, a server that refuses to shut down, a host past its deadline.
 * Three Debian 12 hosts on the systemd-nspawn test bed; needs root on Linux (skips loudly elsewhere).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CONTROL = mkdtempSync(join(tmpdir(), "prov-ssh-pb-"));
process.env.PROVISION_SSH_CONTROL_DIR = CONTROL;

import * as testbed from "../../provisioning/testbed";
import { playbookHost } from "../../provisioning/testbed/playbook";
import { closeClients, filesWith, hostFile, keyspace, onHost, provisionIn, provisionProcess, realHostSuite, recap, serverInfo, setHostVars, taskLines } from "./realhost";

const PASSWORD = "Pb-requirepass-never-printed-42";
const env = { REDIS_PASSWORD: PASSWORD, PROVISION_SSH_CONTROL_DIR: CONTROL };
let tb: testbed.Testbed;
const provision = (...args: string[]) => provisionIn(tb, env, ...args);
const sh = (host: string, cmd: string) => onHost(tb, host, cmd);
const info = (host: string) => serverInfo(tb, host, PASSWORD);
const hostVars = (vars: Record<string, Record<string, unknown>>) => setHostVars(tb, vars);

realHostSuite("hosts the tool really meets (real Debian 12 hosts)", () => {

  beforeAll(async () => {
    tb = await testbed.up({ count: 3, log: (m) => process.stderr.write(`testbed: ${m}\n`), groupVars: { redis_metrics_enabled: false } });
    const sizes = await Promise.all(tb.hosts.map((h) => playbookHost(tb, h, PASSWORD, 5000)));
    expect(sizes).toEqual([5000, 5000, 5000]);
  }, 600_000);

  afterAll(async () => {
    closeClients();
    if (tb) await testbed.down(tb);
    rmSync(CONTROL, { recursive: true, force: true });
  }, 120_000);

  it("takes over a playbook-configured host: --check predicts the run exactly, every key kept, no plaintext password left, next run changed=0", async () => {
    const before = keyspace(await info("host1"));
    expect(before).toEqual({ keys: 5000, expires: 2500 });
    expect(readFileSync(hostFile(tb, "host1", "etc/redis/redis.conf"), "utf8")).toContain(`requirepass ${PASSWORD}`);

    const check = await provision("--check", "--limit", "host1");
    expect(check.code).toBe(0);
    expect(check.out).toMatch(/changed: \[host1\] adopt running server => would create the ACL user provisioner/);
    const real = await provision("--limit", "host1");
    expect(real.code).toBe(0);
    // The same tasks with the same outcomes (verify is skipped in check mode).
    const norm = (ls: string[]) => ls.filter((l) => !l.endsWith(" verify"));
    expect(norm(taskLines(check, "host1"))).toEqual(norm(taskLines(real, "host1")));
    expect(real.out).toMatch(/changed: \[host1\] adopt running server => created the ACL user provisioner/);
    expect(real.out).toMatch(/RUNNING HANDLER \[restart redis\] => restarted once .*keys without TTL: 2500 -> 2500/);
    expect(keyspace(await info("host1"))).toEqual({ keys: 5000, expires: 2500 });

    // No copy of the plaintext password anywhere on the host: config, rollback copy, temp files, logs.
    expect(await filesWith(tb, "host1", PASSWORD)).toEqual([]);
    expect(existsSync(hostFile(tb, "host1", "var/lib/redis-provision/config.prev"))).toBe(false);
    expect(existsSync(hostFile(tb, "host1", "etc/redis/.redis.conf.provision-new"))).toBe(false);
    expect(real.out + real.err + check.out).not.toContain(PASSWORD);

    const again = await provision("--limit", "host1");
    expect(again.code).toBe(0);
    expect(recap(again, "host1")).toMatchObject({ changed: 0, failed: 0 });
  }, 120_000);

  it("a server with a password the run does not have: --check and the run fail alike, before anything changes", async () => {
    const conf = readFileSync(hostFile(tb, "host2", "etc/redis/redis.conf"), "utf8");
    const other = { ...env, REDIS_PASSWORD: "Not-the-hosts-password-99" };
    const check = await provisionIn(tb, other, "--check", "--limit", "host2");
    const real = await provisionIn(tb, other, "--limit", "host2");
    for (const r of [check, real]) {
      expect(r.code).toBe(2);
      expect(r.out).toMatch(/failed: \[host2\] adopt running server => the running server accepts neither the provisioner's user nor the application password .*nothing changed/);
    }
    expect(taskLines(check, "host2")).toEqual(taskLines(real, "host2"));
    expect(readFileSync(hostFile(tb, "host2", "etc/redis/redis.conf"), "utf8")).toBe(conf);
    expect(existsSync(hostFile(tb, "host2", "var/lib/redis-provision/admin.secret"))).toBe(false);
  });

  it("admin.secret left by an earlier run but no such user on the server: adopted, not 'cannot manage persistence'", async () => {
    await sh("host2", "sudo sh -c 'mkdir -p -m 0700 /var/lib/redis-provision && umask 077 && echo left-by-an-earlier-run-0123456789ab > /var/lib/redis-provision/admin.secret'");
    const r = await provision("--limit", "host2");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/changed: \[host2\] adopt running server/);
    expect(keyspace(await info("host2"))).toEqual({ keys: 5000, expires: 2500 });
    expect(await filesWith(tb, "host2", PASSWORD)).toEqual([]);
    expect(recap(await provision("--limit", "host2"), "host2").changed).toBe(0);
  }, 120_000);

  it("concurrent runs: serialized by the host lock; the others are refused naming the holder (who, since when); keys intact", async () => {
    hostVars({ host2: { redis_maxmemory: "300mb" } });
    const runs = await Promise.all([0, 1, 2, 3, 4, 5].map(() => provisionProcess(tb, env, ["--limit", "host2"])));
    const refused = runs.filter((r) => r.code === 2);
    // Each run either did its work or was refused by the lock: no other failure, no misleading message.
    for (const r of runs) expect([0, 2]).toContain(r.code);
    for (const r of refused) {
      expect(r.out).toMatch(/failed: \[host2\] lock => another run is provisioning this host: \S+@\S+ \(pid \d+, run \S+\) since 20\d\d-\d\d-\d\dT[\d:]+Z \(\d+ s ago\); its lock expires at .*; nothing changed/);
      expect(recap(r, "host2")).toMatchObject({ ok: 0, changed: 0, failed: 1 });
    }
    expect(refused.length).toBeGreaterThanOrEqual(1);
    // Exactly one restart among them; any run that got the lock after it found nothing to do.
    expect(runs.filter((r) => /RUNNING HANDLER \[restart redis\] => restarted once/.test(r.out))).toHaveLength(1);
    for (const r of runs.filter((x) => x.code === 0 && !/restarted once/.test(x.out))) expect(recap(r, "host2").changed).toBe(0);
    expect((await info("host2")).maxmemory).toBe(String(300 * 1024 * 1024));
    expect(keyspace(await info("host2"))).toEqual({ keys: 5000, expires: 2500 });
    expect(existsSync(hostFile(tb, "host2", "var/lib/redis-provision/lock"))).toBe(false);
    expect(recap(await provision("--limit", "host2"), "host2").changed).toBe(0);
  }, 180_000);

  it("a run killed while holding the lock leaves a stale lock that the next run breaks; an interrupted run releases its lock", async () => {
    hostVars({ host2: { redis_maxmemory: "310mb" } });
    const killAfterGather = (sig: NodeJS.Signals) =>
      provisionProcess(tb, env, ["--limit", "host2"], (chunk, pid) => {
        if (chunk.includes("gather facts")) {
          try {
            process.kill(pid, sig);
          } catch {
            /* already gone */
          }
        }
      });
    await killAfterGather("SIGKILL");
    expect(existsSync(hostFile(tb, "host2", "var/lib/redis-provision/lock/owner"))).toBe(true);
    const r = await provision("--limit", "host2");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ok: \[host2\] gather facts => .*; broke a stale lock \(run=\S+ who=/);

    hostVars({ host2: { redis_maxmemory: "320mb" } });
    const int = await killAfterGather("SIGINT");
    expect(int.code).toBe(130);
    expect(int.err).toMatch(/interrupted \(SIGINT\): released 1 host lock\(s\)/);
    expect(existsSync(hostFile(tb, "host2", "var/lib/redis-provision/lock"))).toBe(false);
    const after = await provision("--limit", "host2");
    expect(after.code).toBe(0);
    expect(after.out).not.toMatch(/broke a stale lock/);
  }, 180_000);

  it("a full filesystem, then a read-only one, under /etc/redis: --check foresees it, the run stops with the OS's error, nothing changes", async () => {
    await provision("--limit", "host3"); // taken over first
    hostVars({ host3: { redis_maxmemory: "300mb" } });
    const conf = readFileSync(hostFile(tb, "host3", "etc/redis/redis.conf"), "utf8");
    const runId = (await info("host3")).run_id;
    // A 16 KiB tmpfs over /etc/redis holding the current files, then filled up.
    await sh(
      "host3",
      "sudo sh -c 'mkdir -p /root/etc-redis && cp -a /etc/redis/. /root/etc-redis/ && mount -t tmpfs -o size=16k,mode=2770 tmpfs /etc/redis && cp -a /root/etc-redis/. /etc/redis/ && chown redis:redis /etc/redis && (dd if=/dev/zero of=/etc/redis/filler bs=1k 2>/dev/null; true)'",
    );
    try {
      const check = await provision("--check", "--limit", "host3");
      expect(check.code).toBe(2);
      expect(check.out).toMatch(/failed: \[host3\] write config => would fail: 0 bytes free beside \/etc\/redis\/redis\.conf, the new config needs \d+; nothing would change/);
      const full = await provision("--limit", "host3");
      expect(full.code).toBe(2);
      expect(full.out).toMatch(/failed: \[host3\] write config => writing \/etc\/redis\/\.redis\.conf\.provision-new: base64: write error: No space left on device; nothing changed/);
      expect(recap(full, "host3")).toMatchObject({ changed: 0, failed: 1 });

      // Room for a part of the file only: a short write.
      await sh("host3", "sudo sh -c 'rm /etc/redis/filler; dd if=/dev/zero of=/etc/redis/filler bs=1k count=10 2>/dev/null; true'");
      const short = await provision("--limit", "host3");
      expect(short.code).toBe(2);
      expect(short.out).toMatch(/failed: \[host3\] write config => writing \/etc\/redis\/\.redis\.conf\.provision-new: .*(No space left on device|short or corrupt write).*; nothing changed/);

      await sh("host3", "sudo sh -c 'rm /etc/redis/filler; mount -o remount,ro /etc/redis'");
      const ro = await provision("--limit", "host3");
      expect(ro.code).toBe(2);
      expect(ro.out).toMatch(/failed: \[host3\] write config => writing \/etc\/redis\/\.redis\.conf\.provision-new: .*Read-only file system; nothing changed/);
      for (const r of [full, short, ro]) expect(r.out).not.toMatch(/RUNNING HANDLER|prepare persistence|adopt running server => created/);
      expect(await sh("host3", "sudo ls -A /etc/redis")).toBe("redis.conf\n");
      expect(await sh("host3", "sudo cat /etc/redis/redis.conf")).toBe(conf);
      expect(await sh("host3", "sudo ls -A /var/lib/redis-provision")).toBe("admin.secret\n");
    } finally {
      await sh("host3", "sudo umount /etc/redis");
    }
    expect((await info("host3")).run_id).toBe(runId);
    const fine = await provision("--limit", "host3");
    expect(fine.code).toBe(0);
  }, 180_000);

  it("a server that refuses to shut down (its final save fails) is stopped within the bound, keeps its files, and the host converges", async () => {
    hostVars({ host3: { redis_maxmemory: "280mb" } });
    // The data dir on a 4 MiB tmpfs (mounted before Redis starts, so Redis sees it), then filled up.
    await sh(
      "host3",
      "sudo sh -c 'systemctl stop redis-server && mkdir -p /root/data && cp -a /var/lib/redis/. /root/data/ && mount -t tmpfs -o size=4m,mode=0750 tmpfs /var/lib/redis && cp -a /root/data/. /var/lib/redis/ && chown redis:redis /var/lib/redis && systemctl start redis-server && sleep 1 && (dd if=/dev/zero of=/var/lib/redis/filler bs=4k 2>/dev/null; true)'",
    );
    // What was on disk before: the new server only appends to the AOF it reopens, so the old bytes must be its prefix.
    const files = ["dump.rdb", "appendonlydir/appendonly.aof.1.base.rdb", "appendonlydir/appendonly.aof.manifest", "appendonlydir/appendonly.aof.1.incr.aof"];
    const sizes = async () => (await sh("host3", `sudo sh -c 'cd /var/lib/redis && stat -c %s ${files.join(" ")}'`)).trim().split("\n").map(Number);
    const sums = (n: number[]) => sh("host3", `sudo sh -c 'cd /var/lib/redis && ${files.map((f, i) => `head -c ${n[i]} ${f} | sha256sum`).join(" && ")}'`);
    try {
      const n = await sizes();
      const before = await sums(n);
      const r = await provisionIn(tb, { ...env, PROVISION_STOP_TIMEOUT: "3" }, "--limit", "host3");
      expect(r.code).toBe(0);
      expect(r.out).toMatch(
        /RUNNING HANDLER \[restart redis\] => restarted once .*keys without TTL: 2500 -> 2500.*the server did not exit within 3 s of SIGTERM \(.*can't exit.*\); killed with SIGKILL, its files on disk left as they were/,
      );
      expect(await sums(n)).toBe(before);
      expect(keyspace(await info("host3"))).toEqual({ keys: 5000, expires: 2500 });
      expect(r.ms).toBeLessThan(60_000);
    } finally {
      await sh("host3", "sudo sh -c 'rm -f /var/lib/redis/filler'");
    }
  }, 180_000);

  it("a step stuck past the host's deadline fails the host with a recap instead of hanging; the next run finishes the restart", async () => {
    hostVars({ host3: { redis_maxmemory: "270mb" } });
    await sh("host3", "sudo sh -c '(dd if=/dev/zero of=/var/lib/redis/filler bs=4k 2>/dev/null; true)'");
    try {
      const r = await provisionIn(tb, { ...env, PROVISION_STOP_TIMEOUT: "120" }, "--limit", "host3", "--deadline", "12");
      expect(r.code).toBe(2);
      expect(r.out).toMatch(/failed: \[host3\] RUNNING HANDLER \[restart redis\] => the host deadline \(12 s\) was reached during this step; stopped here/);
      expect(recap(r, "host3")).toMatchObject({ failed: 1 });
      expect(r.ms).toBeLessThan(40_000);
      expect(existsSync(hostFile(tb, "host3", "var/lib/redis-provision/lock"))).toBe(false);
    } finally {
      await sh("host3", "sudo sh -c 'rm -f /var/lib/redis/filler'");
    }
    const next = await provisionIn(tb, { ...env, PROVISION_STOP_TIMEOUT: "5" }, "--limit", "host3");
    expect(next.code).toBe(0);
    expect(next.out).toMatch(/restart pending from an interrupted run/);
    expect(keyspace(await info("host3"))).toEqual({ keys: 5000, expires: 2500 });
    await sh("host3", "sudo sh -c 'systemctl stop redis-server; umount /var/lib/redis; systemctl start redis-server'");
  }, 180_000);
});

