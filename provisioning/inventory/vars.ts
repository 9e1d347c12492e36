/**
 * Variables: group_vars/ and host_vars/ files beside the inventory, the one supported Jinja form
 * ({{ lookup('env', 'NAME') }}), Ansible's precedence (group depth), and checking each occurrence
 * against the role's schema (defaults.ts) or the connection variables (connection.ts).
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ACCEPTED_ANSIBLE_VARS, CONNECTION_VARS, ROLE_VAR_NAMES, checkRoleVar, isRoleVar } from "../defaults";
import { ANSIBLE_YAML, UnsafeString, VaultValue } from "./ansible-yaml";
import { CONNECTION_VALIDATORS } from "./connection";
import { displayPath } from "./display";
import type { Vars } from "./source";

export interface Source {
  file: string;
  vars: Vars;
}

const JINJA_ENV = /^\{\{\s*lookup\(\s*['"]env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}$/;

/** The extensions Ansible reads variable files with (C.YAML_FILENAME_EXTENSIONS, and none). */
const VARS_EXTENSIONS = ["", ".yml", ".yaml", ".json"];

/** A directory's variable files as Ansible lists them: sorted, recursing into subdirectories, skipping hidden files and `~` backups. */
function varsFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .filter((f) => !f.startsWith(".") && !f.endsWith("~"))
    .flatMap((f) => {
      const p = join(dir, f);
      const ext = extname(f);
      if (statSync(p).isDirectory()) return ext ? [] : varsFilesIn(p);
      return VARS_EXTENSIONS.includes(ext) ? [p] : [];
    });
}

/**
 * Reads group_vars/NAME, NAME.yml, NAME.yaml or NAME.json (a file, or a directory of such files) as
 * Ansible does: the first of them that exists is read. Ansible skips the others without a word, so
 * a second one is an error here: its variables would silently not apply.
 */
export function loadVarsFiles(base: string, name: string, problems: string[]): Source[] {
  const out: Source[] = [];
  const [p, ...shadowed] = VARS_EXTENSIONS.map((ext) => join(base, `${name}${ext}`)).filter((f) => existsSync(f));
  if (p === undefined) return out;
  for (const other of shadowed) {
    problems.push(`${displayPath(other)}: not read, because ${displayPath(p)} exists (Ansible reads only the first of ${name}, ${name}.yml, ${name}.yaml, ${name}.json); merge them into one`);
  }
  const files = statSync(p).isDirectory() ? varsFilesIn(p) : [p];
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    if (text.startsWith("$ANSIBLE_VAULT")) {
      problems.push(`${displayPath(f)}: vault-encrypted variable files are not supported; use REDIS_PASSWORD or redis_password_secret_arn`);
      continue;
    }
    try {
      const doc = parseYaml(text, ANSIBLE_YAML) as unknown;
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
  return out;
}

/**
 * Resolves `{{ lookup('env', 'X') }}` (the only templating supported; other Jinja is an error), in
 * lists and maps too; `!unsafe` strings are taken as written, an inline `!vault` value is an error.
 */
export function resolveTemplating(file: string, key: string, v: unknown, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  const bad = (msg: string) => (problems.push(`${file}: ${key}: ${msg}`), undefined);
  if (v instanceof UnsafeString) return v.value;
  if (v instanceof VaultValue) return bad("vault-encrypted values (!vault) are not supported; use REDIS_PASSWORD or the *_secret_arn variables");
  if (Array.isArray(v) || (v !== null && typeof v === "object")) {
    const before = problems.length;
    const out = Array.isArray(v)
      ? v.map((x) => resolveTemplating(file, key, x, env, problems))
      : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveTemplating(file, key, x, env, problems)]));
    return problems.length > before ? undefined : out;
  }
  if (typeof v !== "string" || !v.includes("{{")) return v;
  const m = JINJA_ENV.exec(v.trim());
  if (m) return env[m[1]] ?? undefined;
  return bad("Jinja templating is not supported (only {{ lookup('env', 'NAME') }})");
}

/** Group depth for Ansible's precedence: all=0, a group = 1 + depth of its deepest parent. */
export function groupDepths(children: Map<string, Set<string>>, groups: string[]): Map<string, number> {
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

/** Validates one occurrence of a variable; returns the normalised value or undefined (problem recorded / ignored). */
export function checkVar(file: string, key: string, v: unknown, problems: string[], ignored: Set<string>): unknown {
  const bad = (msg: string) => {
    problems.push(`${file}: ${key}: ${msg}`);
    return undefined;
  };
  if (isRoleVar(key)) {
    const checked = checkRoleVar(key, v);
    if (checked.ok) return checked.value;
    for (const p of checked.problems) bad(p);
    return undefined;
  }
  if ((CONNECTION_VARS as readonly string[]).includes(key)) {
    try {
      return CONNECTION_VALIDATORS[key as (typeof CONNECTION_VARS)[number]](v);
    } catch (e) {
      return bad((e as Error).message);
    }
  }
  if (key in ACCEPTED_ANSIBLE_VARS) {
    return ACCEPTED_ANSIBLE_VARS[key](v) ? undefined : bad(`value ${JSON.stringify(v)} is not supported by this tool`);
  }
  if (key.startsWith("redis_")) return bad(`unknown variable (known: ${ROLE_VAR_NAMES.filter((k) => k.startsWith("redis_")).join(", ")})`);
  for (const prefix of ["asterisk_ari_", "asterisk_worker_"]) {
    if (key.startsWith(prefix)) return bad(`unknown variable (known: ${ROLE_VAR_NAMES.filter((k) => k.startsWith(prefix)).join(", ")})`);
  }
  if (key.startsWith("ansible_")) return bad(`connection variable not supported by this tool (supported: ${CONNECTION_VARS.join(", ")})`);
  ignored.add(key);
  return undefined;
}

