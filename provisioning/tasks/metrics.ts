/**
 * Task "metrics publisher": the custom metrics behind the Redis memory alarm of modules/monitoring
 * (the CloudWatch agent has no Redis collector). A script, a oneshot service and a timer
 * (templates/redis-metrics.*.hbs) push MemoryUsedPercent, ConnectedClients and OpsPerSec from the
 * server's INFO to CloudWatch every `redis_metrics_interval_seconds`.
 *
 * State of the three files and of the timer is part of the single gather round trip; a host that
 * already matches costs nothing more. The tool never installs the AWS CLI: Amazon Linux 2023 ships
 * it (and curl), the stack's user data installs it on Debian/Ubuntu. Without aws or curl the task is
 * skipped with a warning rather than installing a timer that fails every minute.
 */
import type { RoleVars } from "../defaults";
import { STATE_DIR } from "../defaults";
import { fileDiff } from "../diff";
import type { OsProfile } from "../os";
import type { TaskResult } from "../output";
import { renderTemplate } from "../render";
import { REDIS_METRICS } from "../../lambdas/contracts/metrics";
import { timerGather, timerTaskApply, unitActions } from "./units";

export const METRICS_TASK = "metrics publisher";
export const METRICS_TIMER = "redis-metrics.timer";
export const METRICS_SERVICE = "redis-metrics.service";

export const METRICS_FILES = {
  script: { path: "/usr/local/libexec/redis-metrics", mode: "0755", template: "redis-metrics.sh.hbs" },
  service: { path: `/etc/systemd/system/${METRICS_SERVICE}`, mode: "0644", template: "redis-metrics.service.hbs" },
  timer: { path: `/etc/systemd/system/${METRICS_TIMER}`, mode: "0644", template: "redis-metrics.timer.hbs" },
} as const;
export type MetricsFile = keyof typeof METRICS_FILES;
const FILE_KEYS = Object.keys(METRICS_FILES) as MetricsFile[];

export interface MetricsFacts {
  files: Record<MetricsFile, string | null>;
  /** The timer's UnitFileState (enabled, disabled, "" when absent) and ActiveState. */
  timerEnabled: string;
  timerActive: string;
  /** Paths of the tools the script needs ("" when missing). */
  aws: string;
  curl: string;
}

/** Bash for the gather script (gather.sh's gather_timer): the files, the timer's state and the tools the script needs. */
export const metricsGather = (): string =>
  timerGather("metrics", METRICS_TIMER, Object.fromEntries(FILE_KEYS.map((k) => [k, METRICS_FILES[k].path])), { aws: ["aws"], curl: ["curl"] });

export function metricsFacts(f: Record<string, string>): MetricsFacts {
  const timer = Object.fromEntries((f.metrics_timer_state ?? "").split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  return {
    files: Object.fromEntries(FILE_KEYS.map((k) => [k, f[`metrics_${k}`] ?? null])) as Record<MetricsFile, string | null>,
    timerEnabled: timer.UnitFileState ?? "",
    timerActive: timer.ActiveState ?? "",
    aws: f.metrics_aws ?? "",
    curl: f.metrics_curl ?? "",
  };
}

const WILDCARDS = ["0.0.0.0", "*", "::", "::*"];

/** Where the publisher reaches Redis: loopback when the server listens there or on every address. */
export function metricsRedisHost(bind: string): string {
  const addrs = bind.split(/\s+/).filter(Boolean).map((a) => a.replace(/^-/, ""));
  if (addrs.some((a) => a === "127.0.0.1" || WILDCARDS.includes(a))) return "127.0.0.1";
  if (addrs.includes("::1")) return "::1";
  return addrs[0];
}

/** The three files as they must be on the host (pure). */
export function renderMetricsFiles(vars: RoleVars, profile: OsProfile): Record<MetricsFile, string> {
  const secretFile = `${STATE_DIR}/admin.secret`;
  const ctx = {
    interval: vars.redis_metrics_interval_seconds,
    namespace: vars.redis_metrics_namespace,
    cli: profile.cli,
    redis_service: profile.service,
    script_path: METRICS_FILES.script.path,
    secret_file: secretFile,
    redis_host: metricsRedisHost(vars.redis_bind_address),
    redis_port: vars.redis_port,
    redis_user: vars.redis_admin_user,
    region: vars.redis_metrics_region,
    imds_url: vars.redis_metrics_imds_url,
    /** The metric and dimension names (lambdas/contracts/metrics.ts: the stack's alarm reads the same). */
    metrics: REDIS_METRICS,
  };
  return Object.fromEntries(FILE_KEYS.map((k) => [k, renderTemplate(METRICS_FILES[k].template, ctx)])) as Record<MetricsFile, string>;
}

export interface MetricsPlan {
  /** The task's result when the host needs nothing (or in check mode). */
  result?: TaskResult;
  /** Otherwise: bash that applies the change and reports the task itself (it never exits the script). */
  apply?: string;
  /** Unified diff of the files that change (no secrets: the files hold none). */
  diff?: string;
}

/** Decides what the task does on one host from the gathered facts. */
export function planMetrics(vars: RoleVars, profile: OsProfile, mf: MetricsFacts, check: boolean): MetricsPlan {
  /** "wrote" or "would write": the same sentence for a run and for --check. */
  const did = (done: string, todo: string) => (check ? `would ${todo}` : done);
  const present = FILE_KEYS.filter((k) => mf.files[k] !== null);
  const base = { task: METRICS_TASK, timer: METRICS_TIMER, errPrefix: true };
  if (!vars.redis_metrics_enabled) {
    if (present.length === 0 && mf.timerEnabled !== "enabled") return { result: { task: METRICS_TASK, status: "skipped", msg: "redis_metrics_enabled is false" } };
    const msg = `${METRICS_TIMER}: ${did("stopped, disabled and removed", "stop, disable and remove")} with ${present.length} file(s) (redis_metrics_enabled is false)`;
    if (check) return { result: { task: METRICS_TASK, status: "changed", msg } };
    return { apply: timerTaskApply({ ...base, done: msg, remove: { service: METRICS_SERVICE, paths: FILE_KEYS.map((k) => METRICS_FILES[k].path) } }) };
  }
  const missing = [!mf.aws && "the AWS CLI (aws)", !mf.curl && "curl"].filter(Boolean);
  if (missing.length) {
    return {
      result: {
        task: METRICS_TASK,
        status: "skipped",
        msg:
          `WARNING: ${missing.join(" and ")} not found on the host, so the Redis metrics are NOT published and the ` +
          `memory alarm stays INSUFFICIENT_DATA. Install them (Debian/Ubuntu: apt-get install awscli curl; Amazon Linux 2023 ships both) ` +
          `or set redis_metrics_enabled: false`,
      },
    };
  }
  const want = renderMetricsFiles(vars, profile);
  const changed = FILE_KEYS.filter((k) => mf.files[k] !== want[k]);
  const enable = mf.timerEnabled !== "enabled";
  const restart = changed.includes("timer") && mf.timerActive === "active";
  const start = mf.timerActive !== "active";
  const every = `every ${vars.redis_metrics_interval_seconds} s to ${vars.redis_metrics_namespace}`;
  if (!changed.length && !enable && !start) return { result: { task: METRICS_TASK, status: "ok", msg: `${METRICS_TIMER} active, ${every}` } };

  const diff = changed
    .map((k) => fileDiff(METRICS_FILES[k].path, mf.files[k], want[k]))
    .join("");
  const msg = `${METRICS_TIMER}: ${unitActions(changed, enable, restart, start, check)}; ${every}`;
  if (check) return { result: { task: METRICS_TASK, status: "changed", msg, diff } };

  const apply = timerTaskApply({
    ...base,
    done: msg,
    files: changed.map((k) => ({ path: METRICS_FILES[k].path, mode: METRICS_FILES[k].mode, content: want[k] })),
    daemonReload: changed.includes("service") || changed.includes("timer"),
    enable,
    start: restart ? "restart" : start ? "start" : undefined,
  });
  return { apply, diff };
}
