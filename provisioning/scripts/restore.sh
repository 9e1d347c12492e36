# shellcheck shell=bash
# `npm run provision -- --restore SOURCE`: puts one RDB snapshot in place of the server's data
# (docs/backups.md). Needs lib.sh, lock.sh and handlers.sh (stop_bounded, start_bounded).
#   fetch snapshot   the controller has streamed a local file to $RESTORE_DIR/incoming.rdb (its
#                    SHA-256 is P_SHA), or the host downloads P_S3_URI with its own role (aws s3 cp)
#   check snapshot   P_CHECK_RDB (redis-check-rdb) must say "RDB looks OK"; its counts are the proof
#   restore snapshot stop Redis (bounded) -> move its data files aside -> the snapshot becomes
#                    dbfilename -> start. In AOF mode (appendonly yes in $CONF) Redis would load the
#                    AOF and ignore dump.rdb, so the server starts with appendonly no on the snapshot,
#                    then CONFIG SET appendonly yes writes a fresh AOF from it (waited for), and the
#                    config file is put back byte for byte. A restart then proves that what the config
#                    loads holds the snapshot's keys.
# Any failure before the stop changes nothing; after it, the previous data and config are put back
# and Redis is started with them. Every wait is bounded (P_STEP_TIMEOUT, P_STOP_TIMEOUT,
# P_START_TIMEOUT, P_AOF_TIMEOUT, P_FETCH_TIMEOUT).
# Parameters: P_SHA | P_S3_URI P_REGION (empty: the CLI finds the bucket's region), P_CHECK_RDB, P_CHECK_ONLY (1: stop after the check).
RESTORE_DIR="$STATE/restore"
SNAP="$RESTORE_DIR/incoming.rdb"

keys_total() { rc INFO keyspace | tr -d '\r' | awk -F'[=,:]' '/^db[0-9]+:/{n+=$3} END{print n+0}'; }
conf_value() { awk -v k="$1" '$1==k{v=$2} END{gsub(/"/,"",v); print v}' "$CONF"; }
# Sets CHECK_KEYS CHECK_EXPIRES CHECK_EXPIRED from the checker's report of $SNAP; returns its verdict.
check_counts() {
  local out
  out=$(bounded "$P_CHECK_RDB" "$SNAP" 2>&1); local code=$?
  CHECK_KEYS=$(printf '%s\n' "$out" | sed -n 's/^\[info\] \([0-9]*\) keys read$/\1/p')
  CHECK_EXPIRES=$(printf '%s\n' "$out" | sed -n 's/^\[info\] \([0-9]*\) expires$/\1/p')
  CHECK_EXPIRED=$(printf '%s\n' "$out" | sed -n 's/^\[info\] \([0-9]*\) already expired$/\1/p')
  CHECK_ERROR=$(printf '%s\n' "$out" | grep -v -E '^\[(offset [0-9]+\] (Checking|AUX|Selecting)|info\])' | head -n 3 | tr '\n' ' ')
  [ "$code" = 0 ] && case "$out" in *"RDB looks OK"*) true;; *) false;; esac
}

restore_fetch() {
  local err
  step "fetch snapshot"
  err=$({ mkdir -p "$RESTORE_DIR" && chmod 0700 "$RESTORE_DIR"; } 2>&1) || fail_task "fetch snapshot" "cannot create $RESTORE_DIR: $err; nothing changed"
  if [ -n "${P_S3_URI:-}" ]; then
    rm -f "$SNAP"
    command -v aws >/dev/null || fail_task "fetch snapshot" "the AWS CLI (aws) is not on the host; copy the file here and restore from it; nothing changed"
    err=$(AWS_PAGER="" timeout -k 5 "$P_FETCH_TIMEOUT" aws s3 cp "$P_S3_URI" "$SNAP" ${P_REGION:+--region "$P_REGION"} --only-show-errors --cli-connect-timeout 10 --cli-read-timeout 60 2>&1)
    local code=$?
    if [ "$code" != 0 ] || [ ! -s "$SNAP" ]; then
      rm -f "$SNAP"
      [ -n "$err" ] || err="no file written"
      fail_task "fetch snapshot" "aws s3 cp $P_S3_URI failed (exit $code: $(printf '%s' "$err" | tail -n 2 | tr '\n' ' ' | sed 's/ *$//')); nothing changed"
    fi
    task "fetch snapshot" changed "downloaded $P_S3_URI ($(stat -c %s "$SNAP") bytes)"
  else
    [ -s "$SNAP" ] || fail_task "fetch snapshot" "no uploaded snapshot at $SNAP; nothing changed"
    if [ "$(sha256sum < "$SNAP" | cut -d' ' -f1)" != "$P_SHA" ]; then rm -f "$SNAP"; fail_task "fetch snapshot" "the uploaded snapshot differs from the local file (short or corrupt copy); nothing changed"; fi
    task "fetch snapshot" changed "uploaded $(stat -c %s "$SNAP") bytes (sha256 verified)"
  fi
}

restore_check() {
  step "check snapshot"
  command -v "$P_CHECK_RDB" >/dev/null || { rm -f "$SNAP"; fail_task "check snapshot" "$P_CHECK_RDB is not installed on the host; nothing changed"; }
  if ! check_counts; then rm -f "$SNAP"; fail_task "check snapshot" "$P_CHECK_RDB refuses it: ${CHECK_ERROR:-not a valid RDB file}; nothing changed"; fi
  SNAP_KEYS=$CHECK_KEYS; SNAP_EXPIRES=$CHECK_EXPIRES
  task "check snapshot" ok "RDB looks OK: $CHECK_KEYS keys ($CHECK_EXPIRES with TTL, $CHECK_EXPIRED already expired)"
}

# Puts the previous data and config back and starts Redis with them; then fails the task with $1.
restore_rollback() {
  local why=$1 now
  stop_bounded
  rm -rf -- "${DIR:?}/$DBFILE" "${DIR:?}/$AOFDIR" "${DIR:?}/$AOFFILE"
  if [ -n "$(ls -A "$PREV/data" 2>/dev/null)" ]; then mv -f "$PREV"/data/* "$PREV"/data/.[!.]* "$DIR"/ 2>/dev/null; fi
  local conf_note=""
  if [ -f "$PREV/conf" ] && ! { cp -p "$PREV/conf" "$CONF" && cmp -s "$PREV/conf" "$CONF"; }; then
    conf_note="; $CONF could NOT be put back (it may say appendonly no): the original is $PREV/conf"
  fi
  if start_bounded; then rc_auth "$ADMIN_PW"; now="previous data and config put back, Redis running with $(keys_total) keys$conf_note"
  else now="previous data and config put back but Redis did not start: $(redis_error 0 "$T0")$conf_note"; fi
  rm -f "$SNAP"
  fail_task "restore snapshot" "$why; $now"
}

restore_apply() {
  local r p t0 loaded proved aof before
  step "restore snapshot"
  DIR=$(conf_value dir); DIR=${DIR:-$DATA_DIR}
  DBFILE=$(conf_value dbfilename); DBFILE=${DBFILE:-dump.rdb}
  AOFDIR=$(conf_value appenddirname); AOFDIR=${AOFDIR:-appendonlydir}
  AOFFILE=$(conf_value appendfilename); AOFFILE=${AOFFILE:-appendonly.aof}
  aof=$(conf_value appendonly)
  CONF_MODE=$(stat -c %a "$CONF"); CONF_OWNER=$(stat -c %U:%G "$CONF")
  ADMIN_PW=$(cat "$STATE/admin.secret" 2>/dev/null || true)
  [ -n "$ADMIN_PW" ] || fail_task "restore snapshot" "$STATE/admin.secret is missing: provision the host first (npm run provision); nothing changed"
  rc_target "$CONF"; rc_auth "$ADMIN_PW"
  before=$( [ "$(systemctl is-active "$SERVICE")" = active ] && keys_total || echo "server stopped")
  T0=$(date +%s)
  PREV="$RESTORE_DIR/previous-$(date -u +%Y%m%dT%H%M%SZ)"
  { mkdir -p "$PREV/data" && chmod 0700 "$PREV"; } || fail_task "restore snapshot" "cannot create $PREV; nothing changed"
  stop_bounded || fail_task "restore snapshot" "could not stop $SERVICE (${STOP_NOTE:-no reason known}); nothing changed"
  # From here on a failure puts everything back (restore_rollback).
  for f in "$DBFILE" "$AOFDIR" "$AOFFILE"; do
    if [ -e "$DIR/$f" ]; then mv -f -- "$DIR/$f" "$PREV/data/" || restore_rollback "cannot move $DIR/$f aside"; fi
  done
  install -m 0660 -o "$SRV_USER" -g "$SRV_GROUP" "$SNAP" "$DIR/$DBFILE" || restore_rollback "cannot write $DIR/$DBFILE"
  if [ "$aof" = yes ]; then
    cp -p "$CONF" "$PREV/conf" || restore_rollback "cannot copy $CONF"
    if ! { sed -E 's/^appendonly[[:space:]]+yes[[:space:]]*$/appendonly no/' "$PREV/conf" > "$CONF.restore-tmp" && chmod "$CONF_MODE" "$CONF.restore-tmp" \
      && chown "$CONF_OWNER" "$CONF.restore-tmp" && mv -f "$CONF.restore-tmp" "$CONF" && grep -qx 'appendonly no' "$CONF"; }; then rm -f "$CONF.restore-tmp"; restore_rollback "cannot write $CONF with appendonly no"; fi
  fi
  start_bounded || restore_rollback "Redis did not start on the snapshot: $(redis_error 0 "$T0")"
  rc_auth "$ADMIN_PW"
  loaded=$(keys_total)
  if [ "$aof" = yes ]; then
    t0=$(date +%s)
    r=$(rc CONFIG SET appendonly yes)
    [ "$r" = OK ] || restore_rollback "CONFIG SET appendonly yes: $r"
    while :; do
      p=$(rc INFO persistence | tr -d '\r')
      case "$p" in *aof_enabled:1*aof_rewrite_in_progress:0*aof_rewrite_scheduled:0*) break;; esac
      [ $(( $(date +%s) - t0 )) -lt "$P_AOF_TIMEOUT" ] || restore_rollback "the AOF rewrite did not finish within $P_AOF_TIMEOUT s"
      sleep 0.1
    done
    case "$p" in *aof_last_bgrewrite_status:ok*) ;; *) restore_rollback "the AOF rewrite failed";; esac
    { cp -p "$PREV/conf" "$CONF" && cmp -s "$PREV/conf" "$CONF"; } || restore_rollback "cannot put $CONF back"
  fi
  # Proof: what the config loads (the new AOF in AOF mode) holds the snapshot's keys.
  stop_bounded || restore_rollback "could not stop $SERVICE for the proving restart (${STOP_NOTE:-})"
  start_bounded || restore_rollback "Redis did not start from its $([ "$aof" = yes ] && echo AOF || echo RDB) after the restore: $(redis_error 0 "$T0")"
  rc_auth "$ADMIN_PW"
  proved=$(keys_total)
  # Keys with a TTL that ran out since the snapshot are gone, as they would be on the old server.
  check_counts
  if [ "$proved" -lt $(( SNAP_KEYS - CHECK_EXPIRED )) ] || [ "$loaded" -lt $(( SNAP_KEYS - CHECK_EXPIRED )) ]; then
    restore_rollback "key count: the snapshot has $SNAP_KEYS keys ($CHECK_EXPIRED expired since), Redis loaded $loaded and $proved after the restart"
  fi
  rm -f "$SNAP"
  task "restore snapshot" changed "$SNAP_KEYS keys in the snapshot ($SNAP_EXPIRES with TTL, $CHECK_EXPIRED expired since), $proved in Redis after a restart from its $([ "$aof" = yes ] && echo "new AOF (appendonly yes)" || echo "RDB (appendonly no)"); before: $before; previous data kept in $PREV"
}

# --check: what restore_apply would do (the fetched snapshot is removed again).
restore_predict() {
  rm -f "$SNAP"
  task "restore snapshot" changed "would stop $SERVICE, replace its data with the snapshot ($SNAP_KEYS keys, $SNAP_EXPIRES with TTL) in $(conf_value appendonly | sed 's/yes/AOF/;s/no/RDB/') mode and prove the key count"
}
