/**
 * Real hosts: three Debian 12 machines (systemd, sshd, sudo user ec2-user) booted with systemd-nspawn
 * on the 10.231.0.0/24 test bridge, Redis installed from the local apt mirror. Needs root and Linux;
 * elsewhere it warns loudly and skips, and with CI set it fails instead.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";

const PASSWORD = "Tb-pa55word-never-printed-7f3a";
const CONTROL = mkdtempSync(join(tmpdir(), "prov-ssh-"));
process.env.PROVISION_SSH_CONTROL_DIR = CONTROL;

import { REDIS_METRICS } from "../../lambdas/contracts/metrics";
import { main } from "../../provisioning/cli";
import { disconnect } from "../../provisioning/ssh";
import { parseInfo } from "../../provisioning/tasks/facts";
import * as testbed from "../../provisioning/testbed";
import { ASTERISK_CALLS_LOG, ASTERISK_DOWN_FLAG, installAsteriskStandIn, parseAsteriskCalls } from "../../provisioning/testbed/asterisk";
import { ensureAriInclude, ensureHttpConf, renderAriUser } from "../../provisioning/tasks/ari";
import { awsStandIns, ImdsStandIn, instanceIdOf, parseAwsCalls } from "../../provisioning/testbed/aws";
import { run as runLocal, sleep } from "../../provisioning/testbed/sh";
import { realHostSuite, setHostVars as setHostVarsOf } from "./realhost";

interface Run {
  code: number;
  out: string;
  err: string;
  json?: { hosts: Record<string, { tasks: { task: string; status: string; msg: string; diff?: string }[]; recap: Record<string, number> }> };
}

let tb: testbed.Testbed;
let imds: ImdsStandIn;

const setHostVars = (vars: Record<string, Record<string, unknown>>) => setHostVarsOf(tb, vars);

/** Stand-in for Secrets Manager (the ARI task's secret): nothing reaches AWS. */
const ARI_ARN = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:campaign-test/ari-password-AbCdEf";
let ariPassword = "Ari-pa55word-never-printed-1";
const fakeSecrets = async (arn: string) => {
  if (arn !== ARI_ARN) throw new Error(`unexpected secret ${arn}`);
  return JSON.stringify({ password: ariPassword });
};

async function provision(...args: string[]): Promise<Run> {
  let out = "";
  let err = "";
  const json = args.includes("--json");
  const code = await main(["-i", tb.inventory, "--forks", "3", ...args], {
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
    env: { ...process.env, REDIS_PASSWORD: PASSWORD },
    fetcher: fakeSecrets,
  });
  return { code, out, err, json: json ? JSON.parse(out) : undefined };
}

const recap = (r: Run, host: string) => {
  const m = new RegExp(`^${host}\\s+: ok=(\\d+) changed=(\\d+) failed=(\\d+) unreachable=(\\d+) skipped=(\\d+)$`, "m").exec(r.out);
  if (!m) throw new Error(`no recap for ${host} in:\n${r.out}`);
  const [ok, changed, failed, unreachable, skipped] = m.slice(1).map(Number);
  return { ok, changed, failed, unreachable, skipped };
};
const restarts = (r: Run, host: string) => r.out.split("\n").filter((l) => l.startsWith(`changed: [${host}] RUNNING HANDLER [restart redis]`)).length;

/** A command on a test host as ec2-user (async: the IMDS stand-in in this process must keep answering). */
async function onHost(host: string, cmd: string): Promise<string> {
  const h = tb.hosts.find((x) => x.name === host)!;
  const r = await runLocal("ssh", ["-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", `ec2-user@${h.ip}`, cmd]);
  if (r.code !== 0) throw new Error(`${host}: ${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
const hostFile = (host: string, path: string) => join(tb.hosts.find((x) => x.name === host)!.dir, path);

/** Samples the command line of every process (the runner's and, through their PID namespaces, the hosts') while `fn` runs. */
async function sampleCmdlines<T>(fn: () => Promise<T>): Promise<{ result: T; seen: Set<string> }> {
  const seen = new Set<string>();
  const sampler = setInterval(() => {
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      try {
        seen.add(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
      } catch {
        /* exited */
      }
    }
  }, 15);
  try {
    return { result: await fn(), seen };
  } finally {
    clearInterval(sampler);
  }
}

const clients: Redis[] = [];
function redis(host: string, password = PASSWORD): Redis {
  const ip = tb.hosts.find((h) => h.name === host)!.ip;
  const c = new Redis({ host: ip, port: 6379, password, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  c.on("error", () => undefined);
  clients.push(c);
  return c;
}
async function serverInfo(host: string): Promise<Record<string, string>> {
  const c = redis(host);
  await c.connect();
  const text = await c.info();
  c.disconnect();
  return parseInfo(text);
}

realHostSuite("provisioning real Debian 12 hosts", () => {

  beforeAll(async () => {
    tb = await testbed.up({ count: 3, log: (m) => process.stderr.write(`testbed: ${m}\n`) });
    // host1 and host2 have an AWS CLI (the recording stand-in) and reach the IMDSv2 stand-in; host3 has no aws.
    imds = await awsStandIns(tb, tb.hosts.slice(0, 2));
  }, 600_000);

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await imds?.close();
    if (!tb) return;
    await testbed.down(tb);
    rmSync(CONTROL, { recursive: true, force: true });
  }, 120_000);

  it("first converge installs, configures and verifies every host; no secret anywhere in the output", async () => {
    const { result: r, seen } = await sampleCmdlines(() => provision("--diff"));
    expect(r.code).toBe(0);
    for (const h of ["host1", "host2", "host3"]) {
      expect(recap(r, h)).toMatchObject({ failed: 0, unreachable: 0 });
      expect(recap(r, h).changed).toBeGreaterThanOrEqual(3);
      expect(restarts(r, h)).toBe(1);
      expect(r.out).toMatch(new RegExp(`ok: \\[${h}\\] verify => PONG`));
    }
    expect(r.out).toContain("+user default on #<hidden>");
    for (const h of ["host1", "host2"]) {
      expect(r.out).toMatch(new RegExp(`changed: \\[${h}\\] metrics publisher => redis-metrics\\.timer: wrote script, service, timer, enabled, started; every 60 s to Campaign/Redis`));
    }
    expect(r.out).toMatch(/skipped: \[host3\] metrics publisher => WARNING: the AWS CLI \(aws\) not found on the host/);
    expect(r.out).toContain("+OnUnitActiveSec=60s");
    // Every process of the runner and of the hosts (their PID namespaces are visible from here).
    expect(seen.size).toBeGreaterThan(10);
    expect([...seen].filter((c) => c.includes(PASSWORD))).toEqual([]);
    expect(r.out + r.err).not.toContain(PASSWORD);
    const c = redis("host1");
    await c.connect();
    expect(await c.ping()).toBe("PONG");
    await expect(c.call("CONFIG", "GET", "maxmemory")).rejects.toThrow(/NOPERM/);
  }, 300_000);

  it("a wrong password is refused by Redis", async () => {
    const anon = new Redis({ host: tb.hosts[1].ip, port: 6379, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anon.on("error", () => undefined);
    clients.push(anon);
    await anon.connect();
    await expect(anon.get("x")).rejects.toThrow(/NOAUTH/);
    await expect(anon.auth("wrong-password-123")).rejects.toThrow(/WRONGPASS/);
    await expect(anon.auth("provisioner", "wrong-password-123")).rejects.toThrow(/WRONGPASS/);
    expect(await anon.auth(PASSWORD)).toBe("OK");
  });

  it("a second run changes nothing and does not restart Redis (JSON and --diff output without secrets)", async () => {
    const before = await Promise.all(["host1", "host2", "host3"].map(serverInfo));
    const r = await provision("--json", "--diff");
    expect(r.code).toBe(0);
    for (const h of ["host1", "host2", "host3"]) {
      expect(r.json!.hosts[h].recap).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
      expect(r.json!.hosts[h].tasks.map((t) => t.task)).not.toContain("restart redis");
    }
    expect(r.out + r.err).not.toContain(PASSWORD);
    const after = await Promise.all(["host1", "host2", "host3"].map(serverInfo));
    after.forEach((a, i) => {
      expect(a.run_id).toBe(before[i].run_id);
      expect(a.process_id).toBe(before[i].process_id);
    });
  });

  it("metrics publisher: the timer is enabled and active; one run sends exactly the expected call, from the host's real INFO, with no secret in argv or env", async () => {
    const state = async (h: string) => (await onHost(h, "systemctl show -p LoadState -p UnitFileState -p ActiveState -p TimersMonotonic redis-metrics.timer")).trim();
    for (const h of ["host1", "host2"]) {
      expect(await state(h)).toMatch(/^LoadState=loaded$/m);
      expect(await state(h)).toMatch(/^UnitFileState=enabled$/m);
      expect(await state(h)).toMatch(/^ActiveState=active$/m);
      expect(await state(h)).toMatch(/OnUnitActiveUSec=1min\b/);
    }
    expect(await state("host3")).toMatch(/^LoadState=not-found$/m);

    // The timer's own first publish (OnActiveSec=10s after the converge) is over first, so that the
    // one run below is the only publish while the stand-ins record (the next is 60 s away).
    for (let i = 0; i < 100; i++) {
      const t = (await onHost("host1", "systemctl show -p LastTriggerUSecMonotonic --value redis-metrics.timer; systemctl is-active redis-metrics.service || true")).trim().split("\n");
      if (t[0] !== "0" && t[0] !== "" && t[1] !== "active" && t[1] !== "activating") break;
      await sleep(300);
    }
    // Something to measure: 8 MB of data, two idle clients, one busy one.
    const c = redis("host1");
    await c.connect();
    await c.set("metrics:big", "x".repeat(8 * 1024 * 1024));
    const idle = [redis("host1"), redis("host1")];
    await Promise.all(idle.map((x) => x.connect()));
    const busy = redis("host1");
    await busy.connect();
    let loading = true;
    const load = (async () => {
      while (loading) await busy.incr("metrics:counter");
    })();
    await sleep(2000); // instantaneous_ops_per_sec averages the last ~1.6 s
    const info = async () => parseInfo(await c.info());
    const before = await info();
    imds.requests.length = 0;
    const { result: journal, seen } = await sampleCmdlines(async () => {
      await onHost("host1", "sudo systemctl start redis-metrics.service");
      const id = (await onHost("host1", "systemctl show -p InvocationID --value redis-metrics.service")).trim();
      for (let i = 0; ; i++) {
        const j = await onHost("host1", `sudo journalctl -o cat --no-pager _SYSTEMD_INVOCATION_ID=${id}`);
        if (j.includes("published to") || i > 20) return j;
        await sleep(100);
      }
    });
    const after = await info();
    loading = false;
    await load;

    const calls = parseAwsCalls(journal);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call.args).toEqual([
      "cloudwatch", "put-metric-data", "--region", imds.region, "--namespace", REDIS_METRICS.namespace,
      "--metric-data", expect.any(String), "--cli-connect-timeout", "5", "--cli-read-timeout", "10",
    ]);
    const data = JSON.parse(call.args[7]) as { MetricName: string; Dimensions: unknown; Unit: string; Value: number }[];
    const dims = [{ Name: REDIS_METRICS.dimension, Value: instanceIdOf(tb.hosts[0].ip) }];
    expect(data).toEqual([
      { MetricName: REDIS_METRICS.memoryUsedPercent, Dimensions: dims, Unit: "Percent", Value: expect.any(Number) },
      { MetricName: REDIS_METRICS.connectedClients, Dimensions: dims, Unit: "Count", Value: Number(before.connected_clients) + 1 },
      { MetricName: REDIS_METRICS.opsPerSec, Dimensions: dims, Unit: "Count/Second", Value: expect.any(Number) },
    ]);
    // used_memory / maxmemory × 100 of this server (8 MB of 512 MB ≈ 1.6 %), within what the publisher's own connection adds.
    const pct = (i: Record<string, string>) => (Number(i.used_memory) * 100) / Number(i.maxmemory);
    expect(Number(before.maxmemory)).toBe(512 * 1024 * 1024);
    expect(pct(before)).toBeGreaterThan(1.5);
    // The exact arithmetic is checked on the INFO the script read (metrics.test.ts). Here the server's memory
    // may only shrink while the samples are taken (the SET's query buffer is freed lazily), so the
    // publisher's figure lies between the later and the earlier sample, give or take its own connection.
    expect(data[0].Value).toBeGreaterThanOrEqual(pct(after) - 0.02);
    expect(data[0].Value).toBeLessThanOrEqual(pct(before) + 0.02);
    expect(after.connected_clients).toBe(before.connected_clients);
    const ops = [Number(before.instantaneous_ops_per_sec), Number(after.instantaneous_ops_per_sec)];
    expect(Math.min(...ops)).toBeGreaterThan(20); // a busy client even on a loaded, shared machine
    expect(data[2].Value).toBeGreaterThan(Math.min(...ops) / 3);
    expect(data[2].Value).toBeLessThan(Math.max(...ops) * 3);
    // IMDSv2 only: a token first, every read with it.
    expect(imds.requests.filter((q) => q.from === tb.hosts[0].ip).map((q) => [q.method, q.path, q.token, q.status])).toEqual([
      ["PUT", "/latest/api/token", false, 200],
      ["GET", "/latest/meta-data/instance-id", true, 200],
      ["GET", "/latest/meta-data/placement/region", true, 200],
    ]);
    // The unit runs as a dynamic user; the password is in no command line and not in aws's environment.
    const adminSecret = readFileSync(hostFile("host1", "var/lib/redis-provision/admin.secret"), "utf8").trim();
    expect(adminSecret.length).toBeGreaterThan(20);
    expect(call.env.USER).toBe("redis-metrics");
    expect(Object.keys(call.env)).not.toContain("REDISCLI_AUTH");
    for (const secret of [adminSecret, PASSWORD]) {
      expect(JSON.stringify(call)).not.toContain(secret);
      expect(journal).not.toContain(secret);
      expect([...seen].filter((cmd) => cmd.includes(secret))).toEqual([]);
    }
    await c.del("metrics:big", "metrics:counter");
  });

  it("metrics publisher: --check, an interval change, disabling and re-enabling, each followed by a no-op", async () => {
    const timerFile = hostFile("host2", "etc/systemd/system/redis-metrics.timer");
    const metricsLine = (r: Run) => r.out.split("\n").find((l) => l.includes("[host2] metrics publisher")) ?? "";
    setHostVars({ host2: { redis_metrics_interval_seconds: 120 } });
    const check = await provision("--check", "--diff", "--limit", "host2");
    expect(metricsLine(check)).toBe("changed: [host2] metrics publisher => redis-metrics.timer: would write timer, restart; every 120 s to Campaign/Redis");
    expect(check.out).toMatch(/^-OnUnitActiveSec=60s\n\+OnUnitActiveSec=120s$/m);
    expect(readFileSync(timerFile, "utf8")).toMatch(/^OnUnitActiveSec=60s$/m);

    const apply = await provision("--limit", "host2");
    expect(metricsLine(apply)).toBe("changed: [host2] metrics publisher => redis-metrics.timer: wrote timer, restarted; every 120 s to Campaign/Redis");
    expect(recap(apply, "host2")).toMatchObject({ changed: 1, failed: 0 });
    expect(restarts(apply, "host2")).toBe(0);
    expect(await onHost("host2", "systemctl show -p TimersMonotonic --value redis-metrics.timer")).toMatch(/OnUnitActiveUSec=2min\b/);
    expect(recap(await provision("--limit", "host2"), "host2").changed).toBe(0);

    setHostVars({ host2: { redis_metrics_enabled: false } });
    const off = await provision("--limit", "host2");
    expect(metricsLine(off)).toBe("changed: [host2] metrics publisher => redis-metrics.timer: stopped, disabled and removed with 3 file(s) (redis_metrics_enabled is false)");
    expect(existsSync(timerFile)).toBe(false);
    expect(existsSync(hostFile("host2", "usr/local/libexec/redis-metrics"))).toBe(false);
    expect(await onHost("host2", "systemctl show -p LoadState --value redis-metrics.timer")).toBe("not-found\n");
    const offAgain = await provision("--limit", "host2");
    expect(metricsLine(offAgain)).toBe("skipped: [host2] metrics publisher => redis_metrics_enabled is false");
    expect(recap(offAgain, "host2").changed).toBe(0);

    setHostVars({});
    const on = await provision("--limit", "host2");
    expect(metricsLine(on)).toMatch(/^changed: \[host2\] metrics publisher => redis-metrics\.timer: wrote script, service, timer, enabled, started;/);
    expect(await onHost("host2", "systemctl is-active redis-metrics.timer")).toBe("active\n");
    expect(recap(await provision("--limit", "host2"), "host2").changed).toBe(0);
  }, 180_000);

  it("--check reports a change but changes nothing", async () => {
    setHostVars({ host1: { redis_maxmemory: "300mb" } });
    const before = await serverInfo("host1");
    const r = await provision("--check", "--diff", "--limit", "host1");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/changed: \[host1\] write config => would write/);
    expect(r.out).toMatch(/^-maxmemory 512mb$/m);
    expect(r.out).toMatch(/^\+maxmemory 300mb$/m);
    expect(r.out).not.toContain(PASSWORD);
    const after = await serverInfo("host1");
    expect(after.run_id).toBe(before.run_id);
    expect(after.maxmemory).toBe(String(512 * 1024 * 1024));
  });

  it("a config change restarts exactly once and the next run is a no-op", async () => {
    setHostVars({ host1: { redis_maxmemory: "300mb" } });
    const before = await serverInfo("host1");
    const r = await provision();
    expect(r.code).toBe(0);
    expect(restarts(r, "host1")).toBe(1);
    expect(restarts(r, "host2")).toBe(0);
    const after = await serverInfo("host1");
    expect(after.run_id).not.toBe(before.run_id);
    expect(after.maxmemory).toBe(String(300 * 1024 * 1024));
    const again = await provision();
    expect(recap(again, "host1").changed).toBe(0);
    expect((await serverInfo("host1")).run_id).toBe(after.run_id);
  });

  it("keys survive re-provisioning with changed persistence settings (appendonly off, on; save rules)", async () => {
    const c = redis("host2");
    await c.connect();
    const pipe = c.pipeline();
    for (let i = 0; i < 2000; i++) pipe.set(`k:${i}`, `v${i}`);
    await pipe.exec();
    c.disconnect();
    const steps: Record<string, unknown>[] = [
      { redis_appendonly: false },
      { redis_appendonly: false, redis_save_intervals: [] },
      { redis_appendonly: true, redis_save_intervals: [] },
      { redis_appendonly: true, redis_save_intervals: ["60 1000"], redis_appendfsync: "always", redis_maxmemory_policy: "noeviction" },
    ];
    let runId = (await serverInfo("host2")).run_id;
    for (const vars of steps) {
      setHostVars({ host2: vars });
      const r = await provision("--limit", "host2");
      if (r.code !== 0) throw new Error(`step ${JSON.stringify(vars)} failed:\n${r.out}`);
      expect(restarts(r, "host2")).toBe(1);
      const info = await serverInfo("host2");
      expect(info.run_id).not.toBe(runId);
      runId = info.run_id;
      expect(info.aof_enabled).toBe(vars.redis_appendonly ? "1" : "0");
      const d = redis("host2");
      await d.connect();
      expect(await d.dbsize()).toBe(2000);
      expect(await d.get("k:1999")).toBe("v1999");
      d.disconnect();
    }
  }, 120_000);

  it("a value Redis refuses at start rolls back with Redis's error line; a bad directive is refused before anything changes", async () => {
    setHostVars({ host1: { redis_maxmemory: "300mb" }, host2: { redis_bind_address: "10.231.0.254" } });
    const before = await serverInfo("host2");
    const r = await provision("--limit", "host2");
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/failed: \[host2\] RUNNING HANDLER \[restart redis\] => Redis did not start with the new config: .*Could not create server TCP listening socket 10\.231\.0\.254:6379.*previous config restored and Redis is running/);
    const after = await serverInfo("host2");
    expect(after.tcp_port).toBe("6379");
    expect(Number(after.db0.match(/keys=(\d+)/)![1])).toBe(2000);
    expect(after.run_id).not.toBe(before.run_id);

    setHostVars({ host1: { redis_maxmemory: "300mb" }, host2: { redis_extra_config: { "no-such-directive": "1" } } });
    const r2 = await provision("--limit", "host2");
    expect(r2.code).toBe(2);
    expect(r2.out).toMatch(/failed: \[host2\] write config => the new config was rejected .*nothing changed: .*FATAL CONFIG FILE ERROR.*no-such-directive/);
    expect((await serverInfo("host2")).run_id).toBe(after.run_id);
  }, 120_000);

  it("one unreachable host among three fails alone (exit 2) while the others converge", async () => {
    setHostVars({ host1: { redis_maxmemory: "200mb" }, host2: { redis_maxmemory: "200mb" } });
    const h3 = tb.hosts[2];
    await disconnect(testbed.connectionOf(tb, h3));
    await testbed.setLink(h3, false);
    try {
      const r = await provision();
      expect(r.code).toBe(2);
      expect(recap(r, "host3")).toMatchObject({ unreachable: 1, ok: 0, changed: 0 });
      for (const h of ["host1", "host2"]) {
        expect(recap(r, h)).toMatchObject({ failed: 0, unreachable: 0 });
        expect(restarts(r, h)).toBe(1);
      }
      expect((await serverInfo("host2")).maxmemory).toBe(String(200 * 1024 * 1024));
    } finally {
      await testbed.setLink(h3, true);
    }
  }, 120_000);

  it("a run that died between the config change and the restart still restarts next time", async () => {
    setHostVars({});
    const h1 = tb.hosts[0];
    // Simulate the interrupted run: marker left behind, config already in place.
    execFileSync("ssh", ["-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", `ec2-user@${h1.ip}`, "sudo touch /var/lib/redis-provision/restart-pending"]);
    const before = await serverInfo("host1");
    const r = await provision("--limit", "host1");
    expect(r.code).toBe(0);
    expect(restarts(r, "host1")).toBe(1);
    expect(r.out).toMatch(/restart pending from an interrupted run/);
    expect((await serverInfo("host1")).run_id).not.toBe(before.run_id);
    const again = await provision("--limit", "host1");
    expect(restarts(again, "host1")).toBe(0);
  });
  it("--diff and --json mask secret-bearing values of a host's old config (e.g. the playbook's requirepass, a masterauth), which the tool never knew", async () => {
    setHostVars({});
    const OLD = ["Old-requirepass-3e1", "Old-masterauth-77c", "Old-tls-pass-0a9"];
    const conf = hostFile("host2", "etc/redis/redis.conf");
    const original = readFileSync(conf, "utf8");
    // Written in place (owner and mode stay), put back byte for byte afterwards.
    writeFileSync(conf, `${original}requirepass ${OLD[0]}\nmasterauth "${OLD[1]}"\ntls-key-file-pass ${OLD[2]}\n`);
    try {
      for (const args of [["--check", "--diff"], ["--check", "--diff", "--json"]]) {
        const r = await provision(...args, "--limit", "host2");
        expect(r.code).toBe(0);
        for (const secret of OLD) expect(r.out + r.err).not.toContain(secret);
        const diff = args.includes("--json") ? r.json!.hosts.host2.tasks.find((t) => t.task === "write config")!.diff! : r.out;
        expect(diff).toMatch(/^-requirepass <hidden>$/m);
        expect(diff).toMatch(/^-masterauth <hidden>$/m);
        expect(diff).toMatch(/^-tls-key-file-pass <hidden>$/m);
      }
    } finally {
      writeFileSync(conf, original);
    }
  });

  it("retires the first-boot password unit and files: before the restart it would block, --check aware, idempotent", async () => {
    const LEGACY = "Legacy-plaintext-requirepass-9d1";
    const plant = (withUnit: boolean) => {
      // What templates/asterisk-user-data.sh.hbs leaves behind, with Secrets Manager unreachable (the fetch fails).
      writeFileSync(hostFile("host1", "etc/redis/password.conf"), `requirepass ${LEGACY}\n`);
      writeFileSync(hostFile("host1", "etc/redis/campaign.conf"), "bind 0.0.0.0\nport 6379\ninclude /etc/redis/password.conf\n");
      if (!withUnit) return;
      mkdirSync(hostFile("host1", "usr/local/libexec"), { recursive: true });
      writeFileSync(hostFile("host1", "usr/local/libexec/redis-password"), "#!/bin/bash\necho 'Could not connect to the endpoint URL' >&2\nexit 255\n", { mode: 0o750 });
      writeFileSync(
        hostFile("host1", "etc/systemd/system/redis-password.service"),
        "[Unit]\nDescription=Fetch the Redis password from Secrets Manager\nWants=network-online.target\nAfter=network-online.target\nBefore=redis-server.service\n\n" +
          "[Service]\nType=oneshot\nExecStart=/usr/local/libexec/redis-password\nRestart=on-failure\nRestartSec=5\n\n[Install]\nRequiredBy=redis-server.service\n",
      );
    };
    const legacyPaths = ["etc/redis/password.conf", "etc/redis/campaign.conf", "usr/local/libexec/redis-password", "etc/systemd/system/redis-password.service", "etc/systemd/system/redis-server.service.requires/redis-password.service"];
    const retireLine = (r: Run) => r.out.split("\n").find((l) => l.includes("[host1] retire first-boot password unit")) ?? "";
    setHostVars({});
    plant(true);
    await onHost("host1", "sudo chown root:redis /etc/redis/password.conf /etc/redis/campaign.conf && sudo chmod 0640 /etc/redis/password.conf && sudo systemctl daemon-reload && sudo systemctl enable -q redis-password.service && echo 'include /etc/redis/campaign.conf' | sudo tee -a /etc/redis/redis.conf >/dev/null");
    // The hazard: with the unit in place a restart of Redis fails whenever the fetch fails.
    const blocked = await runLocal("ssh", ["-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", `ec2-user@${tb.hosts[0].ip}`, "sudo systemctl restart redis-server"]);
    expect(blocked.code).not.toBe(0);
    expect((await onHost("host1", "systemctl is-active redis-server || true")).trim()).not.toBe("active");

    const check = await provision("--check", "--diff", "--limit", "host1");
    expect(check.code).toBe(0);
    expect(retireLine(check)).toBe(
      "changed: [host1] retire first-boot password unit => would disable and remove redis-password.service (was enabled); remove /usr/local/libexec/redis-password; remove /etc/redis/password.conf, /etc/redis/campaign.conf (plaintext requirepass)",
    );
    expect(check.out).toMatch(/^-include \/etc\/redis\/campaign\.conf$/m);
    // lstat: the .requires entry is a symlink whose absolute target exists only inside the host.
    const present = (p: string) => {
      try {
        lstatSync(hostFile("host1", p));
        return true;
      } catch {
        return false;
      }
    };
    expect(legacyPaths.filter(present)).toEqual(legacyPaths);

    const r = await provision("--diff", "--limit", "host1");
    expect(r.code).toBe(0);
    expect(retireLine(r)).toBe(
      "changed: [host1] retire first-boot password unit => disabled and removed redis-password.service (was enabled); removed /usr/local/libexec/redis-password; removed /etc/redis/password.conf, /etc/redis/campaign.conf (plaintext requirepass)",
    );
    expect(restarts(r, "host1")).toBe(1);
    expect(r.out).toMatch(/ok: \[host1\] verify => PONG/);
    expect(legacyPaths.filter(present)).toEqual([]);
    expect(await onHost("host1", "systemctl show -p LoadState --value redis-password.service")).toBe("not-found\n");
    expect(await onHost("host1", "systemctl show -p Requires --value redis-server.service")).not.toContain("redis-password");
    expect(check.out + r.out + r.err).not.toContain(LEGACY);
    const again = await provision("--limit", "host1");
    expect(recap(again, "host1").changed).toBe(0);
    expect(retireLine(again)).toBe("ok: [host1] retire first-boot password unit => no redis-password.service, no password.conf or campaign.conf in /etc/redis");

    // Files alone on a converged host: removed in one extra round trip, Redis untouched.
    plant(false);
    const before = await serverInfo("host1");
    const files = await provision("--limit", "host1");
    expect(retireLine(files)).toBe("changed: [host1] retire first-boot password unit => removed /etc/redis/password.conf, /etc/redis/campaign.conf (plaintext requirepass)");
    expect(recap(files, "host1")).toMatchObject({ changed: 1, failed: 0 });
    expect((await serverInfo("host1")).run_id).toBe(before.run_id);
    expect(existsSync(hostFile("host1", "etc/redis/password.conf"))).toBe(false);
    expect(recap(await provision("--limit", "host1"), "host1").changed).toBe(0);
  }, 180_000);

  it("ARI: skipped with a warning without Asterisk; then the user, the include and the HTTP server, hashed on the host, reloaded once per change", async () => {
    const host = tb.hosts[2];
    const ariLine = (r: Run) => r.out.split("\n").find((l) => l.includes("[host3] asterisk ARI")) ?? "";
    const reloadLine = (r: Run) => r.out.split("\n").find((l) => l.includes("[host3] RUNNING HANDLER [reload asterisk]")) ?? "";
    const calls = () => (existsSync(hostFile("host3", ASTERISK_CALLS_LOG.slice(1))) ? parseAsteriskCalls(readFileSync(hostFile("host3", ASTERISK_CALLS_LOG.slice(1)), "utf8")) : []);
    const etc = (f: string) => readFileSync(hostFile("host3", `etc/asterisk/${f}`), "utf8");
    setHostVars({ host3: { asterisk_ari_password_secret_arn: ARI_ARN } });

    const none = await provision("--limit", "host3");
    expect(none.code).toBe(0);
    expect(ariLine(none)).toMatch(/^skipped: \[host3\] asterisk ARI => WARNING: Asterisk is not installed \(no \/etc\/asterisk\), so the ARI user campaign_dialer is NOT configured/);

    const stock = { "ari.conf": readFileSync(join(__dirname, "fixtures/ari.conf"), "utf8"), "http.conf": readFileSync(join(__dirname, "fixtures/http.conf"), "utf8") };
    await onHost("host3", installAsteriskStandIn(host, stock));
    const check = await provision("--check", "--diff", "--limit", "host3");
    expect(ariLine(check)).toBe("changed: [host3] asterisk ARI => would write ari_campaign.conf, ari.conf, http.conf (new password hash); campaign_dialer on 0.0.0.0:8088");
    expect(reloadLine(check)).toBe("changed: [host3] RUNNING HANDLER [reload asterisk] => would run: module reload res_ari.so; module reload http");
    expect(check.out).toMatch(/^\+password = <hidden>$/m);
    expect(check.out).toMatch(/^\+enabled=yes$/m);
    expect(existsSync(hostFile("host3", "etc/asterisk/ari_campaign.conf"))).toBe(false);
    expect(etc("http.conf")).toBe(stock["http.conf"]);
    expect(calls()).toEqual([]);

    const { result: r, seen } = await sampleCmdlines(() => provision("--diff", "--limit", "host3"));
    expect(r.code).toBe(0);
    expect(ariLine(r)).toBe("changed: [host3] asterisk ARI => wrote ari_campaign.conf, ari.conf, http.conf (new password hash); campaign_dialer on 0.0.0.0:8088");
    expect(reloadLine(r)).toBe(
      "changed: [host3] RUNNING HANDLER [reload asterisk] => module reload http: Module 'http' reloaded successfully.; module reload res_ari.so: Module 'res_ari.so' reloaded successfully.",
    );
    expect(calls()).toEqual([["-rx", "module reload http"], ["-rx", "module reload res_ari.so"]]);
    // Files: our stanza with a crypt hash that the password verifies; ari.conf and http.conf otherwise untouched.
    const user = etc("ari_campaign.conf");
    const hash = /^password = (\$6\$([^$]+)\$\S+)$/m.exec(user)!;
    expect(hash).not.toBeNull();
    expect(user).toBe(renderAriUser("campaign_dialer", hash[1]));
    expect(execFileSync("openssl", ["passwd", "-6", "-salt", hash[2], "-stdin"], { input: `${ariPassword}\n`, encoding: "utf8" }).trim()).toBe(hash[1]);
    expect(etc("ari.conf")).toBe(ensureAriInclude(stock["ari.conf"]));
    expect(etc("http.conf")).toBe(ensureHttpConf(stock["http.conf"], { bindaddr: "0.0.0.0", bindport: 8088 }));
    expect(etc("http.conf")).toMatch(/^\[general\][\s\S]*^enabled=yes$[\s\S]*^bindaddr=0\.0\.0\.0$[\s\S]*^bindport=8088$[\s\S]*^\[post_mappings\]/m);
    expect((await onHost("host3", "sudo stat -c '%U:%G %a' /etc/asterisk/ari_campaign.conf /etc/asterisk/ari.conf /etc/asterisk/http.conf")).trim().split("\n")).toEqual(["root:asterisk 640", "root:asterisk 640", "root:asterisk 640"]);
    // The password: in no command line (runner and hosts), not in the output, not on disk.
    expect([...seen].filter((c) => c.includes(ariPassword))).toEqual([]);
    expect(r.out + r.err).not.toContain(ariPassword);
    expect(r.out).not.toContain(hash[1]);
    expect(calls().flat().filter((a) => a.includes(ariPassword))).toEqual([]);
    expect(readFileSync(hostFile("host3", "etc/asterisk/ari_campaign.conf"), "utf8") + etc("ari.conf") + etc("http.conf")).not.toContain(ariPassword);

    const again = await provision("--limit", "host3");
    expect(recap(again, "host3").changed).toBe(0);
    expect(ariLine(again)).toBe("ok: [host3] asterisk ARI => campaign_dialer on 0.0.0.0:8088");
    expect(etc("ari_campaign.conf")).toBe(user); // the same hash: nothing re-hashed
    expect(calls()).toHaveLength(2);

    // Another port: only http.conf, only its reload.
    setHostVars({ host3: { asterisk_ari_password_secret_arn: ARI_ARN, asterisk_ari_port: 8089 } });
    const port = await provision("--limit", "host3");
    expect(ariLine(port)).toBe("changed: [host3] asterisk ARI => wrote http.conf; campaign_dialer on 0.0.0.0:8089");
    expect(calls().slice(2)).toEqual([["-rx", "module reload http"]]);
    expect(etc("http.conf")).toMatch(/^bindport=8089$/m);
    expect(etc("ari_campaign.conf")).toBe(user);

    // A rotated secret: a new hash, only res_ari reloaded; Asterisk down: the files are written, the reload waits for its start.
    ariPassword = "Ari-pa55word-rotated-2";
    writeFileSync(hostFile("host3", ASTERISK_DOWN_FLAG.slice(1)), "");
    const rotated = await provision("--limit", "host3");
    expect(ariLine(rotated)).toBe("changed: [host3] asterisk ARI => wrote ari_campaign.conf (new password hash); campaign_dialer on 0.0.0.0:8089");
    expect(reloadLine(rotated)).toBe("skipped: [host3] RUNNING HANDLER [reload asterisk] => Asterisk is not running: it reads the new configuration when it starts");
    const newHash = /^password = (\$6\$([^$]+)\$\S+)$/m.exec(etc("ari_campaign.conf"))!;
    expect(execFileSync("openssl", ["passwd", "-6", "-salt", newHash[2], "-stdin"], { input: `${ariPassword}\n`, encoding: "utf8" }).trim()).toBe(newHash[1]);
    rmSync(hostFile("host3", ASTERISK_DOWN_FLAG.slice(1)));
    expect(recap(await provision("--limit", "host3"), "host3").changed).toBe(0);
    expect(etc("ari_campaign.conf")).toBe(renderAriUser("campaign_dialer", newHash[1]));
  }, 180_000);
});
