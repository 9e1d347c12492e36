/**
 * Handler "restart redis": runs once, at the end, only if a change notified it. The notification is
 * a marker file on the host ($STATE/restart-pending) written before the config is moved into place,
 * so a run that dies between the change and the restart still restarts on the next run.
 *
 * If the server does not come back with the new config, the previous config is put back, Redis is
 * started with it, and the task fails with Redis's own error line (log file, else the journal).
 */
export const RESTART_HANDLER_FRAGMENT = `
redis_error() {
  E=$(tail -c +$(( $1 + 1 )) "$LOGFILE" 2>/dev/null | grep -E ' # |FATAL|>>>|Bad directive' \\
      | sed -E 's/^[0-9]+:[A-Z] [0-9]+ [A-Za-z]+ [0-9]+ [0-9:.]+ [#*.-] //' | grep -v -E '^Configuration loaded|User requested shutdown|ready to exit|oO0OoO0OoO0Oo|Redis version=|WARNING Memory overcommit|Server initialized' | awk '!seen[$0]++' | tail -n 3 | tr '\\n' ' ')
  [ -n "$E" ] || E=$(journalctl -u "$SERVICE" --since "@$2" -o cat --no-pager 2>/dev/null \\
      | grep -v -E '^(Started|Stopped|Starting|Stopping|Failed to start)|systemd|Consumed' | awk '!seen[$0]++' | tail -n 3 | tr '\\n' ' ')
  R=$(systemctl show -p Result --value "$SERVICE" 2>/dev/null)
  [ -z "$R" ] || [ "$R" = success ] || E="$E(systemd: $R)"
  printf '%s' "\${E:-no error line in $LOGFILE or the journal}"
}
# Keys without a TTL across all databases (INFO keyspace: keys - expires).
keys_no_ttl() { rc INFO keyspace 2>/dev/null | tr -d '\\r' | awk -F'[=,:]' '/^db[0-9]+:/{n+=$3-$5} END{print n+0}'; }
wait_pong() {
  rc_target "$CONF"
  for i in $(seq 1 300); do
    [ "$(app PING)" = PONG ] && return 0
    [ "$(systemctl is-active "$SERVICE")" = failed ] && return 1
    sleep 0.1
  done
  return 1
}
if [ -e "$STATE/restart-pending" ]; then
  KEYS_BEFORE=$(keys_no_ttl)
  LOGSIZE=$(stat -c %s "$LOGFILE" 2>/dev/null || echo 0); SINCE=$(date +%s)
  # reset-failed also resets systemd's start rate limit, which back-to-back runs could hit.
  systemctl reset-failed "$SERVICE" >/dev/null 2>&1
  if systemctl restart "$SERVICE" >/dev/null 2>&1 && wait_pong; then
    rm -f "$STATE/restart-pending"
    rc_auth "$NEW_ADMIN"
    KEYS_AFTER=$(keys_no_ttl)
    if [ "\${KEYS_BEFORE:-0}" -gt 0 ] && [ "$KEYS_AFTER" -eq 0 ]; then
      fail_task "restart redis" "restarted but the dataset is EMPTY (had $KEYS_BEFORE keys): check $DATA_DIR before anything else"
    fi
    task "restart redis" changed "restarted once (pid $(systemctl show -p MainPID --value "$SERVICE"), keys without TTL: \${KEYS_BEFORE:-?} -> $KEYS_AFTER)"
  else
    ERR=$(redis_error "$LOGSIZE" "$SINCE")
    if [ -f "$STATE/config.prev" ]; then cp -p "$STATE/config.prev" "$CONF"; fi
    systemctl reset-failed "$SERVICE" >/dev/null 2>&1
    if systemctl restart "$SERVICE" >/dev/null 2>&1; then NOW="previous config restored and Redis is running with it"
    else NOW="previous config restored but Redis did not start with it either: $(redis_error "$LOGSIZE" "$SINCE")"; fi
    rm -f "$STATE/restart-pending"
    fail_task "restart redis" "Redis did not start with the new config: $ERR; $NOW"
  fi
fi
`;
