# shellcheck shell=bash
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
    rm -f "$STATE/restart-pending" "$STATE/config.prev"
    rc_auth "$NEW_ADMIN"
    keys_after=$(keys_no_ttl)
    if [ "${keys_before:-0}" -gt 0 ] && [ "$keys_after" -eq 0 ]; then
      fail_task "restart redis" "restarted but the dataset is EMPTY (had $keys_before keys): check $DATA_DIR before anything else"
    fi
    task "restart redis" changed "restarted once (pid $(systemctl show -p MainPID --value "$SERVICE"), keys without TTL: ${keys_before:-?} -> $keys_after)${STOP_NOTE:+; $STOP_NOTE}"
    return 0
  fi
  err=$(redis_error "$logsize" "$since")
  local first_note=$STOP_NOTE
  stop_bounded
  if [ -f "$STATE/config.prev" ]; then install -m 0640 -o "$SRV_USER" -g "$SRV_GROUP" "$STATE/config.prev" "$CONF"; fi
  if start_bounded; then now="previous config restored and Redis is running with it"
  else now="previous config restored but Redis did not start with it either: $(redis_error "$logsize" "$since")"; fi
  rm -f "$STATE/restart-pending"
  fail_task "restart redis" "Redis did not start with the new config: $err${first_note:+; $first_note}; $now${STOP_NOTE:+; $STOP_NOTE}"
}
