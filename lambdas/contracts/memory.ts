/**
 * Redis memory sizes (`maxmemory 512mb`), read the way Redis reads them: digits and an optional
 * unit, k/m/g powers of 1000, kb/mb/gb powers of 1024, case-insensitive. Shared by the stack's
 * memory-fit check and provisioning's config and verify tasks. Dependency-free.
 */

/** A memory size as redis.conf accepts it (no space between number and unit). */
export const MEMORY_SIZE = /^\d+(b|k|kb|m|mb|g|gb)?$/i;

const FACTOR: Readonly<Record<string, number>> = { "": 1, b: 1, k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };

/** Bytes of a memory size (surrounding blanks ignored); undefined when it is not one. */
export function memoryBytes(text: string): number | undefined {
  const t = text.trim();
  if (!MEMORY_SIZE.test(t)) return undefined;
  const m = /^(\d+)([a-z]*)$/i.exec(t)!;
  return Number(m[1]) * FACTOR[m[2].toLowerCase()];
}
