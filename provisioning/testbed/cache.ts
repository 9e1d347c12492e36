/**
 * Cached artefacts of the test bed, built once per machine and reused:
 *  - a Debian 12 root filesystem (debootstrap, ~40-80 s) prepared like an EC2 host (ec2-user, sudo, and
 *    curl as on Debian's cloud images: the metrics publisher reads IMDS with it);
 *  - a local apt mirror holding redis-server, redis-tools, nodejs (the asterisk-worker's runtime), python3,
 *    python3-apt and their dependencies, each at the newest version a Debian archive offers.
 * Both are built into a temp dir and renamed when complete, under a lock.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { withLock } from "./lock";
import { must, run } from "./sh";

export const CACHE_DIR = process.env.TESTBED_CACHE ?? "/var/tmp/campaign-testbed";
const BASE_NAME = "base-bookworm-v2";
const MIRROR_NAME = "apt-mirror-v3";
const DEBIAN_MIRROR = process.env.TESTBED_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
// python3 and python3-apt only for bench:provision's Ansible runs (Ansible needs them on the host; EC2 images ship them).
// nodejs: Debian 12's Node 18, the runtime of the asterisk-worker service (provisioning/tasks/worker.ts).
const MIRROR_PACKAGES = ["redis-server", "redis-tools", "nodejs", "python3", "python3-apt"];

/**
 * `name=version` of each package at the newest version an archive offers (apt-cache madison lists
 * archive versions only): a package installed here from elsewhere (this machine's nodejs is not
 * Debian's) must not decide what the mirror holds. Names no archive knows stay bare.
 */
async function archiveVersions(names: string[]): Promise<string[]> {
  const out = await run("apt-cache", ["madison", ...names]);
  const newest = new Map<string, string>();
  for (const l of out.stdout.split("\n")) {
    const [name, version] = l.split("|").map((x) => x.trim());
    if (name && version && !newest.has(name)) newest.set(name, version);
  }
  return names.map((n) => (newest.has(n) ? `${n}=${newest.get(n)}` : n));
}

async function buildOnce(name: string, build: (tmp: string) => Promise<void>, log: (m: string) => void): Promise<string> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const final = join(CACHE_DIR, name);
  if (existsSync(join(final, ".complete"))) return final;
  return withLock(join(CACHE_DIR, `.lock-${name}`), async () => {
    if (existsSync(join(final, ".complete"))) return final;
    const tmp = `${final}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    rmSync(final, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const t0 = Date.now();
    log(`building ${name} (cached in ${CACHE_DIR}) ...`);
    await build(tmp);
    writeFileSync(join(tmp, ".complete"), new Date().toISOString());
    renameSync(tmp, final);
    log(`built ${name} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return final;
  });
}

/** Debian 12 rootfs with systemd, sshd, sudo, curl and a NOPASSWD sudo user ec2-user. */
export function ensureBaseImage(log: (m: string) => void = () => undefined): Promise<string> {
  return buildOnce(
    BASE_NAME,
    async (dir) => {
      await must("debootstrap", [
        "--variant=minbase",
        "--include=systemd,systemd-sysv,openssh-server,dbus,iproute2,sudo,ca-certificates,curl",
        "bookworm",
        dir,
        DEBIAN_MIRROR,
      ]);
      await must("chroot", [dir, "useradd", "-m", "-s", "/bin/bash", "ec2-user"]);
      writeFileSync(join(dir, "etc/sudoers.d/90-ec2-user"), "ec2-user ALL=(ALL) NOPASSWD:ALL\n", { mode: 0o440 });
      writeFileSync(join(dir, "etc/ssh/sshd_config.d/testbed.conf"), "PasswordAuthentication no\nUseDNS no\n");
      // The hosts have no route out: their only apt source is the bridge mirror (written per host).
      for (const f of readdirSync(join(dir, "var/lib/apt/lists"))) {
        if (f !== "partial" && f !== "lock") rmSync(join(dir, "var/lib/apt/lists", f), { recursive: true, force: true });
      }
      writeFileSync(join(dir, "etc/apt/sources.list"), "");
      // Periodic apt jobs would hold the dpkg lock in the middle of a test.
      await must("chroot", [dir, "systemctl", "mask", "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer"]);
    },
    log,
  );
}

/** A flat apt repository (Packages + Packages.gz) with redis-server, redis-tools and all their dependencies. */
export function ensureMirror(log: (m: string) => void = () => undefined): Promise<string> {
  return buildOnce(
    MIRROR_NAME,
    async (dir) => {
      const policy = await run("apt-cache", ["madison", "redis-server", "nodejs"]);
      if (!/redis-server \|[\s\S]*nodejs \|/.test(policy.stdout)) await must("apt-get", ["update", "-q"]);
      const deps = await must("apt-cache", [
        "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
        "--no-breaks", "--no-replaces", "--no-enhances", ...(await archiveVersions(MIRROR_PACKAGES)),
      ]);
      const names = [...new Set(deps.split("\n").filter((l) => /^\w/.test(l)).map((l) => l.trim()))].sort();
      await must("apt-get", ["download", "-q", ...(await archiveVersions(names))], { cwd: dir });
      const packages = await must("dpkg-scanpackages", ["-m", ".", "/dev/null"], { cwd: dir });
      writeFileSync(join(dir, "Packages"), packages);
      await must("gzip", ["-k", "Packages"], { cwd: dir });
    },
    log,
  );
}
