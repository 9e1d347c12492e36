/**
 * Real hosts: three Debian 12 machines (systemd, sshd, sudo user ec2-user) booted with systemd-nspawn
 * on the 10.231.0.0/24 test bridge, Redis installed from the local apt mirror. Needs root and Linux;
 * elsewhere it warns loudly and skips, and with CI set it fails instead.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Redis from "ioredis";

const PASSWORD = "Tb-pa55word-never-printed-7f3a";
const CONTROL = mkdtempSync(join(tmpdir(), "prov-ssh-"));
process.env.PROVISION_SSH_CONTROL_DIR = CONTROL;

import { main } from "../../provisioning/cli";
import { disconnect } from "../../provisioning/ssh";
import * as testbed from "../../provisioning/testbed";

function missingPrereqs(): string[] {
  const out: string[] = [];
  if (process.platform !== "linux") out.push("Linux");
  if (process.getuid?.() !== 0) out.push("root");
  for (const bin of ["systemd-nspawn", "debootstrap", "ip", "ssh", "dpkg-scanpackages"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
    } catch {
      out.push(bin);
    }
  }
  return out;
}

const missing = missingPrereqs();
if (missing.length && !process.env.CI) {
  // eslint-disable-next-line no-console
  console.warn(
    `\n${"!".repeat(78)}\n!! SKIPPING the real-host provisioning tests: missing ${missing.join(", ")}.\n` +
      `!! They boot Debian hosts with systemd-nspawn and need root on Linux (CI runs them).\n${"!".repeat(78)}\n`,
  );
}
const suite = missing.length && !process.env.CI ? describe.skip : describe;

interface Run {
  code: number;
  out: string;
  err: string;
  json?: { hosts: Record<string, { tasks: { task: string; status: string; msg: string }[]; recap: Record<string, number> }> };
}

let tb: testbed.Testbed;
const hostVarsDir = () => join(dirname(tb.inventory), "host_vars");

function setHostVars(vars: Record<string, Record<string, unknown>>): void {
  rmSync(hostVarsDir(), { recursive: true, force: true });
  mkdirSync(hostVarsDir(), { recursive: true });
  for (const [h, v] of Object.entries(vars)) writeFileSync(join(hostVarsDir(), `${h}.yml`), `${JSON.stringify(v)}\n`);
}

async function provision(...args: string[]): Promise<Run> {
  let out = "";
  let err = "";
  const json = args.includes("--json");
  const code = await main(["-i", tb.inventory, "--forks", "3", ...args], {
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
    env: { ...process.env, REDIS_PASSWORD: PASSWORD },
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
  return Object.fromEntries(text.split("\r\n").filter((l) => l.includes(":")).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)]));
}

suite("provisioning real Debian 12 hosts", () => {
  if (missing.length) {
    it("requires root, Linux and the test bed tools in CI", () => {
      throw new Error(`cannot run real-host tests: missing ${missing.join(", ")}`);
    });
    return;
  }

  beforeAll(async () => {
    tb = await testbed.up({ count: 3, log: (m) => process.stderr.write(`testbed: ${m}\n`) });
  }, 600_000);

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    if (!tb) return;
    await testbed.down(tb);
    rmSync(CONTROL, { recursive: true, force: true });
  }, 120_000);

  it("first converge installs, configures and verifies every host; no secret anywhere in the output", async () => {
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
    const r = await provision("--diff");
    clearInterval(sampler);
    expect(r.code).toBe(0);
    for (const h of ["host1", "host2", "host3"]) {
      expect(recap(r, h)).toMatchObject({ failed: 0, unreachable: 0 });
      expect(recap(r, h).changed).toBeGreaterThanOrEqual(3);
      expect(restarts(r, h)).toBe(1);
      expect(r.out).toMatch(new RegExp(`ok: \\[${h}\\] verify => PONG`));
    }
    expect(r.out).toContain("+user default on #<hidden>");
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
    const t0 = Date.now();
    const r = await provision("--json", "--diff");
    const elapsed = Date.now() - t0;
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
    expect(elapsed).toBeLessThan(5_000);
  });

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
});
