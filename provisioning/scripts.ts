/**
 * The shell that runs on a host lives in real files under provisioning/scripts/ (shellcheck-clean,
 * checked by __tests__/provisioning/shellcheck.test.ts). A host script is: its parameters, decoded
 * from base64 into P_* variables (nothing is spliced into shell syntax), then the script files it
 * needs (lib.sh first), then a short driver calling their functions. It travels on ssh stdin only.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { OsProfile } from "./os";

export const SCRIPTS_DIR = join(__dirname, "..", "provisioning", "scripts");

export type ScriptFile = "lib" | "lock" | "writes" | "adopt" | "persistence" | "service" | "handlers" | "worker" | "units" | "retire" | "ari" | "gather" | "install";

const texts = new Map<ScriptFile, string>();
/** The text of provisioning/scripts/NAME.sh (read once per process). */
export function scriptFile(name: ScriptFile): string {
  let t = texts.get(name);
  if (t === undefined) {
    t = readFileSync(join(SCRIPTS_DIR, `${name}.sh`), "utf8");
    texts.set(name, t);
  }
  return t;
}

export type Params = Record<string, string | number | boolean | undefined>;

/** `P_NAME=$(... | base64 -d)` lines: values reach the script as data, never as shell syntax. */
export function paramLines(params: Params): string {
  return Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      if (!/^P_[A-Z0-9_]+$/.test(k)) throw new Error(`bad script parameter name ${k}`);
      const s = typeof v === "boolean" ? (v ? "1" : "0") : String(v);
      return s === "" ? `${k}=` : `${k}=$(printf '%s' '${Buffer.from(s).toString("base64")}' | base64 -d)`;
    })
    .join("\n");
}

/** Parameters describing one OS profile (lib.sh turns them into SERVICE, CONF, ...). */
export function profileParams(p: OsProfile): Params {
  return {
    P_SERVICE: p.service,
    P_CONF: p.configPath,
    P_SRV_USER: p.user,
    P_SRV_GROUP: p.group,
    P_SERVER: p.server,
    P_CLI: p.cli,
    P_DATA_DIR: p.dataDir,
    P_LOGFILE: p.logFile,
    P_PKGS: p.packages.join(" "),
    P_PM: p.pm,
  };
}

/** A whole host script: parameters, lib.sh, the named files, then the driver. */
export function hostScript(params: Params, files: ScriptFile[], driver: string): string {
  return [paramLines(params), scriptFile("lib"), ...files.filter((f) => f !== "lib").map(scriptFile), driver, "exit 0", ""].join("\n");
}
