/**
 * `npm run provision -- -i INV --limit HOST --restore SOURCE` (docs/backups.md): one host's Redis data
 * replaced by one RDB snapshot. SOURCE is a local file (streamed to the host over ssh), an
 * `s3://bucket/key` URI, or a key in the host's redis_backup_bucket (both fetched by the host with
 * its own role). Round trips: gather (host lock, OS, installed profile), the upload of a local file,
 * then provisioning/scripts/restore.sh (fetch, check, restore, proof); the lock is released at the end.
 * With --check the snapshot is fetched and checked, nothing else: it reports what a restore would do.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, statSync, createReadStream } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { HostSpec } from "../inventory";
import { RUN_ID, heldLocks, heldMessage, lockParams, parseOwner } from "../lock";
import { selectProfile } from "../os";
import type { Output, Status, TaskResult } from "../output";
import { SCRIPTS_DIR, hostScript, profileParams } from "../scripts";
import type { HostSecrets } from "../secrets";
import { connect, runScript, sshArgs } from "../ssh";
import { checkRdbOf } from "./backup";
import { AOF_REWRITE_TIMEOUT_S } from "./config";
import { gatherScript, parseFacts } from "./facts";
import { ScriptOutput, parseLine } from "./shell";

/** Where restore.sh expects an uploaded snapshot (root-only, under the provisioner's state directory). */
const INCOMING = "/var/lib/redis-provision/restore/incoming.rdb";

export type RestoreSource = { kind: "file"; path: string; bytes: number; sha256: string } | { kind: "s3"; uri: string };

export class RestoreSourceError extends Error {}

/** Reads what SOURCE means for a host, before any connection; throws a clear message on bad input. */
export function restoreSource(arg: string, bucket: string): RestoreSource {
  let st;
  try {
    st = statSync(arg);
  } catch {
    st = undefined;
  }
  if (st) {
    if (!st.isFile()) throw new RestoreSourceError(`--restore ${arg}: not a regular file`);
    if (st.size < 9) throw new RestoreSourceError(`--restore ${arg}: ${st.size} bytes, too short for an RDB file`);
    const head = Buffer.alloc(5);
    const fd = openSync(arg, "r");
    try {
      readSync(fd, head, 0, 5, 0);
    } finally {
      closeSync(fd);
    }
    if (head.toString("latin1") !== "REDIS") throw new RestoreSourceError(`--restore ${arg}: not an RDB file (it does not start with REDIS); an AOF cannot be restored this way`);
    const sha256 = createHash("sha256").update(readFileSync(arg)).digest("hex");
    return { kind: "file", path: arg, bytes: st.size, sha256 };
  }
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/([A-Za-z0-9!_.*'()/=+-]{1,1024})$/.exec(arg);
  if (s3) return { kind: "s3", uri: arg };
  if (/^[a-z0-9][A-Za-z0-9!_.*'()/=+-]{0,1023}\.rdb$/.test(arg) && !arg.includes("..")) {
    if (!bucket) throw new RestoreSourceError(`--restore ${arg}: no such local file, and redis_backup_bucket is not set to read it as a key (or give s3://BUCKET/KEY)`);
    return { kind: "s3", uri: `s3://${bucket}/${arg}` };
  }
  throw new RestoreSourceError(`--restore ${arg}: no such local file, and not an s3://BUCKET/KEY URI or a backup key ending in .rdb`);
}

export interface RestoreOptions {
  check: boolean;
  deadlineS: number;
  stepTimeoutS: number;
  stopTimeoutS: number;
  startTimeoutS: number;
}

const lastLine = (s: string) => s.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "no output";

/** Streams a local file to INCOMING on the host (root-only), bounded by `limitS`. */
function upload(h: HostSpec, path: string, limitS: number): Promise<{ code: number; stderr: string }> {
  const c = h.connection;
  const inner = `umask 077 && mkdir -p ${INCOMING.slice(0, INCOMING.lastIndexOf("/"))} && chmod 0700 ${INCOMING.slice(0, INCOMING.lastIndexOf("/"))} && cat > ${INCOMING}`;
  const bounded = `timeout -k 5 ${Math.ceil(limitS)} sh -c '${inner}'`;
  const child = spawn("ssh", [...sshArgs(c, ["-o", "ControlMaster=no"]), c.host, c.become ? `sudo -n ${bounded}` : bounded], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  createReadStream(path).on("error", (e) => child.stdin.destroy(e)).pipe(child.stdin);
  const timer = setTimeout(() => child.kill("SIGKILL"), (limitS + 15) * 1000);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 124, stderr });
    }),
  );
}

export async function runRestore(h: HostSpec, secrets: HostSecrets, source: RestoreSource, opts: RestoreOptions, out: Output): Promise<void> {
  const emit = (t: TaskResult) => out.task(h.name, t);
  const deadline = Date.now() + opts.deadlineS * 1000;
  const left = () => Math.max(1, (deadline - Date.now()) / 1000);
  const v = h.vars;
  const lock = lockParams(opts.deadlineS);
  const base = { P_STEP_TIMEOUT: opts.stepTimeoutS, P_DEADLINE: opts.deadlineS, ...lock };
  const remote = async (script: string, task: string) => {
    const o: ScriptOutput = { facts: {}, tasks: [] };
    const r = await runScript(h.connection, script, (l) => {
      const t = parseLine(l, o);
      if (t) emit({ task: t.name, status: t.status as Status, msg: t.msg });
    }, left());
    if (r.timedOut || r.code === 124) emit({ task, status: "failed", msg: `the host deadline (${opts.deadlineS} s) was reached; stopped here` });
    else if (r.unreachable) emit({ task, status: "unreachable", msg: lastLine(r.stderr) });
    else if (r.code !== 0 && !o.tasks.some((t) => t.status === "failed")) emit({ task, status: "failed", msg: lastLine(r.stderr) });
    return r.code === 0 && !r.timedOut ? o : null;
  };

  const con = await connect(h.connection);
  if (con.code !== 0) return emit({ task: "gather facts", status: "unreachable", msg: lastLine(con.stderr) });
  let locked = false;
  try {
    const g = await remote(gatherScript(secrets.redis, v.redis_admin_user, false, "", { mode: opts.check ? "peek" : "acquire", params: { ...base } }), "gather facts");
    if (!g) return;
    const facts = parseFacts(g);
    if (facts.lock.state === "ours") {
      locked = true;
      heldLocks.set(`${RUN_ID}:${h.name}`, h.connection);
    } else if (facts.lock.state !== "free") {
      return emit({ task: "lock", status: "failed", msg: facts.lock.state === "held" ? heldMessage(parseOwner(facts.lock.owner), facts.lock.owner) : `${facts.lock.error ?? "lock not taken"}; nothing changed` });
    }
    let profile;
    try {
      profile = selectProfile(facts.os, v.redis_amazon_linux_package, Object.keys(facts.profiles));
    } catch (e) {
      return emit({ task: "gather facts", status: "failed", msg: (e as Error).message });
    }
    const pf = facts.profiles[profile.key];
    if (!pf) return emit({ task: "gather facts", status: "failed", msg: `${profile.packages.join(" ")} is not installed: provision the host first; nothing changed` });
    emit({ task: "gather facts", status: "ok", msg: `${facts.os.id} ${facts.os.versionId}, ${profile.label}, ${pf.active}` });

    if (source.kind === "file") {
      const up = await upload(h, source.path, left());
      if (up.code !== 0) return emit({ task: "fetch snapshot", status: "failed", msg: `upload of ${source.path} failed (exit ${up.code}: ${lastLine(up.stderr)}); nothing changed` });
    }
    const params = {
      ...base,
      ...profileParams(profile),
      P_APP_PW: secrets.redis,
      P_ADMIN_USER: v.redis_admin_user,
      P_SHA: source.kind === "file" ? source.sha256 : undefined,
      P_S3_URI: source.kind === "s3" ? source.uri : undefined,
      P_REGION: v.redis_backup_region,
      P_FETCH_TIMEOUT: Math.max(10, Math.floor(left() - 5)),
      P_CHECK_RDB: checkRdbOf(profile),
      P_AOF_TIMEOUT: AOF_REWRITE_TIMEOUT_S,
      P_STOP_TIMEOUT: opts.stopTimeoutS,
      P_START_TIMEOUT: opts.startTimeoutS,
    };
    const driver = [
      readFileSync(join(SCRIPTS_DIR, "restore.sh"), "utf8"),
      opts.check ? "" : "lock_check",
      "restore_fetch",
      "restore_check",
      opts.check ? "restore_predict" : "restore_apply",
    ].join("\n");
    await remote(hostScript(params, ["lock", "handlers"], driver), "restore snapshot");
  } finally {
    if (locked) await runScript(h.connection, hostScript(lock, ["lock"], "lock_release"), undefined, 15).catch(() => undefined);
    heldLocks.delete(`${RUN_ID}:${h.name}`);
  }
}
