/**
 * The play: per host, in parallel (at most --forks at once):
 *   1 round trip  gather facts (+ the running server's state)      -> a no-op run ends here
 *   1 round trip  install packages (only when absent)
 *   1 round trip  prepare persistence, write config, enable service, restart handler, verify,
 *                 metrics publisher, retire the first-boot password unit, ARI (when Redis needs
 *                 nothing but one of those does: only those)
 * A host's failure never stops the others.
 */
import { randomBytes } from "node:crypto";
import type { HostSpec } from "./inventory";
import { fileDiff } from "./diff";
import { RESTART_HANDLER_FRAGMENT } from "./handlers";
import { MIN_VERSION, OsProfile, selectProfile, serverVersion, versionAtLeast } from "./os";
import type { Output, Status, TaskResult } from "./output";
import { buildContext, maskSecrets, renderRedisConf } from "./render";
import { HostSecrets, registerSecret } from "./secrets";
import { ExecResult, connect, runScript, shq } from "./ssh";
import { ARI_HANDLER, ARI_TASK, ariGather, planAri } from "./tasks/ari";
import { INSTALL_STAGED_CONFIG, dataSafetyProblems, persistenceFragment, validateAndStageFragment } from "./tasks/config";
import { HostFacts, parseFacts, runtimeFrom, gatherScript } from "./tasks/facts";
import { installScript } from "./tasks/install";
import { METRICS_TASK, planMetrics } from "./tasks/metrics";
import { RETIRE_TASK, planRetire } from "./tasks/retire";
import { ENABLE_SERVICE_FRAGMENT } from "./tasks/service";
import { SCRIPT_HEADER, ScriptOutput, parseLine, prelude, profileVars } from "./tasks/shell";
import { evaluateVerify, runtimeDrift } from "./tasks/verify";

export interface PlayOptions {
  check: boolean;
  diff: boolean;
  forks: number;
}

type Emit = (t: TaskResult) => void;

const lastLines = (s: string, n = 2) => s.trim().split("\n").map((l) => l.trim()).filter(Boolean).slice(-n).join(" | ") || "no output";

/** Runs `fn` over items with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

const HANDLERS = ["restart redis", ARI_HANDLER];

/** Runs a host script, streaming its task lines to `emit`. Returns null (after reporting) when the host dropped. */
async function remote(h: HostSpec, script: string, task: string, emit: Emit, onTask?: (t: TaskResult) => TaskResult): Promise<{ r: ExecResult; out: ScriptOutput } | null> {
  const out: ScriptOutput = { facts: {}, tasks: [] };
  const r = await runScript(h.connection, script, (l) => {
    const t = parseLine(l, out);
    if (t) {
      const res: TaskResult = { task: t.name, status: t.status as Status, msg: t.msg, handler: HANDLERS.includes(t.name) || undefined };
      emit(onTask ? onTask(res) : res);
    }
  });
  if (r.unreachable) {
    emit({ task, status: "unreachable", msg: lastLines(r.stderr, 1) });
    return null;
  }
  return { r, out };
}

export async function provisionHost(h: HostSpec, secrets: HostSecrets, opts: PlayOptions, emit: Emit): Promise<void> {
  const v = h.vars;
  const appPassword = secrets.redis;
  const con = await connect(h.connection);
  if (con.code !== 0) return emit({ task: "gather facts", status: "unreachable", msg: lastLines(con.stderr, 1) });

  // 1. facts
  const g = await remote(h, gatherScript(appPassword, v.redis_admin_user, !opts.check, ariGather(secrets.ari)), "gather facts", emit);
  if (!g) return;
  if (g.r.code !== 0) return emit({ task: "gather facts", status: "failed", msg: lastLines(g.r.stderr) });
  const facts: HostFacts = parseFacts(g.out);
  let profile: OsProfile;
  try {
    profile = selectProfile(facts.os, v.redis_amazon_linux_package, Object.keys(facts.profiles));
  } catch (e) {
    return emit({ task: "gather facts", status: "failed", msg: (e as Error).message });
  }
  const pf = facts.profiles[profile.key];
  emit({
    task: "gather facts",
    status: "ok",
    msg: `${facts.os.id} ${facts.os.versionId}, ${profile.label}, ${pf ? `${pf.versionOutput.split(" sha=")[0]}, ${pf.active}` : "not installed"}`,
  });
  if (facts.adminSecret) registerSecret(facts.adminSecret);
  const adminPassword = facts.adminSecret ?? randomBytes(24).toString("hex");
  registerSecret(adminPassword);

  // 2. install
  let versionOutput: string;
  if (pf) {
    versionOutput = pf.versionOutput;
    emit({ task: "install packages", status: "ok", msg: `${profile.packages.join(" ")} installed` });
  } else if (opts.check) {
    versionOutput = `${profile.key.includes("valkey") ? "Valkey" : "Redis"} server v=${profile.assumedVersion}`;
    emit({ task: "install packages", status: "changed", msg: `would install ${profile.packages.join(" ")}` });
  } else {
    const ins = await remote(h, installScript(profile), "install packages", emit);
    if (!ins) return;
    if (ins.r.code !== 0 || !ins.out.facts.version) {
      return emit({ task: "install packages", status: "failed", msg: ins.out.facts.error || lastLines(ins.r.stderr) });
    }
    versionOutput = ins.out.facts.version;
    emit({ task: "install packages", status: "changed", msg: `${profile.packages.join(" ")} (${versionOutput.split(" sha=")[0]})` });
  }
  let desired: string;
  try {
    const server = serverVersion(versionOutput);
    if (!versionAtLeast(server.compat, MIN_VERSION)) throw new Error(`${server.flavor} ${server.version} is older than ${MIN_VERSION}`);
    desired = renderRedisConf(buildContext(v, profile, server, { app: appPassword, admin: adminPassword }));
  } catch (e) {
    return emit({ task: "write config", status: "failed", msg: (e as Error).message });
  }

  // 3. plan
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
  const diff = configChanged
    ? fileDiff(profile.configPath, current === null ? null : maskSecrets(current), maskSecrets(desired))
    : undefined;
  const safety = configChanged ? dataSafetyProblems(v, rt) : [];
  if (safety.length) return emit({ task: "write config", status: "failed", msg: `${safety.join("; ")}; nothing changed` });
  const enabled = pf?.enabled === "enabled";
  const metrics = planMetrics(v, profile, facts.metrics, opts.check);
  const retire = planRetire(profile, facts.retire, opts.check);
  const ari = planAri(v, secrets.ari, facts.ari, opts.check);
  // Tasks beside Redis itself: what each reports without touching the host, or the bash it runs.
  const sides: { task: string; results: TaskResult[]; apply?: string; diff?: string }[] = [
    { task: METRICS_TASK, results: metrics.result ? [metrics.result] : [], apply: metrics.apply, diff: metrics.diff },
    { task: RETIRE_TASK, results: retire.result ? [retire.result] : [], apply: retire.pre !== undefined ? `${retire.pre}${retire.post}` : undefined },
    { task: ARI_TASK, results: ari.results, apply: ari.apply, diff: ari.diff },
  ];
  const emitSideResults = () => sides.forEach((x) => x.results.forEach(emit));
  // A side task's diff goes on its "changed" line, like the config's.
  const withSideDiffs = (t: TaskResult): TaskResult => {
    const d = t.status === "changed" ? sides.find((x) => x.task === t.task)?.diff : undefined;
    return d ? { ...t, diff: d } : t;
  };

  if (opts.check) {
    const aofSwitch = restart && active && v.redis_appendonly && rt?.info?.aof_enabled === "0";
    emit({ task: "prepare persistence", status: aofSwitch ? "changed" : "skipped", msg: aofSwitch ? "would enable AOF on the running server and wait for the rewrite" : "" });
    emit({ task: "write config", status: configChanged ? "changed" : "ok", msg: configChanged ? `would write ${profile.configPath}` : profile.configPath, diff });
    emit({ task: "enable service", status: enabled ? "ok" : "changed", msg: enabled ? profile.service : `would enable ${profile.service}` });
    if (restart) emit({ task: "restart redis", status: "changed", handler: true, msg: `would restart: ${restartReasons.join("; ") || "first start"}` });
    emitSideResults();
    if (!restart && rt) {
      const ver = evaluateVerify(v, rt, false);
      emit({ task: "verify", status: ver.ok ? "ok" : "failed", msg: ver.msg });
    } else emit({ task: "verify", status: "skipped", msg: "check mode" });
    return;
  }

  if (!restart && enabled && rt) {
    // No-op: the gathered state already proves the host converged.
    emit({ task: "prepare persistence", status: "skipped", msg: "no restart needed" });
    emit({ task: "write config", status: "ok", msg: profile.configPath });
    emit({ task: "enable service", status: "ok", msg: `${profile.service} enabled` });
    emitSideResults();
    const applied = sides.filter((x) => x.apply);
    if (applied.length) {
      const m = await remote(h, `${SCRIPT_HEADER}${profileVars(profile)}${applied.map((x) => x.apply).join("\n")}\nexit 0\n`, applied[0].task, emit, withSideDiffs);
      if (!m) return;
      for (const x of applied) if (!m.out.tasks.some((t) => t.name === x.task)) emit({ task: x.task, status: "failed", msg: lastLines(m.r.stderr) });
    }
    const ver = evaluateVerify(v, rt, true);
    return emit({ task: "verify", status: ver.ok ? "ok" : "failed", msg: ver.msg });
  }

  // 4. apply: everything else in one round trip.
  const script = `${prelude(appPassword, v.redis_admin_user)}
${profileVars(profile)}
OLD_ADMIN=$(cat "$STATE/admin.secret" 2>/dev/null || true)
NEW_ADMIN=${shq(adminPassword)}
if [ -z "$OLD_ADMIN" ]; then
  mkdir -p -m 0700 "$STATE"; (umask 077; printf '%s\\n' "$NEW_ADMIN" > "$STATE/admin.secret.tmp") && mv -f "$STATE/admin.secret.tmp" "$STATE/admin.secret"
fi
rc_target "$CONF"; rc_auth "\${OLD_ADMIN:-$NEW_ADMIN}"
${configChanged ? validateAndStageFragment(desired) : ""}
${restart ? `${persistenceFragment(v.redis_appendonly)}\nprepare_persistence` : `task "prepare persistence" skipped "no restart needed"`}
${configChanged ? INSTALL_STAGED_CONFIG : `task "write config" ok "$CONF"`}
${restartReasons.length ? `mkdir -p -m 0700 "$STATE"; touch "$STATE/restart-pending"` : ""}
${ENABLE_SERVICE_FRAGMENT}
${retire.pre ?? ""}
${RESTART_HANDLER_FRAGMENT}
rc_target "$CONF"; rc_auth "$NEW_ADMIN"
probe 1
${metrics.apply ?? ""}
${retire.post ?? ""}
${ari.apply ?? ""}
exit 0
`;
  const ap = await remote(h, script, "apply", emit, (t) =>
    t.task === "write config" && t.status === "changed"
      ? { ...t, diff }
      : t.task === "restart redis" && t.status === "changed"
        ? { ...t, msg: `${t.msg}; why: ${restartReasons.join("; ") || "first start"}` }
        : withSideDiffs(t),
  );
  if (!ap) return;
  if (ap.r.code !== 0) {
    if (!ap.out.tasks.some((t) => t.status === "failed")) emit({ task: "apply", status: "failed", msg: lastLines(ap.r.stderr) });
    return;
  }
  emitSideResults();
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
