/**
 * Remote execution (zx) through the system OpenSSH client, so ~/.ssh/config, the agent, ProxyJump and
 * known_hosts apply. One multiplexed master connection per host (ControlMaster/ControlPersist);
 * every script runs as `sudo -n bash -s` with the script (and any secret in it) on stdin, never in
 * a command line. BatchMode: never prompts. StrictHostKeyChecking=accept-new.
 */
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { $ } from "zx";
import type { Connection } from "./inventory";

/** Where master sockets live (read at call time so tests can point it at their own dir). */
export const controlDir = (): string => process.env.PROVISION_SSH_CONTROL_DIR ?? join(tmpdir(), `provision-ssh-${process.getuid?.() ?? 0}`);
const persist = (): string => process.env.PROVISION_SSH_PERSIST ?? "120s";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** ssh itself failed (exit 255): the host is unreachable or refused the login. */
  unreachable: boolean;
}

export function sshArgs(c: Connection, extra: string[] = []): string[] {
  mkdirSync(controlDir(), { recursive: true, mode: 0o700 });
  const a = [
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=accept-new",
    "-o", `ControlPath=${join(controlDir(), "%C")}`,
    "-o", `ConnectTimeout=${c.timeout}`,
    "-o", "ServerAliveInterval=5",
    "-o", "ServerAliveCountMax=3",
    "-o", "LogLevel=ERROR",
  ];
  if (c.port) a.push("-p", String(c.port));
  if (c.user) a.push("-l", c.user);
  if (c.keyFile) a.push("-i", c.keyFile);
  a.push(...c.sshArgs, ...extra);
  return a;
}

async function spawnSsh(args: string[], input: string | null, onLine?: (line: string) => void, timeoutMs?: number): Promise<ExecResult & { timedOut?: boolean }> {
  const p = $({ input: input ?? "", nothrow: true, quiet: true, verbose: false })`ssh ${args}`;
  let timedOut = false;
  const timer = timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        void p.kill("SIGKILL");
      }, timeoutMs)
    : undefined;
  if (onLine) {
    let pending = "";
    // Values come back unencoded: a UTF-8 character split between two chunks must stay whole.
    const utf8 = new StringDecoder("utf8");
    p.stdout.on("data", (d: Buffer) => {
      pending += utf8.write(d);
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    p.stdout.on("end", () => {
      pending += utf8.end();
      if (pending) onLine(pending);
    });
  }
  const r = await p;
  if (timer) clearTimeout(timer);
  const code = timedOut ? 124 : (r.exitCode ?? 255);
  return { code, stdout: r.stdout, stderr: r.stderr, unreachable: code === 255, timedOut };
}

/**
 * Opens (or reuses) the master connection. Run in the background by ssh itself (-f) with no pipes
 * of ours held open, so later commands return as soon as they finish.
 */
export async function connect(c: Connection): Promise<ExecResult> {
  const check = await spawnSsh([...sshArgs(c), "-O", "check", c.host], null);
  if (check.code === 0) return check;
  return spawnSsh([...sshArgs(c, ["-o", "ControlMaster=auto", "-o", `ControlPersist=${persist()}`, "-f", "-N"]), c.host], null);
}

/**
 * Runs a bash script on the host as root (sudo -n unless become is off), streaming stdout lines.
 * `limitS` bounds it on both ends: timeout(1) on the host TERMs the script (it reports the step in
 * progress) and KILLs it 5 s later; here the ssh client is killed 10 s after that (code 124).
 */
export function runScript(c: Connection, script: string, onLine?: (line: string) => void, limitS = 600): Promise<ExecResult & { timedOut?: boolean }> {
  const secs = Math.max(1, Math.ceil(limitS));
  const bounded = `timeout -k 5 ${secs} bash -s`;
  const remote = c.become ? `sudo -n -H ${bounded}` : bounded;
  return spawnSsh([...sshArgs(c, ["-o", "ControlMaster=no"]), c.host, remote], script, onLine, (secs + 15) * 1000);
}

/** Closes the master connection of a host (used by the test bed before its hosts go away). */
export async function disconnect(c: Connection): Promise<void> {
  await spawnSsh([...sshArgs(c), "-O", "exit", c.host], null);
}
