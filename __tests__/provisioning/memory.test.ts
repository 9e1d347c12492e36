/**
 * Issue 12.3: provisioning owns Redis's running config, so it checks `redis_maxmemory` against the
 * host's real RAM (MemTotal from the one-round-trip gather): 2 x maxmemory (a BGSAVE fork) +
 * asterisk_host_reserved_mib must fit. A value that does not fit fails the host before anything is
 * installed or written, --check says the same, and the message names the host, the variable and the file.
 * The pure rule, then one real Debian 12 host on the systemd-nspawn test bed (skips loudly without root).
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CONTROL = mkdtempSync(join(tmpdir(), "prov-ssh-mem-"));
process.env.PROVISION_SSH_CONTROL_DIR = CONTROL;

import { DEFAULTS, RoleVars } from "../../provisioning/defaults";
import { MEMORY_TASK, checkMemory } from "../../provisioning/tasks/memory";
import type { Testbed } from "../../provisioning/testbed";
import { hostFile, onHost, provisionIn, realHostSuite, recap, serverInfo, setHostVars, taskLines, tearDown, upTestbed } from "./realhost";

const host = (v: Partial<RoleVars>, origin: Record<string, string> = {}) => ({ name: "ast1", vars: { ...DEFAULTS, ...v }, origin });
const GIB_KIB = 1024 * 1024;

describe("check memory (pure)", () => {
  it("passes when 2 x maxmemory + the reserve fits MemTotal, and says by how much", () => {
    expect(checkMemory(host({ redis_maxmemory: "512mb" }), 2 * GIB_KIB)).toEqual({
      task: MEMORY_TASK,
      status: "ok",
      msg: "redis_maxmemory 512mb: 2 x 512 MiB for a BGSAVE fork + 512 MiB reserved (asterisk_host_reserved_mib) = 1536 MiB of 2048 MiB",
    });
    // Exactly full fits.
    expect(checkMemory(host({ redis_maxmemory: "768mb" }), 2 * GIB_KIB).status).toBe("ok");
  });

  it("refuses one that does not fit, naming the host, the variable, the file and what would fit", () => {
    const r = checkMemory(host({ redis_maxmemory: "1gb" }, { redis_maxmemory: "inventory/dev/host_vars/ast1.yml" }), 1910 * 1024);
    expect(r).toEqual({
      task: MEMORY_TASK,
      status: "failed",
      msg:
        "redis_maxmemory 1gb (inventory/dev/host_vars/ast1.yml) does not fit ast1 (1910 MiB RAM): 2 x 1024 MiB for a BGSAVE fork + 512 MiB reserved " +
        "(asterisk_host_reserved_mib) = 2560 MiB of 1910 MiB; at most 699mb on this host, or a larger instance type; nothing changed",
    });
    // Redis units: 1g is 10^9 bytes (954 MiB after rounding up), 1gb is 2^30.
    expect(checkMemory(host({ redis_maxmemory: "1g" }), 2 * GIB_KIB).msg).toMatch(/2 x 954 MiB .* = 2420 MiB of 2048 MiB/);
    expect(checkMemory(host({ redis_maxmemory: "100mb" }), 256 * 1024).msg).toMatch(/the host cannot keep 512 MiB reserved, or a larger instance type; nothing changed$/);
    expect(checkMemory(host({}), 1024 * 1024).msg).toMatch(/\(the role default\) does not fit ast1/);
  });

  it("the reserve is a role variable (asterisk_host_reserved_mib); an unreadable MemTotal fails rather than guessing", () => {
    expect(checkMemory(host({ redis_maxmemory: "768mb", asterisk_host_reserved_mib: 256 }), 1800 * 1024).status).toBe("ok");
    expect(checkMemory(host({}), null)).toMatchObject({ status: "failed", msg: expect.stringMatching(/cannot read MemTotal from \/proc\/meminfo on ast1/) });
  });
});

const PASSWORD = "Mem-requirepass-never-printed-31";
const env = { REDIS_PASSWORD: PASSWORD, PROVISION_SSH_CONTROL_DIR: CONTROL };
let tb: Testbed;
const provision = (...args: string[]) => provisionIn(tb, env, ...args);

realHostSuite("check memory on a real Debian 12 host", () => {
  let ramMib = 0;
  /** A maxmemory (in mb) that just does not fit this host with the default reserve, and one that does. */
  let tooBig = "";
  let fits = "";
  beforeAll(async () => {
    tb = await upTestbed(1);
    // The host sees the machine's RAM (systemd-nspawn does not virtualise /proc/meminfo).
    ramMib = Math.floor(Number(/MemTotal:\s+(\d+)/.exec(await onHost(tb, "host1", "cat /proc/meminfo"))![1]) / 1024);
    const most = Math.floor((ramMib - 512) / 2);
    tooBig = `${most + 1}mb`;
    fits = `${Math.min(most, 256)}mb`;
  }, 600_000);
  afterAll(() => tearDown(tb, CONTROL), 120_000);

  it("a fresh host: --check and the run refuse alike, naming host, variable and file; nothing is installed", async () => {
    setHostVars(tb, { host1: { redis_maxmemory: tooBig } });
    const check = await provision("--check");
    const real = await provision();
    const want = new RegExp(
      `^failed: \\[host1\\] check memory => redis_maxmemory ${tooBig} \\([^)]*host_vars/host1\\.yml\\) does not fit host1 \\(${ramMib} MiB RAM\\): ` +
        `2 x ${tooBig.replace("mb", "")} MiB for a BGSAVE fork \\+ 512 MiB reserved \\(asterisk_host_reserved_mib\\) = ${ramMib + 1 + ((ramMib - 512) % 2 === 0 ? 1 : 0)} MiB of ${ramMib} MiB; ` +
        `at most ${Math.floor((ramMib - 512) / 2)}mb on this host, or a larger instance type; nothing changed$`,
      "m",
    );
    for (const r of [check, real]) {
      expect(r.code).toBe(2);
      expect(r.out).toMatch(want);
      expect(recap(r, "host1")).toMatchObject({ failed: 1, changed: 0 });
    }
    expect(taskLines(check, "host1")).toEqual(taskLines(real, "host1"));
    expect(taskLines(real, "host1")).toEqual(["ok gather facts", "failed check memory"]);
    expect(existsSync(hostFile(tb, "host1", "etc/redis/redis.conf"))).toBe(false);
    expect((await onHost(tb, "host1", "dpkg-query -W -f '${db:Status-Status}' redis-server 2>/dev/null || true")).trim()).not.toBe("installed");
    // The run released its lock: the next run is not refused for it.
    expect(existsSync(hostFile(tb, "host1", "var/lib/redis-provision/lock"))).toBe(false);
  }, 120_000);

  it("a fitting value converges (the check reports the figures); a later value that does not fit changes nothing on the running server", async () => {
    setHostVars(tb, { host1: { redis_maxmemory: fits } });
    const first = await provision();
    expect(first.code).toBe(0);
    expect(first.out).toMatch(new RegExp(`^ok: \\[host1\\] check memory => redis_maxmemory ${fits}: 2 x ${fits.replace("mb", "")} MiB .* of ${ramMib} MiB$`, "m"));
    expect(first.out).toMatch(/^ok: \[host1\] gather facts => debian 12, [\d.]+ GiB RAM, /m);
    const conf = readFileSync(hostFile(tb, "host1", "etc/redis/redis.conf"), "utf8");
    const before = await serverInfo(tb, "host1", PASSWORD);

    setHostVars(tb, { host1: { redis_maxmemory: tooBig } });
    const check = await provision("--check", "--diff");
    const real = await provision("--diff");
    for (const r of [check, real]) {
      expect(r.code).toBe(2);
      expect(r.out).toMatch(/^failed: \[host1\] check memory => redis_maxmemory .* does not fit host1 /m);
      expect(r.out).not.toMatch(/write config|restart redis/);
    }
    expect(readFileSync(hostFile(tb, "host1", "etc/redis/redis.conf"), "utf8")).toBe(conf);
    const after = await serverInfo(tb, "host1", PASSWORD);
    expect(after.run_id).toBe(before.run_id);
    expect(after.maxmemory).toBe(before.maxmemory);

    // A smaller reserve makes it fit (the variable is the operator's to tune).
    setHostVars(tb, { host1: { redis_maxmemory: tooBig, asterisk_host_reserved_mib: 256 } });
    const check2 = await provision("--check");
    expect(check2.code).toBe(0);
    expect(check2.out).toMatch(/^ok: \[host1\] check memory => .* \+ 256 MiB reserved/m);
  }, 180_000);
});
