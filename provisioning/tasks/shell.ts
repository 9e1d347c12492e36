/**
 * Shared bash for the scripts sent to a host. Results come back as lines (provisioning/scripts/lib.sh):
 *   @@f|NAME|VALUE            a gathered value (\\, \n and \r escaped)
 *   @@t|NAME|STATUS|MESSAGE   a task that finished (ok/changed/failed/skipped), escaped the same way
 *   @@fact|NAME|BASE64        a file's bytes when they hold a NUL (bash cannot hold one in a variable)
 * Secrets are parameters (P_*, in the script text, which travels on ssh stdin only); redis-cli
 * receives a password through REDISCLI_AUTH.
 */
import { STATE_DIR } from "../defaults";
import { Params, paramLines, scriptFile } from "../scripts";

/** lib.sh with the application password and the admin user as parameters (never spliced into the text). */
export function prelude(appPassword: string, adminUser: string, extra: Params = {}): string {
  return `${paramLines({ P_STATE_DIR: STATE_DIR, P_APP_PW: appPassword, P_ADMIN_USER: adminUser, ...extra })}\n${scriptFile("lib")}\n`;
}

export interface ScriptOutput {
  facts: Record<string, string>;
  tasks: { name: string; status: string; msg: string }[];
}

/** lib.sh's esc, undone. */
const unescape = (v: string): string => v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c));

/** Parses one output line of a host script (other lines are ignored). */
export function parseLine(line: string, into: ScriptOutput): { name: string; status: string; msg: string } | null {
  const l = line.replace(/\r$/, "");
  const bar = (from: number) => l.indexOf("|", from);
  if (l.startsWith("@@f|")) {
    const i = bar(4);
    if (i < 0) return null;
    into.facts[l.slice(4, i)] = unescape(l.slice(i + 1));
    return null;
  }
  if (l.startsWith("@@fact|")) {
    const [, name, b64 = ""] = l.split("|");
    into.facts[name] = Buffer.from(b64, "base64").toString("utf8");
    return null;
  }
  if (l.startsWith("@@t|")) {
    const i = bar(4);
    const j = i < 0 ? -1 : bar(i + 1);
    if (j < 0) return null;
    const t = { name: l.slice(4, i), status: l.slice(i + 1, j), msg: unescape(l.slice(j + 1)) };
    into.tasks.push(t);
    return t;
  }
  return null;
}
