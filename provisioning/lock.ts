/**
 * The host lock, controller side (the host side is provisioning/scripts/lock.sh): who this run is,
 * how a held lock is reported, when a lock is stale, and releasing every lock still held when the
 * process is interrupted.
 */
import { randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import type { Connection } from "./inventory";
import type { Params } from "./scripts";

export const RUN_ID = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
const WHO = `${(() => {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "?");
  }
})()}@${hostname()}`;

/** Parameters of lock.sh for this run; the lease outlives the host's deadline by a margin. */
export function lockParams(deadlineS: number, breakRun?: string): Params {
  return { P_RUN_ID: RUN_ID, P_OWNER_WHO: WHO, P_OWNER_PID: process.pid, P_LEASE: Math.ceil(deadlineS) + 60, P_BREAK_LOCK: breakRun };
}

export interface LockOwner {
  run: string;
  who: string;
  pid: number;
  since: number;
  expires: number;
}

export function parseOwner(line: string | undefined): LockOwner | null {
  if (!line) return null;
  const f = Object.fromEntries(line.trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
  if (!f.run) return null;
  return { run: f.run, who: f.who ?? "?", pid: Number(f.pid ?? 0), since: Number(f.since ?? 0), expires: Number(f.expires ?? 0) };
}

const iso = (epochS: number) => new Date(epochS * 1000).toISOString().replace(/\.\d+Z$/, "Z");

/** A lock taken from this machine by a process that no longer exists is stale. */
export function ownerIsDeadHere(o: LockOwner): boolean {
  if (o.who.split("@")[1] !== hostname() || !o.pid) return false;
  try {
    process.kill(o.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export function heldMessage(o: LockOwner | null, raw: string | undefined): string {
  if (!o) return `another run holds the host lock (${raw ?? "owner unknown"}); nothing changed`;
  const age = Math.max(0, Math.round(Date.now() / 1000 - o.since));
  return (
    `another run is provisioning this host: ${o.who} (pid ${o.pid}, run ${o.run}) since ${iso(o.since)} (${age} s ago); ` +
    `its lock expires at ${iso(o.expires)} unless released; nothing changed`
  );
}

/** Locks this process holds, released on SIGINT/SIGTERM by the CLI (best effort, bounded). */
export const heldLocks = new Map<string, Connection>();
