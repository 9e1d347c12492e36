/**
 * The Redis metrics the Asterisk host publishes (provisioning installs the publisher,
 * templates/redis-metrics.sh.hbs; the CloudWatch agent has no Redis collector): one datapoint per
 * metric per interval, dimension InstanceId = the EC2 instance id. The stack's alarm and the host's
 * IAM namespace condition read them from here. Dependency-free.
 */
export const REDIS_METRICS = {
  namespace: "Campaign/Redis",
  dimension: "InstanceId",
  /** used_memory / maxmemory × 100 from `INFO memory` (Percent). */
  memoryUsedPercent: "MemoryUsedPercent",
  /** connected_clients from `INFO clients` (Count). */
  connectedClients: "ConnectedClients",
  /** instantaneous_ops_per_sec from `INFO stats` (Count/Second). */
  opsPerSec: "OpsPerSec",
} as const;
