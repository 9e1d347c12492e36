# shellcheck shell=bash
# Task "asterisk ARI" (provisioning/tasks/ari.ts decides; this runs it; its handler "reload asterisk"
# is reload_asterisk in handlers.sh). Parameters (P_A_*, base64 data, never shell syntax):
#   P_A_TASK      the task's name
#   P_A_DIR       Asterisk's config directory; P_A_REF the file whose owner our own file takes (ari.conf)
#   P_A_MARK      the reload marker; P_A_RELOADS the modules to reload, one per line
#   P_A_PW        the ARI password, only when a new crypt(3) hash must be made ("" otherwise)
#   P_A_FILES     the files to write, one "KIND PATH" per line: KIND own (ours, mode 0640) or edit
#                 (Asterisk's: owner and mode kept); file N's content is P_A_CONTENT_N, and when
#                 P_A_HASHED_N is 1 it is P_A_CONTENT_N, the new hash, P_A_TAIL_N
#   P_A_STATUS P_A_DONE  the task's result when it succeeds

# Gather (only when an ARI password is configured): Asterisk's three files (P_A_FILE_CAMPAIGN,
# P_A_FILE_ARI, P_A_FILE_HTTP), the tools, whether the hash in place still matches P_A_PW (openssl on
# stdin), and the modules a previous run did not get to reload.
ari_gather() {
  local h salt
  if [ -d "$P_A_DIR" ]; then
    fact ari_dir 1
    fact_file ari_campaign "$P_A_FILE_CAMPAIGN"
    fact_file ari_ari "$P_A_FILE_ARI"
    fact_file ari_http "$P_A_FILE_HTTP"
    path_of openssl; fact ari_openssl "$WHICH"
    path_of asterisk; fact ari_asterisk "$WHICH"
    # shellcheck disable=SC2016 # a sed expression, not shell
    h=$(sed -n -E 's/^[[:space:]]*password[[:space:]]*=>?[[:space:]]*(\$6\$[^[:space:];]+).*$/\1/p' "$P_A_FILE_CAMPAIGN" 2>/dev/null | head -n 1)
    if [ -n "$h" ] && command -v openssl >/dev/null 2>&1; then
      salt=${h#\$6\$}; salt=${salt%%\$*}
      [ "$(printf '%s\n' "$P_A_PW" | openssl passwd -6 -salt "$salt" -stdin 2>/dev/null)" = "$h" ] && fact ari_hash_ok 1
    fi
  fi
  if [ -s "$P_A_MARK" ]; then fact ari_reload_pending "$(cat "$P_A_MARK")"; fi
}

# Makes the hash on the host: the password reaches openssl on stdin (printf is a builtin), never argv.
ari_hash() {
  [ -n "$P_A_PW" ] || return 0
  ARI_HASH=$(printf '%s\n' "$P_A_PW" | openssl passwd -6 -stdin 2>&1)
  # shellcheck disable=SC2016 # the literal prefix of a SHA-512 crypt hash
  case "$ARI_HASH" in '$6$'*) ;; *) AERR="openssl passwd -6: $ARI_HASH"; return 1;; esac
}

# ari_write N KIND PATH: file N to PATH through a temp file beside it, then its owner and mode.
ari_write() {
  local n=$1 kind=$2 path=$3 c h t tmp ref
  c="P_A_CONTENT_$n"; h="P_A_HASHED_$n"; t="P_A_TAIL_$n"
  tmp="$P_A_DIR/.$(basename "$path").provision-new"
  {
    {
      printf '%s' "${!c}" | base64 -d
      if [ "${!h}" = 1 ]; then printf '%s' "$ARI_HASH"; printf '%s' "${!t}" | base64 -d; fi
    } > "$tmp" &&
    if [ "$kind" = own ]; then
      ref=$P_A_REF; [ -e "$ref" ] || ref=$P_A_DIR
      chown --reference="$ref" "$tmp" && chmod 0640 "$tmp"
    elif [ -e "$path" ]; then
      chown --reference="$path" "$tmp" && chmod --reference="$path" "$tmp"
    else
      chown --reference="$P_A_DIR" "$tmp" && chmod 0640 "$tmp"
    fi &&
    mv -f "$tmp" "$path"
  } || { rm -f "$tmp"; AERR="cannot write $path"; return 1; }
}

ari_apply() {
  local n=0 kind path
  AERR=""
  ari_hash || return 1
  mkdir -p "$(dirname "$P_A_MARK")" && chmod 0700 "$(dirname "$P_A_MARK")"
  # The reload is due from here on, even if this run dies before the handler.
  { cat "$P_A_MARK" 2>/dev/null; printf '%s\n' "$P_A_RELOADS"; } | sed '/^$/d' | sort -u > "$P_A_MARK.new" && mv -f "$P_A_MARK.new" "$P_A_MARK"
  while read -r kind path; do
    [ -n "$path" ] || continue
    n=$((n + 1))
    ari_write "$n" "$kind" "$path" || return 1
  done <<<"$P_A_FILES"
}

ari_task() {
  if ari_apply; then
    task "$P_A_TASK" "$P_A_STATUS" "$P_A_DONE"
    notify reload_asterisk
  else
    task "$P_A_TASK" failed "$AERR"
  fi
}
