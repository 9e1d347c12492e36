# shellcheck shell=bash
# Tasks that install a systemd timer and its files ("metrics publisher", "redis backup"):
# provisioning/tasks/metrics.ts and backup.ts decide, timer_task runs it. It never exits the script;
# it reports the task itself. Parameters (P_T_*, base64 data, never shell syntax; a fragment sets
# every one of them, "" when unused, so a previous task's values never leak into the next):
#   P_T_TASK            the task's name
#   P_T_REMOVE          1: stop and disable P_T_TIMER (and P_T_SERVICE), remove P_T_PATHS, daemon-reload
#   P_T_CALENDAR        an OnCalendar expression the host's systemd must accept before anything is written
#   P_T_CALENDAR_ERR    the message when it does not
#   P_T_FILES           the files to write, one "PATH MODE" per line; the content of line N is P_T_CONTENT_N
#   P_T_RELOAD          1: daemon-reload after the writes
#   P_T_ENABLE          1: systemctl enable P_T_TIMER
#   P_T_START           start | restart | "" for P_T_TIMER
#   P_T_ERR_PREFIX      1: each failure says which step failed ("write PATH: ...")
#   P_T_DONE            the task's message when it succeeds

# timer_step WHAT CMD...: runs CMD; on failure prints its output (after "WHAT: " with P_T_ERR_PREFIX).
timer_step() {
  local what=$1 out
  shift
  out=$("$@" 2>&1) && return 0
  if [ "$P_T_ERR_PREFIX" = 1 ]; then printf '%s: %s\n' "$what" "$out"; else printf '%s\n' "$out"; fi
  return 1
}

# timer_write PATH MODE BASE64: atomically, through PATH.provision-new.
timer_write() {
  local path=$1 mode=$2 tmp="$1.provision-new"
  mkdir -p "$(dirname "$path")" && printf '%s' "$3" | base64 -d > "$tmp" && chmod "$mode" "$tmp" && mv -f "$tmp" "$path"
}

timer_apply() {
  local n=0 path mode content
  if [ "$P_T_REMOVE" = 1 ]; then
    systemctl disable --now "$P_T_TIMER" >/dev/null 2>&1
    if [ -n "$P_T_SERVICE" ]; then systemctl stop "$P_T_SERVICE" >/dev/null 2>&1; fi
    # One path per line, none with spaces (the tasks' own fixed paths).
    # shellcheck disable=SC2046
    timer_step rm rm -f $(printf '%s' "$P_T_PATHS") || return 1
    timer_step "systemctl daemon-reload" systemctl daemon-reload || return 1
    return 0
  fi
  if [ -n "$P_T_CALENDAR" ] && ! systemd-analyze calendar "$P_T_CALENDAR" >/dev/null 2>&1; then
    printf '%s\n' "$P_T_CALENDAR_ERR"
    return 1
  fi
  while read -r path mode; do
    [ -n "$path" ] || continue
    n=$((n + 1))
    content="P_T_CONTENT_$n"
    timer_step "write $path" timer_write "$path" "$mode" "${!content}" || return 1
  done <<<"$P_T_FILES"
  if [ "$P_T_RELOAD" = 1 ]; then timer_step "systemctl daemon-reload" systemctl daemon-reload || return 1; fi
  if [ "$P_T_ENABLE" = 1 ]; then timer_step "systemctl enable $P_T_TIMER" systemctl enable "$P_T_TIMER" || return 1; fi
  if [ -n "$P_T_START" ]; then timer_step "systemctl start $P_T_TIMER" systemctl "$P_T_START" "$P_T_TIMER" || return 1; fi
}

timer_task() {
  local out
  if out=$(timer_apply); then task "$P_T_TASK" changed "$P_T_DONE"; else task "$P_T_TASK" failed "$out"; fi
}
