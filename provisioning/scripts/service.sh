# shellcheck shell=bash
# Task "enable service": enabled at boot; a service that is not running is started by the restart
# handler (notified here through the checked restart-pending marker).
enable_service() {
  local out
  step "enable service"
  if systemctl is-enabled -q "$SERVICE" 2>/dev/null; then
    task "enable service" ok "$SERVICE enabled"
  else
    out=$(bounded systemctl enable "$SERVICE" 2>&1) || fail_task "enable service" "systemctl enable $SERVICE: $out"
    task "enable service" changed "$SERVICE enabled at boot"
  fi
  if [ "$(systemctl is-active "$SERVICE")" != active ] && [ ! -e "$STATE/restart-pending" ]; then mark_restart; fi
}
