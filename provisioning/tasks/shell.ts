/**
 * Shared bash for the scripts sent to a host. Results come back as lines:
 *   @@fact|NAME|BASE64      a gathered value
 *   @@task|NAME|STATUS|B64  a task that finished (ok/changed/failed/skipped)
 * The helpers themselves are provisioning/scripts/lib.sh. Secrets are parameters (P_*, base64 in the
 * script text, which travels on ssh stdin only); redis-cli receives a password through REDISCLI_AUTH.
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

/** Parses one output line of a host script (other lines are ignored). */
export function parseLine(line: string, into: ScriptOutput): { name: string; status: string; msg: string } | null {
  const l = line.replace(/\r$/, "");
  // @@val (a value from a here-string) ends with one newline that is not part of it; @@fact (a file) keeps its bytes.
  const unb64 = (b64: string, strip: boolean) => {
    const t = Buffer.from(b64, "base64").toString("utf8");
    return strip && t.endsWith("\n") ? t.slice(0, -1) : t;
  };
  if (l.startsWith("@@fact|") || l.startsWith("@@val|")) {
    const [kind, name, b64 = ""] = l.split("|");
    into.facts[name] = unb64(b64, kind === "@@val");
    return null;
  }
  if (l.startsWith("@@task|")) {
    const [, name, status, b64 = ""] = l.split("|");
    const t = { name, status, msg: unb64(b64, true) };
    into.tasks.push(t);
    return t;
  }
  return null;
}
