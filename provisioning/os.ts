/**
 * Per-OS data: which package, service, user, paths and binaries Redis has on each supported OS,
 * and the pure selection from gathered facts (/etc/os-release) and variables.
 * Only the Debian row is exercised against real hosts here; the others follow the distributions'
 * packaging and are unit-tested for selection only.
 */
export type PackageManager = "apt" | "dnf";

export interface OsProfile {
  key: string;
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
}

/** Paths shared by the distributions that package Redis under its upstream names (Debian, RHEL 9+). */
const UPSTREAM_LAYOUT = {
  user: "redis",
  group: "redis",
  configPath: "/etc/redis/redis.conf",
  cli: "redis-cli",
  server: "/usr/bin/redis-server",
  dataDir: "/var/lib/redis",
};

export const OS_PROFILES: Record<string, OsProfile> = {
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
  },
  rhel: {
    key: "rhel",
    label: "RHEL-like 9+ (Rocky, Alma, CentOS Stream, Fedora)",
    pm: "dnf",
    packages: ["redis"],
    service: "redis",
    ...UPSTREAM_LAYOUT,
    logFile: "/var/log/redis/redis.log",
    pidFile: null,
    assumedVersion: "6.2.7",
  },
};
// RHEL 8 differs from 9+ only by the config path.
OS_PROFILES.rhel8 = { ...OS_PROFILES.rhel, key: "rhel8", label: "RHEL-like 8", configPath: "/etc/redis.conf" };

export interface OsRelease {
  id: string;
  idLike: string;
  versionId: string;
}

/** Oldest server this role's config supports (ACL selectors `&*` need 6.2). */
export const MIN_VERSION = "6.2.0";

export class UnsupportedOs extends Error {}

/** Profiles that could apply on this OS family (the gather script inspects each of them). */
export function candidateProfiles(os: OsRelease): OsProfile[] {
  const like = `${os.id} ${os.idLike}`.split(/\s+/);
  if (like.includes("debian") || like.includes("ubuntu")) return [OS_PROFILES.debian];
  if (os.id === "amzn") return [OS_PROFILES["al2023-valkey"], OS_PROFILES["al2023-redis6"]];
  if (like.some((x) => ["rhel", "fedora", "centos"].includes(x))) {
    return [/^8(\.|$)/.test(os.versionId) ? OS_PROFILES.rhel8 : OS_PROFILES.rhel];
  }
  return [];
}

/**
 * Picks the profile for a host. `installed` lists profile keys whose packages are already present:
 * on Amazon Linux a different flavour that is already installed is never replaced silently
 * (its data lives in another directory), that is an error asking for the variable.
 */
export function selectProfile(os: OsRelease, amazonPackage: "valkey" | "redis6", installed: string[] = []): OsProfile {
  if (os.id === "amzn" && !os.versionId.startsWith("2023")) {
    throw new UnsupportedOs(`Amazon Linux ${os.versionId} is not supported (Amazon Linux 2023 is)`);
  }
  const candidates = candidateProfiles(os);
  if (candidates.length === 0) throw new UnsupportedOs(`unsupported OS: ID=${os.id} ID_LIKE=${os.idLike} VERSION_ID=${os.versionId}`);
  if (candidates.length === 1) return candidates[0];
  const wanted = OS_PROFILES[`al2023-${amazonPackage}`];
  const other = candidates.find((p) => p.key !== wanted.key && installed.includes(p.key));
  if (other && !installed.includes(wanted.key)) {
    throw new UnsupportedOs(
      `${other.packages[0]} is already installed here; set redis_amazon_linux_package=${other.packages[0]} ` +
        `(switching to ${wanted.packages[0]} would leave its data in ${other.dataDir})`,
    );
  }
  return wanted;
}

/** Parses `redis-server --version` / `valkey-server --version` output into a Redis-compatible version. */
export function serverVersion(versionOutput: string): { flavor: "redis" | "valkey"; version: string; compat: string } {
  const m = /(Redis|Valkey) server v=(\d+\.\d+\.\d+)/i.exec(versionOutput);
  if (!m) throw new Error(`cannot read the server version from: ${versionOutput.slice(0, 120)}`);
  const flavor = m[1].toLowerCase() as "redis" | "valkey";
  // Valkey 7.2+ and 8.x accept every Redis 7.2 directive.
  return { flavor, version: m[2], compat: flavor === "valkey" ? "7.2.4" : m[2] };
}

export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split(".").map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}
