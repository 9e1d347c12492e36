# shellcheck shell=bash
# Every handler of the role, in one place, run the Ansible way: a task only notifies (a marker file
# written before its change, so an interrupted run still runs the handler next time, plus `notify`
# for this run), and flush_handlers runs each notified handler once, after the tasks, in the order
# they are defined here (as Ansible flushes handlers):
#   restart redis             restart_handler          ($STATE/restart-pending, written by install_staged/mark_restart)
#   reload asterisk           reload_asterisk          ($STATE/asterisk-reload-pending, the ARI task)
#   restart asterisk-worker   restart_asterisk_worker  (P_W_MARK, the worker task)

NOTIFIED=" "
# notify HANDLER: the task changed something HANDLER must act on (its marker is already written).
notify() { case "$NOTIFIED" in *" $1 "*) ;; *) NOTIFIED="$NOTIFIED$1 ";; esac; }
notified() { case "$NOTIFIED" in *" $1 "*) return 0;; *) return 1;; esac; }

# The end of the tasks: each notified handler once, in definition order. "restart redis" always looks
# at its marker (a restart pending from an interrupted run is a notification too); a failed restart
# stops the host (fail_task), as a failed handler stops an Ansible host.
flush_handlers() {
  restart_handler
  if notified reload_asterisk; then reload_asterisk; fi
  if notified restart_asterisk_worker; then restart_asterisk_worker; fi
  return 0
}

# Handler "restart redis": runs once, at the end, only if a change notified it. The notification is a
# marker file ($STATE/restart-pending) written before the config is moved into place, so a run that
# dies between the change and the restart still restarts on the next run.
#
# Every wait is bounded. Debian's unit has TimeoutStopSec=0 (systemd waits forever for a server that
# refuses to exit, e.g. "Error trying to save the DB, can't exit"), so the tool stops the server
# itself: SIGTERM through systemd, P_STOP_TIMEOUT seconds, then SIGKILL, which leaves the files on disk
# exactly as they are (the refused final save is what it would have written).
# If the server does not come back with the new config, the previous config is put back, Redis is
# started with it, and the task fails with Redis's own error line (log file, else the journal).
# Parameters: P_STOP_TIMEOUT, P_START_TIMEOUT (seconds).

redis_error() {
  local e r
  e=$(tail -c +$(( $1 + 1 )) "$LOGFILE" 2>/dev/null | grep -E ' # |FATAL|>>>|Bad directive' \
      | sed -E 's/^[0-9]+:[A-Z] [0-9]+ [A-Za-z]+ [0-9]+ [0-9:.]+ [#*.-] //' | grep -v -E '^Configuration loaded|User requested shutdown|ready to exit|oO0OoO0OoO0Oo|Redis version=|WARNING Memory overcommit|Server initialized' | awk '!seen[$0]++' | tail -n 3 | tr '\n' ' ')
  [ -n "$e" ] || e=$(journalctl -u "$SERVICE" --since "@$2" -o cat --no-pager 2>/dev/null \
      | grep -v -E '^(Started|Stopped|Starting|Stopping|Failed to start)|systemd|Consumed' | awk '!seen[$0]++' | tail -n 3 | tr '\n' ' ')
  r=$(systemctl show -p Result --value "$SERVICE" 2>/dev/null)
  [ -z "$r" ] || [ "$r" = success ] || e="$e(systemd: $r)"
  printf '%s' "${e:-no error line in $LOGFILE or the journal}"
}
# Keys without a TTL across all databases (INFO keyspace: keys - expires).
keys_no_ttl() { rc INFO keyspace 2>/dev/null | tr -d '\r' | awk -F'[=,:]' '/^db[0-9]+:/{n+=$3-$5} END{print n+0}'; }
is_down() { case "$(systemctl is-active "$SERVICE")" in inactive|failed) return 0;; *) return 1;; esac; }

# Stops the service within P_STOP_TIMEOUT s; sets STOP_NOTE when the server had to be killed.
stop_bounded() {
  local logsize
  STOP_NOTE=""
  is_down && return 0
  logsize=$(stat -c %s "$LOGFILE" 2>/dev/null || echo 0)
  systemctl stop --no-block "$SERVICE" >/dev/null 2>&1
  for _ in $(seq 1 $(( P_STOP_TIMEOUT * 10 ))); do is_down && return 0; sleep 0.1; done
  STOP_NOTE="the server did not exit within $P_STOP_TIMEOUT s of SIGTERM ($(redis_error "$logsize" "$(date +%s)")); killed with SIGKILL, its files on disk left as they were"
  systemctl kill -s SIGKILL "$SERVICE" >/dev/null 2>&1
  for _ in $(seq 1 100); do is_down && return 0; sleep 0.1; done
  return 1
}
# Starts the service and waits (bounded) until it answers PONG to the application password.
start_bounded() {
  systemctl reset-failed "$SERVICE" >/dev/null 2>&1
  systemctl start --no-block "$SERVICE" >/dev/null 2>&1
  rc_target "$CONF"
  for _ in $(seq 1 $(( P_START_TIMEOUT * 10 ))); do
    [ "$(app PING)" = PONG ] && return 0
    [ "$(systemctl is-active "$SERVICE")" = failed ] && return 1
    sleep 0.1
  done
  return 1
}

restart_handler() {
  local keys_before keys_after logsize since err now
  step "restart redis"
  [ -e "$STATE/restart-pending" ] || return 0
  keys_before=$(keys_no_ttl)
  logsize=$(stat -c %s "$LOGFILE" 2>/dev/null || echo 0); since=$(date +%s)
  if ! stop_bounded; then
    fail_task "restart redis" "could not stop $SERVICE (${STOP_NOTE:-no reason known}); the new config is in place and the restart is still pending"
  fi
  if start_bounded; then
    rc_auth "$NEW_ADMIN"
    keys_after=$(keys_no_ttl)
    if [ "${keys_before:-0}" -gt 0 ] && [ "$keys_after" -eq 0 ]; then
      # The new config reads its data somewhere else than the old one wrote it: back to the old one,
      # whose files are untouched, rather than leave an empty server running. Its stop must not save
      # the empty dataset (over the old files, should they share a name): no save points first.
      rc CONFIG SET save "" >/dev/null 2>&1 || true
      rollback_config "restarted with the new config but the dataset was EMPTY (had $keys_before keys without TTL; the new config reads $DATA_DIR)" "$logsize" "$since"
    fi
    rm -f "$STATE/restart-pending" "$STATE/config.prev"
    task "restart redis" changed "restarted once (pid $(systemctl show -p MainPID --value "$SERVICE"), keys without TTL: ${keys_before:-?} -> $keys_after)${STOP_NOTE:+; $STOP_NOTE}"
    return 0
  fi
  err=$(redis_error "$logsize" "$since")
  rollback_config "Redis did not start with the new config: $err${STOP_NOTE:+; $STOP_NOTE}" "$logsize" "$since"
}

# The new config is in place but must not stay (why: $1): stops Redis, puts the previous config
# ($STATE/config.prev) back, starts Redis with it, and fails the task saying what runs now.
# $2, $3: the log size and time before the restart (for Redis's error lines).
rollback_config() {
  local why=$1 now
  stop_bounded
  if [ ! -f "$STATE/config.prev" ]; then now="no previous config was kept to go back to"
  elif ! install -m 0640 -o "$SRV_USER" -g "$SRV_GROUP" "$STATE/config.prev" "$CONF"; then now="putting the previous config back failed"
  elif start_bounded; then rc_auth "$NEW_ADMIN"; now="previous config restored and Redis is running with it ($(keys_no_ttl) keys without TTL)"
  else now="previous config restored but Redis did not start with it either: $(redis_error "$2" "$3")"; fi
  rm -f "$STATE/restart-pending"
  fail_task "restart redis" "$why; $now${STOP_NOTE:+; $STOP_NOTE}"
}

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
  [ -e "${P_W_MARK:-}" ] || return 0
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
