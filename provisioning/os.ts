/**
 * Per-OS data for provisioning: the layouts (package, service, user, paths, binaries) and which
 * /etc/os-release selects them are the shared contract lambdas/contracts/os.ts, which the stack's
 * first-boot user data renders from too; here is the pure selection from gathered facts and variables.
 * Only the Debian row is exercised against real hosts here; the others follow the distributions'
 * packaging and are unit-tested for selection only.
 */
import { AmazonLinuxRedisPackage, OS_LAYOUTS, OsLayout, OsRelease, candidateLayouts, pickLayout } from "../lambdas/contracts/os";

export type { OsRelease, PackageManager } from "../lambdas/contracts/os";
export type OsProfile = OsLayout;

/** Every layout by key (the gather inspects each one whose package manager exists on the host). */
export const OS_PROFILES: Readonly<Record<string, OsProfile>> = OS_LAYOUTS;

/** Oldest server this role's config supports (ACL selectors `&*` need 6.2). */
export const MIN_VERSION = "6.2.0";

export class UnsupportedOs extends Error {}

/** Profiles that could apply on this OS family (the gather script inspects each of them). */
export const candidateProfiles = (os: OsRelease): OsProfile[] => candidateLayouts(os);

/**
 * Picks the profile for a host. `installed` lists profile keys whose packages are already present:
 * on Amazon Linux a different flavour that is already installed is never replaced silently
 * (its data lives in another directory), that is an error asking for the variable.
 */
export function selectProfile(os: OsRelease, amazonPackage: AmazonLinuxRedisPackage, installed: string[] = []): OsProfile {
  if (os.id === "amzn" && !os.versionId.startsWith("2023")) {
    throw new UnsupportedOs(`Amazon Linux ${os.versionId} is not supported (Amazon Linux 2023 is)`);
  }
  const candidates = candidateProfiles(os);
  if (candidates.length === 0) throw new UnsupportedOs(`unsupported OS: ID=${os.id} ID_LIKE=${os.idLike} VERSION_ID=${os.versionId}`);
  if (candidates.length === 1) return candidates[0];
  const wanted = pickLayout(candidates, amazonPackage)!;
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
