/**
 * The shell that runs on a host lives in real files under provisioning/scripts/ (shellcheck-clean,
 * checked by __tests__/provisioning/ansible-forms.test.ts). A host script is: its parameters, read
 * from a quoted here-document into P_* variables (nothing is spliced into shell syntax), then the script files it
 * needs (lib.sh first), then a short driver calling their functions. It travels on ssh stdin only.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { OsProfile } from "./os";
import { isRegisteredSecret } from "./secrets";

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

/** Where a parameter block ends (no line of a block can equal it: every line starts with P_). */
export const PARAMS_END = "@@params-end@@";
/** Bash keeps a here-document that fits its pipe (64 KiB on Linux) in memory; longer ones go to a temp file. */
const BLOCK_BYTES = 60000;

/** Values up to this length (every password among them) travel as \xHH escapes only. */
const HEX_BYTES = 256;

/**
 * One `NAME=value` line for printf's %b: a short value or a registered secret as \xHH escapes (no
 * secret appears as itself in a script's text), a longer one (lists, messages, base64 payloads)
 * with only backslash, newline and CR escaped.
 */
function paramLine(k: string, v: string): string {
  const bytes = Buffer.from(v);
  if (bytes.length <= HEX_BYTES || isRegisteredSecret(v)) return `${k}=${Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}`;
  return `${k}=${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r")}`;
}

/**
 * Parameters as data: `NAME=value` lines in a quoted here-document (nothing in it is expanded) that
 * bash's own `read` and `printf -v NAME %b` turn into variables: no fork, no process argument, and
 * (see paramLine) no secret in the clear.
 * A value is what `$(printf '%s' VALUE)` would give: trailing newlines and NUL bytes dropped.
 * Blocks stay under the pipe size, so bash never writes them to a temporary file; only a single
 * value longer than that (a bundle, never a secret) gets a block of its own that bash spools to
 * a file it unlinks at once.
 */
export function paramLines(params: Params): string {
  const blocks: string[][] = [];
  let size = Infinity;
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (!/^P_[A-Z0-9_]+$/.test(k)) throw new Error(`bad script parameter name ${k}`);
    const line = paramLine(k, (typeof v === "boolean" ? (v ? "1" : "0") : String(v)).replace(/\0/g, "").replace(/\n+$/, ""));
    const bytes = Buffer.byteLength(line) + 1;
    if (size + bytes > BLOCK_BYTES) {
      blocks.push([]);
      size = 0;
    }
    blocks[blocks.length - 1].push(line);
    size += bytes;
  }
  return blocks.map((ls) => `while IFS= read -r __p; do printf -v "\${__p%%=*}" '%b' "\${__p#*=}"; done <<'${PARAMS_END}'\n${ls.join("\n")}\n${PARAMS_END}`).join("\n");
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
