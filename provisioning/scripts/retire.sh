# shellcheck shell=bash
# Task "retire first-boot password unit" (provisioning/tasks/retire.ts decides; this runs it).
# Parameters (P_R_*, base64 data, never shell syntax; lists are one path per line):
#   P_R_TASK        the task's name
#   P_R_UNIT        the unit's name (redis-password.service)
#   P_R_UNIT_FILE   its file
#   P_R_CANDIDATES  gather: every legacy path the user data may have left (plus unit links, as globs)
#   P_R_UNIT_PATHS  apply: the unit's file, its helper script and links to remove ("" = none)
#   P_R_FILES       apply: the legacy config files to remove once Redis runs without them
#   P_R_DONE        apply: the task's message when it succeeds
#   P_R_CONFS       gather: the config files whose `include`s to look into (one per OS profile)
#   P_R_SECRET_RE   gather/apply: an ERE matching a line that sets a secret directive (requirepass, ...)
#   P_R_SECRET_FILES apply: included files whose secret lines go once Redis runs without them

# Gather: which legacy paths exist (links too), and the unit's enablement.
retire_gather() {
  local rp="" f
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    # shellcheck disable=SC2086 # globs of unit links (*.requires/NAME) expand here
    for f in $f; do
      if [ -e "$f" ] || [ -L "$f" ]; then rp="$rp$f"$'\n'; fi
    done
  done <<<"$P_R_CANDIDATES"
  fact retire_paths "$rp"
  RETIRE_SECRETS=""
  while IFS= read -r f; do
    [ -n "$f" ] && [ -f "$f" ] && retire_gather_includes "$f" 0
  done <<<"$P_R_CONFS"
  fact retire_secret_includes "$RETIRE_SECRETS"
  if [ -e "$P_R_UNIT_FILE" ]; then fact retire_unit_state "$(systemctl is-enabled "$P_R_UNIT" 2>/dev/null)"; fi
}

# The files config $1 includes (nested, as redis-server reads them) that set a secret directive: the old
# playbook's plaintext requirepass kept beside the config it replaced (RETIRE_SECRETS, one per line).
retire_gather_includes() {
  local k v f
  [ "$2" -le 5 ] || return 0
  while read -r k v _; do
    [ "${k,,}" = include ] || continue
    include_paths "$v"
    for f in "${INCLUDED[@]}"; do
      if grep -qiE "$P_R_SECRET_RE" "$f"; then RETIRE_SECRETS="$RETIRE_SECRETS$f"$'\n'; fi
      retire_gather_includes "$f" $(( $2 + 1 ))
    done
  done 2>/dev/null < "$1"
}

# Apply (after the restart): the secret lines of each P_R_SECRET_FILES file go; a file left with nothing
# but comments and blank lines goes too. The rest of a file is kept, owner and mode included.
retire_secret_lines() {
  local f tmp
  while IFS= read -r f; do
    if [ -z "$f" ] || [ ! -f "$f" ]; then continue; fi
    if grep -qsiE '^[[:space:]]*include[[:space:]]' "$CONF"; then RETIRE_ERR="${RETIRE_ERR:+$RETIRE_ERR; }$CONF still has include lines, $f kept"; continue; fi
    tmp="$(dirname "$f")/.$(basename "$f").provision-tmp"
    CLEANUP+=("$tmp")
    if ! grep -qviE "$P_R_SECRET_RE|^[[:space:]]*(#.*)?$" "$f"; then
      rm -f "$f" || RETIRE_ERR="${RETIRE_ERR:+$RETIRE_ERR; }cannot remove $f"
    elif ! { grep -viE "$P_R_SECRET_RE" "$f" > "$tmp" && chown --reference="$f" "$tmp" && chmod --reference="$f" "$tmp" && sync "$tmp" && mv -f "$tmp" "$f"; } 2>/dev/null; then
      RETIRE_ERR="${RETIRE_ERR:+$RETIRE_ERR; }cannot rewrite $f without its secret lines"
    fi
  done <<<"$P_R_SECRET_FILES"
}

# Apply, part 1 (before the restart handler, so that the unit cannot block the restart).
retire_unit() {
  local out paths
  RETIRE_ERR=""
  [ -n "$P_R_UNIT_PATHS" ] || return 0
  if [ -e "$P_R_UNIT_FILE" ]; then systemctl disable --now "$P_R_UNIT" >/dev/null 2>&1 || systemctl stop "$P_R_UNIT" >/dev/null 2>&1; fi
  mapfile -t paths <<<"$P_R_UNIT_PATHS"
  rm -f "${paths[@]}" || RETIRE_ERR="cannot remove the unit's files"
  out=$(systemctl daemon-reload 2>&1) || RETIRE_ERR="systemctl daemon-reload: $out"
  systemctl reset-failed "$P_R_UNIT" >/dev/null 2>&1 || true
}

# Apply, part 2 (once Redis runs with a config that does not include them): the files; reports the task.
retire_files() {
  local f
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    if grep -qsE "^[[:space:]]*include[[:space:]]+\"?$f\"?[[:space:]]*$" "$CONF"; then RETIRE_ERR="${RETIRE_ERR:+$RETIRE_ERR; }$f is still included by $CONF, kept"; continue; fi
    rm -f "$f" || RETIRE_ERR="${RETIRE_ERR:+$RETIRE_ERR; }cannot remove $f"
  done <<<"$P_R_FILES"
  retire_secret_lines
  if [ -n "$RETIRE_ERR" ]; then task "$P_R_TASK" failed "$RETIRE_ERR"; else task "$P_R_TASK" changed "$P_R_DONE"; fi
}
