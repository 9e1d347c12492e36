/**
 * Tasks "prepare persistence" and "write config".
 *
 * write config: the rendered file goes to a temp file beside the real one (owner the service user,
 * 0640), is validated by the real server binary running as the service user on a throwaway
 * `--port 0` instance, and only then moved into place (atomic rename). The previous file is kept in
 * the state dir and the restart-pending marker is set BEFORE the rename, so a run that dies here
 * still restarts (and can roll back) next time.
 *
 * prepare persistence (only when a restart will follow): the running server must leave on disk what
 * the NEW config loads. appendonly no->yes: CONFIG SET appendonly yes and wait until the AOF rewrite
 * has finished (restarting into AOF mode without an AOF starts EMPTY). New config without AOF: the
 * running server must have save points so that its SIGTERM shutdown writes a final dump.rdb.
 */
import { memoryBytes } from "../defaults";
import type { RoleVars } from "../defaults";
import type { RuntimeFacts } from "./facts";
import { printText } from "./shell";

export const AOF_REWRITE_TIMEOUT_S = Number(process.env.PROVISION_AOF_TIMEOUT ?? 900);

export function validateAndStageFragment(configText: string): string {
  return `
TMP_CONF="$(dirname "$CONF")/.$(basename "$CONF").provision-new"
${printText(configText)} > "$TMP_CONF"
chown "$SRV_USER:$SRV_GROUP" "$TMP_CONF"; chmod 0640 "$TMP_CONF"
SCRATCH=$(mktemp -d /tmp/redis-validate.XXXXXX); chown "$SRV_USER:$SRV_GROUP" "$SCRATCH"
setpriv --reuid="$SRV_USER" --regid="$SRV_GROUP" --init-groups "$SERVER" "$TMP_CONF" --port 0 \\
  --unixsocket "$SCRATCH/v.sock" --dir "$SCRATCH" --save '' --appendonly no --daemonize no \\
  --supervised no --logfile '' --pidfile "$SCRATCH/v.pid" >"$SCRATCH/out" 2>&1 </dev/null &
VPID=$!; VOK=0
for i in $(seq 1 200); do
  if [ -S "$SCRATCH/v.sock" ]; then VOK=1; break; fi
  kill -0 $VPID 2>/dev/null || break
  sleep 0.05
done
kill $VPID 2>/dev/null; wait $VPID 2>/dev/null
if [ $VOK != 1 ]; then
  ERR=$(grep -E -A3 'FATAL|rror|Bad directive|>>>' "$SCRATCH/out" | grep -v -E '^\\s*$|^--$' | head -n 5 | tr '\\n' ' ')
  [ -n "$ERR" ] || ERR=$(tail -n 3 "$SCRATCH/out" | tr '\\n' ' ')
  rm -rf "$SCRATCH" "$TMP_CONF"
  fail_task "write config" "the new config was rejected by $SERVER, nothing changed: $ERR"
fi
rm -rf "$SCRATCH"
`;
}

export function persistenceFragment(wantAof: boolean): string {
  return `
prepare_persistence() {
  if [ "$(systemctl is-active "$SERVICE")" != active ]; then
    if ${wantAof ? "true" : "false"} && [ ! -e "$DATA_DIR/appendonlydir" ] && [ ! -e "$DATA_DIR/appendonly.aof" ] && [ -s "$DATA_DIR/dump.rdb" ]; then
      systemctl start "$SERVICE" >/dev/null 2>&1
      rc_target "$CONF"; rc_auth "$OLD_ADMIN"
      [ "$(systemctl is-active "$SERVICE")" = active ] || fail_task "prepare persistence" "refusing to enable appendonly: Redis is stopped and does not start with its current config, and dump.rdb holds data that an AOF start would not load"
    else
      task "prepare persistence" ok "server not running; its files are what the new config loads"; return 0
    fi
  fi
  if [ "$RC_AUTH" != admin ] && [ "$RC_AUTH" != none ]; then
    fail_task "prepare persistence" "cannot manage persistence without the provisioner's Redis user (state file $STATE/admin.secret missing?); not restarting"
  fi
  AOF_ON=$(info_field aof_enabled persistence)
${
  wantAof
    ? `  if [ "$AOF_ON" != 1 ]; then
    T0=$(date +%s)
    R=$(rc CONFIG SET appendonly yes)
    [ "$R" = OK ] || fail_task "prepare persistence" "CONFIG SET appendonly yes failed: $R"
    while :; do
      P=$(rc INFO persistence | tr -d '\\r')
      case "$P" in *aof_rewrite_in_progress:0*aof_rewrite_scheduled:0*) break;; esac
      [ $(( $(date +%s) - T0 )) -lt ${AOF_REWRITE_TIMEOUT_S} ] || fail_task "prepare persistence" "AOF rewrite did not finish within ${AOF_REWRITE_TIMEOUT_S} s; not restarting"
      sleep 0.1
    done
    case "$P" in *aof_last_bgrewrite_status:ok*) ;; *) fail_task "prepare persistence" "AOF rewrite failed on the running server; not restarting";; esac
    task "prepare persistence" changed "appendonly enabled on the running server, AOF rewrite finished in $(( $(date +%s) - T0 )) s"
  else
    task "prepare persistence" ok "AOF already on"
  fi`
    : `  SAVE_NOW=$(printf 'CONFIG GET save\\n' | rc | tail -n 1)
  if [ -z "$SAVE_NOW" ]; then
    R=$(rc CONFIG SET save "3600 1")
    [ "$R" = OK ] || fail_task "prepare persistence" "CONFIG SET save failed: $R"
    task "prepare persistence" changed "save points set on the running server so that its shutdown writes dump.rdb"
  else
    task "prepare persistence" ok "shutdown will write dump.rdb (save $SAVE_NOW)"
  fi`
}
}
`;
}

export const INSTALL_STAGED_CONFIG = `
mkdir -p -m 0700 "$STATE"
# Keep the last config that actually ran as the rollback target (an interrupted run keeps its own).
if [ ! -e "$STATE/restart-pending" ] && [ -f "$CONF" ]; then cp -p "$CONF" "$STATE/config.prev"; fi
touch "$STATE/restart-pending"; sync "$STATE" 2>/dev/null || sync
mv -f "$TMP_CONF" "$CONF"
task "write config" changed "$CONF (validated by $(basename "$SERVER"), owner $SRV_USER, mode 0640)"
`;

/** Local safety checks before anything is touched: refuse changes that would drop keys. */
export function dataSafetyProblems(vars: RoleVars, rt: RuntimeFacts | undefined): string[] {
  const info = rt?.info;
  if (!info) return [];
  const out: string[] = [];
  const used = Number(info.used_memory ?? 0);
  const max = memoryBytes(vars.redis_maxmemory);
  if (max > 0 && used > max) {
    out.push(
      `redis_maxmemory ${vars.redis_maxmemory} (${max} bytes) is below the ${used} bytes in use: ` +
        `${vars.redis_maxmemory_policy === "noeviction" ? "writes would fail" : "keys would be evicted"}; refusing`,
    );
  }
  return out;
}
