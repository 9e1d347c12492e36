/**
 * Ansible's INI inventory format: [group], [group:vars], [group:children], host lines with
 * key=value variables and [group:vars] values (Python literals, else the text as written: literal.ts), `name:port`, and host ranges (strict, see patterns.ts).
 * Every problem names the file and the line.
 */
import { InventoryError, type InventorySource, type Vars, emptySource } from "./source";
import { iniValue } from "./literal";
import { PatternError, expandHostPattern } from "./patterns";

/**
 * Splits like Python's `shlex.split` (POSIX mode), which Ansible uses for INI host lines and ssh
 * arguments: quotes group, a backslash escapes outside quotes and only `"` or `\\` inside double quotes,
 * nothing inside single quotes; with `comments`, a `#` outside quotes ends the line.
 */
export function shlex(s: string, { comments = false } = {}): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && (s[i + 1] === '"' || s[i + 1] === "\\")) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      has = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (c === "#" && comments) {
      break;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new Error("unterminated quote");
  if (has || cur) out.push(cur);
  return out;
}

/**
 * A word of a `key=value ...` list that is not key=value, for a message: shown, unless it may be a
 * value (a secret): after a lone "=" or a "key=" (`redis_password = s3cret`), or starting with "=".
 */
export function notKeyValue(words: string[], n: number): string {
  const prev = n > 0 ? words[n - 1] : "";
  const value = words[n].startsWith("=") || prev.endsWith("=");
  return value ? `word ${n + 1}, which is not shown as it may be a secret (write key=value without spaces around "=")` : words[n];
}

export function parseIni(text: string, file: string): InventorySource {
  const r = emptySource();
  const problems: string[] = [];
  let section = "ungrouped";
  let kind: "hosts" | "vars" | "children" = "hosts";
  const ensure = <T>(m: Map<string, T>, k: string, init: () => T): T => {
    if (!m.has(k)) m.set(k, init());
    return m.get(k)!;
  };
  text.split(/\r?\n/).forEach((raw, idx) => {
    const at = `${file}:${idx + 1}`;
    const l = raw.trim();
    if (!l || l.startsWith("#") || l.startsWith(";")) return;
    const sec = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(l);
    if (sec) {
      if (!/^[A-Za-z0-9_-]+$/.test(sec[1])) {
        problems.push(`${at}: bad group name [${sec[1]}] (letters, digits, "_" and "-")`);
        return;
      }
      section = sec[1];
      kind = (sec[2] as "vars" | "children" | undefined) ?? "hosts";
      if (kind === "hosts") ensure(r.groupHosts, section, () => new Set());
      return;
    }
    if (l.startsWith("[")) {
      problems.push(`${at}: malformed section header ${l}`);
      return;
    }
    if (kind === "children") {
      if (!/^[A-Za-z0-9_-]+$/.test(l)) {
        problems.push(`${at}: bad group name ${l} in [${section}:children]`);
        return;
      }
      ensure(r.children, section, () => new Set()).add(l);
      ensure(r.groupHosts, l, () => new Set());
      return;
    }
    if (kind === "vars") {
      const eq = l.indexOf("=");
      if (eq < 1) {
        problems.push(`${at}: [${section}:vars] expects key=value, got a line without "=" (not shown, it may be a secret)`);
        return;
      }
      // As in Ansible: the text after "=" (trimmed) is a Python literal, or else the value as written.
      const key = l.slice(0, eq).trim();
      const val = iniValue(l.slice(eq + 1).trim());
      ensure<Vars>(r.groupVars, section, () => ({}))[key] = val;
      return;
    }
    let tokens: string[];
    try {
      tokens = shlex(l, { comments: true });
    } catch {
      problems.push(`${at}: unterminated quote`);
      return;
    }
    const [first] = tokens;
    const vars: Vars = {};
    // `name:port` (Ansible INI); a range may hold ":" inside its brackets.
    const hostPort = /^(.+?):(\d+)$/.exec(first);
    const pattern = hostPort && !/\[[^\]]*$/.test(hostPort[1]) ? hostPort[1] : first;
    if (hostPort && pattern !== first) vars.ansible_port = Number(hostPort[2]);
    for (const [n, kv] of tokens.entries()) {
      if (n === 0) continue;
      const eq = kv.indexOf("=");
      if (eq < 1) {
        problems.push(`${at}: expected key=value after host ${pattern}, got ${notKeyValue(tokens, n)}`);
        continue;
      }
      vars[kv.slice(0, eq)] = iniValue(kv.slice(eq + 1));
    }
    let names: string[];
    try {
      names = expandHostPattern(pattern);
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      problems.push(`${at}: ${e.message}`);
      return;
    }
    for (const h of names) {
      if (!r.hostVars.has(h)) {
        r.hostVars.set(h, {});
        r.hostOrder.push(h);
      }
      Object.assign(r.hostVars.get(h)!, vars);
      ensure(r.groupHosts, section, () => new Set()).add(h);
    }
  });
  if (problems.length) throw new InventoryError(problems);
  return r;
}

