/**
 * Task "gather facts": ONE ssh round trip that returns everything the run decides on — the OS, which
 * candidate Redis packages are installed (version, config file, service state), the provisioner's
 * host state (admin secret, restart-pending marker) and the running server's state (auth, PING,
 * probe key, CONFIG GET, INFO), the metrics publisher's files and timer, the first-boot password unit
 * and files to retire, and (when configured) the ARI files. A no-op run needs nothing more.
 */
import { OS_PROFILES, OsProfile, OsRelease } from "../os";
import { AriFacts, ariFacts } from "./ari";
import { BACKUP_GATHER, BackupFacts, backupFacts } from "./backup";
import { METRICS_GATHER, MetricsFacts, metricsFacts } from "./metrics";
import { RETIRE_GATHER, RetireFacts, retireFacts } from "./retire";
import { WorkerFacts, workerFacts } from "./worker";
import type { Params } from "../scripts";
import { scriptFile } from "../scripts";
import { ScriptOutput, prelude, profileVars } from "./shell";

export interface ProfileFacts {
  installed: boolean;
  versionOutput: string;
  config: string | null;
  active: string;
  enabled: string;
  mainPid: number;
  /** Bytes free on the config file's filesystem, and whether it is writable (--check foresees a failing write). */
  confDirFree: number;
  confDirReadOnly: boolean;
  runtime: RuntimeFacts;
}

export interface RuntimeFacts {
  auth?: string;
  ping?: string;
  probe?: string;
  /** ACL WHOAMI when only the application password is accepted (a server the tool did not set up). */
  acl?: string;
  config?: Record<string, string>;
  info?: Record<string, string>;
}

export interface HostFacts {
  os: OsRelease;
  hostname: string;
  /** /proc/meminfo MemTotal in KiB (the memory check), null when unreadable. */
  memTotalKiB: number | null;
  adminSecret: string | null;
  restartPending: boolean;
  /** The host lock: ours (taken by this run), held (by another run: lockOwner), free (--check). */
  lock: { state: string; owner?: string; error?: string; broken?: string };
  profiles: Record<string, ProfileFacts>;
  metrics: MetricsFacts;
  retire: RetireFacts;
  ari: AriFacts;
  worker: WorkerFacts;
  backup: BackupFacts;
}

/** The gather script: inspects every profile of the table whose package manager exists on the host. */
export function gatherScript(appPassword: string, adminUser: string, probeWrites: boolean, extra = "", lock: { mode: "acquire" | "peek"; params: Params } = { mode: "peek", params: {} }): string {
  const perProfile = Object.values(OS_PROFILES)
    .map(
      (p) => `(
${profileVars(p)}
command -v ${p.pm === "apt" ? "dpkg-query" : "rpm"} >/dev/null 2>&1 || exit 0
pkgs_installed || exit 0
P=${p.key.replace(/-/g, "_")}
fact \${P}_installed 1
fact \${P}_version "$("$SERVER" --version 2>&1 | head -n 1)"
fact_file \${P}_config "$CONF"
ACTIVE=unknown; ENABLED=; MAINPID=0
while IFS='=' read -r K V; do case "$K" in ActiveState) ACTIVE=$V;; UnitFileState) ENABLED=$V;; MainPID) MAINPID=$V;; esac; done \
  < <(systemctl show -p ActiveState -p UnitFileState -p MainPID "$SERVICE" 2>/dev/null)
fact \${P}_active "$ACTIVE"
fact \${P}_enabled "$ENABLED"
fact \${P}_mainpid "$MAINPID"
CDIR=$(dirname "$CONF")
fact \${P}_confdir_free "$(df -P -B1 "$CDIR" 2>/dev/null | awk 'NR==2{print $4}')"
[ -w "$CDIR" ] || fact \${P}_confdir_ro 1
if [ "$ACTIVE" = active ]; then
  rc_target "$CONF"; rc_auth "$ADMIN_PW"
  RT_PREFIX="\${P}_" probe ${probeWrites ? 1 : 0}
fi
)`,
    )
    .join("\n");
  return `${prelude(appPassword, adminUser, lock.params)}
${scriptFile("lock")}
if ${lock.mode === "acquire" ? "! lock_acquire" : "! lock_peek"}; then exit 0; fi
. /etc/os-release
fact os_id "\${ID:-}"; fact os_like "\${ID_LIKE:-}"; fact os_version "\${VERSION_ID:-}"
fact hostname "$(hostname)"
fact mem_total_kib "$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo 2>/dev/null)"
ADMIN_PW=$(cat "$STATE/admin.secret" 2>/dev/null || true)
[ -n "$ADMIN_PW" ] && fact admin_secret "$ADMIN_PW"
[ -e "$STATE/restart-pending" ] && fact restart_pending 1
${METRICS_GATHER}
${BACKUP_GATHER}
${RETIRE_GATHER}
${extra}
${perProfile}
exit 0
`;
}

/** `CONFIG GET a\nCONFIG GET b` raw output (name, value lines) -> map. */
export function parsePairs(text: string): Record<string, string> {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]] = lines[i + 1];
  return out;
}

/** INFO output -> map of field: value. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split("\n")) {
    const i = l.indexOf(":");
    if (i > 0 && !l.startsWith("#")) out[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return out;
}

export function runtimeFrom(facts: Record<string, string>, prefix = "rt_"): RuntimeFacts {
  const f = (k: string) => facts[prefix + k];
  return {
    auth: f("auth"),
    ping: f("ping"),
    probe: f("probe"),
    acl: f("acl"),
    config: f("config") !== undefined ? parsePairs(f("config")) : undefined,
    info: f("info") !== undefined ? parseInfo(f("info")) : undefined,
  };
}

export function parseFacts(out: ScriptOutput): HostFacts {
  const f = out.facts;
  const profiles: Record<string, ProfileFacts> = {};
  for (const p of Object.values(OS_PROFILES) as OsProfile[]) {
    const k = p.key.replace(/-/g, "_");
    if (f[`${k}_installed`] !== "1") continue;
    profiles[p.key] = {
      installed: true,
      versionOutput: f[`${k}_version`] ?? "",
      config: f[`${k}_config`] ?? null,
      active: f[`${k}_active`] ?? "unknown",
      enabled: f[`${k}_enabled`] ?? "unknown",
      mainPid: Number(f[`${k}_mainpid`] ?? 0),
      confDirFree: Number(f[`${k}_confdir_free`] ?? Number.MAX_SAFE_INTEGER),
      confDirReadOnly: f[`${k}_confdir_ro`] === "1",
      runtime: runtimeFrom(f, `${k}_rt_`),
    };
  }
  return {
    os: { id: f.os_id ?? "", idLike: f.os_like ?? "", versionId: f.os_version ?? "" },
    hostname: f.hostname ?? "",
    memTotalKiB: /^\d+$/.test(f.mem_total_kib ?? "") ? Number(f.mem_total_kib) : null,
    adminSecret: f.admin_secret ?? null,
    lock: { state: f.lock ?? (f.lock_error ? "error" : "unknown"), owner: f.lock_owner, error: f.lock_error, broken: f.lock_broken },
    restartPending: f.restart_pending === "1",
    profiles,
    metrics: metricsFacts(f),
    retire: retireFacts(f),
    ari: ariFacts(f),
    worker: workerFacts(f),
    backup: backupFacts(f),
  };
}
