# shellcheck shell=bash
# Task "gather facts" (provisioning/tasks/facts.ts parses what it reports): ONE round trip that
# returns everything the run decides on. Needs lib.sh (fact, fact_file, rc_*, probe, pkgs_installed).

# The systemd state of every unit the gather looks at (P_UNITS, one per line), in ONE systemctl call:
# UNIT_SHOWN[unit] holds its ActiveState, UnitFileState and MainPID lines. Nothing is cached when
# systemctl answers for fewer units than asked (unit_show then asks systemctl itself).
declare -A UNIT_SHOWN=()
units_prefetch() {
  local -a units=() blocks=()
  local line block="" i
  while IFS= read -r line; do [ -n "$line" ] && units+=("$line"); done <<<"${P_UNITS:-}"
  [ "${#units[@]}" -gt 0 ] || return 0
  while IFS= read -r line; do
    if [ -n "$line" ]; then block+="$line"$'\n'; elif [ -n "$block" ]; then blocks+=("$block"); block=""; fi
  done < <(systemctl show -p ActiveState -p UnitFileState -p MainPID -- "${units[@]}" 2>/dev/null; echo)
  [ "${#blocks[@]}" -eq "${#units[@]}" ] || return 0
  for i in "${!units[@]}"; do UNIT_SHOWN[${units[$i]}]=${blocks[$i]}; done
}
# UNIT_TEXT="PROP=value" lines of unit $1 for the properties $2... (as `systemctl show -p ...` prints them).
unit_show() {
  local unit=$1 line out="" p
  shift
  if [ -z "${UNIT_SHOWN[$unit]+set}" ]; then
    local -a args=()
    for p; do args+=(-p "$p"); done
    UNIT_TEXT=$(systemctl show "${args[@]}" -- "$unit" 2>/dev/null)
    return 0
  fi
  for p; do
    while IFS= read -r line; do case "$line" in "$p="*) out+="${out:+$'\n'}$line";; esac; done <<<"${UNIT_SHOWN[$unit]}"
  done
  UNIT_TEXT=$out
}

# The host itself: OS, name, RAM (the memory check), the provisioner's state.
# Bash only (no forks): $HOSTNAME is gethostname(), as hostname(1) prints it.
gather_host() {
  local admin="" k v mem=""
  # shellcheck source=/dev/null
  . /etc/os-release
  fact os_id "${ID:-}"; fact os_like "${ID_LIKE:-}"; fact os_version "${VERSION_ID:-}"
  fact hostname "$HOSTNAME"
  while read -r k v _; do if [ "$k" = MemTotal: ]; then mem=$v; break; fi; done 2>/dev/null < /proc/meminfo
  fact mem_total_kib "$mem"
  # As $(cat FILE) read it: trailing newlines dropped.
  { IFS= read -r -d '' admin < "$STATE/admin.secret"; } 2>/dev/null
  while [ "${admin%$'\n'}" != "$admin" ]; do admin=${admin%$'\n'}; done
  # The provisioner's admin password, read by the gather's probe (ADMIN_PW) and reported to the controller.
  ADMIN_PW=$admin
  if [ -n "$admin" ]; then fact admin_secret "$admin"; fi
  if [ -e "$STATE/restart-pending" ]; then fact restart_pending 1; fi
}

# One OS profile, from its P_* parameters (P_PROFILE_KEY names its facts): installed packages,
# version, config, service state, room beside the config, and the running server's state.
# $1=1: the probe round-trips a key (not in --check). Runs in a subshell (profile variables change).
gather_profile() {
  local p active=unknown enabled="" mainpid=0 k v cdir
  profile_from_params
  if [ "$PM" = apt ]; then command -v dpkg-query >/dev/null 2>&1 || return 0; else command -v rpm >/dev/null 2>&1 || return 0; fi
  pkgs_installed || return 0
  p=$P_PROFILE_KEY
  fact "${p}_installed" 1
  v=$("$SERVER" --version 2>&1)
  fact "${p}_version" "${v%%$'\n'*}"
  fact_file "${p}_config" "$CONF"
  CONF_FLAT=""
  [ -r "$CONF" ] && conf_flatten "$CONF" 0
  fact "${p}_effective" "$CONF_FLAT"
  unit_show "$SERVICE" ActiveState UnitFileState MainPID
  while IFS='=' read -r k v; do
    case "$k" in ActiveState) active=$v;; UnitFileState) enabled=$v;; MainPID) mainpid=$v;; esac
  done <<<"$UNIT_TEXT"
  fact "${p}_active" "$active"
  fact "${p}_enabled" "$enabled"
  fact "${p}_mainpid" "$mainpid"
  cdir=${CONF%/*}; cdir=${cdir:-/}
  # --check foresees a write that the disk would refuse (a real run's write checks itself): the
  # bytes free to an unprivileged user (df's "Available"), free blocks times the block size.
  if [ "$1" != 1 ]; then
    k=""; v=""
    read -r k v < <(stat -f -c '%a %S' "$cdir" 2>/dev/null)
    if [ -n "$k" ] && [ -n "$v" ]; then fact "${p}_confdir_free" "$((k * v))"; else fact "${p}_confdir_free" ""; fi
  fi
  [ -w "$cdir" ] || fact "${p}_confdir_ro" 1
  if [ "$active" = active ]; then
    rc_target "$CONF"
    RT_PREFIX="${p}_" probe_gather "$1"
  fi
}

# A side task's systemd timer and files (metrics publisher, redis backup): P_GT_PREFIX names the
# facts; P_GT_FILES is one "KEY PATH" per line; P_GT_TIMER the timer; P_GT_TOOLS the commands whose
# path the task needs, one "FACT COMMAND..." per line (the first command found).
gather_timer() {
  local key path fact_name cmds c found
  while read -r key path; do
    [ -n "$key" ] || continue
    fact_file "${P_GT_PREFIX}_$key" "$path"
  done <<<"$P_GT_FILES"
  unit_show "$P_GT_TIMER" ActiveState UnitFileState
  fact "${P_GT_PREFIX}_timer_state" "$UNIT_TEXT"
  while read -r fact_name cmds; do
    [ -n "$fact_name" ] || continue
    found=""
    # The path of each command found, one per line (bash only).
    for c in $cmds; do
      if path_of "$c"; then found="$found${found:+$'\n'}$WHICH"; fi
    done
    fact "${P_GT_PREFIX}_$fact_name" "$found"
  done <<<"$P_GT_TOOLS"
}

# The running server's state: with the provisioner's admin password, its PING and the settings in
# ONE redis-cli call; otherwise (a server the tool did not set up, a wrong password) rc_auth's
# ladder, then probe. $1 as probe's.
# shellcheck disable=SC2034 # RC_* are read by lib.sh's rc and probe
probe_gather() {
  local out first
  if [ -n "$ADMIN_PW" ]; then
    RC_USER=$ADMIN_USER; RC_PW=$ADMIN_PW; RC_AUTH="admin"
    out=$({ printf 'PING\n'; probe_commands; } | rc)
    first=${out%%$'\n'*}; first=${first%$'\r'}
    case "$first" in PONG|MISCONF*) probe "$1" "${out#*$'\n'}"; return;; esac
  fi
  rc_auth "$ADMIN_PW"
  probe "$1"
}
