/** Redis `maxmemory-policy` values (Redis 7 / Valkey), shared by the stack config and provisioning. Dependency-free. */
export const EVICTION_POLICIES = [
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "volatile-lru",
  "volatile-lfu",
  "volatile-random",
  "volatile-ttl",
  "noeviction",
] as const;

export type EvictionPolicy = (typeof EVICTION_POLICIES)[number];

/** The policy used when none is configured. */
export const DEFAULT_EVICTION_POLICY: EvictionPolicy = "allkeys-lru";
