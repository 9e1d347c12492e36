# shellcheck shell=bash
# Task "prepare persistence" (only when a restart follows): the running server must leave on disk what
# the NEW config loads. appendonly no->yes: CONFIG SET appendonly yes and wait for the AOF rewrite
# (a restart into AOF mode without an AOF starts EMPTY). New config without AOF: the running server
# needs save points so that its shutdown writes a final dump.rdb.
# Parameters: P_WANT_AOF (1|0), P_AOF_TIMEOUT (seconds).
prepare_persistence() {
  local aof_on t0 r p save_now
  step "prepare persistence"
  if [ "$(systemctl is-active "$SERVICE")" != active ]; then
    if [ "$P_WANT_AOF" = 1 ] && [ ! -e "$DATA_DIR/appendonlydir" ] && [ ! -e "$DATA_DIR/appendonly.aof" ] && [ -s "$DATA_DIR/dump.rdb" ]; then
      bounded systemctl start "$SERVICE" >/dev/null 2>&1
      rc_target "$CONF"; rc_auth "$OLD_ADMIN"
      [ "$(systemctl is-active "$SERVICE")" = active ] || fail_task "prepare persistence" "refusing to enable appendonly: Redis is stopped and does not start with its current config, and dump.rdb holds data that an AOF start would not load"
    else
      task "prepare persistence" ok "server not running; its files are what the new config loads"; return 0
    fi
  fi
  if [ "$RC_AUTH" != admin ] && [ "$RC_AUTH" != none ]; then
    fail_task "prepare persistence" "cannot manage persistence: the running server accepts neither the provisioner's user nor the application password; not restarting"
  fi
  aof_on=$(info_field aof_enabled persistence)
  if [ "$P_WANT_AOF" = 1 ]; then
    if [ "$aof_on" != 1 ]; then
      t0=$(date +%s)
      r=$(rc CONFIG SET appendonly yes)
      [ "$r" = OK ] || fail_task "prepare persistence" "CONFIG SET appendonly yes failed: $r"
      while :; do
        p=$(rc INFO persistence | tr -d '\r')
        case "$p" in *aof_rewrite_in_progress:0*aof_rewrite_scheduled:0*) break;; esac
        [ $(( $(date +%s) - t0 )) -lt "$P_AOF_TIMEOUT" ] || fail_task "prepare persistence" "AOF rewrite did not finish within $P_AOF_TIMEOUT s; not restarting"
        sleep 0.1
      done
      case "$p" in *aof_last_bgrewrite_status:ok*) ;; *) fail_task "prepare persistence" "AOF rewrite failed on the running server; not restarting";; esac
      task "prepare persistence" changed "appendonly enabled on the running server, AOF rewrite finished in $(( $(date +%s) - t0 )) s"
    else
      task "prepare persistence" ok "AOF already on"
    fi
  else
    save_now=$(printf 'CONFIG GET save\n' | rc | tail -n 1)
    if [ -z "$save_now" ]; then
      r=$(rc CONFIG SET save "3600 1")
      [ "$r" = OK ] || fail_task "prepare persistence" "CONFIG SET save failed: $r"
      task "prepare persistence" changed "save points set on the running server so that its shutdown writes dump.rdb"
    else
      task "prepare persistence" ok "shutdown will write dump.rdb (save $save_now)"
    fi
  fi
}

# Task "prepare persistence" when no restart is due: nothing to prepare.
persistence_not_needed() { task "prepare persistence" skipped "no restart needed"; }
