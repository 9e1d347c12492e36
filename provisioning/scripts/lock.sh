# shellcheck shell=bash
# One run per host. The lock is the directory $STATE/lock (mkdir is atomic) with one line in `owner`:
#   run=RUN_ID who=USER@MACHINE pid=PID since=EPOCH expires=EPOCH
# It is taken by the gather of a real run, checked by every later round trip of that run and removed
# at its end. A lock past `expires` (the holder's deadline plus a margin: its scripts were killed by
# then) is stale and broken; so is one whose holder the controller found dead (P_BREAK_LOCK = its run).
# Parameters: P_RUN_ID P_OWNER_WHO P_OWNER_PID P_LEASE (seconds) P_BREAK_LOCK (optional).
LOCK="$STATE/lock"
# One field of the owner line into FIELD, with bash only (no forks, no subshell).
lock_field() {
  local line f
  FIELD=""
  { IFS= read -r line < "$LOCK/owner"; } 2>/dev/null || return 0
  for f in $line; do case "$f" in "$1="*) FIELD=${f#*=}; return 0;; esac; done
}
# The whole owner line (for messages), bash only.
lock_owner() { OWNER=""; { IFS= read -r OWNER < "$LOCK/owner"; } 2>/dev/null; return 0; }

# Reports the lock as facts: lock=ours|held|free (+ lock_owner, lock_broken).
lock_acquire() {
  local now run exp err
  step "lock"
  err=$({ { [ -d "$STATE" ] || mkdir -p "$STATE"; } && chmod 0700 "$STATE"; } 2>&1) || { fact lock_error "cannot create $STATE: $err"; return 1; }
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    now=$EPOCHSECONDS
    if mkdir "$LOCK" 2>/dev/null; then
      if err=$({ printf 'run=%s who=%s pid=%s since=%s expires=%s\n' "$P_RUN_ID" "$P_OWNER_WHO" "$P_OWNER_PID" "$now" "$((now + P_LEASE))" > "$LOCK/owner.tmp" && mv -f "$LOCK/owner.tmp" "$LOCK/owner"; } 2>&1); then
        fact lock ours; return 0
      fi
      rm -rf "$LOCK"; fact lock_error "cannot write $LOCK/owner: $err"; return 1
    fi
    lock_field run; run=$FIELD; lock_field expires; exp=$FIELD
    if [ "$run" = "$P_RUN_ID" ]; then fact lock ours; return 0; fi
    if [ -z "$run" ]; then
      # Being written right now, or left half-written by a crash: stale after 30 s.
      if [ $((now - $(stat -c %Y "$LOCK" 2>/dev/null || echo "$now"))) -gt 30 ]; then rm -rf "$LOCK"; fact lock_broken "half-written lock"; fi
      sleep 0.2; continue
    fi
    if [ "${exp:-0}" -lt "$now" ] || [ "$run" = "${P_BREAK_LOCK:-}" ]; then
      lock_owner; fact lock_broken "$OWNER"; rm -rf "$LOCK"; continue
    fi
    lock_owner; fact lock held; fact lock_owner "$OWNER"; return 1
  done
  lock_owner; fact lock held; fact lock_owner "$OWNER"; return 1
}

# --check: reports who holds the lock, takes nothing.
lock_peek() {
  local run exp
  lock_field run; run=$FIELD; lock_field expires; exp=$FIELD
  if [ -n "$run" ] && [ "${exp:-0}" -ge "$EPOCHSECONDS" ] && [ "$run" != "${P_BREAK_LOCK:-}" ]; then
    lock_owner; fact lock held; fact lock_owner "$OWNER"
  else fact lock free; fi
}

# Every later round trip of a run: the lock must still be this run's.
lock_check() {
  lock_field run; [ "$FIELD" = "$P_RUN_ID" ] && return 0
  lock_owner; fail_task "lock" "this run no longer holds $LOCK (now: ${OWNER:-none}); stopped before changing anything"
}

lock_release() {
  lock_field run; if [ "$FIELD" = "$P_RUN_ID" ]; then rm -rf "$LOCK"; fi
  return 0
}
# The last step of an apply: releases the lock and tells the tool so (it need not release it again).
lock_release_last() { lock_release; fact lock_released 1; }
