# shellcheck shell=bash
# Task "adopt running server": a server this tool did not set up (the old playbook's plaintext
# requirepass, for one) accepts only the application password. Before anything touches persistence,
# the provisioner's own ACL user is created on it (the SHA-256 of its secret; the command travels on
# redis-cli's stdin), and every later step runs as that user.
adopt_server() {
  local secret=$1 hash out
  step "adopt running server"
  [ "$RC_AUTH" = app ] || return 0
  hash=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)
  out=$(printf 'ACL SETUSER %s on #%s ~* &* +@all\n' "$ADMIN_USER" "$hash" | rc | tr -d '\r')
  [ "$out" = OK ] || fail_task "adopt running server" "the running server accepts the application password but refused to create the ACL user $ADMIN_USER: $out; nothing else changed"
  rc_auth "$secret"
  [ "$RC_AUTH" = admin ] || fail_task "adopt running server" "created the ACL user $ADMIN_USER but cannot log in with it; nothing else changed"
  task "adopt running server" changed "created the ACL user $ADMIN_USER on the running server (it accepted only the application password); the new config keeps it"
}

# The provisioner's admin password: OLD_ADMIN is the one this host already keeps in $STATE; a host
# without one gets NEW_ADMIN (P_NEW_ADMIN) saved there first (checked). Then logs in as the strongest
# identity the running server accepts.
admin_secret() {
  local err
  OLD_ADMIN=$(cat "$STATE/admin.secret" 2>/dev/null || true)
  # shellcheck disable=SC2153 # a parameter (P_*), set by the script's first lines
  NEW_ADMIN=$P_NEW_ADMIN
  if [ -z "$OLD_ADMIN" ]; then
    step "adopt running server"
    mkdir -p "$STATE" && chmod 0700 "$STATE"
    err=$(put_text "$STATE/admin.secret" 0600 "$NEW_ADMIN") || fail_task "adopt running server" "$err; nothing else changed"
  fi
  rc_target "$CONF"; rc_auth "${OLD_ADMIN:-$NEW_ADMIN}"
}

# After the restart handler: every later step (verify, side tasks) as the provisioner's user.
auth_as_admin() { rc_target "$CONF"; rc_auth "$NEW_ADMIN"; }
