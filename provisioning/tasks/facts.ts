/**
 * Task "gather facts": ONE ssh round trip that returns everything the run decides on — the OS, which
 * candidate Redis packages are installed (version, config file, service state), the provisioner's
 * host state (admin secret, restart-pending marker) and the running server's state (auth, PING,
 * probe key, CONFIG GET, INFO), the metrics publisher's files and timer, the first-boot password unit
 * and files to retire, and (when configured) the ARI files. A no-op run needs nothing more.
 */
import { OS_PROFILES, OsProfile, OsRelease } from "../os";
import { AriFacts, ariFacts } from "./ari";
import { BACKUP_TIMER, BackupFacts, backupFacts, backupGather } from "./backup";
import { METRICS_TIMER, MetricsFacts, metricsFacts, metricsGather } from "./metrics";
import { RetireFacts, retireFacts, retireGather } from "./retire";
import { WorkerFacts, workerFacts } from "./worker";
import { Params, paramLines, profileParams, scriptFile } from "../scripts";
import { ScriptOutput, prelude } from "./shell";

export interface ProfileFacts {
  installed: boolean;
  versionOutput: string;
  config: string | null;
  /** Every directive line of the config and the files it includes, in the order redis-server reads them (lib.sh conf_flatten). */
  effective: string | null;
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
  /** Where the server keeps its data (CONFIG GET of DATA_LOCATION), as far as it answered; `refused`: its first error line. */
  files?: { settings: Record<string, string>; refused?: string };
  info?: Record<string, string>;
}

/** The settings that name where a server reads and writes its data, relative to `dir`. */
export const DATA_LOCATION = ["dir", "dbfilename", "appendfilename", "appenddirname"] as const;

/** `CONFIG GET` answers for the DATA_LOCATION settings: pairs found by name (a setting the server lacks answers nothing), errors kept. */
export function parseDataLocation(text: string): NonNullable<RuntimeFacts["files"]> {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  const settings: Record<string, string> = {};
  let refused: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    if ((DATA_LOCATION as readonly string[]).includes(lines[i]) && i + 1 < lines.length) settings[lines[i]] = lines[++i];
    else if (lines[i].trim()) refused ??= lines[i];
  }
  return { settings, refused };
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

/**
 * The gather script: provisioning/scripts/gather.sh's functions over parameters (nothing spliced into
 * shell syntax): the lock, the host, the side tasks' state, then every profile of the table whose
 * package manager exists on the host (each in a subshell with its own P_* profile parameters).
 */
export function gatherScript(appPassword: string, adminUser: string, probeWrites: boolean, extra = "", lock: { mode: "acquire" | "peek"; params: Params } = { mode: "peek", params: {} }): string {
  const perProfile = Object.values(OS_PROFILES).map((p) => `(\n${paramLines({ ...profileParams(p), P_PROFILE_KEY: p.key.replace(/-/g, "_") })}\ngather_profile ${probeWrites ? 1 : 0}\n)`);
  const units = [...new Set([...Object.values(OS_PROFILES).map((p) => p.service), METRICS_TIMER, BACKUP_TIMER])].join("\n");
  return [
    prelude(appPassword, adminUser, { ...lock.params, P_UNITS: units }),
    scriptFile("lock"),
    scriptFile("gather"),
    lock.mode === "acquire" ? "if ! lock_acquire; then exit 0; fi" : "if ! lock_peek; then exit 0; fi",
    "units_prefetch",
    "gather_host",
    metricsGather(),
    backupGather(),
    retireGather(),
    extra,
    ...perProfile,
    "exit 0",
    "",
  ].join("\n");
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
    files: f("files") !== undefined ? parseDataLocation(f("files")) : undefined,
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
      effective: f[`${k}_effective`] ?? null,
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
