/**
 * Ansible inventories, unchanged: an INI hosts file ([group], [group:vars], [group:children],
 * host lines with key=value variables, numeric ranges like web[01:03]) and YAML group_vars/ and
 * host_vars/ beside it. Variables are merged with Ansible's precedence and validated; every
 * problem names the file and the variable.
 */
import { existsSync, readFileSync, statSync, readdirSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { ACCEPTED_ANSIBLE_VARS, CONNECTION_VARS, DEFAULTS, OPTIONAL_VARS, RoleVars, TARGET_GROUP, VALIDATORS, ValueProblems, bool } from "./defaults";

export class InventoryError extends Error {
  constructor(public readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

export interface Connection {
  host: string;
  port?: number;
  user?: string;
  keyFile?: string;
  become: boolean;
  sshArgs: string[];
  timeout: number;
}

export interface HostSpec {
  name: string;
  groups: string[];
  connection: Connection;
  vars: RoleVars;
  /** variable -> file that set it (for messages). */
  origin: Record<string, string>;
}

export interface Inventory {
  file: string;
  hosts: HostSpec[];
  groups: Record<string, string[]>;
  /** Variables defined in the inventory that this role does not use (listed, not fatal). */
  ignored: string[];
}

type Vars = Record<string, unknown>;
interface Source {
  file: string;
  vars: Vars;
}

/**
 * How a path appears in messages: relative to the working directory when it is inside it, as
 * Ansible prints it, else absolute. Every inventory message goes through this, whatever form -i had.
 */
export function displayPath(p: string, cwd: string = process.cwd()): string {
  const abs = resolve(cwd, p);
  const r = relative(cwd, abs);
  if (r === "") return ".";
  return r.startsWith("..") || isAbsolute(r) ? abs : r;
}

/** Splits like a shell (quotes, backslash) — Ansible uses shlex for INI host lines. */
export function shlex(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      has = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      has = true;
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

/** Expands Ansible host ranges: db[01:03] -> db01 db02 db03, x[a:c]. */
export function expandHostPattern(p: string): string[] {
  const m = /^(.*?)\[([0-9a-z]+):([0-9a-z]+)(?::(\d+))?\](.*)$/i.exec(p);
  if (!m) return [p];
  const [, pre, a, b, stepS, post] = m;
  const step = stepS ? Number(stepS) : 1;
  const out: string[] = [];
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    for (let i = Number(a); i <= Number(b); i += step) out.push(...expandHostPattern(`${pre}${String(i).padStart(a.length, "0")}${post}`));
  } else {
    for (let c = a.charCodeAt(0); c <= b.charCodeAt(0); c += step) out.push(...expandHostPattern(`${pre}${String.fromCharCode(c)}${post}`));
  }
  return out;
}

/** INI host-line values are Python literals in Ansible: numbers and booleans become typed. */
function literal(v: string): unknown {
  if (/^-?\d+$/.test(v)) return Number(v);
  if (v === "True" || v === "true") return true;
  if (v === "False" || v === "false") return false;
  return v;
}

interface IniResult {
  hostVars: Map<string, Vars>;
  hostOrder: string[];
  groupHosts: Map<string, Set<string>>;
  groupVars: Map<string, Vars>;
  children: Map<string, Set<string>>;
}

export function parseIni(text: string, file: string): IniResult {
  const r: IniResult = { hostVars: new Map(), hostOrder: [], groupHosts: new Map(), groupVars: new Map(), children: new Map() };
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
      ensure(r.children, section, () => new Set()).add(l);
      ensure(r.groupHosts, l, () => new Set());
      return;
    }
    if (kind === "vars") {
      const eq = l.indexOf("=");
      if (eq < 1) {
        problems.push(`${at}: [${section}:vars] expects key=value, got ${l}`);
        return;
      }
      // [group:vars] values are plain strings in Ansible (quotes stripped).
      const key = l.slice(0, eq).trim();
      let val = l.slice(eq + 1).trim();
      try {
        val = shlex(val).join(" ");
      } catch {
        problems.push(`${at}: ${key}: unterminated quote`);
      }
      ensure<Vars>(r.groupVars, section, () => ({}))[key] = val;
      return;
    }
    let tokens: string[];
    try {
      tokens = shlex(l.replace(/\s#.*$/, ""));
    } catch {
      problems.push(`${at}: unterminated quote`);
      return;
    }
    const [pattern, ...kvs] = tokens;
    const vars: Vars = {};
    for (const kv of kvs) {
      const eq = kv.indexOf("=");
      if (eq < 1) {
        problems.push(`${at}: expected key=value after host ${pattern}, got ${kv}`);
        continue;
      }
      vars[kv.slice(0, eq)] = literal(kv.slice(eq + 1));
    }
    for (const h of expandHostPattern(pattern)) {
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

const JINJA_ENV = /^\{\{\s*lookup\(\s*['"]env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}$/;

/** Reads group_vars/NAME.yml|.yaml|NAME (file) or a directory of such files. */
function loadVarsFiles(base: string, name: string, problems: string[]): Source[] {
  const out: Source[] = [];
  const candidates = [`${name}.yml`, `${name}.yaml`, name].map((f) => join(base, f));
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    const files = statSync(p).isDirectory()
      ? readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(p, f))
      : [p];
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      if (text.startsWith("$ANSIBLE_VAULT")) {
        problems.push(`${displayPath(f)}: vault-encrypted variable files are not supported; use REDIS_PASSWORD or redis_password_secret_arn`);
        continue;
      }
      try {
        const doc = parseYaml(text) as unknown;
        if (doc === null || doc === undefined) continue;
        if (typeof doc !== "object" || Array.isArray(doc)) {
          problems.push(`${displayPath(f)}: must be a YAML mapping of variable: value`);
          continue;
        }
        out.push({ file: f, vars: doc as Vars });
      } catch (e) {
        problems.push(`${displayPath(f)}: invalid YAML: ${(e as Error).message.split("\n")[0]}`);
      }
    }
  }
  return out;
}

/** Resolves `{{ lookup('env', 'X') }}` (the only templating supported); other Jinja is an error. */
function resolveTemplating(file: string, key: string, v: unknown, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  if (typeof v !== "string" || !v.includes("{{")) return v;
  const m = JINJA_ENV.exec(v.trim());
  if (m) return env[m[1]] ?? undefined;
  problems.push(`${file}: ${key}: Jinja templating is not supported (only {{ lookup('env', 'NAME') }})`);
  return undefined;
}

/** Group depth for Ansible's precedence: all=0, a group = 1 + depth of its deepest parent. */
function groupDepths(children: Map<string, Set<string>>, groups: string[]): Map<string, number> {
  const parents = new Map<string, string[]>();
  for (const [p, cs] of children) for (const c of cs) parents.set(c, [...(parents.get(c) ?? []), p]);
  const depth = new Map<string, number>([["all", 0]]);
  const d = (g: string, seen: Set<string>): number => {
    if (depth.has(g)) return depth.get(g)!;
    if (seen.has(g)) return 1;
    seen.add(g);
    const ps = parents.get(g) ?? [];
    const v = 1 + Math.max(0, ...ps.map((p) => d(p, seen)));
    depth.set(g, v);
    return v;
  };
  for (const g of groups) d(g, new Set());
  return depth;
}

/** Resolves a path given as -i: a hosts file, or a directory containing `hosts` (or hosts.ini). */
export function resolveInventoryPath(p: string): string {
  if (!existsSync(p)) throw new InventoryError([`${displayPath(p)}: inventory not found`]);
  if (statSync(p).isDirectory()) {
    for (const f of ["hosts", "hosts.ini", "inventory", "inventory.ini"]) if (existsSync(join(p, f))) return join(p, f);
    throw new InventoryError([`${displayPath(p)}: directory has no hosts file (hosts or hosts.ini)`]);
  }
  return p;
}

export function loadInventory(path: string, env: NodeJS.ProcessEnv = process.env): Inventory {
  const file = resolveInventoryPath(path);
  const base = dirname(file);
  const rel = displayPath;
  const ini = parseIni(readFileSync(file, "utf8"), rel(file));
  const problems: string[] = [];
  const ignored = new Set<string>();

  // Group membership (transitive through :children).
  const allGroups = new Set<string>([...ini.groupHosts.keys(), ...ini.children.keys()]);
  const members = (g: string, seen = new Set<string>()): Set<string> => {
    const s = new Set(ini.groupHosts.get(g) ?? []);
    if (seen.has(g)) return s;
    seen.add(g);
    for (const c of ini.children.get(g) ?? []) for (const h of members(c, seen)) s.add(h);
    return s;
  };
  const groups: Record<string, string[]> = { all: [...ini.hostOrder] };
  for (const g of allGroups) groups[g] = [...members(g)];
  for (const g of Object.keys(groups)) {
    if (g !== "all" && groups[g].length === 0 && !ini.groupVars.has(g)) delete groups[g];
  }
  const depths = groupDepths(ini.children, [...allGroups]);

  const groupVarFiles = new Map<string, Source[]>();
  for (const g of new Set(["all", ...allGroups])) groupVarFiles.set(g, loadVarsFiles(join(base, "group_vars"), g, problems));

  const hosts: HostSpec[] = [];
  for (const name of ini.hostOrder) {
    const hostGroups = Object.keys(groups).filter((g) => g !== "all" && groups[g].includes(name));
    const ordered = ["all", ...hostGroups.sort((a, b) => (depths.get(a) ?? 1) - (depths.get(b) ?? 1) || a.localeCompare(b))];
    // Ansible precedence, low to high: inventory group vars, group_vars files (per group, by depth), host line, host_vars files.
    const sources: Source[] = [];
    for (const g of ordered) {
      if (ini.groupVars.has(g)) sources.push({ file: `${rel(file)} [${g}:vars]`, vars: ini.groupVars.get(g)! });
      sources.push(...groupVarFiles.get(g)!.map((s) => ({ ...s, file: rel(s.file) })));
    }
    sources.push({ file: `${rel(file)} (host ${name})`, vars: ini.hostVars.get(name)! });
    sources.push(...loadVarsFiles(join(base, "host_vars"), name, problems).map((s) => ({ ...s, file: rel(s.file) })));

    const merged: Vars = {};
    const origin: Record<string, string> = {};
    for (const src of sources) {
      for (const [key, raw] of Object.entries(src.vars)) {
        const v = resolveTemplating(src.file, key, raw, env, problems);
        if (v === undefined) continue;
        const checked = checkVar(src.file, key, v, problems, ignored);
        if (checked === undefined) continue;
        merged[key] = checked;
        origin[key] = src.file;
      }
    }
    for (const [plain, arn] of [
      ["redis_password", "redis_password_secret_arn"],
      ["asterisk_ari_password", "asterisk_ari_password_secret_arn"],
    ]) {
      if (merged[plain] !== undefined && merged[arn] !== undefined) {
        problems.push(`${origin[arn]}: ${arn}: set together with ${plain} (${origin[plain]}); use one`);
      }
    }
    const vars = { ...DEFAULTS } as RoleVars & Vars;
    for (const k of [...Object.keys(DEFAULTS), ...OPTIONAL_VARS]) {
      if (merged[k] !== undefined) (vars as Vars)[k] = merged[k];
    }
    hosts.push({
      name,
      groups: hostGroups,
      vars,
      origin,
      connection: {
        host: String(merged.ansible_host ?? name),
        port: merged.ansible_port as number | undefined,
        user: merged.ansible_user as string | undefined,
        keyFile: merged.ansible_ssh_private_key_file as string | undefined,
        become: (merged.ansible_become as boolean | undefined) ?? merged.ansible_user !== "root",
        sshArgs: [...((merged.ansible_ssh_common_args as string[]) ?? []), ...((merged.ansible_ssh_extra_args as string[]) ?? [])],
        timeout: (merged.ansible_timeout as number | undefined) ?? 10,
      },
    });
  }
  if (problems.length) throw new InventoryError([...new Set(problems)]);
  return { file, hosts, groups, ignored: [...ignored].sort() };
}

/** Validates one occurrence of a variable; returns the normalised value or undefined (problem recorded / ignored). */
function checkVar(file: string, key: string, v: unknown, problems: string[], ignored: Set<string>): unknown {
  const bad = (msg: string) => {
    problems.push(`${file}: ${key}: ${msg}`);
    return undefined;
  };
  if (key in VALIDATORS) {
    try {
      return VALIDATORS[key as keyof RoleVars](v);
    } catch (e) {
      if (e instanceof ValueProblems) {
        for (const p of e.problems) bad(p);
        return undefined;
      }
      return bad((e as Error).message);
    }
  }
  if ((CONNECTION_VARS as readonly string[]).includes(key)) {
    try {
      switch (key) {
        case "ansible_port":
          return VALIDATORS.redis_port(v);
        case "ansible_timeout":
          return VALIDATORS.redis_tcp_keepalive(v);
        case "ansible_become":
          return bool(v);
        case "ansible_ssh_common_args":
        case "ansible_ssh_extra_args":
          return shlex(String(v));
        default:
          if (typeof v !== "string" || !v || /\s/.test(v)) return bad(`must be a non-empty string without spaces (got ${JSON.stringify(v)})`);
          return v;
      }
    } catch (e) {
      return bad((e as Error).message);
    }
  }
  if (key in ACCEPTED_ANSIBLE_VARS) {
    return ACCEPTED_ANSIBLE_VARS[key](v) ? undefined : bad(`value ${JSON.stringify(v)} is not supported by this tool`);
  }
  if (key.startsWith("redis_")) return bad(`unknown variable (known: ${Object.keys(VALIDATORS).filter((k) => k.startsWith("redis_")).join(", ")})`);
  if (key.startsWith("asterisk_ari_")) return bad(`unknown variable (known: ${Object.keys(VALIDATORS).filter((k) => k.startsWith("asterisk_ari_")).join(", ")})`);
  if (key.startsWith("ansible_")) return bad("unsupported connection variable");
  ignored.add(key);
  return undefined;
}

/** Applies --limit (comma/colon separated hosts or groups, `all`); unknown names are errors. */
export function selectHosts(inv: Inventory, limit?: string): HostSpec[] {
  const target = new Set(inv.groups[TARGET_GROUP] ?? []);
  if (target.size === 0) throw new InventoryError([`${displayPath(inv.file)}: no hosts in group [${TARGET_GROUP}]`]);
  let names = [...target];
  if (limit) {
    const wanted = new Set<string>();
    for (const part of limit.split(/[,:]/).map((s) => s.trim()).filter(Boolean)) {
      if (inv.groups[part]) inv.groups[part].forEach((h) => wanted.add(h));
      else if (inv.hosts.some((h) => h.name === part)) wanted.add(part);
      else throw new InventoryError([`--limit: ${part} is neither a host nor a group of ${displayPath(inv.file)}`]);
    }
    names = names.filter((n) => wanted.has(n));
    if (names.length === 0) throw new InventoryError([`--limit ${limit} matches no host of group [${TARGET_GROUP}]`]);
  }
  return inv.hosts.filter((h) => names.includes(h.name));
}
