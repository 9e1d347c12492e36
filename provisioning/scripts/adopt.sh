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
