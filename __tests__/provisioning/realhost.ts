/**
 * Shared by the real-host test files: prerequisites (root, Linux, the test bed tools), running the
 * CLI in this process or as its own process, the recap, commands and files on a test host.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import Redis from "ioredis";
import { main } from "../../provisioning/cli";
import { parseInfo } from "../../provisioning/tasks/facts";
import * as testbed from "../../provisioning/testbed";
import type { Testbed } from "../../provisioning/testbed";
import { run as runLocal } from "../../provisioning/testbed/sh";

export function missingPrereqs(): string[] {
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

/**
 * describe() for a real-host suite: without root/Linux/the tools it warns loudly and skips, and with CI
 * set it fails instead (a skipped real-host suite must not pass silently in CI).
 */
export function realHostSuite(title: string, body: () => void): void {
  const missing = missingPrereqs();
  if (missing.length && !process.env.CI) {
    console.warn(`\n${"!".repeat(78)}\n!! SKIPPING ${title}: missing ${missing.join(", ")}.\n!! These tests boot Debian hosts with systemd-nspawn and need root on Linux (CI runs them).\n${"!".repeat(78)}\n`);
    describe.skip(title, body);
    return;
  }
  describe(title, () => {
    if (missing.length) {
      it("requires root, Linux and the test bed tools in CI", () => {
        throw new Error(`cannot run real-host tests: missing ${missing.join(", ")}`);
      });
      return;
    }
    body();
  });
}

/** Replaces the test bed inventory's host_vars/ with these variables per host. */
export function setHostVars(tb: Testbed, vars: Record<string, Record<string, unknown>>): void {
  const dir = join(dirname(tb.inventory), "host_vars");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [h, v] of Object.entries(vars)) writeFileSync(join(dir, `${h}.yml`), `${JSON.stringify(v)}\n`);
}

export interface Run {
  code: number;
  out: string;
  err: string;
  ms: number;
}

/** The CLI in this process (jest's). */
export async function provisionIn(tb: Testbed, env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  let out = "";
  let err = "";
  const t0 = Date.now();
  const code = await main(["-i", tb.inventory, "--forks", "3", ...args], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: { ...process.env, ...env } });
  return { code, out, err, ms: Date.now() - t0 };
}

/**
 * The CLI as its own process, as `npm run provision` runs it (node provisioning/run.cjs: one process,
 * its own run id, so it competes for host locks); `onOut` sees its stdout as it comes.
 */
export function provisionProcess(tb: Testbed, env: NodeJS.ProcessEnv, args: string[], onOut?: (chunk: string, pid: number) => void): Promise<Run> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(__dirname, "../../provisioning/run.cjs"), "-i", tb.inventory, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    onOut?.(d.toString(), child.pid!);
  });
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on("close", (code, sig) => resolve({ code: code ?? (sig ? 128 : 1), out, err, ms: Date.now() - t0 })));
}

export const recap = (r: Run, host: string) => {
  const m = new RegExp(`^${host}\\s+: ok=(\\d+) changed=(\\d+) failed=(\\d+) unreachable=(\\d+) skipped=(\\d+)$`, "m").exec(r.out);
  if (!m) throw new Error(`no recap for ${host} in:\n${r.out}\n${r.err}`);
  const [ok, changed, failed, unreachable, skipped] = m.slice(1).map(Number);
  return { ok, changed, failed, unreachable, skipped };
};

/** `status task` of each task line of a host, in order (check vs real comparisons). */
export const taskLines = (r: Run, host: string) =>
  r.out
    .split("\n")
    .map((l) => new RegExp(`^(\\w+): \\[${host}\\] (?:RUNNING HANDLER \\[)?([^\\]=]+?)\\]? =>`).exec(l) ?? new RegExp(`^(\\w+): \\[${host}\\] (.+)$`).exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]} ${m[2].trim()}`);

/** Host files that contain `secret` (/etc, /var, /tmp, /run, /root, /home, /usr/local, seen from inside the host; the secret goes on stdin). */
export async function filesWith(tb: Testbed, host: string, secret: string): Promise<string[]> {
  const h = tb.hosts.find((x) => x.name === host)!;
  const cmd = "sudo sh -c 'grep -rlF -f /dev/stdin /etc /var /tmp /run /root /home /usr/local 2>/dev/null; true'";
  const r = await runLocal("ssh", ["-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", `ec2-user@${h.ip}`, cmd], { input: `${secret}\n` });
  if (r.code !== 0) throw new Error(`${host}: grep exited ${r.code}: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

/** A command on a test host (ec2-user; sudo inside the command when needed); throws on failure. */
export async function onHost(tb: Testbed, host: string, cmd: string, input?: string): Promise<string> {
  const h = tb.hosts.find((x) => x.name === host)!;
  const r = await runLocal("ssh", ["-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", `ec2-user@${h.ip}`, cmd], { input });
  if (r.code !== 0) throw new Error(`${host}: ${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export const hostFile = (tb: Testbed, host: string, path: string) => join(tb.hosts.find((x) => x.name === host)!.dir, path);

const clients: Redis[] = [];
export function redis(tb: Testbed, host: string, password: string): Redis {
  const ip = tb.hosts.find((h) => h.name === host)!.ip;
  const c = new Redis({ host: ip, port: 6379, password, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  c.on("error", () => undefined);
  clients.push(c);
  return c;
}
export const closeClients = () => clients.splice(0).forEach((c) => c.disconnect());

export async function serverInfo(tb: Testbed, host: string, password: string): Promise<Record<string, string>> {
  const c = redis(tb, host, password);
  await c.connect();
  const text = await c.info();
  c.disconnect();
  return parseInfo(text);
}

/** keys / expires of db0. */
export const keyspace = (info: Record<string, string>) => {
  const m = /keys=(\d+),expires=(\d+)/.exec(info.db0 ?? "");
  return m ? { keys: Number(m[1]), expires: Number(m[2]) } : { keys: 0, expires: 0 };
};

/** beforeAll of a real-host suite: a test bed of `count` hosts (progress on stderr). */
export const upTestbed = (count: number, groupVars: Record<string, unknown> = { redis_metrics_enabled: false }): Promise<Testbed> =>
  testbed.up({ count, log: (m) => process.stderr.write(`testbed: ${m}\n`), groupVars });

/** afterAll of a real-host suite: client connections, the test bed, then the ssh control and other temp directories. */
export async function tearDown(tb: Testbed | undefined, ...dirs: string[]): Promise<void> {
  closeClients();
  if (tb) await testbed.down(tb);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
