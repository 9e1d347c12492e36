/**
 * Ansible inventories: an INI (ini.ts) or YAML (yaml.ts) hosts file with group_vars/ and host_vars/
 * beside it (vars.ts), merged with Ansible's precedence and validated, plus --extra-vars on top;
 * --limit patterns (patterns.ts). Every problem names the file (and line, or variable); a missing
 * SSH key file is reported before any connection.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { DEFAULTS, ROLE_VAR_NAMES, RoleVars, TARGET_GROUP } from "../defaults";
import { ANSIBLE_YAML } from "./ansible-yaml";
import { displayPath } from "./display";
import { notKeyValue, parseIni, shlex as shlexOf } from "./ini";
import { PatternError, applyLimit } from "./patterns";
import { type InventorySource, InventoryError, type Vars } from "./source";
import { Source, checkVar, groupDepths, loadVarsFiles, resolveTemplating } from "./vars";
import { parseYamlInventory } from "./yaml";

export { displayPath } from "./display";
export { shlex } from "./ini";
export { expandHostPattern, PatternError } from "./patterns";
export { InventoryError } from "./source";

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

/** Resolves a path given as -i: a hosts file, or a directory containing one. */
export function resolveInventoryPath(p: string): string {
  if (!existsSync(p)) throw new InventoryError([`${displayPath(p)}: inventory not found`]);
  if (statSync(p).isDirectory()) {
    for (const f of ["hosts", "hosts.ini", "hosts.yml", "hosts.yaml", "inventory", "inventory.ini", "inventory.yml", "inventory.yaml"]) if (existsSync(join(p, f))) return join(p, f);
    throw new InventoryError([`${displayPath(p)}: directory has no hosts file (hosts, hosts.ini, hosts.yml)`]);
  }
  if (statSync(p).mode & 0o111 && readFileSync(p, "utf8").startsWith("#!")) {
    throw new InventoryError([`${displayPath(p)}: executable (script) inventories are not supported; write the hosts out (INI or YAML)`]);
  }
  return p;
}

/** INI or YAML, as Ansible's plugins decide: .yml/.yaml/.json are YAML, anything else INI. */
export function parseInventoryFile(file: string): InventorySource {
  const text = readFileSync(file, "utf8");
  return /\.(ya?ml|json)$/i.test(file) ? parseYamlInventory(text, displayPath(file)) : parseIni(text, displayPath(file));
}

/**
 * -e / --extra-vars values, in order: `key=value key2=value2` (strings, shell-quoted), a JSON/YAML
 * mapping, or `@file.yml`. They override every inventory variable, as in Ansible.
 */
export function parseExtraVars(values: string[]): Source[] {
  const problems: string[] = [];
  const out: Source[] = [];
  values.forEach((raw, i): void => {
    const where = `--extra-vars #${i + 1}`;
    const v = raw.trim();
    if (v.startsWith("@")) {
      const f = v.slice(1);
      if (!existsSync(f)) {
        problems.push(`${where}: ${f}: no such file`);
        return;
      }
      try {
        const doc = parseYaml(readFileSync(f, "utf8"), ANSIBLE_YAML) as unknown;
        if (doc === null || doc === undefined) return;
        if (typeof doc !== "object" || Array.isArray(doc)) problems.push(`${displayPath(f)}: must be a YAML mapping of variable: value`);
        else out.push({ file: displayPath(f), vars: doc as Vars });
      } catch (e) {
        problems.push(`${displayPath(f)}: invalid YAML: ${(e as Error).message.split("\n")[0]}`);
      }
      return;
    }
    if (v.startsWith("{")) {
      try {
        const doc = parseYaml(v, ANSIBLE_YAML) as unknown;
        if (!doc || typeof doc !== "object" || Array.isArray(doc)) problems.push(`${where}: must be a mapping`);
        else out.push({ file: where, vars: doc as Vars });
      } catch (e) {
        problems.push(`${where}: invalid JSON/YAML: ${(e as Error).message.split("\n")[0]}`);
      }
      return;
    }
    const vars: Vars = {};
    let tokens: string[];
    try {
      tokens = shlexOf(v);
    } catch {
      problems.push(`${where}: unterminated quote`);
      return;
    }
    for (const [n, kv] of tokens.entries()) {
      const eq = kv.indexOf("=");
      if (eq < 1) {
        problems.push(`${where}: expected key=value, got ${notKeyValue(tokens, n)}`);
        continue;
      }
      vars[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    out.push({ file: where, vars });
  });
  if (problems.length) throw new InventoryError(problems);
  return out;
}

const expandHome = (p: string) => (p === "~" || p.startsWith("~/") ? join(homedir(), p.slice(1)) : p);

export function loadInventory(path: string, env: NodeJS.ProcessEnv = process.env, extraVars: Source[] = []): Inventory {
  const file = resolveInventoryPath(path);
  const base = dirname(file);
  const rel = displayPath;
  const ini = parseInventoryFile(file);
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
    sources.push(...extraVars);

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
    if (merged.asterisk_worker_enabled === true && merged.asterisk_ari_password === undefined && merged.asterisk_ari_password_secret_arn === undefined) {
      problems.push(
        `${origin.asterisk_worker_enabled}: asterisk_worker_enabled: the worker logs in to ARI as asterisk_ari_user and needs its password: ` +
          "set asterisk_ari_password_secret_arn (or asterisk_ari_password)",
      );
    }
    const vars = { ...DEFAULTS } as RoleVars & Vars;
    for (const k of ROLE_VAR_NAMES) {
      if (merged[k] !== undefined) (vars as Vars)[k] = merged[k];
    }
    const keyFile = merged.ansible_ssh_private_key_file as string | undefined;
    hosts.push({
      name,
      groups: hostGroups,
      vars,
      origin,
      connection: {
        host: String(merged.ansible_host ?? name),
        port: merged.ansible_port as number | undefined,
        user: merged.ansible_user as string | undefined,
        keyFile: keyFile === undefined ? undefined : expandHome(keyFile),
        become: (merged.ansible_become as boolean | undefined) ?? merged.ansible_user !== "root",
        sshArgs: [...((merged.ansible_ssh_common_args as string[]) ?? []), ...((merged.ansible_ssh_extra_args as string[]) ?? [])],
        timeout: (merged.ansible_timeout as number | undefined) ?? 10,
      },
    });
  }
  if (problems.length) throw new InventoryError([...new Set(problems)]);
  return { file, hosts, groups, ignored: [...ignored].sort() };
}

/** Applies --limit (Ansible patterns, see patterns.ts) within group [asterisk]; a bad pattern is an error. */
export function selectHosts(inv: Inventory, limit?: string): HostSpec[] {
  const target = new Set(inv.groups[TARGET_GROUP] ?? []);
  if (target.size === 0) throw new InventoryError([`${displayPath(inv.file)}: no hosts in group [${TARGET_GROUP}]`]);
  let names = [...target];
  // Ansible runs every host on `--limit ''`; an empty pattern is far more often an unset shell variable.
  if (limit !== undefined && !limit.trim()) throw new InventoryError([`--limit ${JSON.stringify(limit)} is empty (an unset variable?): it would select every host; leave --limit out to run them all`]);
  if (limit) {
    let wanted: Set<string>;
    try {
      wanted = new Set(applyLimit(limit, { hosts: inv.hosts.map((h) => h.name), groups: inv.groups }));
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      throw new InventoryError([`${e.message}${/neither a host nor a group/.test(e.message) ? ` of ${displayPath(inv.file)}` : ""}`]);
    }
    names = names.filter((n) => wanted.has(n));
    if (names.length === 0) throw new InventoryError([`--limit ${limit} matches no host of group [${TARGET_GROUP}]`]);
  }
  return inv.hosts.filter((h) => names.includes(h.name));
}

/** The selected hosts' SSH key files must exist: named (file, variable, host) before any connection. */
export function checkKeyFiles(hosts: HostSpec[]): void {
  const problems = hosts
    .filter((h) => h.connection.keyFile !== undefined && !existsSync(h.connection.keyFile))
    .map((h) => `${h.origin.ansible_ssh_private_key_file ?? `host ${h.name}`}: ansible_ssh_private_key_file: ${h.connection.keyFile}: no such file (host ${h.name}; nothing was contacted)`);
  if (problems.length) throw new InventoryError([...new Set(problems)]);
}
