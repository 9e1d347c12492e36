/**
 * Task "retire first-boot password unit": the stack's first-boot user data
 * (templates/asterisk-user-data.sh.hbs) installs a oneshot `redis-password.service`, RequiredBy the
 * Redis service, that writes `<conf dir>/password.conf` (a plaintext `requirepass`) from Secrets
 * Manager at every start of Redis, and an include file `<conf dir>/campaign.conf`. Once this role
 * owns redis.conf they are stale: a plaintext secret on disk, and a unit that blocks every Redis
 * (re)start when Secrets Manager is unreachable.
 *
 * What exists is part of the single gather round trip. The unit goes (disable --now, remove the file,
 * its helper script and any dangling .requires/.wants link, daemon-reload) BEFORE the restart handler,
 * so it cannot block that restart. The two files go only AFTER Redis runs with the role's config: a
 * rollback to the previous config (which includes them) still finds them. Files still included by
 * the config in place are never removed.
 */
import { dirname } from "node:path";
import { SECRET_DIRECTIVES } from "../defaults";
import { OS_PROFILES, OsProfile } from "../os";
import type { TaskResult } from "../output";
import { Params, paramLines, scriptFile } from "../scripts";

export const RETIRE_TASK = "retire first-boot password unit";
export const LEGACY_UNIT = "redis-password.service";
export const LEGACY_UNIT_PATH = `/etc/systemd/system/${LEGACY_UNIT}`;
export const LEGACY_SCRIPT = "/usr/local/libexec/redis-password";
export const LEGACY_FILES = ["password.conf", "campaign.conf"];

/** The directory the user data wrote to for this profile: its password include's (lambdas/contracts/os.ts). */
export function legacyConfDir(p: OsProfile): string {
  return dirname(p.passwordInclude);
}
/** Every config directory the user data may have used (one per package it installs). */
const LEGACY_DIRS = [...new Set(Object.values(OS_PROFILES).map(legacyConfDir))];
/** A redis.conf line that sets a secret directive (redis-server reads directive names in any case; grep -i). */
const SECRET_LINE = `^[[:space:]]*(${SECRET_DIRECTIVES.join("|")})[[:space:]]`;

export interface RetireFacts {
  /** Legacy paths present on the host (unit file, script, config files, unit links). */
  paths: string[];
  /** `systemctl is-enabled` of the unit when its file exists ("" otherwise). */
  unitState: string;
  /** Files the config in place includes that set a secret directive (the old playbook's plaintext requirepass). */
  secretIncludes?: string[];
}

const common = (): Params => ({ P_R_TASK: RETIRE_TASK, P_R_UNIT: LEGACY_UNIT, P_R_UNIT_FILE: LEGACY_UNIT_PATH, P_R_SECRET_RE: SECRET_LINE });

/** Every OS profile's config file: the gather looks into what each includes. */
const CONFIG_PATHS = [...new Set(Object.values(OS_PROFILES).map((p) => p.configPath))];

/**
 * Bash for the gather script: provisioning/scripts/retire.sh's retire_gather over every path the user
 * data may have left, and the files that `configs` include holding a plaintext secret.
 */
export const retireGather = (configs: string[] = CONFIG_PATHS): string =>
  `${paramLines({
    ...common(),
    P_R_CANDIDATES: [
      LEGACY_UNIT_PATH,
      LEGACY_SCRIPT,
      ...LEGACY_DIRS.flatMap((d) => LEGACY_FILES.map((f) => `${d}/${f}`)),
      `/etc/systemd/system/*.requires/${LEGACY_UNIT}`,
      `/etc/systemd/system/*.wants/${LEGACY_UNIT}`,
    ].join("\n"),
    P_R_CONFS: configs.join("\n"),
  })}\n${scriptFile("retire")}\nretire_gather\n`;

export function retireFacts(f: Record<string, string>): RetireFacts {
  const lines = (v: string | undefined) => (v ?? "").split("\n").filter(Boolean);
  return { paths: lines(f.retire_paths), unitState: f.retire_unit_state ?? "", secretIncludes: [...new Set(lines(f.retire_secret_includes))] };
}

export interface RetirePlan {
  /** The task's result when there is nothing to do, or in check mode. */
  result?: TaskResult;
  /** Bash to run before the restart handler (the unit). */
  pre?: string;
  /** Bash to run once Redis runs with the role's config (the files); reports the task. */
  post?: string;
}

const isUnitLink = (p: string) => /\.(requires|wants)\//.test(p);

/** Decides what the task does on one host (pure). */
export function planRetire(profile: OsProfile, rf: RetireFacts, check: boolean): RetirePlan {
  const dir = legacyConfDir(profile);
  const files = rf.paths.filter((p) => LEGACY_FILES.some((f) => p === `${dir}/${f}`));
  const unitFile = rf.paths.includes(LEGACY_UNIT_PATH);
  const links = rf.paths.filter(isUnitLink);
  const script = rf.paths.includes(LEGACY_SCRIPT);
  // password.conf is one of them, removed whole above.
  const secrets = (rf.secretIncludes ?? []).filter((f) => !files.includes(f));
  if (!unitFile && !links.length && !script && !files.length && !secrets.length) {
    return { result: { task: RETIRE_TASK, status: "ok", msg: `no ${LEGACY_UNIT}, no ${LEGACY_FILES.join(" or ")} in ${dir}` } };
  }
  const parts = [
    (unitFile || links.length > 0) && `${check ? "disable and remove" : "disabled and removed"} ${LEGACY_UNIT}${unitFile && rf.unitState ? ` (was ${rf.unitState})` : ""}`,
    script && `${check ? "remove" : "removed"} ${LEGACY_SCRIPT}`,
    files.length > 0 && `${check ? "remove" : "removed"} ${files.join(", ")}${files.some((f) => f.endsWith("password.conf")) ? " (plaintext requirepass)" : ""}`,
    secrets.length > 0 &&
      `${check ? "remove" : "removed"} the plaintext secret lines (${SECRET_DIRECTIVES.slice(0, 2).join(", ")}, ...) of ${secrets.join(", ")}, included by the config it replaces and read by nothing after it (a file left empty goes)`,
  ].filter(Boolean) as string[];
  const msg = `${check ? "would " : ""}${parts.join("; ")}`;
  if (check) return { result: { task: RETIRE_TASK, status: "changed", msg } };

  const unitPaths = [unitFile && LEGACY_UNIT_PATH, script && LEGACY_SCRIPT, ...links].filter(Boolean) as string[];
  const params: Params = { ...common(), P_R_UNIT_PATHS: unitPaths.join("\n"), P_R_FILES: files.join("\n"), P_R_SECRET_FILES: secrets.join("\n"), P_R_DONE: msg };
  return {
    // provisioning/scripts/retire.sh: the unit before any restart of Redis can require it, the files once Redis runs without them.
    pre: `# ${RETIRE_TASK} (1/2)\n${paramLines(params)}\n${scriptFile("retire")}\nretire_unit\n`,
    post: `# ${RETIRE_TASK} (2/2)\nretire_files\n`,
  };
}
