/**
 * Task "asterisk-worker" (opt-in: `asterisk_worker_enabled`), its handler "restart asterisk-worker"
 * and "verify asterisk-worker": the Asterisk-side worker (lambdas/asterisk-worker/, docs/lambdas-worker.md)
 * as the hardened unit templates/asterisk-worker.service.hbs.
 *
 *  - runtime from the OS packages (Debian/Ubuntu `nodejs`, Amazon Linux 2023 `nodejs20`, RHEL `nodejs`),
 *    at least Node 18 (the bundle's esbuild target);
 *  - the bundle build/asterisk-worker/index.js (lambdas/build.ts: rebuilt when a source's content changed), compared
 *    by SHA-256: the host sends back hashes only, the 200 KB bundle travels only when it differs;
 *  - the env file (templates/asterisk-worker.env.hbs) from the inventory, the unit;
 *  - the ARI and Redis passwords as systemd credentials: root 0600 files in /etc/credstore, written by
 *    printf from the script on ssh stdin (never an argument), compared by hash, shown nowhere;
 *  - the handler restarts the unit once (daemon-reload first) when any of those changed, the unit was
 *    not running, or an interrupted run left its marker;
 *  - verify: GET /health on the host (curl, bounded). Redis must be connected. ARI must be connected when
 *    the host's `asterisk` service is active; with no Asterisk running the worker is `degraded` by
 *    design (it retries ARI with backoff), so the host passes with a WARNING instead of failing.
 * The host shell is provisioning/scripts/worker.sh.
 */
import { readFileSync } from "node:fs";
import { STATE_DIR, type RoleVars } from "../defaults";
import { fileDiff } from "../diff";
import type { OsProfile } from "../os";
import type { TaskResult } from "../output";
import { renderTemplate, sha256 } from "../render";
import { paramLines, scriptFile, type Params } from "../scripts";
import { metricsRedisHost } from "./metrics";

export const WORKER_TASK = "asterisk-worker";
export const WORKER_HANDLER = "restart asterisk-worker";
export const WORKER_VERIFY = "verify asterisk-worker";
export const ASTERISK_SERVICE = "asterisk";
export const WORKER_MIN_NODE = 18;
export const WORKER_PATHS = {
  unit: "/etc/systemd/system/asterisk-worker.service",
  env: "/etc/asterisk-worker/worker.env",
  bundle: "/opt/asterisk-worker/index.js",
  ariPassword: "/etc/credstore/asterisk-worker.ari-password",
  redisPassword: "/etc/credstore/asterisk-worker.redis-password",
  mark: `${STATE_DIR}/asterisk-worker-restart-pending`,
} as const;


/** The runtime package of an OS profile, and where its node binary is once installed. */
export function workerRuntime(p: OsProfile): { packages: string[]; node: string } {
  if (p.pm === "apt") return { packages: ["nodejs"], node: "/usr/bin/node" };
  if (p.key.startsWith("al2023")) return { packages: ["nodejs20"], node: "/usr/bin/node-20" };
  return { packages: ["nodejs"], node: "/usr/bin/node" };
}

export interface WorkerFacts {
  unitPresent: boolean;
  env: string | null;
  unit: string | null;
  bundleSha: string;
  ariPasswordSha: string;
  redisPasswordSha: string;
  node: string;
  nodeVersion: string;
  active: string;
  enabled: string;
  mainPid: string;
  asterisk: string;
  pending: boolean;
  /** "CODE BODY" of GET /health ("" when the unit was not running). */
  health: string;
  journal: string;
}

const showMap = (s: string | undefined) => Object.fromEntries((s ?? "").split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));

export function workerFacts(f: Record<string, string>): WorkerFacts {
  const st = showMap(f.worker_state);
  return {
    unitPresent: f.worker_unit !== undefined || f.worker_unit_present === "1",
    env: f.worker_env ?? null,
    unit: f.worker_unit ?? null,
    bundleSha: f.worker_bundle_sha ?? "absent",
    ariPasswordSha: f.worker_ari_pw_sha ?? "absent",
    redisPasswordSha: f.worker_redis_pw_sha ?? "absent",
    node: f.worker_node ?? "",
    nodeVersion: f.worker_node_version ?? "",
    active: st.ActiveState ?? "",
    enabled: st.UnitFileState ?? "",
    mainPid: st.MainPID ?? "",
    asterisk: f.worker_asterisk ?? "",
    pending: f.worker_pending === "1",
    health: f.worker_health ?? "",
    journal: f.worker_journal ?? "",
  };
}

const healthUrl = (v: RoleVars) => `http://${v.asterisk_worker_health_host.includes(":") ? `[${v.asterisk_worker_health_host}]` : v.asterisk_worker_health_host}:${v.asterisk_worker_health_port}/health`;

/** Parameters of worker.sh shared by the gather and the apply. */
function baseParams(v: RoleVars): Params {
  return {
    P_W_UNIT: WORKER_PATHS.unit,
    P_W_ENV_FILE: WORKER_PATHS.env,
    P_W_BUNDLE: WORKER_PATHS.bundle,
    P_W_ARI_PW_FILE: WORKER_PATHS.ariPassword,
    P_W_REDIS_PW_FILE: WORKER_PATHS.redisPassword,
    P_W_MARK: WORKER_PATHS.mark,
    P_W_HEALTH_URL: healthUrl(v),
    P_W_ASTERISK_SERVICE: ASTERISK_SERVICE,
  };
}

/** Bash for the gather round trip: hashes, files, node, the unit's state and one bounded GET /health. */
export function workerGather(v: RoleVars): string {
  if (!v.asterisk_worker_enabled) return `${paramLines({ P_W_UNIT: WORKER_PATHS.unit })}\n${scriptFile("worker")}\nworker_gather_presence\n`;
  return `${paramLines(baseParams(v))}\n${scriptFile("worker")}\nworker_gather\n`;
}

// ---------------------------------------------------------------- the bundle

const bundles = new Map<string, Promise<{ text: string; sha: string }>>();

/**
 * `<outDir>/asterisk-worker/index.js`, brought up to date by lambdas/build.ts (the one bundling
 * entry point: rebuilt only when a file it was built from changed, by content), then read; once
 * per process. build.ts (and esbuild) load only when a host runs the worker.
 */
export function workerBundle(outDir?: string): Promise<{ text: string; sha: string }> {
  const key = outDir ?? "";
  let bundle = bundles.get(key);
  if (bundle) return bundle;
  bundle = (async () => {
    const { buildAsteriskWorker } = await import("../../lambdas/build");
    let file: string;
    try {
      file = buildAsteriskWorker({ outDir }).file;
    } catch (e) {
      throw new Error(`building the asterisk-worker bundle failed: ${(e as Error).message.trim().split("\n").slice(-3).join(" | ")}`);
    }
    const text = readFileSync(file, "utf8");
    return { text, sha: sha256(text) };
  })();
  bundles.set(key, bundle);
  return bundle;
}

// ---------------------------------------------------------------- rendering

const LOOPBACK = (h: string) => h === "localhost" || h === "::1" || /^127\./.test(h);

/** ARI_URL: the variable, else Asterisk's HTTP server as asterisk_ari_* configure it, reached over loopback when it listens everywhere. */
export function workerAriUrl(v: RoleVars): string {
  if (v.asterisk_worker_ari_url) return v.asterisk_worker_ari_url.replace(/\/$/, "");
  const b = v.asterisk_ari_bind_address;
  const host = b === "0.0.0.0" ? "127.0.0.1" : b === "::" ? "[::1]" : b.includes(":") ? `[${b}]` : b;
  return `http://${host}:${v.asterisk_ari_port}`;
}

/** env file and unit as they must be on the host (pure; no secret in either). */
export function renderWorkerFiles(v: RoleVars, profile: OsProfile, nodePath: string): { env: string; unit: string } {
  const ariUrl = workerAriUrl(v);
  const redisHost = metricsRedisHost(v.redis_bind_address);
  const ariHost = new URL(ariUrl).hostname.replace(/^\[|\]$/g, "");
  // IPAddressDeny=any: ARI and Redis when not on loopback, plus the remote health probes asked for.
  const allow = [...new Set([ariHost, redisHost].filter((h) => !LOOPBACK(h))), ...v.asterisk_worker_health_allow.split(" ").filter(Boolean)].join(" ");
  const env = renderTemplate("asterisk-worker.env.hbs", {
    ari_url: ariUrl,
    ari_user: v.asterisk_ari_user,
    ari_app: v.asterisk_worker_ari_app,
    ari_channel_prefix: v.asterisk_worker_ari_channel_prefix,
    redis_host: redisHost,
    redis_port: v.redis_port,
    health_host: v.asterisk_worker_health_host,
    health_port: v.asterisk_worker_health_port,
    log_level: v.asterisk_worker_log_level,
  });
  const unit = renderTemplate("asterisk-worker.service.hbs", {
    ari_app: v.asterisk_worker_ari_app,
    env_file: WORKER_PATHS.env,
    redis_service: profile.service,
    asterisk_service: ASTERISK_SERVICE,
    node_path: nodePath,
    install_dir: WORKER_PATHS.bundle.slice(0, WORKER_PATHS.bundle.lastIndexOf("/")),
    ari_password_file: WORKER_PATHS.ariPassword,
    redis_password_file: WORKER_PATHS.redisPassword,
    health_allow: allow,
    memory_max: v.asterisk_worker_memory_max,
  });
  return { env, unit };
}

// ---------------------------------------------------------------- verify

/** Verify from a gathered or post-restart health answer (pure). */
export function evaluateWorkerHealth(v: RoleVars, wf: Pick<WorkerFacts, "active" | "health" | "asterisk" | "journal" | "mainPid">): TaskResult {
  const r = (status: TaskResult["status"], msg: string): TaskResult => ({ task: WORKER_VERIFY, status, msg });
  const url = healthUrl(v);
  if (wf.active !== "active") return r("failed", `asterisk-worker.service is ${wf.active || "unknown"}${wf.journal ? `: ${wf.journal.trim().split("\n").join(" | ").slice(0, 400)}` : ""}`);
  const sp = wf.health.indexOf(" ");
  const code = sp < 0 ? wf.health : wf.health.slice(0, sp);
  const body = sp < 0 ? "" : wf.health.slice(sp + 1);
  if (!code || code === "000") return r("failed", `GET ${url} did not answer within 5 s`);
  let doc: { status?: string; redis?: { connected?: boolean; endpoint?: string }; ari?: { connected?: boolean; app?: string }; backlog?: { unsent?: number; stream?: number }; calls?: number };
  try {
    doc = JSON.parse(body) as typeof doc;
  } catch {
    doc = {};
  }
  if (!doc || typeof doc.status !== "string" || !doc.redis || !doc.ari) return r("failed", `GET ${url} answered ${code} without the health document: ${JSON.stringify(body.slice(0, 80))}`);
  const figures = `backlog unsent ${doc.backlog?.unsent ?? "?"}, stream ${doc.backlog?.stream ?? "?"}; calls ${doc.calls ?? "?"}; pid ${wf.mainPid || "?"}`;
  if (!doc.redis.connected) return r("failed", `${doc.status}: Redis at ${doc.redis.endpoint ?? "?"} is not connected (outcomes wait in the worker's outbox); ${figures}`);
  if (!doc.ari.connected) {
    if (wf.asterisk === "active") {
      return r("failed", `${doc.status}: ARI app ${doc.ari.app ?? v.asterisk_worker_ari_app} is not connected although ${ASTERISK_SERVICE} is active (check ARI_URL ${workerAriUrl(v)}, the ARI user ${v.asterisk_ari_user} and its password); ${figures}`);
    }
    return r(
      "ok",
      `WARNING: ${doc.status}: Redis connected, but ARI is not: no ${ASTERISK_SERVICE} service is active on this host, so no calls are heard until Asterisk runs ` +
        `(the worker keeps reconnecting to ${workerAriUrl(v)}); ${figures}`,
    );
  }
  return r("ok", `${doc.status}: Redis ${doc.redis.endpoint ?? ""} and ARI app ${doc.ari.app ?? ""} connected; ${figures}`);
}

// ---------------------------------------------------------------- plan

export interface WorkerPlan {
  results: TaskResult[];
  /** Bash of the task: writes the files and notifies the handler "restart asterisk-worker". */
  apply?: string;
  /** Bash after the handlers ran (flush_handlers): the verify. */
  post?: string;
  diff?: string;
  /** After the apply round trip: the verify line from the facts it returned. */
  after?: (facts: Record<string, string>) => TaskResult[];
}

const nodeMajor = (version: string) => Number(/^v(\d+)\./.exec(version.trim())?.[1] ?? NaN);

/** Decides what the task does on one host (pure, but for the bundle it is handed). */
export function planWorker(
  v: RoleVars,
  secrets: { redis: string; ari?: string },
  wf: WorkerFacts,
  profile: OsProfile,
  bundleFile: { text: string; sha: string },
  check: boolean,
): WorkerPlan {
  const task = (status: TaskResult["status"], msg: string, diff?: string): TaskResult => ({ task: WORKER_TASK, status, msg, diff });
  if (!v.asterisk_worker_enabled) {
    const left = wf.unitPresent ? `; WARNING: ${WORKER_PATHS.unit} is installed on this host and left as it is (stop and disable it yourself if it should not run)` : "";
    return { results: [task("skipped", `asterisk_worker_enabled is false${left}`)] };
  }
  if (secrets.ari === undefined) return { results: [task("failed", "asterisk_worker_enabled needs the ARI password (asterisk_ari_password_secret_arn or asterisk_ari_password); nothing changed")] };
  const runtime = workerRuntime(profile);
  const install = !wf.node;
  if (!install && !(nodeMajor(wf.nodeVersion) >= WORKER_MIN_NODE)) {
    return {
      results: [task("failed", `${wf.node} reports ${JSON.stringify(wf.nodeVersion.slice(0, 40))}: the worker bundle needs Node.js ${WORKER_MIN_NODE} or newer (its esbuild target); install a newer nodejs; nothing changed`)],
    };
  }
  const nodePath = install ? runtime.node : wf.node;
  const want = renderWorkerFiles(v, profile, nodePath);
  const changes = {
    bundle: wf.bundleSha !== bundleFile.sha,
    env: wf.env !== want.env,
    unit: wf.unit !== want.unit,
    ariPassword: wf.ariPasswordSha !== sha256(secrets.ari),
    redisPassword: wf.redisPasswordSha !== sha256(secrets.redis),
  };
  /** [what --check says it would do, what the run says it did] */
  const steps = (
    [
      install && [`install ${runtime.packages.join(" ")}`, `installed ${runtime.packages.join(" ")}`],
      changes.bundle && ["copy the bundle", "copied the bundle"],
      changes.env && [`write ${WORKER_PATHS.env}`, `wrote ${WORKER_PATHS.env}`],
      changes.ariPassword && ["write the ari-password credential", "wrote the ari-password credential"],
      changes.redisPassword && ["write the redis-password credential", "wrote the redis-password credential"],
      changes.unit && [`write ${WORKER_PATHS.unit}`, `wrote ${WORKER_PATHS.unit}`],
      wf.enabled !== "enabled" && ["enable asterisk-worker.service", "enabled asterisk-worker.service"],
    ] as (false | [string, string])[]
  ).filter((x): x is [string, string] => Boolean(x));
  const what = steps.map(([todo]) => todo);
  const bundleNote = changes.bundle ? ` (bundle ${Buffer.byteLength(bundleFile.text)} bytes, sha256 ${bundleFile.sha.slice(0, 12)})` : "";
  const why = [
    changes.bundle && "bundle changed",
    changes.env && "env file changed",
    changes.unit && "unit changed",
    (changes.ariPassword || changes.redisPassword) && "credentials changed",
    install && "runtime installed",
    wf.pending && "restart pending from an interrupted run",
    wf.active !== "active" && `not running (${wf.active || "absent"})`,
  ].filter((x): x is string => Boolean(x));
  const where = `ARI ${workerAriUrl(v)} app ${v.asterisk_worker_ari_app}, health ${healthUrl(v)}, node ${nodePath}`;
  const diff = [changes.env && fileDiff(WORKER_PATHS.env, wf.env, want.env), changes.unit && fileDiff(WORKER_PATHS.unit, wf.unit, want.unit)].filter(Boolean).join("");
  if (!what.length && !why.length) return { results: [task("ok", where), evaluateWorkerHealth(v, wf)] };

  if (check) {
    return {
      results: [
        task(what.length ? "changed" : "ok", `${what.length ? `would ${what.join(", ")}${bundleNote}` : "files in place"}; ${where}`, diff || undefined),
        ...(why.length ? [{ task: WORKER_HANDLER, status: "changed" as const, handler: true, msg: `would restart: ${why.join("; ")}` }] : []),
        { task: WORKER_VERIFY, status: "skipped", msg: "check mode (the worker restarts first)" },
      ],
    };
  }
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const params: Params = {
    ...baseParams(v),
    P_W_PKGS: install ? runtime.packages.join(" ") : "",
    P_W_PM: profile.pm,
    P_W_BUNDLE_B64: changes.bundle ? b64(bundleFile.text) : undefined,
    P_W_BUNDLE_SHA: changes.bundle ? bundleFile.sha : undefined,
    P_W_ENV_B64: changes.env ? b64(want.env) : undefined,
    P_W_UNIT_B64: changes.unit ? b64(want.unit) : undefined,
    P_W_ARI_PW: changes.ariPassword ? secrets.ari : undefined,
    P_W_REDIS_PW: changes.redisPassword ? secrets.redis : undefined,
    P_W_NODE: nodePath,
    P_W_STATUS: what.length ? "changed" : "ok",
    P_W_DONE: `${what.length ? `${steps.map(([, did]) => did).join(", ")}${bundleNote}` : "files in place"}; ${where}`,
    P_W_WHY: why.join("; "),
  };
  return {
    results: [],
    apply: `# ${WORKER_TASK}\n${paramLines(params)}\n${scriptFile("worker")}\nworker_apply\n`,
    post: "worker_verify_applied\n",
    diff: diff || undefined,
    after: (facts) => (facts.worker_health === undefined && facts.worker_state === undefined ? [] : [evaluateWorkerHealth(v, workerFacts(facts))]),
  };
}
