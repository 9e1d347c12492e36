/**
 * Shared by the tasks that install a systemd timer and its files (metrics publisher, redis backup):
 * the one-line account of what a run did, or what --check says it would do, and the apply, which
 * is provisioning/scripts/units.sh with the task's parameters.
 */
import { Params, paramLines, scriptFile } from "../scripts";

/** "wrote a, b, enabled, started" / "would write a, b, enable, start". */
export function unitActions(changed: string[], enable: boolean, restart: boolean, start: boolean, check: boolean): string {
  const did = (done: string, todo: string) => (check ? `would ${todo}` : done);
  const actions = [
    changed.length > 0 && did(`wrote ${changed.join(", ")}`, `write ${changed.join(", ")}`),
    enable && did("enabled", "enable"),
    restart ? did("restarted", "restart") : start && did("started", "start"),
  ].filter(Boolean) as string[];
  return actions.join(", ").replace(/, would /g, ", ");
}

export interface TimerTaskSpec {
  task: string;
  timer: string;
  /** The task's message when the apply succeeds. */
  done: string;
  /** Each failure names its step ("write PATH: ...") rather than giving the command's output alone. */
  errPrefix: boolean;
  /** Stop and disable the timer (and this service), remove these files, daemon-reload. */
  remove?: { service?: string; paths: string[] };
  /** An OnCalendar expression the host's systemd must accept before anything is written, and the message when it does not. */
  calendar?: { expression: string; error: string };
  files?: { path: string; mode: string; content: string }[];
  daemonReload?: boolean;
  enable?: boolean;
  start?: "start" | "restart";
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** The parameters of provisioning/scripts/units.sh's timer_task for one task (every P_T_* set, "" when unused). */
export function timerTaskParams(s: TimerTaskSpec): Params {
  const files = s.files ?? [];
  return {
    P_T_TASK: s.task,
    P_T_TIMER: s.timer,
    P_T_SERVICE: s.remove?.service ?? "",
    P_T_REMOVE: s.remove !== undefined,
    P_T_PATHS: (s.remove?.paths ?? []).join("\n"),
    P_T_CALENDAR: s.calendar?.expression ?? "",
    P_T_CALENDAR_ERR: s.calendar?.error ?? "",
    P_T_FILES: files.map((f) => `${f.path} ${f.mode}`).join("\n"),
    ...Object.fromEntries(files.map((f, i) => [`P_T_CONTENT_${i + 1}`, b64(f.content)])),
    P_T_RELOAD: s.daemonReload ?? false,
    P_T_ENABLE: s.enable ?? false,
    P_T_START: s.start ?? "",
    P_T_ERR_PREFIX: s.errPrefix,
    P_T_DONE: s.done,
  };
}

/** Bash for the apply round trip: the parameters as data, units.sh, one call (never exits the script). */
export const timerTaskApply = (s: TimerTaskSpec): string => `# ${s.task}\n${paramLines(timerTaskParams(s))}\n${scriptFile("units")}\ntimer_task\n`;

/** Bash for the gather script: gather.sh's gather_timer with its parameters (facts PREFIX_KEY, PREFIX_timer_state, PREFIX_TOOL). */
export function timerGather(prefix: string, timer: string, files: Record<string, string>, tools: Record<string, string[]>): string {
  const params: Params = {
    P_GT_PREFIX: prefix,
    P_GT_TIMER: timer,
    P_GT_FILES: Object.entries(files).map(([k, path]) => `${k} ${path}`).join("\n"),
    P_GT_TOOLS: Object.entries(tools).map(([fact, cmds]) => `${fact} ${cmds.join(" ")}`).join("\n"),
  };
  return `${paramLines(params)}\ngather_timer`;
}
