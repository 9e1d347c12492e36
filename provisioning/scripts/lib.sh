# shellcheck shell=bash
# Helpers every host script starts with (provisioning/scripts.ts prepends them, after the parameters).
# Parameters arrive as P_* variables (decoded from base64 by the script's first lines); secrets among
# them travel on ssh stdin only. redis-cli gets a password through REDISCLI_AUTH, never its arguments.
# Results go back as lines:  @@fact|NAME|BASE64   @@task|NAME|STATUS|BASE64
set -u
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
# shellcheck disable=SC2034
STATE=${P_STATE_DIR:-/var/lib/redis-provision}
STEP_TIMEOUT=${P_STEP_TIMEOUT:-30}
CURRENT_TASK=""
step() { CURRENT_TASK=$1; }
# One fork each: the here-string adds a newline that the reader strips (@@val lines; files keep theirs).
fact() { printf '@@val|%s|' "$1"; base64 -w0 <<<"$2"; echo; }
fact_file() { [ -r "$2" ] || return 0; printf '@@fact|%s|' "$1"; base64 -w0 < "$2"; echo; }
task() { printf '@@task|%s|%s|' "$1" "$2"; base64 -w0 <<<"$3"; echo; }
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
# Where the server configured in file $1 listens.
rc_target() {
  local b
  RC_PORT=$(awk '$1=="port"{p=$2} END{print p}' "$1" 2>/dev/null); RC_PORT=${RC_PORT:-6379}
  b=$(awk '$1=="bind"{print $2; exit}' "$1" 2>/dev/null); b=${b#-}
  case "$b" in ""|0.0.0.0|"*"|::|"::*") RC_HOST=127.0.0.1;; *) RC_HOST=$b;; esac
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
  # Authenticated with the application password only (a host the tool did not set up): may it create our ACL user?
  if [ "$RC_AUTH" = app ]; then printf 'ACL USERS\n'; fi
  printf 'ECHO @@acl-end@@\nINFO\n'
}
# Runtime facts of the running server (fact names prefixed by RT_PREFIX); $1=1 also round-trips a
# probe key (skipped in --check).
probe() {
  local k v s g
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
  out=$(probe_commands | rc)
  out=${out//$'\r'/}
  if [ "$RC_AUTH" = admin ] || [ "$RC_AUTH" = none ]; then fact "${RT_PREFIX:-}rt_config" "${out%%$'\n'@@cfg-end@@*}"; fi
  rest=${out#*@@cfg-end@@$'\n'}
  if [ "$RC_AUTH" = app ]; then fact "${RT_PREFIX:-}rt_acl" "${rest%%$'\n'*}"; fi
  fact "${RT_PREFIX:-}rt_info" "${rest#*@@acl-end@@$'\n'}"
}
# dpkg-query/rpm -q: succeeds when every package of the profile is installed.
pkgs_installed() {
  local p
  for p in $PKGS; do
    if [ "$PM" = apt ]; then dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
    else rpm -q "$p" >/dev/null 2>&1 || return 1; fi
  done
}
