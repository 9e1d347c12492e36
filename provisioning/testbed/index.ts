/**
 * Test bed: N real Debian 12 hosts (systemd as PID 1, sshd, sudo user ec2-user) booted with
 * systemd-nspawn, each in its own network namespace with a veth on the bridge cmptb0 (10.231.0.1/24),
 * hosts at 10.231.0.11 and up, and a local apt mirror served on the bridge address as their only source.
 *
 * Several test beds may exist at once (two jest workers, a demo, a bench): addresses are handed out
 * under a lock from the state files of live instances; the bridge is removed with the last instance.
 * Teardown signals only the pids this module started (checked against /proc/PID/cmdline) and deletes
 * only the namespaces, links and directories it recorded.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, chownSync } from "node:fs";
import { join } from "node:path";
import { CACHE_DIR, ensureBaseImage, ensureMirror } from "./cache";
import { withLock } from "./lock";
import { alive, must, run, sleep } from "./sh";
import type { Connection } from "../inventory";
import { disconnect } from "../ssh";

export const BRIDGE = "cmptb0";
export const BRIDGE_IP = "10.231.0.1";
const SUBNET_PREFIX = "10.231.0.";
const FIRST_HOST = 11;
const LAST_HOST = 250;
const RUN_DIR = join(CACHE_DIR, "run");
const NET_LOCK = join(CACHE_DIR, ".lock-net");

export interface TestHost {
  name: string;
  ip: string;
  netns: string;
  veth: string;
  dir: string;
  pid: number;
}

export interface Testbed {
  id: string;
  dir: string;
  /** Ansible INI hosts file (group `asterisk`) with group_vars beside it. */
  inventory: string;
  key: string;
  knownHosts: string;
  hosts: TestHost[];
  mirrorPid: number;
  mirrorUrl: string;
}

export interface UpOptions {
  count: number;
  log?: (m: string) => void;
  /** Variables written to group_vars/asterisk.yml beside the hosts file. */
  groupVars?: Record<string, unknown>;
}

const stateFile = (dir: string) => join(dir, "state.json");
const save = (tb: Testbed) => writeFileSync(stateFile(tb.dir), JSON.stringify(tb, null, 2));

function liveStates(): Testbed[] {
  if (!existsSync(RUN_DIR)) return [];
  const out: Testbed[] = [];
  for (const id of readdirSync(RUN_DIR)) {
    try {
      out.push(JSON.parse(readFileSync(stateFile(join(RUN_DIR, id)), "utf8")) as Testbed);
    } catch {
      /* half-written or removed */
    }
  }
  return out;
}

/** Lists the test beds this tool created and has not torn down. */
export const list = liveStates;

/** Checks that a pid is still the process we started (guards against pid reuse). */
function ours(pid: number, marker: string): boolean {
  if (!pid || !alive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
  } catch {
    return false;
  }
}

async function ensureBridge(): Promise<void> {
  if ((await run("ip", ["link", "show", BRIDGE])).code === 0) return;
  await must("ip", ["link", "add", BRIDGE, "type", "bridge"]);
  await must("ip", ["addr", "add", `${BRIDGE_IP}/24`, "dev", BRIDGE]);
  await must("ip", ["link", "set", BRIDGE, "up"]);
}

const SERVER_JS = `
const http=require('http'),fs=require('fs'),path=require('path');
const [root,host]=process.argv.slice(1);
const s=http.createServer((q,r)=>{
  const p=path.join(root,path.normalize(decodeURIComponent((q.url||'/').split('?')[0])));
  fs.stat(p,(e,st)=>{
    if(e||!st.isFile()){r.writeHead(404);r.end();return;}
    r.writeHead(200,{'content-length':st.size});
    if(q.method==='HEAD'){r.end();return;}
    fs.createReadStream(p).pipe(r);
  });
});
s.listen(0,host,()=>console.log(s.address().port));
`;

async function startMirrorServer(root: string, logFile: string): Promise<{ pid: number; port: number }> {
  const fd = openSync(logFile, "a");
  const child = spawn(process.execPath, ["-e", SERVER_JS, root, BRIDGE_IP], { detached: true, stdio: ["ignore", "pipe", fd] });
  closeSync(fd);
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      if (buf.includes("\n")) resolve(Number(buf.trim()));
    });
    child.on("exit", (c) => reject(new Error(`apt mirror server exited ${c}; see ${logFile}`)));
  });
  child.stdout!.destroy();
  child.removeAllListeners("exit");
  child.unref();
  return { pid: child.pid!, port };
}

/** Resolves when the host's sshd sends its banner. */
async function waitForSsh(ip: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: ip, port: 22, timeout: 1000 });
      s.once("data", (d) => {
        s.destroy();
        resolve(d.toString().startsWith("SSH-"));
      });
      s.once("error", () => resolve(false));
      s.once("timeout", () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`host ${ip} did not open ssh within ${timeoutMs / 1000} s`);
    await sleep(150);
  }
}

/**
 * Resolves when ec2-user can log in: sshd answers before boot has finished, and pam_nologin refuses
 * logins ("System is booting up") until systemd-user-sessions has run. The bound covers a boot job
 * that waits out systemd's default 90 s start timeout (seen twice in CI, on a quiet machine too);
 * a host that still refuses is reported with the end of its console, which names the job.
 */
async function waitForLogin(tb: Testbed, host: TestHost, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run("ssh", ["-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", `ec2-user@${host.ip}`, "true"]);
    if (r.code === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`host ${host.ip} does not accept logins after ${timeoutMs / 1000} s: ${r.stderr.trim()}\nits console, last lines:\n${consoleTail(tb, host)}`);
    }
    await sleep(300);
  }
}

function consoleTail(tb: Testbed, host: TestHost): string {
  try {
    return readFileSync(join(tb.dir, `${host.name}.console.log`), "utf8").split("\n").slice(-25).join("\n");
  } catch (e) {
    return `(no console log: ${(e as Error).message})`;
  }
}

function uidGid(rootfs: string, user: string): [number, number] {
  const line = readFileSync(join(rootfs, "etc/passwd"), "utf8").split("\n").find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user} in ${rootfs}`);
  const f = line.split(":");
  return [Number(f[2]), Number(f[3])];
}

async function bootHost(tb: Testbed, host: TestHost, base: string, pubKey: string): Promise<void> {
  await must("cp", ["-a", "--reflink=auto", base, host.dir]);
  const etc = join(host.dir, "etc");
  writeFileSync(join(etc, "hostname"), `${host.name}\n`);
  writeFileSync(join(etc, "hosts"), `127.0.0.1 localhost\n127.0.1.1 ${host.name}\n`);
  writeFileSync(join(etc, "apt/sources.list"), `deb [trusted=yes] ${tb.mirrorUrl} ./\n`);
  // systemd-user-sessions (it removes /run/nologin) sometimes fails to start in these containers
  // (seen in CI: boot reaches multi-user, logins stay refused with "System is booting up"): retry it.
  const sessions = join(etc, "systemd/system/systemd-user-sessions.service.d");
  mkdirSync(sessions, { recursive: true });
  writeFileSync(join(sessions, "testbed-retry.conf"), "[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nRestart=on-failure\nRestartSec=1\n");
  const home = join(host.dir, "home/ec2-user/.ssh");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(join(home, "authorized_keys"), pubKey, { mode: 0o600 });
  const [uid, gid] = uidGid(host.dir, "ec2-user");
  chownSync(home, uid, gid);
  chownSync(join(home, "authorized_keys"), uid, gid);

  await must("ip", ["netns", "add", host.netns]);
  await must("ip", ["link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns]);
  await must("ip", ["link", "set", host.veth, "master", BRIDGE, "up"]);
  await must("ip", ["-n", host.netns, "addr", "add", `${host.ip}/24`, "dev", "eth0"]);
  await must("ip", ["-n", host.netns, "link", "set", "eth0", "up"]);
  await must("ip", ["-n", host.netns, "link", "set", "lo", "up"]);

  const fd = openSync(join(tb.dir, `${host.name}.console.log`), "a");
  const child = spawn(
    "systemd-nspawn",
    ["-q", "--register=no", "--keep-unit", "-D", host.dir, "-M", host.name, "-b", `--network-namespace-path=/run/netns/${host.netns}`],
    { detached: true, stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  child.unref();
  host.pid = child.pid!;
}

function writeInventory(tb: Testbed, groupVars: Record<string, unknown>): void {
  const invDir = join(tb.dir, "inventory");
  mkdirSync(join(invDir, "group_vars"), { recursive: true });
  const lines = ["# written by provisioning/testbed: local systemd-nspawn hosts", "[asterisk]"];
  for (const h of tb.hosts) lines.push(`${h.name} ansible_host=${h.ip}`);
  lines.push(
    "",
    "[asterisk:vars]",
    "ansible_user=ec2-user",
    `ansible_ssh_private_key_file=${tb.key}`,
    `ansible_ssh_common_args='-o UserKnownHostsFile=${tb.knownHosts}'`,
    "ansible_become=true",
    "",
  );
  writeFileSync(tb.inventory, lines.join("\n"));
  const yaml = Object.entries(groupVars).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n");
  writeFileSync(join(invDir, "group_vars", "asterisk.yml"), `# test bed variables\n${yaml}\n`);
}

/** Boots `count` hosts and writes an inventory for them. Tears down whatever it started if a step fails. */
export async function up(opts: UpOptions): Promise<Testbed> {
  const log = opts.log ?? (() => undefined);
  if (process.getuid?.() !== 0) throw new Error("the test bed needs root (systemd-nspawn, ip netns)");
  const [base, mirror] = await Promise.all([ensureBaseImage(log), ensureMirror(log)]);
  const id = randomBytes(3).toString("hex");
  const dir = join(RUN_DIR, id);
  mkdirSync(dir, { recursive: true });
  const tb: Testbed = {
    id,
    dir,
    inventory: join(dir, "inventory", "hosts"),
    key: join(dir, "id_ed25519"),
    knownHosts: join(dir, "known_hosts"),
    hosts: [],
    mirrorPid: 0,
    mirrorUrl: "",
  };
  try {
    await withLock(NET_LOCK, async () => {
      const used = new Set(liveStates().flatMap((s) => s.hosts.map((h) => h.ip)));
      for (let n = FIRST_HOST; n <= LAST_HOST && tb.hosts.length < opts.count; n++) {
        const ip = SUBNET_PREFIX + n;
        if (used.has(ip)) continue;
        const i = tb.hosts.length + 1;
        tb.hosts.push({ name: `host${i}`, ip, netns: `cmptb-${id}-${i}`, veth: `tb${id}h${i}`, dir: join(dir, "hosts", `host${i}`), pid: 0 });
      }
      if (tb.hosts.length < opts.count) throw new Error("no free test bed addresses left in 10.231.0.0/24");
      await ensureBridge();
      save(tb);
    });
    await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `testbed-${id}`, "-f", tb.key]);
    const srv = await startMirrorServer(mirror, join(dir, "mirror.log"));
    tb.mirrorPid = srv.pid;
    tb.mirrorUrl = `http://${BRIDGE_IP}:${srv.port}/`;
    save(tb);
    mkdirSync(join(dir, "hosts"), { recursive: true });
    const pubKey = readFileSync(`${tb.key}.pub`, "utf8");
    await Promise.all(tb.hosts.map((h) => bootHost(tb, h, base, pubKey)));
    save(tb);
    const hostKey = readFileSync(join(base, "etc/ssh/ssh_host_ed25519_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    writeFileSync(tb.knownHosts, tb.hosts.map((h) => `${h.ip} ${hostKey}\n`).join(""));
    writeInventory(tb, opts.groupVars ?? {});
    await Promise.all(tb.hosts.map((h) => waitForSsh(h.ip, 60_000)));
    await Promise.all(tb.hosts.map((h) => waitForLogin(tb, h, 240_000)));
    log(`test bed ${id}: ${tb.hosts.map((h) => `${h.name}=${h.ip}`).join(" ")}; inventory ${tb.inventory}`);
    return tb;
  } catch (e) {
    await down(tb).catch(() => undefined);
    throw e;
  }
}

async function stopPid(pid: number, marker: string): Promise<void> {
  if (!ours(pid, marker)) return;
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && ours(pid, marker); i++) await sleep(100);
  if (ours(pid, marker)) process.kill(pid, "SIGKILL");
  for (let i = 0; i < 50 && ours(pid, marker); i++) await sleep(100);
}

/** Takes a host off the network (its veth goes down) or back on, to simulate an unreachable host. */
export async function setLink(host: TestHost, upLink: boolean): Promise<void> {
  await must("ip", ["link", "set", host.veth, upLink ? "up" : "down"]);
}

/** How the provisioner reaches a test host (as the inventory says). */
export function connectionOf(tb: Testbed, h: TestHost): Connection {
  return { host: h.ip, user: "ec2-user", keyFile: tb.key, become: true, sshArgs: ["-o", `UserKnownHostsFile=${tb.knownHosts}`], timeout: 5 };
}

/** Stops the hosts and the mirror server of one test bed and removes what it created. */
export async function down(tbOrId: Testbed | string): Promise<void> {
  const tb: Testbed =
    typeof tbOrId === "string" ? (JSON.parse(readFileSync(stateFile(join(RUN_DIR, tbOrId)), "utf8")) as Testbed) : tbOrId;
  await Promise.all(
    tb.hosts.map(async (h) => {
      await disconnect(connectionOf(tb, h)).catch(() => undefined); // our ssh master to it, if any
      await stopPid(h.pid, h.dir);
      await run("ip", ["netns", "del", h.netns]);
      await run("ip", ["link", "del", h.veth]);
    }),
  );
  await stopPid(tb.mirrorPid, "createServer");
  rmSync(join(tb.dir, "hosts"), { recursive: true, force: true });
  await withLock(NET_LOCK, async () => {
    rmSync(tb.dir, { recursive: true, force: true });
    if (liveStates().length === 0) await run("ip", ["link", "del", BRIDGE]);
  });
}
