/**
 * Remote execution through the system OpenSSH client (spawned directly, no shell in between), so
 * ~/.ssh/config, the agent, ProxyJump and known_hosts apply. One multiplexed master connection per
 * host (ControlMaster/ControlPersist); every script runs as `sudo -n bash -s` with the script (and
 * any secret in it) on stdin, never in a command line. BatchMode: never prompts.
 * StrictHostKeyChecking=accept-new. A run's round trips to one host share one such bash (Session):
 * one ssh client, one sudo, one bash per host and run, however many steps.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { connect as connectSocket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
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

/** The master's socket: named by everything that selects the connection (so that connect can find it without ssh). */
export const controlPath = (c: Connection): string =>
  join(controlDir(), createHash("sha256").update(JSON.stringify([c.host, c.port ?? null, c.user ?? null, c.keyFile ?? null, c.sshArgs])).digest("hex").slice(0, 24));

export function sshArgs(c: Connection, extra: string[] = []): string[] {
  mkdirSync(controlDir(), { recursive: true, mode: 0o700 });
  const a = [
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=accept-new",
    "-o", `ControlPath=${controlPath(c)}`,
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

/** Splits a stream into lines; values come back unencoded, so a UTF-8 character split between two chunks must stay whole. */
function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  const utf8 = new StringDecoder("utf8");
  let pending = "";
  stream.on("data", (d: Buffer) => {
    pending += utf8.write(d);
    const ls = pending.split("\n");
    pending = ls.pop()!;
    for (const l of ls) onLine(l);
  });
  stream.on("end", () => {
    pending += utf8.end();
    if (pending) onLine(pending);
  });
}

function sshProcess(args: string[]): ChildProcess {
  const p = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
  p.stdin!.on("error", () => undefined); // the remote end went away: the exit code says so
  return p;
}

function spawnSsh(args: string[], input: string | null, onLine?: (line: string) => void, timeoutMs?: number): Promise<ExecResult & { timedOut?: boolean }> {
  return new Promise((resolve) => {
    const p = sshProcess(args);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          p.kill("SIGKILL");
        }, timeoutMs)
      : undefined;
    lines(p.stdout!, (l) => {
      stdout += `${l}\n`;
      onLine?.(l);
    });
    p.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    let settled = false;
    const finish = (exitCode: number | null) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      const code = timedOut ? 124 : exitCode === null || exitCode < 0 ? 255 : exitCode;
      resolve({ code, stdout, stderr, unreachable: code === 255, timedOut });
    };
    p.on("error", (e) => {
      stderr += `${e.message}\n`;
      if (p.pid === undefined) finish(255); // ssh could not be started
    });
    p.on("close", finish);
    p.stdin!.end(input ?? "");
  });
}

/**
 * Opens (or reuses) the master connection. Run in the background by ssh itself (-f) with no pipes
 * of ours held open, so later commands return as soon as they finish.
 */
export async function connect(c: Connection): Promise<ExecResult> {
  // A live master answers on its socket: no ssh process needed to find out (a stale one refuses; ssh replaces it).
  if (await masterListening(controlPath(c))) return { code: 0, stdout: "", stderr: "", unreachable: false };
  return spawnSsh([...sshArgs(c, ["-o", "ControlMaster=auto", "-o", `ControlPersist=${persist()}`, "-f", "-N"]), c.host], null);
}

function masterListening(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const sock = connectSocket(path);
    const done = (ok: boolean) => (sock.destroy(), resolve(ok));
    sock.setTimeout(2000, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

const remoteBash = (c: Connection, limitS: number): string => {
  const bounded = `timeout -k 5 ${Math.max(1, Math.ceil(limitS))} bash -s`;
  return c.become ? `sudo -n -H ${bounded}` : bounded;
};

/**
 * Runs a bash script on the host as root (sudo -n unless become is off), streaming stdout lines.
 * `limitS` bounds it on both ends: timeout(1) on the host TERMs the script (it reports the step in
 * progress) and KILLs it 5 s later; here the ssh client is killed 10 s after that (code 124).
 */
export function runScript(c: Connection, script: string, onLine?: (line: string) => void, limitS = 600): Promise<ExecResult & { timedOut?: boolean }> {
  return spawnSsh([...sshArgs(c, ["-o", "ControlMaster=no"]), c.host, remoteBash(c, limitS)], script, onLine, (Math.ceil(limitS) + 15) * 1000);
}

/** The session shell's first line: its process group on the host. */
const SESSION_PG = "@@session-pg|";
/** Sessions with a step in flight (stopSteps signals them on SIGINT/SIGTERM). */
const live = new Set<Session>();

/**
 * For the CLI's signal handler (synchronous, bounded): TERMs the process group of every step still
 * running on a host, so that an interrupted run stops there (the step's trap reports it, as at the
 * deadline; a restart it owed is marked pending) before its lock is released.
 */
export function stopSteps(): number {
  let n = 0;
  for (const s of live) if (s.stop()) n++;
  return n;
}

/** What a Session's step ends with (the session shell prints it on both streams after the step's subshell). */
const STEP_END = "@@step-end|";
/**
 * The session shell: read by `bash -s` (one byte at a time, as bash reads a script from a pipe),
 * it then reads each step as a byte count line plus that many bytes (`read -N`: in blocks), and runs it.
 */
export const SESSION_LOOP = [
  "export LC_ALL=C",
  // The process group of timeout(1) and everything under it (what stopSteps signals), without a fork.
  "read -r _ _ _ _ __pg _ < /proc/$$/stat",
  `printf '${SESSION_PG}%s\\n' "$__pg"`,
  "while IFS= read -r __n && IFS= read -r -d '' -N \"$__n\" __s; do",
  '  ( eval "$__s" ) < /dev/null',
  `  __step=$?; printf '\\n${STEP_END}%s\\n' "$__step"; printf '\\n${STEP_END}%s\\n' "$__step" >&2`,
  "done",
  "",
].join("\n");

/** One step as the session shell reads it: its byte count, a newline, the script. */
export const sessionStep = (script: string): string => `${Buffer.byteLength(script)}\n${script}`;

/**
 * One bash on the host (ssh + sudo + timeout(1) + bash started once) that runs a run's steps one
 * after another (SESSION_LOOP): each step's script runs in a subshell of it, `( eval SCRIPT ) < /dev/null`, so that it starts from
 * a clean slate (no variable of an earlier step), its commands read /dev/null (never the steps
 * that follow) and its `exit` ends only the step; the session
 * shell then prints the step's exit code. The host's deadline bounds the whole session on the host
 * (timeout(1), as for runScript); a step's own bound is enforced here by killing the session.
 * When the session is gone (ssh dropped, killed), a later step falls back to a round trip of its own.
 */
export class Session {
  private p: ChildProcess | null = null;
  private current: { onLine?: (l: string) => void; stdout: string; stderr: string; code?: number; errDone: boolean; done: (r: ExecResult & { timedOut?: boolean }) => void; timedOut: boolean } | null = null;
  private exited = false;
  private stderrRest = "";
  private pgid = 0;

  /** `deadlineAt`: epoch ms past which the host TERMs the session (as runScript's `limitS` from now). */
  constructor(
    private readonly c: Connection,
    private readonly deadlineAt: number,
  ) {}

  private limitS(): number {
    return Math.max(1, (this.deadlineAt - Date.now()) / 1000);
  }

  private start(): ChildProcess {
    const p = sshProcess([...sshArgs(this.c, ["-o", "ControlMaster=no"]), this.c.host, remoteBash(this.c, this.limitS())]);
    lines(p.stdout!, (l) => {
      if (!this.pgid && l.startsWith(SESSION_PG)) return void (this.pgid = Number(l.slice(SESSION_PG.length)) || 0);
      const cur = this.current;
      if (!cur) return;
      if (l.startsWith(STEP_END)) {
        cur.code = Number(l.slice(STEP_END.length));
        this.settle();
      } else {
        cur.stdout += `${l}\n`;
        cur.onLine?.(l);
      }
    });
    lines(p.stderr!, (l) => {
      const cur = this.current;
      if (!cur) return (this.stderrRest += `${l}\n`), undefined;
      if (l.startsWith(STEP_END)) {
        cur.errDone = true;
        this.settle();
      } else cur.stderr += `${l}\n`;
    });
    p.on("error", (e) => (this.stderrRest += `${e.message}\n`));
    p.stdin!.write(SESSION_LOOP);
    p.on("close", (exitCode) => {
      this.exited = true;
      live.delete(this);
      const cur = this.current;
      if (!cur) return;
      cur.stderr += this.stderrRest;
      const code = cur.timedOut ? 124 : exitCode === null || exitCode < 0 ? 255 : exitCode;
      this.current = null;
      cur.done({ code, stdout: cur.stdout, stderr: cur.stderr, unreachable: code === 255, timedOut: cur.timedOut });
    });
    return p;
  }

  /** Both streams carried the step's end: the step is over, the session goes on. */
  private settle(): void {
    const cur = this.current;
    if (!cur || cur.code === undefined || !cur.errDone) return;
    this.current = null;
    live.delete(this);
    cur.done({ code: cur.code, stdout: cur.stdout, stderr: cur.stderr, unreachable: false, timedOut: false });
  }

  /** Runs one step (as runScript would, `limitS` its bound). */
  run(script: string, onLine?: (line: string) => void, limitS = this.limitS()): Promise<ExecResult & { timedOut?: boolean }> {
    if (this.exited) return runScript(this.c, script, onLine, limitS);
    if (this.current) throw new Error("a session runs one step at a time");
    const p = (this.p ??= this.start());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.current) this.current.timedOut = true;
        p.kill("SIGKILL");
      }, (Math.ceil(limitS) + 15) * 1000);
      live.add(this);
      this.current = {
        onLine,
        stdout: "",
        stderr: "",
        errDone: false,
        timedOut: false,
        done: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      p.stdin!.write(sessionStep(script));
    });
  }

  /** TERMs the running step's process group on the host (synchronous, 5 s at most); false when there is none. */
  stop(): boolean {
    if (!this.current || this.exited || this.pgid <= 1) return false;
    const kill = `kill -TERM -- -${this.pgid}`;
    spawnSync("ssh", [...sshArgs(this.c, ["-o", "ControlMaster=no"]), this.c.host, this.c.become ? `sudo -n ${kill}` : kill], { timeout: 5000, stdio: "ignore" });
    return true;
  }

  /** Ends the session: the session shell reads end of input and exits (bounded). */
  async close(): Promise<void> {
    const p = this.p;
    if (!p || this.exited) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => (p.kill("SIGKILL"), resolve()), 15_000);
      p.on("close", () => (clearTimeout(timer), resolve()));
      p.stdin!.end();
    });
  }
}

/** Closes the master connection of a host (used by the test bed before its hosts go away). */
export async function disconnect(c: Connection): Promise<void> {
  await spawnSsh([...sshArgs(c), "-O", "exit", c.host], null);
}
