/**
 * One real Debian 12 host (systemd-nspawn test bed; needs root on Linux, skips loudly elsewhere) as the
 * old playbook left it, with its port in /etc/redis/conf.d/net.conf: the takeover used to move it from
 * 6380 to the role's 6379 silently (every client broken), the file showing only as `-include` in --diff.
 * Now --check and the run refuse, naming the file and line, and change nothing; with redis_port set to
 * 6380 in the inventory the host is taken over where it listens, the rest reported as warnings.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CONTROL = mkdtempSync(join(tmpdir(), "prov-ssh-takeover-"));
process.env.PROVISION_SSH_CONTROL_DIR = CONTROL;

import type { Testbed } from "../../provisioning/testbed";
import { playbookHost } from "../../provisioning/testbed/playbook";
import { onHost, provisionIn, realHostSuite, setHostVars, tearDown, upTestbed } from "./realhost";

const PASSWORD = "takeover-Password-0123456789";
const env = { REDIS_PASSWORD: PASSWORD, PROVISION_SSH_CONTROL_DIR: CONTROL };
let tb: Testbed;
const provision = (...args: string[]) => provisionIn(tb, env, ...args);
const sh = (cmd: string) => onHost(tb, "host1", cmd);
/** DBSIZE on the host's `port` (the password on stdin, never an argument). */
const dbsize = (port: number) => onHost(tb, "host1", `sudo sh -c 'REDISCLI_AUTH="$(cat)" redis-cli -p ${port} DBSIZE'`, PASSWORD);

realHostSuite("a takeover of a host whose included file sets its port (one real Debian 12 host)", () => {
  beforeAll(async () => {
    tb = await upTestbed(1);
    expect(await playbookHost(tb, tb.hosts[0], PASSWORD, 100)).toBe(100);
    await sh(`sudo bash -c 'set -e
      mkdir -p /etc/redis/conf.d
      printf "# the playbook s local settings\\nport 6380\\nmaxclients 5000\\n" > /etc/redis/conf.d/net.conf
      chown -R redis:redis /etc/redis/conf.d
      echo "include /etc/redis/conf.d/*.conf" >> /etc/redis/redis.conf
      systemctl restart redis-server
      for _ in $(seq 1 50); do redis-cli -p 6380 PING 2>/dev/null | grep -q NOAUTH && break; sleep 0.1; done'`);
    expect((await dbsize(6380)).trim()).toBe("100");
  }, 600_000);
  afterAll(() => tearDown(tb, CONTROL), 120_000);

  it("refuses to move it in --check and in the run, naming the file and line; nothing changes", async () => {
    const conf = await sh("sudo sha256sum /etc/redis/redis.conf");
    const pid = await sh("systemctl show -p MainPID redis-server");
    for (const args of [["--check", "--diff"], []]) {
      const r = await provision(...args);
      expect(r.code).toBe(2);
      expect(r.out).toMatch(
        /failed: \[host1\] compare old settings => the new config would drop settings clients rely on: port 6380 \(\/etc\/redis\/conf\.d\/net\.conf:2\) -> 6379: clients connect to the old port; set redis_port: 6379 in the inventory if intended .*; refusing; nothing changed/,
      );
      expect(r.out).not.toMatch(/write config/);
      expect(`${r.out}${r.err}`).not.toContain(PASSWORD);
    }
    expect(await sh("sudo sha256sum /etc/redis/redis.conf")).toBe(conf);
    expect(await sh("systemctl show -p MainPID redis-server")).toBe(pid);
  }, 180_000);

  it("with redis_port: 6380 in the inventory: taken over where clients connect, the other differences as warnings", async () => {
    setHostVars(tb, { host1: { redis_port: 6380 } });
    try {
      const check = await provision("--check", "--diff");
      expect(check.code).toBe(0);
      expect(check.out).toMatch(/ok: \[host1\] compare old settings => warning: .*maxclients 5000 \(\/etc\/redis\/conf\.d\/net\.conf:3\) -> 10000/);
      expect(check.out).toContain("-maxclients 5000   # /etc/redis/conf.d/net.conf:3");
      expect(check.out).toMatch(/\[WARNING\]: host1: 1 warning\(s\) from compare old settings/);
      const r = await provision();
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/ok: \[host1\] verify => PONG; probe key round-tripped; port 6380/);
      expect((await dbsize(6380)).trim()).toBe("100");
      const again = await provision();
      expect(again.out).not.toMatch(/compare old settings/);
    } finally {
      setHostVars(tb, {});
    }
  }, 240_000);
});
