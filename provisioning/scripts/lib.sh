# shellcheck shell=bash
# Helpers every host script starts with (provisioning/scripts.ts prepends them, after the parameters).
# Parameters arrive as P_* variables (read from a here-document by the script's first lines); secrets
# among them travel on ssh stdin only. redis-cli gets a password through REDISCLI_AUTH, never its arguments.
# Results go back as lines (values escaped: \\ \n \r; nothing forked to report them):
#   @@f|NAME|VALUE   @@t|NAME|STATUS|MESSAGE   @@fact|NAME|BASE64 (a file holding a NUL byte)
set -u
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
# shellcheck disable=SC2034
STATE=${P_STATE_DIR:-/var/lib/redis-provision}
STEP_TIMEOUT=${P_STEP_TIMEOUT:-30}
CURRENT_TASK=""
step() { CURRENT_TASK=$1; }
# ESC=$1 escaped for one output line (bash only).
esc() { ESC=${1//\\/\\\\}; ESC=${ESC//$'\n'/\\n}; ESC=${ESC//$'\r'/\\r}; }
fact() { esc "$2"; printf '@@f|%s|%s\n' "$1" "$ESC"; }
# A file's exact bytes (read by bash itself; base64 only for a file with a NUL byte, which read stops at).
fact_file() {
  local c=""
  [ -r "$2" ] || return 0
  if IFS= read -r -d '' c < "$2"; then printf '@@fact|%s|' "$1"; base64 -w0 < "$2"; echo; else fact "$1" "$c"; fi
}
task() { esc "$3"; printf '@@t|%s|%s|%s\n' "$1" "$2" "$ESC"; }
# shellcheck disable=SC2034 # WHICH is read by the other scripts
# WHICH=the first executable $1 on PATH, as `command -v` finds a program (bash only, no fork).
path_of() {
  local d
  WHICH=""
  case "$1" in */*) if [ -f "$1" ] && [ -x "$1" ]; then WHICH=$1; return 0; fi; return 1;; esac
  for d in ${PATH//:/ }; do
    if [ -f "$d/$1" ] && [ -x "$d/$1" ]; then WHICH=$d/$1; return 0; fi
  done
  return 1
}
# Cleanups registered by the steps (temp files), run on every exit.
CLEANUP=()
on_exit() { local f; for f in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do rm -rf -- "$f"; done; }
trap on_exit EXIT
# The host's deadline (timeout(1) around this script sends TERM): the step in progress fails.
trap 'task "${CURRENT_TASK:-deadline}" failed "the host deadline (${P_DEADLINE:-?} s) was reached during this step; stopped here"; exit 124' TERM
fail_task() { task "$1" failed "$2"; exit 3; }
# A bounded command: every remote step has a timeout.
bounded() { timeout -k 2 "$STEP_TIMEOUT" "$@"; }

# Profile of the server (os.ts): service, paths, binaries (used by the other scripts). Called again
# after P_* profile parameters change (the gather inspects each profile in turn).
# shellcheck disable=SC2034
profile_from_params() {
SERVICE=${P_SERVICE:-}
CONF=${P_CONF:-}
SRV_USER=${P_SRV_USER:-}
SRV_GROUP=${P_SRV_GROUP:-}
SERVER=${P_SERVER:-}
CLI=${P_CLI:-}
DATA_DIR=${P_DATA_DIR:-}
LOGFILE=${P_LOGFILE:-}
PKGS=${P_PKGS:-}
PM=${P_PM:-}
}
profile_from_params
# shellcheck disable=SC2034
{
APP_PW=${P_APP_PW:-}
ADMIN_USER=${P_ADMIN_USER:-}
}
RC_USER=""; RC_PW=""; RC_AUTH=none; RC_HOST=127.0.0.1; RC_PORT=6379

# redis-cli against the running server as RC_USER/RC_PW (password via the environment only), bounded.
rc() {
  if [ -n "$RC_PW" ] && [ -n "$RC_USER" ]; then REDISCLI_AUTH="$RC_PW" bounded "$CLI" -h "$RC_HOST" -p "$RC_PORT" --user "$RC_USER" "$@"
  elif [ -n "$RC_PW" ]; then REDISCLI_AUTH="$RC_PW" bounded "$CLI" -h "$RC_HOST" -p "$RC_PORT" "$@"
  else bounded "$CLI" -h "$RC_HOST" -p "$RC_PORT" "$@"; fi 2>&1
}
# shellcheck disable=SC2120 # the other scripts call it with arguments
app() { REDISCLI_AUTH="$APP_PW" bounded "$CLI" -h "$RC_HOST" -p "$RC_PORT" "$@" 2>&1; }
# Where the server configured in file $1 listens, as redis-server reads it: `include` files in place
# (globs, nested up to 5 deep), the last `port` and the first address of the last `bind` (bash only).
rc_target() {
  local b
  RT_PORT=""; RT_BIND=""
  rc_target_read "$1" 0
  RC_PORT=${RT_PORT:-6379}; b=${RT_BIND#-}
  case "$b" in ""|0.0.0.0|"*"|::|"::*") RC_HOST=127.0.0.1;; *) RC_HOST=$b;; esac
}
rc_target_read() {
  local k v f
  [ "$2" -le 5 ] || return 0
  while read -r k v _; do
    case "$k" in
      port) RT_PORT=$v;;
      bind) RT_BIND=$v;;
      include) include_paths "$v"; for f in "${INCLUDED[@]}"; do rc_target_read "$f" $(( $2 + 1 )); done;;
    esac
  done 2>/dev/null < "$1"
}
# CONF_FLAT+=every directive line of config $1 as redis-server reads it, `include` files in place (globs,
# nested up to 5 deep), each as "FILE<TAB>LINE<TAB>TEXT" (the takeover compares these settings; bash only).
conf_flatten() {
  local line n=0 k v f
  [ "$2" -le 5 ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line%$'\r'}
    read -r k v <<<"$line"
    case "$k" in ""|"#"*) continue;; esac
    if [ "${k,,}" = include ]; then
      include_paths "$v"
      for f in "${INCLUDED[@]}"; do conf_flatten "$f" $(( $2 + 1 )); done
    else
      CONF_FLAT+="$1"$'\t'"$n"$'\t'"$line"$'\n'
    fi
  done 2>/dev/null < "$1"
}
# INCLUDED=the readable files an `include` value $1 names, as redis-server expands it (quotes, globs).
include_paths() {
  local v=$1 f
  v=${v#[\"\']}; v=${v%[\"\']}
  INCLUDED=()
  # shellcheck disable=SC2086 # unquoted on purpose: redis-server expands an include glob
  for f in $v; do [ -f "$f" ] && [ -r "$f" ] && INCLUDED+=("$f"); done
  return 0
}
# Picks the strongest identity the running server accepts: our admin user ($1), the app password, none.
# A server whose disk writes fail answers PING with MISCONF: it is there and the login worked.
pinged() { case "$(rc PING)" in PONG|MISCONF*) return 0;; *) return 1;; esac; }
rc_auth() {
  RC_USER=$ADMIN_USER; RC_PW=$1; RC_AUTH="admin"
  if [ -n "$1" ] && pinged; then return 0; fi
  RC_USER=; RC_PW=$APP_PW; RC_AUTH=app
  if pinged; then return 0; fi
  RC_PW=; RC_AUTH=none
  if pinged; then return 0; fi
  RC_AUTH=fail; return 1
}
info_field() { rc INFO "$2" | tr -d '\r' | awk -F: -v k="$1" '$1==k{print $2}'; }
# The commands of probe's second redis-cli call (ECHO lines split its answer).
probe_commands() {
  if [ "$RC_AUTH" = admin ] || [ "$RC_AUTH" = none ]; then
    printf 'CONFIG GET port\nCONFIG GET maxmemory\nCONFIG GET maxmemory-policy\nCONFIG GET appendonly\nCONFIG GET save\n'
  fi
  printf 'ECHO @@cfg-end@@\n'
  # Where the running server keeps its data (any identity: a server the tool did not set up may keep it
  # elsewhere, and a restart into the role's config would then start empty). Refused = an error line.
  printf 'CONFIG GET dir\nCONFIG GET dbfilename\nCONFIG GET appendfilename\nCONFIG GET appenddirname\nECHO @@files-end@@\n'
  # Authenticated with the application password only (a host the tool did not set up): may it create our ACL user?
  if [ "$RC_AUTH" = app ]; then printf 'ACL USERS\n'; fi
  printf 'ECHO @@acl-end@@\nINFO\n'
}
# Runtime facts of the running server (fact names prefixed by RT_PREFIX); $1=1 also round-trips a
# probe key (skipped in --check); $2, when given, is what probe_commands already got from the server.
probe() {
  local k v out ping s g rest
  fact "${RT_PREFIX:-}rt_auth" "$RC_AUTH"
  # One redis-cli as the application user: PING (+ the probe key round trip).
  k="__provision:probe:${HOSTNAME:-host}"; v="probe-$$-${EPOCHREALTIME/./}"
  if [ "$1" = 1 ]; then out=$(printf 'PING\nSET %s %s EX 60\nGET %s\nDEL %s\n' "$k" "$v" "$k" "$k" | app)
  else out=$(printf 'PING\n' | app); fi
  { IFS= read -r ping; IFS= read -r s; IFS= read -r g; } <<<"$out"
  fact "${RT_PREFIX:-}rt_ping" "$ping"
  if [ "$1" = 1 ]; then
    if [ "$s" = OK ] && [ "$g" = "$v" ]; then fact "${RT_PREFIX:-}rt_probe" ok; else fact "${RT_PREFIX:-}rt_probe" "SET: $s / GET: $g"; fi
  fi
  [ "$RC_AUTH" = fail ] && return 0
  # One redis-cli as the strongest identity: the settings (admin only), ACL rights (app only), INFO.
  if [ $# -ge 2 ]; then out=$2; else out=$(probe_commands | rc); fi
  out=${out//$'\r'/}
  if [ "$RC_AUTH" = admin ] || [ "$RC_AUTH" = none ]; then fact "${RT_PREFIX:-}rt_config" "${out%%$'\n'@@cfg-end@@*}"; fi
  rest=${out#*@@cfg-end@@$'\n'}
  fact "${RT_PREFIX:-}rt_files" "${rest%%@@files-end@@*}"
  rest=${rest#*@@files-end@@$'\n'}
  if [ "$RC_AUTH" = app ]; then fact "${RT_PREFIX:-}rt_acl" "${rest%%$'\n'*}"; fi
  fact "${RT_PREFIX:-}rt_info" "${rest#*@@acl-end@@$'\n'}"
}
# dpkg-query/rpm -q (one call for all of them): succeeds when every package of the profile is installed.
pkgs_installed() {
  local -a pkgs
  local -A ok=()
  local p name st
  read -r -a pkgs <<<"$PKGS"
  [ "${#pkgs[@]}" -gt 0 ] || return 0
  if [ "$PM" != apt ]; then rpm -q "${pkgs[@]}" >/dev/null 2>&1; return; fi
  while read -r name st; do
    if [ "$st" = "install ok installed" ]; then ok[$name]=1; fi
  done < <(dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null)
  for p in "${pkgs[@]}"; do [ -n "${ok[$p]:-}" ] || return 1; done
}
