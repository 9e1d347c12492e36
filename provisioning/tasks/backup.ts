/**
 * Task "redis backup": a timer that snapshots Redis to the stack's backup bucket (modules/redis-backup,
 * output redis_backup_bucket; docs/backups.md). Three files:
 *   /usr/local/libexec/redis-backup          provisioning/scripts/redis-backup.sh, as is (parameters
 *                                            come from the unit's environment)
 *   /etc/systemd/system/redis-backup.service templates/redis-backup.service.hbs
 *   /etc/systemd/system/redis-backup.timer   templates/redis-backup.timer.hbs (OnCalendar)
 * Their state, the timer's and the tools the script needs are part of the single gather round trip.
 * Without redis_backup_bucket the task is skipped (and removes what an earlier run installed);
 * without the AWS CLI or the RDB checker it is skipped with a warning.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { RoleVars } from "../defaults";
import { STATE_DIR } from "../defaults";
import { fileDiff } from "../diff";
import type { OsProfile } from "../os";
import type { TaskResult } from "../output";
import { renderTemplate } from "../render";
import { SCRIPTS_DIR } from "../scripts";
import { metricsRedisHost } from "./metrics";
import { timerGather, timerTaskApply, unitActions } from "./units";

export const BACKUP_TASK = "redis backup";
export const BACKUP_TIMER = "redis-backup.timer";
export const BACKUP_SERVICE = "redis-backup.service";
export const BACKUP_FILES = {
  script: { path: "/usr/local/libexec/redis-backup", mode: "0755" },
  service: { path: `/etc/systemd/system/${BACKUP_SERVICE}`, mode: "0644" },
  timer: { path: `/etc/systemd/system/${BACKUP_TIMER}`, mode: "0644" },
} as const;
type BackupFile = keyof typeof BACKUP_FILES;
const KEYS = Object.keys(BACKUP_FILES) as BackupFile[];

/** The profile's RDB checker: redis-cli -> redis-check-rdb, valkey-cli -> valkey-check-rdb, redis6-cli -> redis6-check-rdb. */
export const checkRdbOf = (p: OsProfile): string => p.cli.replace(/-cli$/, "-check-rdb");

export interface BackupFacts {
  files: Record<BackupFile, string | null>;
  timerEnabled: string;
  timerActive: string;
  aws: string;
  /** Every RDB checker found on the host (one per line). */
  checkers: string[];
}

/** Bash for the gather script (gather.sh's gather_timer): the files, the timer's state, aws and the RDB checkers found. */
export const backupGather = (): string =>
  timerGather("backup", BACKUP_TIMER, Object.fromEntries(KEYS.map((k) => [k, BACKUP_FILES[k].path])), {
    aws: ["aws"],
    checkers: ["redis-check-rdb", "valkey-check-rdb", "redis6-check-rdb"],
  });

/** One property of `systemctl show -p A -p B` output ("" when absent). */
const shown = (text: string | undefined, prop: string): string => new RegExp(`^${prop}=(.*)$`, "m").exec(text ?? "")?.[1] ?? "";

export function backupFacts(f: Record<string, string>): BackupFacts {
  const files = {} as Record<BackupFile, string | null>;
  for (const k of KEYS) files[k] = f[`backup_${k}`] ?? null;
  return {
    files,
    timerEnabled: shown(f.backup_timer_state, "UnitFileState"),
    timerActive: shown(f.backup_timer_state, "ActiveState"),
    aws: f.backup_aws ?? "",
    checkers: (f.backup_checkers ?? "").split("\n").filter(Boolean),
  };
}

/** The three files as they must be on the host (pure). */
export function renderBackupFiles(vars: RoleVars, profile: OsProfile): Record<BackupFile, string> {
  const ctx = {
    bucket: vars.redis_backup_bucket,
    prefix: vars.redis_backup_prefix,
    schedule: vars.redis_backup_schedule,
    region: vars.redis_backup_region,
    timeout: vars.redis_backup_timeout_seconds,
    unit_timeout: vars.redis_backup_timeout_seconds + 60,
    imds_url: vars.redis_metrics_imds_url,
    script_path: BACKUP_FILES.script.path,
    secret_file: `${STATE_DIR}/admin.secret`,
    redis_service: profile.service,
    user: profile.user,
    group: profile.group,
    cli: profile.cli,
    check_rdb: checkRdbOf(profile),
    host: metricsRedisHost(vars.redis_bind_address),
    port: vars.redis_port,
    admin_user: vars.redis_admin_user,
  };
  return {
    script: readFileSync(join(SCRIPTS_DIR, "redis-backup.sh"), "utf8"),
    service: renderTemplate("redis-backup.service.hbs", ctx),
    timer: renderTemplate("redis-backup.timer.hbs", ctx),
  };
}

export interface BackupPlan {
  result?: TaskResult;
  /** Bash that applies the change and reports the task (it never exits the script). */
  apply?: string;
  diff?: string;
}

/** `installing`: the profile's packages (which carry the RDB checker) are installed by this run. */
export function planBackup(vars: RoleVars, profile: OsProfile, bf: BackupFacts, check: boolean, installing = false): BackupPlan {
  const would = (done: string, todo: string) => (check ? `would ${todo}` : done);
  const present = KEYS.filter((k) => bf.files[k] !== null);
  const base = { task: BACKUP_TASK, timer: BACKUP_TIMER, errPrefix: false };
  if (!vars.redis_backup_bucket) {
    if (!present.length && bf.timerEnabled !== "enabled") return { result: { task: BACKUP_TASK, status: "skipped", msg: "redis_backup_bucket is not set (the stack's output redis_backup_bucket)" } };
    const msg = `${BACKUP_TIMER}: ${would("stopped, disabled and removed", "stop, disable and remove")} with ${present.length} file(s) (redis_backup_bucket is not set)`;
    if (check) return { result: { task: BACKUP_TASK, status: "changed", msg } };
    return { apply: timerTaskApply({ ...base, done: msg, remove: { paths: KEYS.map((k) => BACKUP_FILES[k].path) } }) };
  }
  const checker = checkRdbOf(profile);
  const missing = [!bf.aws && "the AWS CLI (aws)", !installing && !bf.checkers.some((c) => c.endsWith(`/${checker}`)) && `${checker} (package ${profile.packages.join(" ")})`].filter(Boolean);
  if (missing.length) {
    return {
      result: {
        task: BACKUP_TASK,
        status: "skipped",
        msg: `WARNING: ${missing.join(" and ")} not found on the host, so Redis is NOT backed up to s3://${vars.redis_backup_bucket}. Install it (Amazon Linux 2023 ships the AWS CLI) or unset redis_backup_bucket`,
      },
    };
  }
  const want = renderBackupFiles(vars, profile);
  const changed = KEYS.filter((k) => bf.files[k] !== want[k]);
  const enable = bf.timerEnabled !== "enabled";
  const restart = changed.includes("timer") && bf.timerActive === "active";
  const start = bf.timerActive !== "active";
  const where = `${vars.redis_backup_schedule} to s3://${vars.redis_backup_bucket}/${vars.redis_backup_prefix}/`;
  if (!changed.length && !enable && !start) return { result: { task: BACKUP_TASK, status: "ok", msg: `${BACKUP_TIMER} active, ${where}` } };
  const diff = changed.map((k) => fileDiff(BACKUP_FILES[k].path, bf.files[k], want[k])).join("");
  const msg = `${BACKUP_TIMER}: ${unitActions(changed, enable, restart, start, check)}; ${where}`;
  if (check) return { result: { task: BACKUP_TASK, status: "changed", msg, diff } };

  const apply = timerTaskApply({
    ...base,
    done: msg,
    // The schedule is checked by the host's own systemd before anything is written.
    calendar: {
      expression: vars.redis_backup_schedule,
      error: `redis_backup_schedule ${JSON.stringify(vars.redis_backup_schedule)} is not a systemd calendar expression (systemd-analyze calendar); nothing written`,
    },
    files: changed.map((k) => ({ path: BACKUP_FILES[k].path, mode: BACKUP_FILES[k].mode, content: want[k] })),
    daemonReload: changed.some((k) => k !== "script"),
    enable,
    start: restart ? "restart" : start ? "start" : undefined,
  });
  return { apply, diff };
}
