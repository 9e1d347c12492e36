# shellcheck shell=bash
# Handlers other than "restart redis" (restart.sh): each runs once, at the end, only if a change notified it.

# Handler "reload asterisk": reloads each module listed in the marker ($STATE/asterisk-reload-pending,
# written by the ARI task before it changes a file, so an interrupted run still reloads) once, then
# removes the marker. Asterisk not running: skipped, it reads the files when it starts.
reload_asterisk() {
  local mark="$STATE/asterisk-reload-pending" done="" err="" down="" m out rc
  step "reload asterisk"
  [ -s "$mark" ] || return 0
  if ! command -v asterisk >/dev/null 2>&1; then
    rm -f "$mark"
    task "reload asterisk" skipped "asterisk not found on PATH: the new configuration takes effect when Asterisk starts"
    return 0
  fi
  while IFS= read -r m; do
    [ -n "$m" ] || continue
    out=$(bounded asterisk -rx "module reload $m" 2>&1 </dev/null); rc=$?
    case "$out" in *"Unable to connect"*) down=1; break;; esac
    if [ "$rc" -eq 0 ]; then done="${done:+$done; }module reload $m: $(printf '%s' "$out" | tr '\n' ' ' | sed 's/ *$//')"
    else err="module reload $m exited $rc: $out"; break; fi
  done < <(sort -u "$mark")
  if [ -n "$down" ]; then
    rm -f "$mark"
    task "reload asterisk" skipped "Asterisk is not running: it reads the new configuration when it starts"
  elif [ -n "$err" ]; then
    task "reload asterisk" failed "$err"
  else
    rm -f "$mark"
    task "reload asterisk" changed "$done"
  fi
}

# Handler "restart asterisk-worker": once, when the marker says so; daemon-reload first; then waits
# (bounded) for systemctl. The marker is P_W_MARK (worker.sh writes it before the first file changes).
restart_asterisk_worker() {
  local err pid why svc=asterisk-worker.service
  [ -e "$P_W_MARK" ] || return 0
  step "restart asterisk-worker"
  why=$(tr '\n' ' ' < "$P_W_MARK" | sed 's/ *$//')
  err=$(bounded systemctl daemon-reload 2>&1) || { task "restart asterisk-worker" failed "systemctl daemon-reload: $err"; return 1; }
  systemctl reset-failed "$svc" >/dev/null 2>&1
  err=$(bounded systemctl restart "$svc" 2>&1) || {
    task "restart asterisk-worker" failed "systemctl restart $svc: $err $(journalctl -u "$svc" -n 3 -o cat --no-pager 2>/dev/null | tr '\n' ' ')"; return 1; }
  rm -f "$P_W_MARK"
  pid=$(systemctl show -p MainPID --value "$svc")
  task "restart asterisk-worker" changed "restarted once (pid $pid); why: $why"
}
