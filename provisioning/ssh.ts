/**
 * Remote execution through the system OpenSSH client, so ~/.ssh/config, the agent, ProxyJump and
 * known_hosts apply. One multiplexed master connection per host (ControlMaster/ControlPersist);
 * every script runs as `sudo -n bash -s` with the script (and any secret in it) on stdin, never in
 * a command line. BatchMode: never prompts. StrictHostKeyChecking=accept-new.
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection } from "./inventory";

export const CONTROL_DIR = process.env.PROVISION_SSH_CONTROL_DIR ?? join(tmpdir(), `provision-ssh-${process.getuid?.() ?? 0}`);
const PERSIST = process.env.PROVISION_SSH_PERSIST ?? "120s";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** ssh itself failed (exit 255): the host is unreachable or refused the login. */
  unreachable: boolean;
}

export function sshArgs(c: Connection, extra: string[] = []): string[] {
  mkdirSync(CONTROL_DIR, { recursive: true, mode: 0o700 });
  const a = [
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=accept-new",
    "-o", `ControlPath=${join(CONTROL_DIR, "%C")}`,
    "-o", `ConnectTimeout=${c.timeout}`,
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=3",
    "-o", "LogLevel=ERROR",
  ];
  if (c.port) a.push("-p", String(c.port));
  if (c.user) a.push("-l", c.user);
  if (c.keyFile) a.push("-i", c.keyFile);
  a.push(...c.sshArgs, ...extra);
  return a;
}

function spawnSsh(args: string[], input: string | null, onLine?: (line: string) => void): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn("ssh", args, { stdio: [input === null ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let pending = "";
    child.stdout!.on("data", (d: Buffer) => {
      const s = d.toString();
      stdout += s;
      if (!onLine) return;
      pending += s;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => resolve({ code: 255, stdout, stderr: `${stderr}${e.message}`, unreachable: true }));
    child.on("close", (code) => {
      if (onLine && pending) onLine(pending);
      resolve({ code: code ?? 255, stdout, stderr, unreachable: code === 255 });
    });
    if (input !== null) {
      child.stdin!.on("error", () => undefined);
      child.stdin!.end(input);
    }
  });
}

/**
 * Opens (or reuses) the master connection. Run in the background by ssh itself (-f) with no pipes
 * of ours held open, so later commands return as soon as they finish.
 */
export async function connect(c: Connection): Promise<ExecResult> {
  const check = await spawnSsh([...sshArgs(c), "-O", "check", c.host], null);
  if (check.code === 0) return check;
  return spawnSsh([...sshArgs(c, ["-o", "ControlMaster=auto", "-o", `ControlPersist=${PERSIST}`, "-f", "-N"]), c.host], null);
}

/** Runs a bash script on the host as root (sudo -n unless become is off), streaming stdout lines. */
export function runScript(c: Connection, script: string, onLine?: (line: string) => void): Promise<ExecResult> {
  const remote = c.become ? "sudo -n -H bash -s" : "bash -s";
  return spawnSsh([...sshArgs(c, ["-o", "ControlMaster=no"]), c.host, remote], script, onLine);
}

/** Closes the master connection of a host (used by the test bed before its hosts go away). */
export async function disconnect(c: Connection): Promise<void> {
  await spawnSsh([...sshArgs(c), "-O", "exit", c.host], null);
}

/** Quotes a string for bash (single quotes). */
export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
