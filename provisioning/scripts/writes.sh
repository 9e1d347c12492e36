# shellcheck shell=bash
# Checked writes: a failed or short write, a full disk or a read-only filesystem stops the host with
# the OS's error before anything is moved into place or restarted.

# The OS's message without bash's "main: line N:" prefix.
os_error() { printf '%s' "${1:-write failed}" | sed -E 's/^[a-z_.-]+: line [0-9]+: //' | tr '\n' ' ' | sed 's/ *$//'; }

# write_checked DEST SHA256 MODE OWNER: stdin (base64) decoded into DEST, flushed to disk, read back
# and compared with SHA256. Prints the error and returns 1 on any failure (DEST is then removed).
write_checked() {
  local dest=$1 sha=$2 mode=$3 owner=$4 err got
  if ! err=$({ base64 -d > "$dest"; } 2>&1); then rm -f "$dest"; printf '%s' "writing $dest: $(os_error "$err")"; return 1; fi
  if ! err=$(sync "$dest" 2>&1); then rm -f "$dest"; printf '%s' "flushing $dest: $err"; return 1; fi
  got=$(sha256sum < "$dest" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    rm -f "$dest"; printf '%s' "writing $dest: short or corrupt write ($(stat -c %s "$dest" 2>/dev/null || echo 0) bytes on disk, content differs from what was sent)"; return 1
  fi
  if ! err=$({ chown "$owner" "$dest" && chmod "$mode" "$dest"; } 2>&1); then rm -f "$dest"; printf '%s' "$dest: $err"; return 1; fi
}

# put_text DEST MODE: like write_checked for short text given as $3 (state files).
put_text() {
  local dest=$1 mode=$2 text=$3 err
  if ! err=$({ (umask 077; printf '%s' "$text" > "$dest.tmp") && sync "$dest.tmp" && chmod "$mode" "$dest.tmp" && mv -f "$dest.tmp" "$dest"; } 2>&1); then
    rm -f "$dest.tmp"; printf '%s' "writing $dest: ${err:-write failed}"; return 1
  fi
  if [ "$(cat "$dest")" != "$text" ]; then printf '%s' "writing $dest: content read back differs"; return 1; fi
}

# A copy of a config file with its plaintext `requirepass` replaced by the equivalent ACL line
# (SHA-256 of the password): the rollback target never stores a plaintext secret.
without_plaintext_password() {
  local pw hash
  pw=$(awk '$1=="requirepass"{v=$0; sub(/^[ \t]*requirepass[ \t]+/, "", v); gsub(/^["\x27]|["\x27][ \t]*$/, "", v); p=v} END{printf "%s", p}' "$1")
  if [ -z "$pw" ]; then cat "$1"; return; fi
  hash=$(printf '%s' "$pw" | sha256sum | cut -d' ' -f1)
  awk -v h="$hash" '$1=="requirepass"{print "user default on #" h " ~* &* +@all"; next} {print}' "$1"
}

# Task "write config", part 1: the rendered config (P_CONFIG_B64, P_CONFIG_SHA) goes to a temp file
# beside the real one, checked, then validated by the real server binary as the service user on a
# throwaway --port 0 instance. Nothing else is touched.
stage_config() {
  local err vpid vok scratch
  step "write config"
  TMP_CONF="$(dirname "$CONF")/.$(basename "$CONF").provision-new"
  CLEANUP+=("$TMP_CONF")
  err=$(printf '%s' "$P_CONFIG_B64" | write_checked "$TMP_CONF" "$P_CONFIG_SHA" 0640 "$SRV_USER:$SRV_GROUP") \
    || fail_task "write config" "$err; nothing changed"
  scratch=$(mktemp -d /tmp/redis-validate.XXXXXX) || fail_task "write config" "cannot create a scratch dir in /tmp; nothing changed"
  CLEANUP+=("$scratch")
  chown "$SRV_USER:$SRV_GROUP" "$scratch"
  setpriv --reuid="$SRV_USER" --regid="$SRV_GROUP" --init-groups "$SERVER" "$TMP_CONF" --port 0 \
    --unixsocket "$scratch/v.sock" --dir "$scratch" --save '' --appendonly no --daemonize no \
    --supervised no --logfile '' --pidfile "$scratch/v.pid" >"$scratch/out" 2>&1 </dev/null &
  vpid=$!; vok=0
  for _ in $(seq 1 200); do
    if [ -S "$scratch/v.sock" ]; then vok=1; break; fi
    kill -0 "$vpid" 2>/dev/null || break
    sleep 0.05
  done
  kill "$vpid" 2>/dev/null; wait "$vpid" 2>/dev/null
  if [ "$vok" != 1 ]; then
    err=$(grep -E -A3 'FATAL|rror|Bad directive|>>>' "$scratch/out" | grep -v -E '^\s*$|^--$' | head -n 5 | tr '\n' ' ')
    [ -n "$err" ] || err=$(tail -n 3 "$scratch/out" | tr '\n' ' ')
    fail_task "write config" "the new config was rejected by $SERVER, nothing changed: $err"
  fi
}

# Task "write config" when the config in place is already the rendered one.
config_unchanged() { task "write config" ok "$CONF"; }

# Task "write config", part 2: keep the config that ran as the rollback target (without plaintext
# password), set the restart-pending marker, then rename the staged file into place. Each step checked.
install_staged() {
  local err
  step "write config"
  err=$({ mkdir -p "$STATE" && chmod 0700 "$STATE"; } 2>&1) || fail_task "write config" "cannot create $STATE: $err; nothing changed"
  # An interrupted run keeps its own rollback target.
  if [ ! -e "$STATE/restart-pending" ] && [ -f "$CONF" ]; then
    if ! err=$({ (umask 077; without_plaintext_password "$CONF" > "$STATE/config.prev.tmp") && sync "$STATE/config.prev.tmp" && mv -f "$STATE/config.prev.tmp" "$STATE/config.prev"; } 2>&1); then
      rm -f "$STATE/config.prev.tmp"; fail_task "write config" "saving the rollback copy: ${err:-write failed}; nothing changed"
    fi
  fi
  err=$(: 2>&1 > "$STATE/restart-pending") || fail_task "write config" "writing $STATE/restart-pending: $err; nothing changed"
  sync "$STATE" 2>/dev/null || sync
  err=$(mv -f "$TMP_CONF" "$CONF" 2>&1) || fail_task "write config" "moving the new config into place: $err; nothing changed"
  task "write config" changed "$CONF (checked, validated by $(basename "$SERVER"), owner $SRV_USER, mode 0640)"
}

# Notifies the restart handler (checked: a marker that cannot be written stops the host).
mark_restart() {
  local err
  err=$({ mkdir -p "$STATE" && chmod 0700 "$STATE" && : > "$STATE/restart-pending"; } 2>&1) \
    || fail_task "${CURRENT_TASK:-restart redis}" "writing $STATE/restart-pending: $err"
}
