/**
 * Task "asterisk ARI" (optional) and its handler "reload asterisk": the ARI user the dialer-worker
 * Lambda logs in as (`asterisk_ari_user`, password from `asterisk_ari_password_secret_arn`).
 *
 * Only our own part of Asterisk's configuration is managed:
 *  - /etc/asterisk/ari_campaign.conf (whole file, templates/ari_campaign.conf.hbs): the user stanza
 *    with `password_format = crypt`. The SHA-512 crypt hash is made ON THE HOST by
 *    `openssl passwd -6 -stdin` with the password on stdin; it is re-made only when the password no
 *    longer verifies against the hash in place (checked in the gather round trip, same way);
 *  - one `#include ari_campaign.conf` line in ari.conf (appended when missing);
 *  - in http.conf's [general]: enabled=yes, bindaddr, bindport. Only those three lines change; a
 *    commented example line (`;bindport=8088`) gets the setting right after it, later duplicates
 *    are commented out, everything else stays byte for byte.
 * Then the handler (reload_asterisk in provisioning/scripts/handlers.sh) reloads only what changed
 * (`module reload res_ari.so` for the user, `module reload http` for http.conf), once, through a
 * marker in the state dir so an interrupted run still reloads.
 * Without /etc/asterisk the task is skipped with a warning.
 */
import { STATE_DIR } from "../defaults";
import type { RoleVars } from "../defaults";
import { fileDiff } from "../diff";
import type { TaskResult } from "../output";
import { renderTemplate } from "../render";
import { Params, paramLines, scriptFile } from "../scripts";

export const ARI_TASK = "asterisk ARI";
export const ARI_HANDLER = "reload asterisk";
export const ASTERISK_DIR = "/etc/asterisk";
export const ARI_FILES = {
  campaign: `${ASTERISK_DIR}/ari_campaign.conf`,
  ari: `${ASTERISK_DIR}/ari.conf`,
  http: `${ASTERISK_DIR}/http.conf`,
} as const;
export type AriFile = keyof typeof ARI_FILES;
const FILE_KEYS = Object.keys(ARI_FILES) as AriFile[];
export const ARI_RELOAD_MARK = `${STATE_DIR}/asterisk-reload-pending`;
export const ARI_INCLUDE = "#include ari_campaign.conf";

export interface AriFacts {
  /** /etc/asterisk exists. */
  dir: boolean;
  files: Record<AriFile, string | null>;
  /** The password verifies against the hash in ari_campaign.conf. */
  hashOk: boolean;
  openssl: string;
  asterisk: string;
  /** Modules a previous run changed and did not get to reload. */
  pending: string[];
}

/** Bash for the gather script (only when an ARI password is configured): provisioning/scripts/ari.sh's ari_gather. */
export function ariGather(password: string | undefined): string {
  if (password === undefined) return "";
  const params: Params = {
    P_A_DIR: ASTERISK_DIR,
    P_A_FILE_CAMPAIGN: ARI_FILES.campaign,
    P_A_FILE_ARI: ARI_FILES.ari,
    P_A_FILE_HTTP: ARI_FILES.http,
    P_A_MARK: ARI_RELOAD_MARK,
    P_A_PW: password,
  };
  return `${paramLines(params)}\n${scriptFile("ari")}\nari_gather\n`;
}

export function ariFacts(f: Record<string, string>): AriFacts {
  return {
    dir: f.ari_dir === "1",
    files: Object.fromEntries(FILE_KEYS.map((k) => [k, f[`ari_${k}`] ?? null])) as Record<AriFile, string | null>,
    hashOk: f.ari_hash_ok === "1",
    openssl: f.ari_openssl ?? "",
    asterisk: f.ari_asterisk ?? "",
    pending: (f.ari_reload_pending ?? "").split(/\s+/).filter(Boolean),
  };
}

// ---------------------------------------------------------------- pure edits of Asterisk config files

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const sectionOf = (l: string): string | null => /^\s*\[([^\]]*)\]/.exec(l)?.[1] ?? null;
/** An uncommented `key = value` / `key => value` line: the value (without an inline ; comment). */
const valueOf = (l: string, key: string): string | null => {
  const m = new RegExp(`^\\s*${escapeRe(key)}\\s*=>?\\s*([^;]*?)\\s*(;.*)?$`, "i").exec(l);
  return m ? m[1] : null;
};
const isCommentedExample = (l: string, key: string) => new RegExp(`^\\s*;+\\s*${escapeRe(key)}\\s*=`, "i").test(l);
const astTrue = (v: string) => ["yes", "true", "y", "t", "1", "on"].includes(v.toLowerCase());

/** Line range [start, end) of the body of section `name` (first occurrence), or null. */
function sectionRange(lines: string[], name: string): [number, number] | null {
  const start = lines.findIndex((l) => sectionOf(l) === name);
  if (start < 0) return null;
  let end = start + 1;
  while (end < lines.length && sectionOf(lines[end]) === null) end++;
  return [start + 1, end];
}

export interface HttpSettings {
  bindaddr: string;
  bindport: number;
}

/** http.conf with [general] enabled=yes, bindaddr and bindport; nothing else changes. Idempotent. */
export function ensureHttpConf(text: string | null, want: HttpSettings): string {
  const settings: [string, string, (v: string) => boolean][] = [
    ["enabled", "yes", astTrue],
    ["bindaddr", want.bindaddr, (v) => v === want.bindaddr],
    ["bindport", String(want.bindport), (v) => /^\d+$/.test(v) && Number(v) === want.bindport],
  ];
  const block = ["[general]", ...settings.map(([k, v]) => `${k}=${v}`)];
  if (text === null || text.trim() === "") return `; Asterisk's HTTP server (ARI), set by npm run provision\n${block.join("\n")}\n`;
  const lines = text.split("\n");
  if (!sectionRange(lines, "general")) return `${text}${text.endsWith("\n") ? "" : "\n"}\n${block.join("\n")}\n`;
  for (const [key, value, same] of settings) {
    const [start, end] = sectionRange(lines, "general")!;
    const set: number[] = [];
    for (let i = start; i < end; i++) if (valueOf(lines[i], key) !== null) set.push(i);
    if (set.length) {
      if (!same(valueOf(lines[set[0]], key)!)) lines[set[0]] = `${key}=${value}`;
      // Asterisk applies every occurrence in order: a later one would override ours.
      for (const i of set.slice(1)) lines[i] = `;${lines[i]}`;
    } else {
      let at = start;
      for (let i = start; i < end; i++) if (isCommentedExample(lines[i], key)) at = i + 1;
      lines.splice(at, 0, `${key}=${value}`);
    }
  }
  return lines.join("\n");
}

const INCLUDE_RE = /^\s*#(try)?include\s+"?(\/etc\/asterisk\/)?ari_campaign\.conf"?\s*$/;

/** ari.conf with our #include line (appended when missing). Idempotent. */
export function ensureAriInclude(text: string | null): string {
  const base = text ?? "[general]\nenabled = yes\n";
  if (base.split("\n").some((l) => INCLUDE_RE.test(l))) return base;
  return `${base}${base === "" || base.endsWith("\n") ? "" : "\n"}\n; The ARI user of the campaign dialer (npm run provision)\n${ARI_INCLUDE}\n`;
}

/** Problems of ari.conf that the task does not fix itself (it manages only its own part). */
export function ariConfProblems(text: string | null, user: string): { errors: string[]; warnings: string[] } {
  const lines = (text ?? "").split("\n");
  const errors: string[] = [];
  const warnings: string[] = [];
  if (lines.some((l) => sectionOf(l) === user)) {
    errors.push(`${ARI_FILES.ari} defines [${user}] itself; remove that stanza (this role manages the user in ${ARI_FILES.campaign})`);
  }
  const g = sectionRange(lines, "general");
  const enabled = g ? lines.slice(g[0], g[1]).map((l) => valueOf(l, "enabled")).filter((v): v is string => v !== null).pop() : undefined;
  if (enabled !== undefined && !astTrue(enabled)) warnings.push(`WARNING: ${ARI_FILES.ari} [general] has enabled = ${enabled}, so ARI stays off`);
  return { errors, warnings };
}

const HASH_RE = /^\s*password\s*=>?\s*(\$6\$[^\s;]+)/m;
export const HASH_PLACEHOLDER = "@@ARI_PASSWORD_HASH@@";

/** ari_campaign.conf for a given hash (pure). */
export const renderAriUser = (user: string, passwordHash: string): string => renderTemplate("ari_campaign.conf.hbs", { user, password_hash: passwordHash });

// ---------------------------------------------------------------- plan

export interface AriPlan {
  /** Results when there is nothing to run on the host (also in check mode). */
  results: TaskResult[];
  /** Bash that applies the change, reports the task and notifies the handler (never exits the script). */
  apply?: string;
  /** Unified diff of the files that change (the hash masked by the output). */
  diff?: string;
}

/** Decides what the task does on one host from the gathered facts (pure). */
export function planAri(vars: RoleVars, password: string | undefined, af: AriFacts, check: boolean): AriPlan {
  const user = vars.asterisk_ari_user;
  const task = (status: TaskResult["status"], msg: string, diff?: string): TaskResult => ({ task: ARI_TASK, status, msg, diff });
  if (password === undefined) return { results: [task("skipped", "asterisk_ari_password_secret_arn is not set")] };
  if (!af.dir) {
    return {
      results: [
        task(
          "skipped",
          `WARNING: Asterisk is not installed (no ${ASTERISK_DIR}), so the ARI user ${user} is NOT configured and the dialer-worker ` +
            `cannot originate calls. Install Asterisk and re-run`,
        ),
      ],
    };
  }
  const { errors, warnings } = ariConfProblems(af.files.ari, user);
  if (errors.length) return { results: [task("failed", `${errors.join("; ")}; nothing changed`)] };

  const currentHash = af.hashOk ? HASH_RE.exec(af.files.campaign ?? "")?.[1] : undefined;
  const newHash = currentHash === undefined;
  if (newHash && !af.openssl) {
    return { results: [task("failed", "openssl not found on the host: it makes the crypt(3) SHA-512 hash of the ARI password; nothing changed")] };
  }
  const want: Record<AriFile, string> = {
    campaign: renderAriUser(user, currentHash ?? HASH_PLACEHOLDER),
    ari: ensureAriInclude(af.files.ari),
    http: ensureHttpConf(af.files.http, { bindaddr: vars.asterisk_ari_bind_address, bindport: vars.asterisk_ari_port }),
  };
  const changed = FILE_KEYS.filter((k) => af.files[k] !== want[k]);
  const reloads = [
    ...new Set([
      ...af.pending,
      ...(changed.includes("campaign") || changed.includes("ari") ? ["res_ari.so"] : []),
      ...(changed.includes("http") ? ["http"] : []),
    ]),
  ];
  const where = `${user} on ${vars.asterisk_ari_bind_address}:${vars.asterisk_ari_port}`;
  const warn = warnings.length ? `; ${warnings.join("; ")}` : "";
  if (!changed.length && !reloads.length) return { results: [task("ok", `${where}${warn}`)] };

  const names = changed.map((k) => ARI_FILES[k].slice(ASTERISK_DIR.length + 1));
  const passwordNote = changed.includes("campaign") ? (newHash ? " (new password hash)" : " (same password hash)") : "";
  const diff = changed
    .map((k) => fileDiff(ARI_FILES[k], af.files[k], want[k]))
    .join("")
    .split(HASH_PLACEHOLDER)
    .join("<new hash>");
  const reloadCmds = reloads.map((m) => `module reload ${m}`).join("; ");
  if (check) {
    return {
      results: [
        task("changed", `${changed.length ? `would write ${names.join(", ")}${passwordNote}` : "files in place"}; ${where}${warn}`, diff),
        ...(reloads.length ? [{ task: ARI_HANDLER, status: "changed" as const, handler: true, msg: `would run: ${reloadCmds}` }] : []),
      ],
    };
  }

  // provisioning/scripts/ari.sh writes the files (the new hash made on the host) and notifies the handler.
  const b64 = (t: string) => Buffer.from(t).toString("base64");
  const hashed = (k: AriFile) => k === "campaign" && newHash;
  const params: Params = {
    P_A_TASK: ARI_TASK,
    P_A_DIR: ASTERISK_DIR,
    P_A_REF: ARI_FILES.ari,
    P_A_MARK: ARI_RELOAD_MARK,
    P_A_RELOADS: reloads.join("\n"),
    P_A_PW: newHash && changed.includes("campaign") ? password : "",
    // Our own file takes ari.conf's owner (else the directory's), mode 0640; edited files keep theirs.
    P_A_FILES: changed.map((k) => `${k === "campaign" ? "own" : "edit"} ${ARI_FILES[k]}`).join("\n"),
    ...Object.fromEntries(
      changed.flatMap((k, i) => {
        const [head, tail = ""] = hashed(k) ? want[k].split(HASH_PLACEHOLDER) : [want[k]];
        return [
          [`P_A_CONTENT_${i + 1}`, b64(head)],
          [`P_A_HASHED_${i + 1}`, hashed(k)],
          [`P_A_TAIL_${i + 1}`, b64(tail)],
        ];
      }),
    ),
    P_A_STATUS: changed.length ? "changed" : "ok",
    P_A_DONE: `${changed.length ? `wrote ${names.join(", ")}${passwordNote}` : "files in place"}; ${where}${warn}`,
  };
  const apply = `# ${ARI_TASK}\n${paramLines(params)}\n${scriptFile("ari")}\nari_task\n`;
  return { results: [], apply, diff };
}
