/**
 * Task "compare takeover settings": the settings the replaced config (and every file it includes)
 * makes the server run with, against the role's rendered config. The role's config includes nothing,
 * so whatever the old files set differently is dropped by the write; the settings that change how
 * clients reach or use Redis are reported (setting, old file:line and value, new value), and the ones
 * that would break clients are refused unless the inventory says they are intended. Pure: the gather
 * (lib.sh conf_flatten) reports every directive line of the old config with its file and line.
 * Secret values are never shown: only that they differ.
 */
import type { TaskResult } from "../output";
import { SECRET_DIRECTIVES, type RoleVars, type TakeoverAcceptable } from "../defaults";

/** One directive as redis-server reads it: its arguments (quotes resolved) and where it is. */
export interface Directive {
  key: string;
  args: string[];
  file: string;
  line: number;
}

/** redis.conf's argument splitting (sdssplitargs): words, "double quoted" with escapes, 'single quoted'. */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const esc: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", a: "\x07" };
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) break;
    let word = "";
    if (text[i] === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === "\\" && i + 1 < text.length) {
          const c = text[++i];
          const hex = c === "x" ? /^[0-9a-fA-F]{2}/.exec(text.slice(i + 1)) : null;
          if (hex) {
            word += String.fromCharCode(parseInt(hex[0], 16));
            i += 2;
          } else word += esc[c] ?? c;
        } else word += text[i];
      }
      i++;
    } else if (text[i] === "'") {
      for (i++; i < text.length && text[i] !== "'"; i++) word += text[i] === "\\" && text[i + 1] === "'" ? text[++i] : text[i];
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i])) word += text[i++];
    }
    out.push(word);
  }
  return out;
}

/** The directives of one file's text (the rendered config), in order. */
export function directivesOf(text: string, file: string): Directive[] {
  return text.split("\n").flatMap((raw, i) => {
    const words = raw.trim().startsWith("#") ? [] : splitArgs(raw);
    return words.length && words[0].toLowerCase() !== "include" ? [{ key: words[0].toLowerCase(), args: words.slice(1), file, line: i + 1 }] : [];
  });
}

/** The gather's report (FILE<TAB>LINE<TAB>TEXT per directive, includes in place) as directives. */
export function parseEffective(text: string): Directive[] {
  return text.split("\n").flatMap((l) => {
    const m = /^([^\t]*)\t(\d+)\t(.*)$/.exec(l);
    const words = m ? splitArgs(m[3]) : [];
    return m && words.length ? [{ key: words[0].toLowerCase(), args: words.slice(1), file: m[1], line: Number(m[2]) }] : [];
  });
}

/** A setting's effective value: what it is (one line per occurrence that counts) and where; undefined where unset. */
interface Setting {
  values: string[];
  at: string[];
}

/**
 * What redis-server runs with, per setting: the last occurrence wins; `save` lines add up (`save ""`
 * clears them); `user`, `rename-command` and `loadmodule` count once per user / command / module
 * (keyed "user NAME", "loadmodule PATH").
 */
export function effectiveSettings(directives: Directive[]): Map<string, Setting> {
  const out = new Map<string, Setting>();
  for (const d of directives) {
    const where = `${d.file}:${d.line}`;
    const value = d.args.join(" ");
    if (d.key === "save") {
      const prev = out.get("save");
      if (d.args.length === 1 && d.args[0] === "") out.set("save", { values: [], at: [where] });
      else out.set("save", { values: [...(prev?.values ?? []), value], at: [...(prev?.at ?? []), where] });
    } else if ((d.key === "user" || d.key === "rename-command" || d.key === "loadmodule") && d.args.length) {
      out.set(`${d.key} ${d.key === "rename-command" ? d.args[0].toLowerCase() : d.args[0]}`, { values: [d.args.slice(1).join(" ")], at: [where] });
    } else out.set(d.key, { values: [value], at: [where] });
  }
  return out;
}

/** redis-server's own value of a setting no line sets (what an old config without it ran with). */
const BUILT_IN: Record<string, string> = {
  port: "6379",
  bind: "* -::*",
  maxmemory: "0",
  "maxmemory-policy": "noeviction",
  appendonly: "no",
  save: "3600 1 300 100 60 10000",
  maxclients: "10000",
  "tls-port": "0",
  databases: "16",
  "notify-keyspace-events": "",
  timeout: "0",
};

/** A difference worth reporting: `refuse` names what acknowledges it, or it is only a warning. */
export interface TakeoverFinding {
  setting: string;
  /** `setting OLD (file:line) -> NEW`, secrets as "differs". */
  text: string;
  /** Why it matters to clients. */
  why: string;
  /** How to acknowledge it; undefined for a warning. */
  refuse?: string;
  /** Lines of the Ansible-like diff (- old with where, + new). */
  diff: string[];
}

export interface TakeoverComparison {
  refusals: TakeoverFinding[];
  warnings: TakeoverFinding[];
}

const num = (v: string): number | undefined => {
  const m = /^(\d+)(k|kb|m|mb|g|gb)?$/i.exec(v.trim());
  if (!m) return undefined;
  const unit: Record<string, number> = { k: 1000, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };
  return Number(m[1]) * (m[2] ? unit[m[2].toLowerCase()] : 1);
};

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
const WILD4 = ["*", "0.0.0.0"];
const WILD6 = ["*", "::", "::*"];

/**
 * The addresses of old `bind` that new `bind` does not listen on (clients of them would be refused).
 * A loopback address counts as reached when the new one listens on any loopback or wildcard address:
 * its clients are on the host itself (localhost resolves to both 127.0.0.1 and ::1).
 */
export function bindLost(oldBind: string, newBind: string): string[] {
  const addrs = (b: string) => splitArgs(b).map((a) => a.replace(/^-/, ""));
  const now = addrs(newBind);
  const covers = (a: string): boolean => {
    if (now.includes(a)) return true;
    const v6 = a.includes(":");
    if ((v6 ? WILD6 : WILD4).some((w) => now.includes(w))) return true;
    if (a === "*" || a === "::*" || a === "::" || a === "0.0.0.0") return false;
    return LOOPBACK.test(a) && now.some((n) => LOOPBACK.test(n) || WILD4.includes(n) || WILD6.includes(n));
  };
  return addrs(oldBind).filter((a) => !covers(a));
}

const isSecret = (key: string) => (SECRET_DIRECTIVES as readonly string[]).includes(key);

/**
 * The differences between what the old config (`old`: every directive, includes in place) runs and
 * what the role's rendered config (`desired`, written to `configPath`) will run, that change how
 * clients reach or use Redis. `explicit` names the role variables the inventory sets itself; the
 * application password lets a plaintext `requirepass` be compared without showing either.
 */
export function compareTakeover(old: Directive[], desired: string, configPath: string, vars: RoleVars, explicit: ReadonlySet<string>, appPassword: string): TakeoverComparison {
  const was = effectiveSettings(old);
  const will = effectiveSettings(directivesOf(desired, `${configPath} (rendered)`));
  const accepted = new Set<string>(vars.redis_takeover_accept);
  const findings: TakeoverFinding[] = [];
  const valueOf = (m: Map<string, Setting>, k: string) => m.get(k)?.values.join(" ") ?? BUILT_IN[k] ?? "";
  const differs = (k: string) => valueOf(was, k).toLowerCase() !== valueOf(will, k).toLowerCase();
  const whereOf = (k: string) => (was.get(k) ? was.get(k)!.at.join(", ") : "not set: redis-server's default");
  const show = (k: string, v: string) => (v === "" && k === "save" ? '""' : v);
  /** One line of the diff: a user's rules and secret values are never shown. */
  const lineOf = (setting: string, value: string) => {
    const key = setting.split(" ")[0];
    if (key === "user") return `${setting} (rules not shown)`;
    return `${setting} ${isSecret(key) ? "<hidden>" : show(key, value)}`;
  };
  const add = (setting: string, why: string, refuse?: string, values?: { old: string; new: string }) => {
    const o = values?.old ?? valueOf(was, setting);
    const n = values?.new ?? valueOf(will, setting);
    const before = was.get(setting);
    const after = will.get(setting);
    const oldLines = before ? before.values.map((x, i) => `-${lineOf(setting, x)}   # ${before.at[i]}`) : [`-${setting} ${o}   # redis-server's default`];
    const newLines = after ? after.values.map((x) => `+${lineOf(setting, x)}`) : n === "(none)" ? [] : [`+${setting} ${n}`];
    findings.push({ setting, why, refuse, text: `${setting} ${o} (${whereOf(setting)}) -> ${n}`, diff: [...oldLines, ...newLines] });
  };
  const acceptedOr = (setting: string, acceptAs: TakeoverAcceptable = setting.split(" ")[0] as TakeoverAcceptable) =>
    accepted.has(acceptAs) ? undefined : `set redis_takeover_accept: [${acceptAs}] in the inventory if intended`;

  if (valueOf(was, "port") !== valueOf(will, "port")) {
    const intended = explicit.has("redis_port");
    add("port", "clients connect to the old port", intended ? undefined : `set redis_port: ${vars.redis_port} in the inventory if intended (the role's default is not taken as meaning it)`);
  }
  const tlsOld = valueOf(was, "tls-port");
  if (tlsOld !== valueOf(will, "tls-port")) {
    add("tls-port", tlsOld !== "0" ? "TLS clients connect to it" : "a new TLS listener", tlsOld !== "0" && vars.redis_extra_config["tls-port"] === undefined ? "set redis_extra_config: {tls-port: ...} (with its tls-* files) in the inventory to keep it, or tls-port: 0 if intended" : undefined);
  }
  if (was.has("unixsocket") && differs("unixsocket")) {
    add("unixsocket", "clients connect through that socket", vars.redis_extra_config.unixsocket === undefined ? "set redis_extra_config: {unixsocket: ...} in the inventory to keep it" : undefined, { old: valueOf(was, "unixsocket"), new: valueOf(will, "unixsocket") || "(none)" });
  }
  const dbs = (m: Map<string, Setting>) => Number(valueOf(m, "databases"));
  if (dbs(will) < dbs(was)) add("databases", `clients selecting a database above ${dbs(will) - 1} would fail, and a dataset using one would not load`, explicit.has("redis_databases") ? undefined : "set redis_databases in the inventory if intended");
  else if (dbs(will) !== dbs(was)) add("databases", "more databases");
  const lost = bindLost(valueOf(was, "bind"), valueOf(will, "bind"));
  if (lost.length) add("bind", `clients of ${lost.map((x) => (x === "::*" || x === "::" ? `${x} (every IPv6 address)` : x === "*" || x === "0.0.0.0" ? `${x} (every IPv4 address)` : x)).join(", ")} would be refused`, explicit.has("redis_bind_address") ? undefined : "set redis_bind_address in the inventory if intended");
  else if (valueOf(was, "bind") !== valueOf(will, "bind")) add("bind", "listens on more addresses");
  const mem = (k: string) => num(valueOf(was, k)) !== num(valueOf(will, k));
  if (mem("maxmemory")) add("maxmemory", "a different memory limit (evictions or OOM errors start elsewhere)");
  if (differs("maxmemory-policy")) add("maxmemory-policy", "what happens to keys and writes when memory is full");
  if (differs("appendonly")) add("appendonly", "durability of writes");
  if (differs("save")) add("save", "when snapshots are written");
  if (mem("maxclients")) add("maxclients", "how many clients may connect (set redis_extra_config maxclients to keep it)");
  // Its flags are case-sensitive (K keyspace, E keyevent, ...) and unordered.
  const events = (m: Map<string, Setting>) => [...new Set(valueOf(m, "notify-keyspace-events").replace(/^"(.*)"$/, "$1"))].sort().join("");
  if (events(was) !== events(will)) {
    add("notify-keyspace-events", "clients subscribed to keyspace notifications get other ones, or none (set redis_extra_config notify-keyspace-events to keep it)", undefined, { old: events(was) || '""', new: events(will) || '""' });
  }
  if (differs("timeout")) add("timeout", "when idle client connections are closed (set redis_extra_config timeout to keep it)");
  for (const k of ["replicaof", "slaveof"]) {
    if (was.has(k) && !will.has(k)) add(k, "this server replicates another: it would become a standalone primary", acceptedOr(k, "replicaof"), { old: valueOf(was, k), new: "(none)" });
  }
  if (was.has("requirepass")) {
    // A warning: the gather already refuses a running server that does not accept redis_password, and
    // requirepass is the default user's only password, so its clients already use redis_password (a
    // file differing from the running server is stale: the first-boot password.conf of a rotated secret).
    if (was.get("requirepass")!.values[0] !== appPassword) add("requirepass", "clients still using the file's password would be refused (the running server, if any, accepts redis_password)", undefined, { old: "differs", new: "redis_password" });
  }
  for (const k of ["masterauth", "masteruser", "primaryauth", "primaryuser"]) {
    if (was.has(k) && !will.has(k)) add(k, "replication credentials dropped", undefined, { old: "<hidden>", new: "(none)" });
  }
  for (const [name, s] of was) {
    if (name.startsWith("user ") && !will.has(name)) add(name, "clients logging in as this user would be refused", acceptedOr(name), { old: "(its rules, not shown)", new: "(none)" });
    if (name.startsWith("loadmodule ") && !will.has(name)) add(name, "clients calling the module's commands would fail (and a dataset holding its types would not load)", acceptedOr(name), { old: s.values[0] || "(no arguments)", new: "(none)" });
    if (name.startsWith("rename-command ") && (!will.has(name) || will.get(name)!.values[0] !== s.values[0])) {
      add(name, "clients calling the command by its old name would fail, and the original name works again", acceptedOr(name), { old: s.values[0] === "" ? '""' : s.values[0], new: "(none)" });
    }
  }
  if (was.has("aclfile") && !will.has("aclfile")) add("aclfile", "the ACL users it defines would be refused", acceptedOr("aclfile"), { old: valueOf(was, "aclfile"), new: "(none)" });
  return { refusals: findings.filter((f) => f.refuse), warnings: findings.filter((f) => !f.refuse) };
}

/** The comparison as an Ansible-like diff (the old lines with their file:line, then the role's). */
export function takeoverDiff(c: TakeoverComparison, configPath: string): string {
  const all = [...c.refusals, ...c.warnings];
  if (!all.length) return "";
  return [`--- ${configPath} and its includes (effective settings)`, `+++ ${configPath} (rendered)`, ...all.flatMap((f) => [`@@ ${f.setting} @@`, ...f.diff]), ""].join("\n");
}

export const TAKEOVER_TASK = "compare old settings";

/**
 * The plan's line for the comparison: failed (refusing, nothing changed) when a difference is not
 * acknowledged, ok with a warning per difference otherwise (none when nothing differs); the diff shows each with its file:line.
 */
export function takeoverResult(c: TakeoverComparison, configPath: string): TaskResult | undefined {
  const diff = takeoverDiff(c, configPath) || undefined;
  const line = (f: TakeoverFinding) => `${f.text}: ${f.why}${f.refuse ? `; ${f.refuse}` : ""}`;
  if (c.refusals.length) return { task: TAKEOVER_TASK, status: "failed", msg: `the new config would drop settings clients rely on: ${c.refusals.map(line).join("; ")}; refusing; nothing changed`, diff };
  if (c.warnings.length) return { task: TAKEOVER_TASK, status: "ok", warning: true, msg: `warning: ${c.warnings.map(line).join("; ")}`, diff };
  return undefined;
}
