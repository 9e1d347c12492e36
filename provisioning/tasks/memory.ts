/**
 * Task "check memory": does `redis_maxmemory` fit the host it is about to run on? Provisioning owns
 * Redis's running config, so this check lives here and uses the host's real RAM (MemTotal, part of
 * the one-round-trip gather), not a table of instance types.
 *
 * A BGSAVE or AOF rewrite forks: copy-on-write may double Redis's memory at worst, and the host keeps
 * `asterisk_host_reserved_mib` for the OS, Asterisk and the worker. So the need is
 *   2 x maxmemory + reserved  <=  MemTotal.
 * A value that does not fit fails the host before anything is installed or written (--check says the
 * same), with a message naming the host, the variable and the file that set it.
 */
import { memoryBytes } from "../../lambdas/contracts/memory";
import type { HostSpec } from "../inventory";
import type { TaskResult } from "../output";

export const MEMORY_TASK = "check memory";

const MIB = 1024 ** 2;

/** The task's result for one host (pure). `memTotalKiB` is /proc/meminfo's MemTotal, null when unknown. */
export function checkMemory(h: Pick<HostSpec, "name" | "vars" | "origin">, memTotalKiB: number | null): TaskResult {
  const v = h.vars;
  const reserved = v.asterisk_host_reserved_mib;
  if (memTotalKiB === null || !Number.isFinite(memTotalKiB) || memTotalKiB <= 0) {
    return { task: MEMORY_TASK, status: "failed", msg: `cannot read MemTotal from /proc/meminfo on ${h.name}, so redis_maxmemory ${v.redis_maxmemory} cannot be checked; nothing changed` };
  }
  const ramMib = Math.floor(memTotalKiB / 1024);
  const maxMib = Math.ceil((memoryBytes(v.redis_maxmemory) ?? 0) / MIB);
  const needMib = 2 * maxMib + reserved;
  const figures = `2 x ${maxMib} MiB for a BGSAVE fork + ${reserved} MiB reserved (asterisk_host_reserved_mib) = ${needMib} MiB of ${ramMib} MiB`;
  if (needMib <= ramMib) return { task: MEMORY_TASK, status: "ok", msg: `redis_maxmemory ${v.redis_maxmemory}: ${figures}` };
  const fits = Math.floor((ramMib - reserved) / 2);
  const where = h.origin.redis_maxmemory ?? "the role default";
  return {
    task: MEMORY_TASK,
    status: "failed",
    msg:
      `redis_maxmemory ${v.redis_maxmemory} (${where}) does not fit ${h.name} (${ramMib} MiB RAM): ${figures}; ` +
      `${fits > 0 ? `at most ${fits}mb on this host` : `the host cannot keep ${reserved} MiB reserved`}, or a larger instance type; nothing changed`,
  };
}
