import { PARAMS_END } from "../../provisioning/scripts";

/** The P_* parameters a host-script fragment carries (paramLines' here-document blocks), decoded: what the host's script receives. */
export function scriptParams(script: string): Record<string, string> {
  const out: Record<string, string> = {};
  let inBlock = false;
  for (const line of script.split("\n")) {
    if (line.endsWith(`<<'${PARAMS_END}'`)) inBlock = true;
    else if (line === PARAMS_END) inBlock = false;
    else if (inBlock) {
      const m = /^(P_[A-Z0-9_]+)=(.*)$/.exec(line);
      if (!m) throw new Error(`not a parameter line: ${line.slice(0, 80)}`);
      // printf %b's escapes as paramLines writes them: \xHH bytes, \n, \r, \\.
      const bytes: Buffer[] = [];
      for (const [, hex, esc, text] of m[2].matchAll(/\\x([0-9a-f]{2})|\\(.)|([^\\]+)/g)) {
        bytes.push(hex ? Buffer.from([parseInt(hex, 16)]) : Buffer.from(esc === "n" ? "\n" : esc === "r" ? "\r" : (esc ?? text)));
      }
      out[m[1]] = Buffer.concat(bytes).toString("utf8");
    }
  }
  return out;
}
