/**
 * The play: per host, in parallel (at most --forks at once), one function per phase (provisionHost):
 *   gather   1 round trip: take the host lock, facts (+ the running server's state) -> a no-op ends here
 *   prepare  the profile, the memory check, and 1 round trip to install packages (only when absent:
 *            the config is rendered for the installed server's version)
 *   plan     pure: what changes, why, and every failure that can be foreseen (HostPlan);
 *            reportCheck prints it for --check
 *   apply    1 round trip for everything else (provisioning/scripts/ functions over parameters):
 *            stage + check the config, adopt a server the tool did not set up, prepare persistence,
 *            move the config into place, enable, side tasks (each only notifies its handler), then
 *            the notified handlers once, in their fixed order (flush_handlers, as Ansible flushes them
 *            at the end of a play), verify; release the lock
 * Every round trip is bounded by the host's deadline (--deadline); a host's failure never stops the others.
 */
import { createHash, randomBytes } from "node:crypto";
import { STATE_DIR } from "./defaults";
import type { HostSpec } from "./inventory";
import { fileDiff } from "./diff";
import { RUN_ID, heldLocks, heldMessage, lockParams, ownerIsDeadHere, parseOwner } from "./lock";
import { MIN_VERSION, OsProfile, selectProfile, serverVersion, versionAtLeast } from "./os";
import type { Output, Status, TaskResult } from "./output";
import { buildContext, maskSecrets, missingOwnedDirectives, renderRedisConf } from "./render";
import { Params, hostScript, profileParams } from "./scripts";
import { HostSecrets, registerSecret } from "./secrets";
import { ExecResult, Session, connect } from "./ssh";
import { ARI_HANDLER, ARI_TASK, ariGather, planAri } from "./tasks/ari";
import { BACKUP_TASK, planBackup } from "./tasks/backup";
import { AOF_REWRITE_TIMEOUT_S, dataLocationProblem, dataSafetyProblems } from "./tasks/config";
import { HostFacts, ProfileFacts, parseFacts, runtimeFrom, gatherScript } from "./tasks/facts";
import { installScript } from "./tasks/install";
import { checkMemory } from "./tasks/memory";
import { METRICS_TASK, planMetrics } from "./tasks/metrics";
import { RETIRE_TASK, planRetire } from "./tasks/retire";
import { ScriptOutput, parseLine } from "./tasks/shell";
import { compareTakeover, parseEffective, takeoverResult } from "./tasks/takeover";
import { evaluateVerify, runtimeDrift } from "./tasks/verify";
import { WORKER_HANDLER, WORKER_TASK, WORKER_VERIFY, planWorker, workerBundle, workerGather } from "./tasks/worker";

export interface PlayOptions {
  check: boolean;
  diff: boolean;
  forks: number;
  /** Wall-clock budget of one host, seconds (default 600). */
  deadlineS?: number;
  /** Bound of one remote command (redis-cli, a wait), seconds (default 30). */
  stepTimeoutS?: number;
  /** Seconds a stopping server gets after SIGTERM before SIGKILL (default 20), and a start (default 30). */
  stopTimeoutS?: number;
  startTimeoutS?: number;
}

type Emit = (t: TaskResult) => void;

export const ADOPT_TASK = "adopt running server";
/** Every handler, in the order flush_handlers runs them (provisioning/scripts/handlers.sh). */
const HANDLERS = ["restart redis", ARI_HANDLER, WORKER_HANDLER];
/** Tasks that run after the handlers (they need the restarted services): retire's files, the worker's verify. */
const AFTER_HANDLERS = [RETIRE_TASK, WORKER_VERIFY];

/** PROVISION_TRACE=1: one stderr line per round trip (host, step, ms since the play began, duration) to see where time goes. */
const T0 = Date.now();
const trace = (host: string, what: string, startMs: number) => {
  if (process.env.PROVISION_TRACE) process.stderr.write(`trace ${host} ${what} at=${startMs - T0}ms took=${Date.now() - startMs}ms\n`);
};

const lastLines = (s: string, n = 2) => s.trim().split("\n").map((l) => l.trim()).filter(Boolean).slice(-n).join(" | ") || "no output";

/** Runs `fn` over items with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** One host's run: its deadline, its lock, and bounded round trips that stream task lines. */
class HostRun {
  readonly deadlineAt: number;
  lockHeld = false;
  /** Every round trip of this host's run goes through one ssh + sudo + bash (ssh.ts Session). */
  readonly session: Session;
  constructor(
    readonly h: HostSpec,
    readonly opts: PlayOptions,
    readonly emit: Emit,
  ) {
    this.deadlineAt = Date.now() + (opts.deadlineS ?? 600) * 1000;
    this.session = new Session(h.connection, this.deadlineAt);
  }

  remainingS(): number {
    return Math.max(1, (this.deadlineAt - Date.now()) / 1000);
  }

  /** Parameters every script of this host gets. */
  params(extra: Params = {}): Params {
    return { P_STATE_DIR: STATE_DIR, P_STEP_TIMEOUT: this.opts.stepTimeoutS ?? 30, P_DEADLINE: this.opts.deadlineS ?? 600, ...lockParams(this.opts.deadlineS ?? 600), ...extra };
  }

  /** A round trip; null (after reporting) when the host dropped or the deadline cut it. */
  async remote(script: string, task: string, onTask?: (t: TaskResult) => TaskResult, limitS = this.remainingS()): Promise<{ r: ExecResult; out: ScriptOutput } | null> {
    const out: ScriptOutput = { facts: {}, tasks: [] };
    const started = Date.now();
    const r = await this.session.run(script, (l) => {
      const t = parseLine(l, out);
      if (t) {
        const res: TaskResult = { task: t.name, status: t.status as Status, msg: t.msg, handler: HANDLERS.includes(t.name) || undefined };
        this.emit(onTask ? onTask(res) : res);
      }
    }, limitS);
    trace(this.h.name, task, started);
    if (out.facts.lock_released === "1") this.lockHeld = false;
    if (r.timedOut || r.code === 124) {
      if (!out.tasks.some((t) => t.status === "failed")) this.emit({ task, status: "failed", msg: `the host deadline (${this.opts.deadlineS ?? 600} s) was reached; stopped here` });
      return null;
    }
    if (r.unreachable) {
      const why = lastLines(r.stderr, 1);
      // Once the host has the step, what it did after the lines it reported is not known here.
      const lost = `the connection dropped during this step (${why === "no output" ? "ssh exited without a message" : why}); what the host did after the lines above is not known, and the next run sees it (a pending restart included)`;
      this.emit({ task, status: "unreachable", msg: task === "gather facts" ? why : lost });
      return null;
    }
    return { r, out };
  }

  async releaseLock(): Promise<void> {
    if (!this.lockHeld) return;
    const started = Date.now();
    await this.session.run(hostScript(this.params(), ["lock"], "lock_release"), undefined, 15).catch(() => undefined);
    trace(this.h.name, "release lock", started);
    this.lockHeld = false;
  }
}

export async function provisionHost(h: HostSpec, secrets: HostSecrets, opts: PlayOptions, emit: Emit): Promise<void> {
  const run = new HostRun(h, opts, emit);
  const started = Date.now();
  const con = await connect(h.connection);
  trace(h.name, "connect", started);
  if (con.code !== 0) return emit({ task: "gather facts", status: "unreachable", msg: lastLines(con.stderr, 1) });
  try {
    const facts = await gather(run, secrets);
    if (!facts) return;
    const prep = await prepare(run, facts);
    if (!prep) return;
    const p = await plan(run, secrets, facts, prep);
    if (!p) return;
    if (opts.check) reportCheck(run, p);
    else await apply(run, p);
  } finally {
    await run.releaseLock();
    heldLocks.delete(`${RUN_ID}:${h.name}`);
    await run.session.close();
  }
}

// ---------------------------------------------------------------- gather

async function gather(run: HostRun, secrets: HostSecrets): Promise<HostFacts | null> {
  const { h, opts, emit } = run;
  const v = h.vars;
  let breakRun: string | undefined;
  let brokeNote = "";
  for (let attempt = 0; attempt < 2; attempt++) {
    const lock = { mode: opts.check ? ("peek" as const) : ("acquire" as const), params: { ...run.params(), ...lockParams(opts.deadlineS ?? 600, breakRun) } };
    const g = await run.remote(gatherScript(secrets.redis, v.redis_admin_user, !opts.check, ariGather(secrets.ari) + workerGather(v), lock), "gather facts");
    if (!g) return null;
    if (g.r.code !== 0) {
      emit({ task: "gather facts", status: "failed", msg: lastLines(g.r.stderr) });
      return null;
    }
    const facts = parseFacts(g.out);
    if (facts.lock.state === "ours") {
      run.lockHeld = true;
      heldLocks.set(`${RUN_ID}:${h.name}`, h.connection);
    }
    if (facts.lock.broken) brokeNote = `; broke a stale lock (${facts.lock.broken})`;
    if (facts.lock.state === "held") {
      const owner = parseOwner(facts.lock.owner);
      if (owner && !breakRun && ownerIsDeadHere(owner)) {
        breakRun = owner.run; // its process is gone from this machine: stale
        continue;
      }
      emit({ task: "lock", status: "failed", msg: heldMessage(owner, facts.lock.owner) });
      return null;
    }
    if (facts.lock.state === "error" || facts.lock.state === "unknown") {
      emit({ task: "lock", status: "failed", msg: `${facts.lock.error ?? lastLines(g.r.stderr)}; nothing changed` });
      return null;
    }
    (facts as HostFacts & { note?: string }).note = brokeNote;
    return facts;
  }
  return null;
}

// ---------------------------------------------------------------- plan + apply

/** Why a running server cannot be taken over, or null when it can (foreseeable in --check). */
function takeoverProblem(h: HostSpec, pf: ProfileFacts | undefined): string | null {
  const rt = pf?.runtime;
  if (pf?.active !== "active" || !rt) return null;
  const from = h.origin.redis_password ?? h.origin.redis_password_secret_arn ?? "REDIS_PASSWORD";
  if (rt.auth === "fail") {
    return (
      `the running server accepts neither the provisioner's user nor the application password (${from}): it is protected by a ` +
      `password this run does not have (set redis_password / the secret to the host's current requirepass to take it over); nothing changed`
    );
  }
  if (rt.auth === "app" && (!rt.acl || /NOPERM|ERR|denied/i.test(rt.acl))) {
    return `the running server accepts the application password, but that user may not manage ACL users (ACL USERS: ${rt.acl || "no answer"}); cannot create the provisioner's user, nothing changed`;
  }
  return null;
}

/** What persistence.sh's prepare_persistence will report (--check prints the same line). */
function predictPersistence(v: HostSpec["vars"], restart: boolean, active: boolean, rt: ProfileFacts["runtime"] | undefined): TaskResult {
  const t = (status: Status, msg: string): TaskResult => ({ task: "prepare persistence", status, msg });
  if (!restart) return t("skipped", "no restart needed");
  if (!active) return t("ok", "server not running; its files are what the new config loads");
  if (v.redis_appendonly) {
    return rt?.info?.aof_enabled === "1" ? t("ok", "AOF already on") : t("changed", "would enable AOF on the running server and wait for the rewrite");
  }
  const save = rt?.config?.save;
  if (save === "") return t("changed", "would set save points on the running server so that its shutdown writes dump.rdb");
  return t("ok", `shutdown will write dump.rdb${save ? ` (save ${save})` : ""}`);
}

/** What the plan starts from: the profile, the installed server's version and the admin password. */
interface Prepared {
  profile: OsProfile;
  /** The profile's gathered facts; undefined when not installed (or installed by this run). */
  pf: ProfileFacts | undefined;
  versionOutput: string;
  adminPassword: string;
}

/**
 * Before the plan: the profile, the memory check, and the packages (the only step that may need a
 * round trip of its own, since the config is rendered for the installed server's version).
 */
async function prepare(run: HostRun, facts: HostFacts): Promise<Prepared | null> {
  const { h, opts } = run;
  const emit = (t: TaskResult): null => (run.emit(t), null);
  const v = h.vars;
  let profile: OsProfile;
  try {
    profile = selectProfile(facts.os, v.redis_amazon_linux_package, Object.keys(facts.profiles));
  } catch (e) {
    return emit({ task: "gather facts", status: "failed", msg: (e as Error).message });
  }
  let pf: ProfileFacts | undefined = facts.profiles[profile.key];
  const ram = facts.memTotalKiB === null ? "" : `, ${(facts.memTotalKiB / 1024 ** 2).toFixed(1)} GiB RAM`;
  emit({
    task: "gather facts",
    status: "ok",
    msg: `${facts.os.id} ${facts.os.versionId}${ram}, ${profile.label}, ${pf ? `${pf.versionOutput.split(" sha=")[0]}, ${pf.active}` : "not installed"}${(facts as HostFacts & { note?: string }).note ?? ""}`,
  });
  // Before anything is installed or written (and the same in --check).
  const memory = checkMemory(h, facts.memTotalKiB);
  emit(memory);
  if (memory.status === "failed") return null;
  if (facts.adminSecret) registerSecret(facts.adminSecret);
  const adminPassword = facts.adminSecret ?? randomBytes(24).toString("hex");
  registerSecret(adminPassword);

  // install (the only phase that may need its own round trip)
  let versionOutput: string;
  if (pf) {
    versionOutput = pf.versionOutput;
    emit({ task: "install packages", status: "ok", msg: `${profile.packages.join(" ")} installed` });
  } else if (opts.check) {
    versionOutput = `${profile.key.includes("valkey") ? "Valkey" : "Redis"} server v=${profile.assumedVersion}`;
    emit({ task: "install packages", status: "changed", msg: `would install ${profile.packages.join(" ")}` });
  } else {
    const ins = await run.remote(installScript(profile, run.params()), "install packages");
    if (!ins) return null;
    if (ins.r.code !== 0 || !ins.out.facts.version) {
      return emit({ task: "install packages", status: "failed", msg: ins.out.facts.error || lastLines(ins.r.stderr) });
    }
    versionOutput = ins.out.facts.version;
    emit({ task: "install packages", status: "changed", msg: `${profile.packages.join(" ")} (${versionOutput.split(" sha=")[0]})` });
    pf = undefined;
  }
  return { profile, pf, versionOutput, adminPassword };
}

/** A side task's share of the plan: what it reports without touching the host, or the bash it runs. */
interface SidePlan {
  task: string;
  results: TaskResult[];
  /** Bash of the task (it only notifies handlers). */
  apply?: string;
  /** Bash after flush_handlers. */
  post?: string;
  diff?: string;
  after?: (facts: Record<string, string>) => TaskResult[];
}

/** Every decision of the run for one host (what --check prints, and what the apply does). */
interface HostPlan extends Prepared {
  appPassword: string;
  desired: string;
  configChanged: boolean;
  active: boolean;
  rt: ProfileFacts["runtime"] | undefined;
  restartReasons: string[];
  restart: boolean;
  diff: string | undefined;
  adopt: boolean;
  enabled: boolean;
  retire: ReturnType<typeof planRetire>;
  metrics: ReturnType<typeof planMetrics>;
  ari: ReturnType<typeof planAri>;
  worker: ReturnType<typeof planWorker>;
  backup: ReturnType<typeof planBackup>;
  sides: SidePlan[];
}

/** The plan (no host contact): renders the config and decides every task; null after reporting a foreseeable failure. */
async function plan(run: HostRun, secrets: HostSecrets, facts: HostFacts, prep: Prepared): Promise<HostPlan | null> {
  const { h, opts } = run;
  const emit = (t: TaskResult): null => (run.emit(t), null);
  const v = h.vars;
  const appPassword = secrets.redis;
  const { profile, pf, versionOutput, adminPassword } = prep;
  let desired: string;
  try {
    const server = serverVersion(versionOutput);
    if (!versionAtLeast(server.compat, MIN_VERSION)) throw new Error(`${server.flavor} ${server.version} is older than ${MIN_VERSION}`);
    desired = renderRedisConf(buildContext(v, profile, server, { app: appPassword, admin: adminPassword }));
    const missing = missingOwnedDirectives(desired, v, profile);
    if (missing.length) throw new Error(`the rendered config lacks directives the role owns (${missing.join(", ")}): template edited? refusing; nothing changed`);
  } catch (e) {
    return emit({ task: "write config", status: "failed", msg: (e as Error).message });
  }

  // plan
  const current = pf?.config ?? null;
  const configChanged = desired !== current;
  const active = pf?.active === "active";
  const rt = pf?.runtime;
  const drift = !configChanged && active && rt ? runtimeDrift(v, rt) : [];
  const restartReasons = [
    configChanged && "config changed",
    facts.restartPending && "restart pending from an interrupted run",
    drift.length > 0 && `running server differs: ${drift.join(", ")}`,
    pf && !active && "service not running",
  ].filter(Boolean) as string[];
  const restart = restartReasons.length > 0 || !pf;
  const diff = configChanged ? fileDiff(profile.configPath, current === null ? null : maskSecrets(current), maskSecrets(desired)) : undefined;
  const problem = takeoverProblem(h, pf);
  if (problem) return emit({ task: ADOPT_TASK, status: "failed", msg: problem });
  const adopt = active && rt?.auth === "app";
  const moved = restart && active ? dataLocationProblem(desired, current, profile.configPath, profile.service, rt) : null;
  const safety = [...(moved ? [moved] : []), ...(configChanged ? dataSafetyProblems(v, rt) : [])];
  if (safety.length) return emit({ task: "write config", status: "failed", msg: `${safety.join("; ")}; nothing changed` });
  // What the replaced config (and the files it includes) ran with that the new one changes (in --check too).
  if (configChanged && current !== null && pf?.effective != null) {
    const c = compareTakeover(parseEffective(pf.effective), desired, profile.configPath, v, new Set(Object.keys(h.origin)), appPassword);
    const t = takeoverResult(c, profile.configPath);
    if (t) run.emit(t);
    if (t?.status === "failed") return null;
  }
  const enabled = pf?.enabled === "enabled";
  const metrics = planMetrics(v, profile, facts.metrics, opts.check);
  const retire = planRetire(profile, facts.retire, opts.check);
  const ari = planAri(v, secrets.ari, facts.ari, opts.check);
  const worker = planWorker(v, secrets, facts.worker, profile, v.asterisk_worker_enabled ? await workerBundle() : { text: "", sha: "" }, opts.check);
  const backup = planBackup(v, profile, facts.backup, opts.check, !facts.profiles[profile.key]);
  // Tasks beside Redis itself: what each reports without touching the host, or the bash it runs.
  // (A new task is one more entry here: its plan's results, its apply bash and its diff.)
  const sides: SidePlan[] = [
    { task: METRICS_TASK, results: metrics.result ? [metrics.result] : [], apply: metrics.apply, diff: metrics.diff },
    { task: RETIRE_TASK, results: retire.result ? [retire.result] : [], apply: retire.pre, post: retire.post },
    { task: ARI_TASK, results: ari.results, apply: ari.apply, diff: ari.diff },
    { task: WORKER_TASK, ...worker },
    { task: BACKUP_TASK, results: backup.result ? [backup.result] : [], apply: backup.apply, diff: backup.diff },
  ];
  return { ...prep, appPassword, desired, configChanged, active, rt, restartReasons, restart, diff, adopt, enabled, retire, metrics, ari, worker, backup, sides };
}

/** --check: the plan as the run would report it, plus what the host's disk will refuse. */
function reportCheck(run: HostRun, p: HostPlan): void {
  const { h, emit } = run;
  const v = h.vars;
  const { profile, pf, desired, configChanged, adopt, restart, restartReasons, active, rt, enabled, diff } = p;
  {
    // The same decisions the real run takes, plus what the host's disk will refuse.
    const bytes = Buffer.byteLength(desired);
    if (configChanged && pf && (pf.confDirReadOnly || pf.confDirFree < bytes + 4096)) {
      return emit({
        task: "write config",
        status: "failed",
        msg: `would fail: ${pf.confDirReadOnly ? `${profile.configPath}'s directory is not writable (read-only filesystem?)` : `${pf.confDirFree} bytes free beside ${profile.configPath}, the new config needs ${bytes}`}; nothing would change`,
      });
    }
    if (adopt) emit({ task: ADOPT_TASK, status: "changed", msg: `would create the ACL user ${v.redis_admin_user} on the running server (it accepts only the application password)` });
    emit(predictPersistence(v, restart, active, rt));
    emit({ task: "write config", status: configChanged ? "changed" : "ok", msg: configChanged ? `would write ${profile.configPath}` : profile.configPath, diff });
    emit({ task: "enable service", status: enabled ? "ok" : "changed", msg: enabled ? profile.service : `would enable ${profile.service}` });
    const order = new SideOrder(run, p);
    order.tasksDone();
    order.end(restart ? [{ task: "restart redis", status: "changed", handler: true, msg: `would restart: ${restartReasons.join("; ") || "first start"}` }] : []);
    if (!restart && rt) {
      const ver = evaluateVerify(v, rt, false);
      emit({ task: "verify", status: ver.ok ? "ok" : "failed", msg: ver.msg });
    } else emit({ task: "verify", status: "skipped", msg: "check mode" });
  }
}

/**
 * The side tasks' lines in Ansible's order, whether they come from the plan or stream from the host:
 * the tasks, then the handlers (in HANDLERS order), then what runs after them (AFTER_HANDLERS).
 * Streamed lines pass through `line`; the plan's own results are emitted where they belong.
 */
class SideOrder {
  private tasksEmitted = false;
  constructor(
    private readonly run: HostRun,
    private readonly p: HostPlan,
  ) {}

  private planned(group: "task" | "handler" | "after"): TaskResult[] {
    return this.p.sides.flatMap((x) => x.results).filter((t) => groupOf(t) === group);
  }

  /** The plan's task lines, once: before the first handler or after-handler line, else at the end. */
  tasksDone(): void {
    if (this.tasksEmitted) return;
    this.tasksEmitted = true;
    this.planned("task").forEach(this.run.emit);
  }

  /** A line streamed from the host. */
  readonly line = (t: TaskResult): TaskResult => {
    if (groupOf(t) !== "task") this.tasksDone();
    return t;
  };

  /** After the round trip (or in --check): the plan's handler lines (with `handlers`, sorted), then its after-handler lines. */
  end(handlers: TaskResult[] = []): void {
    this.tasksDone();
    [...handlers, ...this.planned("handler")].sort((a, b) => HANDLERS.indexOf(a.task) - HANDLERS.indexOf(b.task)).forEach(this.run.emit);
    this.planned("after").forEach(this.run.emit);
  }
}

const groupOf = (t: TaskResult): "task" | "handler" | "after" =>
  t.handler || HANDLERS.includes(t.task) ? "handler" : AFTER_HANDLERS.includes(t.task) ? "after" : "task";

/** A side task's line with its diff attached (the diff is computed by the plan, the line comes from the host). */
const withSideDiffs = (p: HostPlan) => (t: TaskResult): TaskResult => {
  const d = t.status === "changed" ? p.sides.find((x) => x.task === t.task)?.diff : undefined;
  return d ? { ...t, diff: d } : t;
};

/** The apply: nothing more on a converged host, the side tasks alone when only they change, else one round trip for everything. */
async function apply(run: HostRun, p: HostPlan): Promise<void> {
  const { h, opts, emit } = run;
  const v = h.vars;
  const { profile, appPassword, adminPassword, desired, configChanged, restart, restartReasons, enabled, rt, diff, sides, retire, metrics, ari, worker, backup } = p;
  const base = { ...run.params(), P_APP_PW: appPassword, P_ADMIN_USER: v.redis_admin_user, ...profileParams(profile) };
  if (!restart && enabled && rt) {
    // No-op: the gathered state already proves the host converged.
    emit({ task: "prepare persistence", status: "skipped", msg: "no restart needed" });
    emit({ task: "write config", status: "ok", msg: profile.configPath });
    emit({ task: "enable service", status: "ok", msg: `${profile.service} enabled` });
    const order = new SideOrder(run, p);
    const applied = sides.filter((x) => x.apply || x.post);
    if (applied.length) {
      const driver = ["lock_check", ...applied.map((x) => x.apply), "flush_handlers", ...applied.map((x) => x.post), "lock_release_last"].filter(Boolean).join("\n");
      const m = await run.remote(hostScript(base, ["lock", "handlers"], driver), applied[0].task, (t) => order.line(withSideDiffs(p)(t)));
      if (!m) return;
      order.tasksDone();
      for (const x of applied) if (!m.out.tasks.some((t) => t.name === x.task)) emit({ task: x.task, status: "failed", msg: lastLines(m.r.stderr) });
      order.end();
      for (const x of applied) x.after?.(m.out.facts).forEach(emit);
    } else order.end();
    const ver = evaluateVerify(v, rt, true);
    return emit({ task: "verify", status: ver.ok ? "ok" : "failed", msg: ver.msg });
  }

  // apply: everything else in one round trip; each line below is a function of provisioning/scripts/.
  const params: Params = {
    ...base,
    P_NEW_ADMIN: adminPassword,
    P_CONFIG_B64: configChanged ? Buffer.from(desired).toString("base64") : undefined,
    P_CONFIG_SHA: configChanged ? createHash("sha256").update(desired).digest("hex") : undefined,
    P_WANT_AOF: v.redis_appendonly,
    P_AOF_TIMEOUT: AOF_REWRITE_TIMEOUT_S,
    P_STOP_TIMEOUT: opts.stopTimeoutS ?? 20,
    P_START_TIMEOUT: opts.startTimeoutS ?? 30,
  };
  const driver = [
    "lock_check",
    configChanged ? "stage_config" : "",
    "admin_secret",
    'adopt_server "$NEW_ADMIN"',
    restart ? "prepare_persistence" : "persistence_not_needed",
    configChanged ? "install_staged" : "config_unchanged",
    restartReasons.length ? "mark_restart" : "",
    "enable_service",
    // The tasks: each notifies its handler; the retired unit goes first so that it cannot block the restart.
    retire.pre ?? "",
    metrics.apply ?? "",
    ari.apply ?? "",
    worker.apply ?? "",
    backup.apply ?? "",
    "flush_handlers",
    // After the handlers: Redis as the provisioner's user, retire's files (Redis runs without them), the worker's verify.
    "auth_as_admin",
    "probe 1",
    retire.post ?? "",
    worker.post ?? "",
    "lock_release_last",
  ].filter(Boolean).join("\n");
  const order = new SideOrder(run, p);
  const ap = await run.remote(hostScript(params, ["lock", "writes", "adopt", "persistence", "service", "handlers"], driver), "apply", (t) =>
    order.line(
      t.task === "write config" && t.status === "changed"
        ? { ...t, diff }
        : t.task === "restart redis" && t.status === "changed"
          ? { ...t, msg: `${t.msg}; why: ${restartReasons.join("; ") || "first start"}` }
          : withSideDiffs(p)(t),
    ),
  );
  if (!ap) return;
  if (ap.r.code !== 0) {
    if (!ap.out.tasks.some((t) => t.status === "failed")) emit({ task: "apply", status: "failed", msg: lastLines(ap.r.stderr) });
    return;
  }
  order.end();
  sides.forEach((x) => x.apply && x.after?.(ap.out.facts).forEach(emit));
  const ver = evaluateVerify(v, runtimeFrom(ap.out.facts), true);
  emit({ task: "verify", status: ver.ok ? "ok" : "failed", msg: ver.msg });
}

export async function runPlay(hosts: HostSpec[], secrets: Map<string, HostSecrets>, opts: PlayOptions, out: Output): Promise<void> {
  out.start(hosts.map((h) => h.name));
  await pool(hosts, opts.forks, async (h) => {
    try {
      await provisionHost(h, secrets.get(h.name)!, opts, (t) => out.task(h.name, t));
    } catch (e) {
      out.task(h.name, { task: "internal", status: "failed", msg: (e as Error).message });
    }
  });
}

/** Used by the CLI's signal handler: lock.sh's release of this run's lock on one host. */
export const releaseScript = (): string => hostScript(lockParams(0), ["lock"], "lock_release");
