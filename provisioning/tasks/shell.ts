/**
 * Shared bash for the scripts sent to a host. Results come back as lines:
 *   @@fact|NAME|BASE64      a gathered value
 *   @@task|NAME|STATUS|B64  a task that finished (ok/changed/failed/skipped)
 * Secrets are embedded in the script text, which travels on ssh stdin only; redis-cli receives the
 * password through REDISCLI_AUTH in its environment, never through its arguments.
 */
import { STATE_DIR } from "../defaults";
import type { OsProfile } from "../os";
import { shq } from "../ssh";

/** Start of every host script: strict variables, a fixed PATH and locale, and the result-line helpers. */
export const SCRIPT_HEADER = `set -u
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
fact() { printf '@@fact|%s|%s\\n' "$1" "$(printf '%s' "$2" | base64 -w0)"; }
fact_file() { [ -r "$2" ] || return 0; printf '@@fact|%s|' "$1"; base64 -w0 < "$2"; echo; }
task() { printf '@@task|%s|%s|%s\\n' "$1" "$2" "$(printf '%s' "$3" | base64 -w0)"; }
fail_task() { task "$1" failed "$2"; exit 3; }
`;

export function prelude(appPassword: string, adminUser: string): string {
  return `${SCRIPT_HEADER}STATE=${STATE_DIR}
APP_PW=${shq(appPassword)}
ADMIN_USER=${shq(adminUser)}
# redis-cli against the running server as RC_USER/RC_PW (password via the environment only).
rc() {
  if [ -n "$RC_PW" ] && [ -n "$RC_USER" ]; then REDISCLI_AUTH="$RC_PW" "$CLI" -h "$RC_HOST" -p "$RC_PORT" --user "$RC_USER" "$@"
  elif [ -n "$RC_PW" ]; then REDISCLI_AUTH="$RC_PW" "$CLI" -h "$RC_HOST" -p "$RC_PORT" "$@"
  else "$CLI" -h "$RC_HOST" -p "$RC_PORT" "$@"; fi 2>&1
}
app() { REDISCLI_AUTH="$APP_PW" "$CLI" -h "$RC_HOST" -p "$RC_PORT" "$@" 2>&1; }
# Where the server configured in file $1 listens.
rc_target() {
  RC_PORT=$(awk '$1=="port"{p=$2} END{print p}' "$1" 2>/dev/null); RC_PORT=\${RC_PORT:-6379}
  b=$(awk '$1=="bind"{print $2; exit}' "$1" 2>/dev/null); b=\${b#-}
  case "$b" in ""|0.0.0.0|"*"|::|"::*") RC_HOST=127.0.0.1;; *) RC_HOST=$b;; esac
}
# Picks the strongest identity the running server accepts: our admin user ($1), the app password, none.
rc_auth() {
  RC_USER=$ADMIN_USER; RC_PW=$1; RC_AUTH=admin
  if [ -n "$1" ] && [ "$(rc PING)" = PONG ]; then return 0; fi
  RC_USER=; RC_PW=$APP_PW; RC_AUTH=app
  if [ "$(rc PING)" = PONG ]; then return 0; fi
  RC_PW=; RC_AUTH=none
  if [ "$(rc PING)" = PONG ]; then return 0; fi
  RC_AUTH=fail; return 1
}
info_field() { rc INFO "$2" | tr -d '\\r' | awk -F: -v k="$1" '$1==k{print $2}'; }
# Runtime facts of the running server; $1=1 also round-trips a probe key (skipped in --check).
probe() {
  fact rt_auth "$RC_AUTH"
  fact rt_ping "$(app PING)"
  if [ "$1" = 1 ]; then
    k="__provision:probe:$(hostname)"; v="probe-$$-$(date +%s%N)"
    s=$(app SET "$k" "$v" EX 60); g=$(app GET "$k"); app DEL "$k" >/dev/null
    if [ "$s" = OK ] && [ "$g" = "$v" ]; then fact rt_probe ok; else fact rt_probe "SET: $s / GET: $g"; fi
  fi
  if [ "$RC_AUTH" = admin ] || [ "$RC_AUTH" = none ]; then
    fact rt_config "$(printf 'CONFIG GET port\\nCONFIG GET maxmemory\\nCONFIG GET maxmemory-policy\\nCONFIG GET appendonly\\nCONFIG GET save\\n' | rc)"
  fi
  [ "$RC_AUTH" = fail ] || fact rt_info "$(rc INFO | tr -d '\\r')"
}
`;
}

/** Bash that writes `text` byte for byte to stdout (base64 on the wire: no quoting or newline issues). */
export const printText = (text: string): string => `printf '%s' ${shq(Buffer.from(text).toString("base64"))} | base64 -d`;

/** Shell variables describing one OS profile. */
export function profileVars(p: OsProfile): string {
  return [
    `SERVICE=${shq(p.service)}`,
    `CONF=${shq(p.configPath)}`,
    `SRV_USER=${shq(p.user)}`,
    `SRV_GROUP=${shq(p.group)}`,
    `SERVER=${shq(p.server)}`,
    `CLI=${shq(p.cli)}`,
    `DATA_DIR=${shq(p.dataDir)}`,
    `LOGFILE=${shq(p.logFile)}`,
    `PKGS=${shq(p.packages.join(" "))}`,
    `PM=${p.pm}`,
    "",
  ].join("\n");
}

/** `dpkg-query`/`rpm -q`: succeeds when every package of the profile is installed. */
export const INSTALLED_CHECK = `pkgs_installed() {
  for p in $PKGS; do
    if [ "$PM" = apt ]; then dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
    else rpm -q "$p" >/dev/null 2>&1 || return 1; fi
  done
}
`;

export interface ScriptOutput {
  facts: Record<string, string>;
  tasks: { name: string; status: string; msg: string }[];
}

/** Parses one output line of a host script (other lines are ignored). */
export function parseLine(line: string, into: ScriptOutput): { name: string; status: string; msg: string } | null {
  const l = line.replace(/\r$/, "");
  if (l.startsWith("@@fact|")) {
    const [, name, b64 = ""] = l.split("|");
    into.facts[name] = Buffer.from(b64, "base64").toString("utf8");
    return null;
  }
  if (l.startsWith("@@task|")) {
    const [, name, status, b64 = ""] = l.split("|");
    const t = { name, status, msg: Buffer.from(b64, "base64").toString("utf8") };
    into.tasks.push(t);
    return t;
  }
  return null;
}
