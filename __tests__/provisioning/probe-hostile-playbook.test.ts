/**
 * A host the old playbook configured its own way, on one real Debian 12 host (systemd-nspawn test bed;
 * needs root on Linux, skips loudly elsewhere): the data in another `dir` (the restart used to bring
 * Redis back EMPTY), a restart that still comes back empty (it used to leave the empty server running),
 * the port and the plaintext requirepass in included files (the right password was refused, then the
 * plaintext was left on disk). The password has shell metacharacters, `%` and a backslash.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CONTROL = mkdtempSync(join(tmpdir(), "prov-ssh-hostile-"));
process.env.PROVISION_SSH_CONTROL_DIR = CONTROL;

import { setLink, type Testbed } from "../../provisioning/testbed";
import { playbookHost } from "../../provisioning/testbed/playbook";
import { filesWith, keyspace, onHost, provisionIn, provisionProcess, realHostSuite, recap, serverInfo, setHostVars, tearDown, upTestbed } from "./realhost";

const PASSWORD = String.raw`Pb%s$HOME;|&\x` + "`id`-42";
const env = { REDIS_PASSWORD: PASSWORD, PROVISION_SSH_CONTROL_DIR: CONTROL };
let tb: Testbed;
const provision = (...args: string[]) => provisionIn(tb, env, ...args);
const sh = (cmd: string) => onHost(tb, "host1", cmd);
/** A root script on the host with the password as $PW (first line of stdin, never an argument). */
const asRoot = (script: string) => onHost(tb, "host1", `sudo bash -c 'IFS= read -r PW; export PW; exec bash -s'`, `${PASSWORD}\n${script}`);
const keys = async () => keyspace(await serverInfo(tb, "host1", PASSWORD)).keys;

/** Back to Debian's stock redis.conf and no provisioner state, then what the playbook does (500 keys). */
async function freshPlaybookHost(): Promise<void> {
  await sh(
    "sudo sh -c 'systemctl stop redis-server; rm -rf /var/lib/redis-provision /var/lib/redis/* /etc/redis/redis.conf /etc/redis/conf.d; " +
      "DEBIAN_FRONTEND=noninteractive apt-get install -q -y --reinstall -o Dpkg::Options::=--force-confmiss redis-server >/dev/null 2>&1'",
  );
  expect(await playbookHost(tb, tb.hosts[0], PASSWORD, 500)).toBe(500);
}

realHostSuite("an old playbook's own redis.conf (one real Debian 12 host)", () => {
  beforeAll(async () => {
    tb = await upTestbed(1);
    expect(await playbookHost(tb, tb.hosts[0], PASSWORD, 500)).toBe(500);
  }, 600_000);
  afterAll(() => tearDown(tb, CONTROL), 120_000);

  it("keeps its data in another dir: refused in --check and in the run, nothing changed; once moved as told, taken over with every key", async () => {
    await asRoot(`set -e
      mkdir -p /srv/redis /etc/systemd/system/redis-server.service.d && chown redis:redis /srv/redis
      printf '[Service]\\nReadWritePaths=-/srv/redis\\n' > /etc/systemd/system/redis-server.service.d/srv.conf
      systemctl daemon-reload; systemctl stop redis-server
      mv /var/lib/redis/dump.rdb /srv/redis/campaign.rdb; mv /var/lib/redis/appendonlydir /srv/redis/
      sed -i -E 's#^dir .*#dir /srv/redis#; s/^dbfilename .*/dbfilename campaign.rdb/' /etc/redis/redis.conf
      systemctl start redis-server`);
    const before = await serverInfo(tb, "host1", PASSWORD);
    expect(keyspace(before).keys).toBe(500);
    const conf = await sh("sudo sha256sum /etc/redis/redis.conf");
    const refused = /failed: \[host1\] write config => the running redis-server keeps its 500 keys at dir \/srv\/redis \(\/etc\/redis\/redis\.conf:\d+\), dbfilename campaign\.rdb \(\/etc\/redis\/redis\.conf:\d+\), but the new config reads dir \/var\/lib\/redis, dbfilename dump\.rdb: restarting into it would start EMPTY\. .*; refusing; nothing changed/;
    for (const args of [["--check"], []]) {
      const r = await provision(...args);
      expect(r.code).toBe(2);
      expect(r.out).toMatch(refused);
    }
    expect(await sh("sudo sha256sum /etc/redis/redis.conf")).toBe(conf);
    expect((await serverInfo(tb, "host1", PASSWORD)).run_id).toBe(before.run_id);

    await asRoot(`set -e
      systemctl stop redis-server; rm -rf /var/lib/redis/*
      mv /srv/redis/campaign.rdb /var/lib/redis/dump.rdb; mv /srv/redis/appendonlydir /var/lib/redis/
      sed -i -E 's#^dir .*#dir /var/lib/redis#; s/^dbfilename .*/dbfilename dump.rdb/' /etc/redis/redis.conf
      systemctl start redis-server`);
    const r = await provision();
    expect(r.code).toBe(0);
    expect(await keys()).toBe(500);
  }, 180_000);

  it("a restart that still comes back EMPTY goes back to the previous config, which runs with every key", async () => {
    // The first start after this hides the data (as a new config reading another place would), the next one gives it back.
    await asRoot(`set -e
      printf '#!/bin/sh\\nif [ ! -e /run/hide-once ]; then touch /run/hide-once; mkdir -p /var/lib/redis-hidden; mv /var/lib/redis/* /var/lib/redis-hidden/;\\nelif [ -d /var/lib/redis-hidden ]; then rm -rf /var/lib/redis/*; mv /var/lib/redis-hidden/* /var/lib/redis/; rmdir /var/lib/redis-hidden; fi\\n' > /usr/local/sbin/hide-once
      chmod 755 /usr/local/sbin/hide-once; rm -f /run/hide-once
      printf '[Service]\\nExecStartPre=+/usr/local/sbin/hide-once\\n' > /etc/systemd/system/redis-server.service.d/hide.conf
      systemctl daemon-reload`);
    try {
      setHostVars(tb, { host1: { redis_loglevel: "warning" } });
      const r = await provision();
      expect(r.code).toBe(2);
      expect(r.out).toMatch(
        /failed: \[host1\] RUNNING HANDLER \[restart redis\] => restarted with the new config but the dataset was EMPTY \(had 250 keys without TTL; the new config reads \/var\/lib\/redis\); previous config restored and Redis is running with it \(250 keys without TTL\)/,
      );
      expect(await sh("sudo grep ^loglevel /etc/redis/redis.conf")).toBe("loglevel notice\n");
      expect(await keys()).toBe(500);
      expect(await sh("sudo ls /var/lib/redis-provision")).not.toMatch(/restart-pending/);
    } finally {
      await sh("sudo sh -c 'rm -f /etc/systemd/system/redis-server.service.d/hide.conf; systemctl daemon-reload'");
      setHostVars(tb, {});
    }
  }, 180_000);

  it("a host that drops off the network mid-run: bounded, says what is unknown; the next run breaks the stale lock and converges", async () => {
    setHostVars(tb, { host1: { redis_loglevel: "warning" } });
    try {
      let cut: Promise<void> | undefined;
      const r = await provisionProcess(tb, env, ["--step-timeout", "3"], (chunk) => {
        if (!cut && chunk.includes("install packages")) cut = setLink(tb.hosts[0], false);
      });
      await cut;
      await setLink(tb.hosts[0], true);
      expect(r.code).toBe(2);
      expect(r.out).toMatch(/unreachable: \[host1\] apply => the connection dropped during this step \(.*\); what the host did after the lines above is not known, and the next run sees it/);
      const next = await provision();
      expect(next.code).toBe(0);
      expect(next.out).toMatch(/broke a stale lock/);
      expect(await sh("sudo grep ^loglevel /etc/redis/redis.conf")).toBe("loglevel warning\n");
      expect(await keys()).toBe(500);
    } finally {
      await setLink(tb.hosts[0], true);
      setHostVars(tb, {});
    }
  }, 180_000);

  it("with its port and requirepass in included files: reached where it listens, taken over (the move to 6379 acknowledged by an explicit redis_port), no plaintext password left", async () => {
    await freshPlaybookHost();
    // A port move is refused unless the inventory sets redis_port (takeover-testbed.test.ts has the refusal).
    setHostVars(tb, { host1: { redis_port: 6379 } });
    try {
      await asRoot(`set -e
        mkdir -p /etc/redis/conf.d
        sed -i -E '/^requirepass /d' /etc/redis/redis.conf
        printf '# local\\nport 6380\\nmaxclients 5000\\n' > /etc/redis/conf.d/net.conf
        printf 'requirepass %s\\n' "$PW" > /etc/redis/conf.d/auth.conf
        chown -R redis:redis /etc/redis/conf.d
        echo 'include /etc/redis/conf.d/*.conf' >> /etc/redis/redis.conf
        systemctl restart redis-server
        for _ in $(seq 1 50); do REDISCLI_AUTH="$PW" redis-cli -p 6380 PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done`);
      const r = await provision();
      expect(r.out).not.toMatch(/password this run does not have/);
      expect(recap(r, "host1")).toMatchObject({ failed: 0, unreachable: 0 });
      expect(r.out).toMatch(/changed: \[host1\] retire first-boot password unit => removed the plaintext secret lines .* of \/etc\/redis\/conf\.d\/auth\.conf/);
      expect(await keys()).toBe(500);
      expect(await filesWith(tb, "host1", PASSWORD)).toEqual([]);
      expect(await sh("sudo cat /etc/redis/conf.d/net.conf")).toBe("# local\nport 6380\nmaxclients 5000\n");
      expect(`${r.out}${r.err}`).not.toContain(PASSWORD);
      expect(recap(await provision(), "host1")).toMatchObject({ changed: 0, failed: 0 });
    } finally {
      setHostVars(tb, {});
    }
  }, 240_000);
});
