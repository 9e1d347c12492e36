/**
 * Host patterns, strictly: host ranges in inventories (`web[01:03]`, `db-[a:c]`, `x[0:10:2]`) and
 * --limit patterns (`a:b`, `a,b`, `!x`, `&g`, `*` globs, `~regex`, `@retry_file`). A bad pattern
 * is an error that says what is wrong; what Ansible has and this tool does not is "not supported".
 */
import { existsSync, readFileSync } from "node:fs";

export class PatternError extends Error {}

/** What a host name may hold (Ansible accepts more in theory; these are what SSH and DNS accept). */
const NAME_CHARS = /^[A-Za-z0-9_.-]+$/;

/** Expands Ansible host ranges: db[01:03] -> db01 db02 db03, x[a:c], n[0:10:5]; throws PatternError on a bad pattern. */
export function expandHostPattern(p: string): string[] {
  const open = p.indexOf("[");
  if (open < 0) {
    if (p.includes("]")) throw new PatternError(`bad host pattern ${p}: "]" without "["`);
    if (!NAME_CHARS.test(p)) throw new PatternError(`bad host name ${p}: only letters, digits, ".", "_" and "-" are allowed`);
    return [p];
  }
  const close = p.indexOf("]", open);
  if (close < 0) throw new PatternError(`bad host pattern ${p}: range "[" is not closed`);
  const [pre, body, post] = [p.slice(0, open), p.slice(open + 1, close), p.slice(close + 1)];
  const m = /^([0-9]+|[a-z]+|[A-Z]+):([0-9]+|[a-z]+|[A-Z]+)(?::([0-9]+))?$/.exec(body);
  if (!m) throw new PatternError(`bad host pattern ${p}: a range is [START:END] or [START:END:STEP] with numbers or single letters`);
  const [, a, b, stepS] = m;
  const step = stepS === undefined ? 1 : Number(stepS);
  if (step < 1) throw new PatternError(`bad host pattern ${p}: the step must be 1 or more`);
  const numeric = /^\d+$/.test(a);
  if (numeric !== /^\d+$/.test(b)) throw new PatternError(`bad host pattern ${p}: range ${a}:${b} mixes numbers and letters`);
  if (!numeric && (a.length !== 1 || b.length !== 1)) throw new PatternError(`bad host pattern ${p}: letter ranges are single letters ([a:f])`);
  const [lo, hi] = numeric ? [Number(a), Number(b)] : [a.charCodeAt(0), b.charCodeAt(0)];
  if (lo > hi) throw new PatternError(`bad host pattern ${p}: range ${a}:${b} runs backwards`);
  if (!pre && !post) throw new PatternError(`bad host pattern ${p}: a range needs a name around it`);
  const out: string[] = [];
  for (let i = lo; i <= hi; i += step) {
    const part = numeric ? String(i).padStart(a.length, "0") : String.fromCharCode(i);
    out.push(...expandHostPattern(`${pre}${part}${post}`));
  }
  return out;
}

export interface LimitTarget {
  hosts: string[];
  groups: Record<string, string[]>;
}

const glob = (g: string): RegExp => new RegExp(`^${g.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);

/** Hosts matched by one --limit term (a name, a glob or ~regex), in inventory order. */
function matchTerm(term: string, inv: LimitTarget): string[] {
  const members = (g: string) => new Set(inv.groups[g] ?? []);
  if (term.startsWith("~")) {
    let re: RegExp;
    try {
      re = new RegExp(term.slice(1));
    } catch (e) {
      throw new PatternError(`--limit ${term}: bad regular expression: ${(e as Error).message}`);
    }
    const hit = new Set<string>();
    for (const h of inv.hosts) if (re.test(h)) hit.add(h);
    for (const g of Object.keys(inv.groups)) if (re.test(g)) members(g).forEach((h) => hit.add(h));
    if (!hit.size) throw new PatternError(`--limit ${term} matches no host or group`);
    return inv.hosts.filter((h) => hit.has(h));
  }
  if (/\[[^\]]*\]$/.test(term) && !inv.groups[term] && !inv.hosts.includes(term)) {
    throw new PatternError(`--limit ${term}: subscripts of a group (group[0], group[1:3]) are not supported; name the hosts`);
  }
  if (term.includes("*") || term.includes("?")) {
    const re = glob(term);
    const hit = new Set<string>();
    for (const h of inv.hosts) if (re.test(h)) hit.add(h);
    for (const g of Object.keys(inv.groups)) if (re.test(g)) members(g).forEach((h) => hit.add(h));
    if (!hit.size) throw new PatternError(`--limit ${term} matches no host or group`);
    return inv.hosts.filter((h) => hit.has(h));
  }
  if (inv.groups[term]) return inv.hosts.filter((h) => members(term).has(h));
  if (inv.hosts.includes(term)) return [term];
  throw new PatternError(`--limit: ${term} is neither a host nor a group`);
}

/** Reads a retry file (@file): one host per line, as Ansible writes them. */
function retryFile(path: string): string[] {
  if (!existsSync(path)) throw new PatternError(`--limit @${path}: no such file`);
  return readFileSync(path, "utf8").split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
}

/**
 * Applies a --limit pattern the way Ansible does: the union of the plain terms, then each `&term`
 * intersected, then each `!term` removed. Terms are separated by "," or ":".
 */
export function applyLimit(limit: string, inv: LimitTarget): string[] {
  const terms: string[] = [];
  for (const part of limit.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (part.startsWith("@")) terms.push(...retryFile(part.slice(1)));
    // ":" separates terms except inside a ~regex or a range
    else if (part.startsWith("~")) terms.push(part);
    else terms.push(...part.split(/:(?![^[]*\])/).map((s) => s.trim()).filter(Boolean));
  }
  if (!terms.length) throw new PatternError(`--limit ${JSON.stringify(limit)} names nothing`);
  const plain = terms.filter((t) => !t.startsWith("!") && !t.startsWith("&"));
  let selected = new Set<string>(plain.length ? plain.flatMap((t) => matchTerm(t, inv)) : inv.hosts);
  for (const t of terms.filter((x) => x.startsWith("&"))) {
    const keep = new Set(matchTerm(t.slice(1), inv));
    selected = new Set([...selected].filter((h) => keep.has(h)));
  }
  for (const t of terms.filter((x) => x.startsWith("!"))) {
    const drop = new Set(matchTerm(t.slice(1), inv));
    selected = new Set([...selected].filter((h) => !drop.has(h)));
  }
  return inv.hosts.filter((h) => selected.has(h));
}
