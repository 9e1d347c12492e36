/**
 * Pure rendering of templates/redis.conf.hbs with Handlebars in strict mode: a variable missing from
 * the context is an error, never an empty string. `{{#since "7.0.0"}}` keeps a block only when the
 * installed server (its Redis-compatible version) knows the directives inside.
 */
import Handlebars from "handlebars";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SECRET_DIRECTIVES, type RoleVars } from "./defaults";
import { OsProfile, versionAtLeast } from "./os";

export interface ServerInfo {
  flavor: "redis" | "valkey";
  version: string;
  /** Redis-compatible version used for directive gating. */
  compat: string;
}

export interface RenderContext {
  os_label: string;
  server: ServerInfo;
  bind: string;
  protected_mode: "yes" | "no";
  port: number;
  timeout: number;
  tcp_keepalive: number;
  pidfile: string | null;
  loglevel: string;
  logfile: string;
  databases: number;
  app_user: { password_hash: string; rules: string };
  admin_user: { name: string; password_hash: string };
  save: string[];
  dir: string;
  appendonly: "yes" | "no";
  appendfsync: string;
  maxmemory: string;
  maxmemory_policy: string;
  extra: Record<string, string>;
}

export const TEMPLATES_DIR = join(__dirname, "..", "templates");

export const sha256 = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex");

const yesNo = (b: boolean): "yes" | "no" => (b ? "yes" : "no");

/** Builds the template context; passwords enter only as SHA-256 hashes. */
export function buildContext(
  vars: RoleVars,
  profile: OsProfile,
  server: ServerInfo,
  secrets: { app: string; admin: string },
): RenderContext {
  return {
    os_label: profile.label,
    server,
    bind: vars.redis_bind_address,
    protected_mode: yesNo(vars.redis_protected_mode),
    port: vars.redis_port,
    timeout: vars.redis_timeout,
    tcp_keepalive: vars.redis_tcp_keepalive,
    pidfile: profile.pidFile,
    loglevel: vars.redis_loglevel,
    logfile: profile.logFile,
    databases: vars.redis_databases,
    app_user: { password_hash: sha256(secrets.app), rules: vars.redis_app_acl },
    admin_user: { name: vars.redis_admin_user, password_hash: sha256(secrets.admin) },
    save: vars.redis_save_intervals,
    dir: profile.dataDir,
    appendonly: yesNo(vars.redis_appendonly),
    appendfsync: vars.redis_appendfsync,
    maxmemory: vars.redis_maxmemory,
    maxmemory_policy: vars.redis_maxmemory_policy,
    extra: vars.redis_extra_config,
  };
}

const hb = Handlebars.create();
hb.registerHelper("since", function (this: unknown, min: unknown, options: Handlebars.HelperOptions) {
  const root = options.data?.root as RenderContext;
  if (typeof min !== "string") throw new Error("since: expects a version string");
  return versionAtLeast(root.server.compat, min) ? options.fn(this) : options.inverse(this);
});

/** `{{shellword x}}`: x as one single-quoted shell word (a generated script's settings; the schemas already refuse control characters). */
hb.registerHelper("shellword", (value: unknown) => {
  if (typeof value !== "string" && typeof value !== "number") throw new Error("shellword: expects a string or a number");
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
});

const compiled = new Map<string, Handlebars.TemplateDelegate>();

/** Renders a template (pure: same input, same output). Throws on a missing variable. */
export function render(template: string, ctx: object): string {
  let fn = compiled.get(template);
  if (!fn) {
    fn = hb.compile(template, { strict: true, noEscape: true });
    compiled.set(template, fn);
  }
  // Collapse the blank lines left by skipped blocks so that output is stable and tidy.
  return `${fn(ctx).replace(/\n{3,}/g, "\n\n").trimEnd()}\n`;
}

const templateTexts = new Map<string, string>();
/** Renders templates/NAME (read once per process). */
export function renderTemplate(name: string, ctx: object): string {
  let text = templateTexts.get(name);
  if (text === undefined) {
    text = readFileSync(join(TEMPLATES_DIR, name), "utf8");
    templateTexts.set(name, text);
  }
  return render(text, ctx);
}

export const renderRedisConf = (ctx: RenderContext): string => renderTemplate("redis.conf.hbs", ctx);

/**
 * Directives the role owns that a rendered redis.conf must carry (an edited template, a failed render):
 * a config without them would start Redis without a password, in the wrong directory or without
 * persistence. Returns what is missing (empty when complete).
 */
export function missingOwnedDirectives(text: string, vars: RoleVars, profile: OsProfile): string[] {
  const lines = text.split("\n").map((l) => l.trim());
  const has = (re: RegExp) => lines.some((l) => re.test(l));
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const want: [string, RegExp][] = [
    ["user default (password hash)", /^user default on #[0-9a-f]{64}\s/],
    [`user ${vars.redis_admin_user} (password hash)`, new RegExp(`^user ${esc(vars.redis_admin_user)} on #[0-9a-f]{64}\\s`)],
    [`dir ${profile.dataDir}`, new RegExp(`^dir ${esc(profile.dataDir)}$`)],
    [`port ${vars.redis_port}`, new RegExp(`^port ${vars.redis_port}$`)],
    ["bind", /^bind \S/],
    ["protected-mode", /^protected-mode (yes|no)$/],
    ["dbfilename", /^dbfilename \S/],
    [`appendonly ${vars.redis_appendonly ? "yes" : "no"}`, new RegExp(`^appendonly ${vars.redis_appendonly ? "yes" : "no"}$`)],
    [`maxmemory ${vars.redis_maxmemory}`, new RegExp(`^maxmemory ${esc(vars.redis_maxmemory)}$`)],
    ["maxmemory-policy", /^maxmemory-policy \S/],
  ];
  const missing = want.filter(([, re]) => !has(re)).map(([name]) => name);
  if (has(/^requirepass\s/)) missing.push("no plaintext requirepass");
  return missing;
}

const SECRET_DIRECTIVE_LINE = new RegExp(
  // A config line, or a diff line of one (" ", "+", "-" in front).
  `^([ +-]?\\s*)(["']?)(${SECRET_DIRECTIVES.join("|")})\\2(\\s+)\\S.*$`,
  "i",
);
const USER_LINE = /^([ +-]?\s*)(["']?)user\2\s/i;
/** Asterisk-style `password = ...` / `secret => ...` lines (ari_campaign.conf holds a crypt hash). */
const KEY_VALUE_SECRET_LINE = /^([ +-]?\s*)(password|secret|md5secret)(\s*=>?\s*)\S.*$/i;

/**
 * Hides secrets in text shown to people (diffs, messages): the value of every secret-bearing
 * directive (requirepass, masterauth, tls-*-pass, ...), passwords and hashes in ACL `user` lines
 * (`>pass`, `<pass`, `#<sha256>`, `!<sha256>`), Asterisk-style `password = ...` lines, and any
 * SHA-256 password hash.
 */
export function maskSecrets(text: string): string {
  const maskLine = (l: string): string => {
    const m = SECRET_DIRECTIVE_LINE.exec(l);
    if (m) return `${m[1]}${m[2]}${m[3]}${m[2]}${m[4]}<hidden>`;
    const kv = KEY_VALUE_SECRET_LINE.exec(l);
    if (kv) return `${kv[1]}${kv[2]}${kv[3]}<hidden>`;
    if (USER_LINE.test(l)) l = l.replace(/(\s)([<>])(?![>\s])\S+/g, "$1$2<hidden>").replace(/(\s)!([0-9a-f]{64})\b/gi, "$1!<hidden>");
    return l.replace(/#[0-9a-f]{64}/gi, "#<hidden>").replace(/(\s)>(?![>\s])\S+/g, "$1><hidden>");
  };
  // Redis quotes the offending config line in its errors (`>>> 'masterauth "x"'`), also mid-message.
  return text
    .replace(/>>> '([^'\n]*)'/g, (_, inner: string) => `>>> '${maskLine(inner)}'`)
    .split("\n")
    .map(maskLine)
    .join("\n");
}
