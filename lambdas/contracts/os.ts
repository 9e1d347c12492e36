/**
 * Contract: where Redis lives on each OS the Asterisk host may run, and which /etc/os-release selects
 * which layout. One table, read by both writers of the host:
 *  - the stack's first-boot user data (modules/compute renders templates/asterisk-user-data.sh.hbs
 *    from OS_LAYOUTS and bootRules(): package, service, config file, password include, owner group);
 *  - provisioning (provisioning/os.ts: the gather inspects every layout, the play selects one with
 *    candidateLayouts()).
 * Dependency-free on purpose (no npm or node imports, nothing from stacks/, modules/ or provisioning/).
 * Only the Debian row is exercised on real hosts here; the others follow the distributions' packaging.
 */

export type PackageManager = "apt" | "dnf";

/** Amazon Linux 2023 has no Redis 7: its Redis-compatible packages. */
export const AMAZON_LINUX_REDIS_PACKAGES = ["valkey", "redis6"] as const;
export type AmazonLinuxRedisPackage = (typeof AMAZON_LINUX_REDIS_PACKAGES)[number];

export type OsLayoutKey = "debian" | "al2023-valkey" | "al2023-redis6" | "rhel" | "rhel8";

export interface OsLayout {
  key: OsLayoutKey;
  label: string;
  pm: PackageManager;
  packages: string[];
  service: string;
  user: string;
  group: string;
  configPath: string;
  cli: string;
  server: string;
  dataDir: string;
  logFile: string;
  /** The unit's PIDFile= where it has one (Redis must write the same path). */
  pidFile: string | null;
  /** Version assumed for rendering in --check before the package is installed. */
  assumedVersion: string;
  /**
   * Where the first-boot user data writes `requirepass` (fetched from Secrets Manager at every boot)
   * for the package's config to include, until provisioning owns redis.conf and retires it.
   */
  passwordInclude: string;
  /** The AWS CLI's package on this OS (the first boot fetches the password with it). */
  awsCliPackage: string;
}

/** Paths shared by the distributions that package Redis under its upstream names (Debian, RHEL 9+). */
const UPSTREAM_LAYOUT = {
  user: "redis",
  group: "redis",
  configPath: "/etc/redis/redis.conf",
  cli: "redis-cli",
  server: "/usr/bin/redis-server",
  dataDir: "/var/lib/redis",
  passwordInclude: "/etc/redis/password.conf",
};

const rhel: OsLayout = {
  key: "rhel",
  label: "RHEL-like 9+ (Rocky, Alma, CentOS Stream, Fedora)",
  pm: "dnf",
  packages: ["redis"],
  service: "redis",
  ...UPSTREAM_LAYOUT,
  logFile: "/var/log/redis/redis.log",
  pidFile: null,
  assumedVersion: "6.2.7",
  awsCliPackage: "awscli",
};

export const OS_LAYOUTS: Readonly<Record<OsLayoutKey, OsLayout>> = {
  debian: {
    key: "debian",
    label: "Debian/Ubuntu",
    pm: "apt",
    packages: ["redis-server", "redis-tools"],
    service: "redis-server",
    ...UPSTREAM_LAYOUT,
    logFile: "/var/log/redis/redis-server.log",
    pidFile: "/run/redis/redis-server.pid",
    assumedVersion: "7.0.15",
    awsCliPackage: "awscli",
  },
  "al2023-valkey": {
    key: "al2023-valkey",
    label: "Amazon Linux 2023 (valkey)",
    pm: "dnf",
    packages: ["valkey"],
    service: "valkey",
    user: "valkey",
    group: "valkey",
    configPath: "/etc/valkey/valkey.conf",
    cli: "valkey-cli",
    server: "/usr/bin/valkey-server",
    dataDir: "/var/lib/valkey",
    logFile: "/var/log/valkey/valkey.log",
    pidFile: null,
    assumedVersion: "7.2.4",
    passwordInclude: "/etc/valkey/password.conf",
    awsCliPackage: "awscli-2",
  },
  "al2023-redis6": {
    key: "al2023-redis6",
    label: "Amazon Linux 2023 (redis6)",
    pm: "dnf",
    packages: ["redis6"],
    service: "redis6",
    user: "redis6",
    group: "redis6",
    configPath: "/etc/redis6/redis6.conf",
    cli: "redis6-cli",
    server: "/usr/bin/redis6-server",
    dataDir: "/var/lib/redis6",
    logFile: "/var/log/redis6/redis6.log",
    pidFile: null,
    assumedVersion: "6.2.14",
    passwordInclude: "/etc/redis6/password.conf",
    awsCliPackage: "awscli-2",
  },
  rhel,
  // RHEL 8 differs from 9+ only by the config path (its password include stays in /etc/redis).
  rhel8: { ...rhel, key: "rhel8", label: "RHEL-like 8", configPath: "/etc/redis.conf" },
};

/** The fields of /etc/os-release that select a layout. */
export interface OsRelease {
  id: string;
  idLike: string;
  versionId: string;
}

/**
 * Which OS selects which layouts, first match wins: `word` must be the ID (field "id") or a word of
 * ID and ID_LIKE (field "id_like"); `version` is "*" or a VERSION_ID prefix ("8" matches 8 and 8.9).
 * Amazon Linux offers two layouts: AmazonLinuxRedisPackage picks one. A rule without layouts stops
 * the search: that OS is not supported.
 */
export interface OsRule {
  field: "id" | "id_like";
  word: string;
  version: string;
  layouts: OsLayoutKey[];
}

export const OS_RULES: readonly OsRule[] = [
  { field: "id_like", word: "debian", version: "*", layouts: ["debian"] },
  { field: "id_like", word: "ubuntu", version: "*", layouts: ["debian"] },
  { field: "id", word: "amzn", version: "2023", layouts: ["al2023-valkey", "al2023-redis6"] },
  // Amazon Linux 2 (ID_LIKE "centos rhel fedora") has no dnf and no Redis 6.2+: no layout, not the RHEL one.
  { field: "id", word: "amzn", version: "*", layouts: [] },
  ...["rhel", "fedora", "centos"].flatMap((word): OsRule[] => [
    { field: "id_like", word, version: "8", layouts: ["rhel8"] },
    { field: "id_like", word, version: "*", layouts: ["rhel"] },
  ]),
];

const words = (s: string) => s.split(/\s+/).filter(Boolean);

/** Whether a rule applies to an OS (the user data's bash applies the same test to the same table). */
export function ruleMatches(rule: OsRule, os: OsRelease): boolean {
  const pool = rule.field === "id" ? [os.id] : [...words(os.id), ...words(os.idLike)];
  if (!pool.includes(rule.word)) return false;
  return rule.version === "*" || os.versionId === rule.version || os.versionId.startsWith(`${rule.version}.`);
}

/** The layouts that may apply on this OS (several on Amazon Linux); [] when unsupported. */
export function candidateLayouts(os: OsRelease): OsLayout[] {
  const rule = OS_RULES.find((r) => ruleMatches(r, os));
  return rule ? rule.layouts.map((k) => OS_LAYOUTS[k]) : [];
}

/** The layout that `pkg` picks among several candidates (Amazon Linux); the only one elsewhere. */
export function pickLayout(candidates: OsLayout[], pkg: AmazonLinuxRedisPackage): OsLayout | undefined {
  return candidates.length > 1 ? candidates.find((l) => l.packages.includes(pkg)) : candidates[0];
}

/** OS_RULES with one layout each (or "unsupported"), the Amazon Linux package chosen: the first boot decides with these. */
export function bootRules(pkg: AmazonLinuxRedisPackage): { field: OsRule["field"]; word: string; version: string; layout: OsLayoutKey | "unsupported" }[] {
  return OS_RULES.map((r) => ({ field: r.field, word: r.word, version: r.version, layout: pickLayout(r.layouts.map((k) => OS_LAYOUTS[k]), pkg)?.key ?? "unsupported" }));
}
