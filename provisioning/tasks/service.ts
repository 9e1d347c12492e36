/** Task "enable service": enabled at boot; started when it is not running (unless the handler restarts it anyway). */
export const ENABLE_SERVICE_FRAGMENT = `
if systemctl is-enabled -q "$SERVICE" 2>/dev/null; then
  task "enable service" ok "$SERVICE enabled"
else
  OUT=$(systemctl enable "$SERVICE" 2>&1) || fail_task "enable service" "systemctl enable $SERVICE: $OUT"
  task "enable service" changed "$SERVICE enabled at boot"
fi
if [ "$(systemctl is-active "$SERVICE")" != active ] && [ ! -e "$STATE/restart-pending" ]; then
  mkdir -p -m 0700 "$STATE"; touch "$STATE/restart-pending"
fi
`;
