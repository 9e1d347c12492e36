/**
 * Facts about AWS instance sizes that synth-time checks need. Kept as data so a check can say
 * what is allowed, and so a new size is one line.
 */

/** EC2 instance types the Asterisk host may use: memory in MiB. */
export const EC2_MEMORY_MIB: Readonly<Record<string, number>> = {
  "t3.micro": 1024,
  "t3.small": 2048,
  "t3.medium": 4096,
  "t3.large": 8192,
  "t3.xlarge": 16384,
  "t3a.micro": 1024,
  "t3a.small": 2048,
  "t3a.medium": 4096,
  "t3a.large": 8192,
  "t4g.micro": 1024,
  "t4g.small": 2048,
  "t4g.medium": 4096,
  "t4g.large": 8192,
  "m6i.large": 8192,
  "m7i.large": 8192,
  "c6i.large": 4096,
  "c7i.large": 4096,
};

export interface RdsClass {
  vcpus: number;
  memoryGiB: number;
  /**
   * PostgreSQL max_connections with RDS's default parameter group:
   * LEAST(DBInstanceClassMemory/9531392, 5000). DBInstanceClassMemory is the class memory less
   * what RDS reserves, so the figures are those observed on RDS, not memory/9531392.
   */
  maxConnections: number;
}

export const RDS_CLASSES: Readonly<Record<string, RdsClass>> = {
  "db.t3.micro": { vcpus: 2, memoryGiB: 1, maxConnections: 87 },
  "db.t3.small": { vcpus: 2, memoryGiB: 2, maxConnections: 198 },
  "db.t3.medium": { vcpus: 2, memoryGiB: 4, maxConnections: 410 },
  "db.t3.large": { vcpus: 2, memoryGiB: 8, maxConnections: 823 },
  "db.t4g.micro": { vcpus: 2, memoryGiB: 1, maxConnections: 87 },
  "db.t4g.small": { vcpus: 2, memoryGiB: 2, maxConnections: 198 },
  "db.t4g.medium": { vcpus: 2, memoryGiB: 4, maxConnections: 410 },
  "db.m6g.large": { vcpus: 2, memoryGiB: 8, maxConnections: 823 },
  "db.m7g.large": { vcpus: 2, memoryGiB: 8, maxConnections: 823 },
  "db.r6g.large": { vcpus: 2, memoryGiB: 16, maxConnections: 1660 },
};

/** Memory the Asterisk host keeps for the OS, Asterisk and the Node.js worker besides Redis. */
export const ASTERISK_HOST_RESERVED_MIB = 512;

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
