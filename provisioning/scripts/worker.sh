# shellcheck shell=bash
# Task "asterisk-worker" and "verify asterisk-worker" (provisioning/tasks/worker.ts decides; this runs
# it; its handler "restart asterisk-worker" is in handlers.sh). Parameters (P_W_*, base64 data, never shell
# syntax; the passwords travel on ssh stdin inside this script and reach their files through printf,
# a bash builtin, so never a process argument):
#   P_W_UNIT P_W_ENV_FILE P_W_BUNDLE P_W_ARI_PW_FILE P_W_REDIS_PW_FILE P_W_MARK   paths
#   P_W_HEALTH_URL P_W_ASTERISK_SERVICE                                       gather + verify
#   P_W_PKGS P_W_PM P_W_NODE                runtime packages to install ("" when present), node's path
#   P_W_BUNDLE_B64 P_W_BUNDLE_SHA, P_W_ENV_B64, P_W_UNIT_B64                only the files that change
#   P_W_ARI_PW, P_W_REDIS_PW                                                  only when they change
#   P_W_STATUS P_W_DONE (the task's result), P_W_WHY (why the handler restarts, "" when it need not)
W_SERVICE=asterisk-worker.service

# The health endpoint as "HTTP_CODE BODY" (000 when nothing answers), bounded: curl when present,
# else the node this task installs.
worker_health_get() {
  local out
  if command -v curl >/dev/null 2>&1; then
    out=$(bounded curl -sS --max-time 5 -w '\n%{http_code}' "$P_W_HEALTH_URL" 2>/dev/null)
    printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
  else
    # shellcheck disable=SC2016 # JavaScript, not shell
    bounded node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(async (r) => process.stdout.write(`${r.status} ${await r.text()}`), () => process.stdout.write("000 "))' "$P_W_HEALTH_URL" 2>/dev/null
  fi
}

# Gather: what the plan compares (hashes of the bundle and the credential files, never their content).
# Gather when the worker is off: whether a unit is still installed (the plan removes it). Needs P_W_UNIT only.
worker_gather_presence() { if [ -e "$P_W_UNIT" ]; then fact worker_unit_present 1; fi; }
worker_gather() {
  local node="" f h name v
  local -A sha=()
  local -a readable=()
  fact_file worker_env "$P_W_ENV_FILE"
  fact_file worker_unit "$P_W_UNIT"
  # The three SHA-256s in one sha256sum call ("absent" for a file that cannot be read).
  for f in "$P_W_BUNDLE" "$P_W_ARI_PW_FILE" "$P_W_REDIS_PW_FILE"; do if [ -r "$f" ]; then readable+=("$f"); fi; done
  if [ "${#readable[@]}" -gt 0 ]; then
    while read -r h name; do sha[$name]=$h; done < <(sha256sum -- "${readable[@]}" 2>/dev/null)
  fi
  fact worker_bundle_sha "${sha[$P_W_BUNDLE]:-absent}"
  fact worker_ari_pw_sha "${sha[$P_W_ARI_PW_FILE]:-absent}"
  fact worker_redis_pw_sha "${sha[$P_W_REDIS_PW_FILE]:-absent}"
  for c in node node-22 node-20; do if path_of "$c"; then node=$WHICH; break; fi; done
  if [ -n "$node" ]; then
    fact worker_node "$node"
    v=$(bounded "$node" --version 2>&1)
    fact worker_node_version "${v%%$'\n'*}"
  fi
  fact worker_state "$(systemctl show -p ActiveState -p UnitFileState -p MainPID "$W_SERVICE" 2>/dev/null)"
  fact worker_asterisk "$(systemctl is-active "$P_W_ASTERISK_SERVICE" 2>/dev/null)"
  [ -e "$P_W_MARK" ] && fact worker_pending 1
  if [ "$(systemctl is-active "$W_SERVICE" 2>/dev/null)" = active ]; then fact worker_health "$(worker_health_get)"; fi
  return 0
}

# A file from base64 text ($2), written beside its place, flushed, read back against its SHA-256 ($5,
# or computed from the decoded text), then renamed into place with mode $3 and owner root.
worker_put() {
  local dest=$1 b64=$2 mode=$3 tmp err sha want
  tmp="$(dirname "$dest")/.$(basename "$dest").provision-new"
  CLEANUP+=("$tmp")
  err=$(mkdir -p "$(dirname "$dest")" 2>&1) || { printf '%s' "creating $(dirname "$dest"): $err"; return 1; }
  if ! err=$({ printf '%s' "$b64" | base64 -d > "$tmp"; } 2>&1); then printf '%s' "writing $tmp: $(os_error_w "$err")"; return 1; fi
  want=${4:-$(printf '%s' "$b64" | base64 -d | sha256sum | cut -d' ' -f1)}
  sync "$tmp" 2>/dev/null
  sha=$(sha256sum < "$tmp" | cut -d' ' -f1)
  [ "$sha" = "$want" ] || { printf '%s' "writing $dest: short or corrupt write (content differs from what was sent)"; return 1; }
  err=$({ chown root:root "$tmp" && chmod "$mode" "$tmp" && mv -f "$tmp" "$dest"; } 2>&1) || { printf '%s' "$dest: $err"; return 1; }
}
os_error_w() { printf '%s' "${1:-write failed}" | sed -E 's/^[a-z_.-]+: line [0-9]+: //' | tr '\n' ' ' | sed 's/ *$//'; }

# A credential file: root 0600 in a 0700 directory, the secret from a variable through printf (a
# builtin: no process argument carries it), created under umask 077 so it is never readable by others.
worker_put_secret() {
  local dest=$1 secret=$2 tmp err
  tmp="$(dirname "$dest")/.$(basename "$dest").provision-new"
  CLEANUP+=("$tmp")
  err=$({ mkdir -p "$(dirname "$dest")" && chmod 0700 "$(dirname "$dest")" && (umask 077; printf '%s' "$secret" > "$tmp") && sync "$tmp" \
    && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" "$dest"; } 2>&1) || { printf '%s' "writing $dest: $(os_error_w "$err")"; return 1; }
  [ "$(cat "$dest")" = "$secret" ] || { printf '%s' "writing $dest: content read back differs"; return 1; }
}

worker_install_runtime() {
  local log rc
  [ -n "${P_W_PKGS:-}" ] || return 0
  log=$(mktemp); CLEANUP+=("$log")
  if [ "$P_W_PM" = apt ]; then
    export DEBIAN_FRONTEND=noninteractive
    local o="-q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold --no-install-recommends"
    # shellcheck disable=SC2086
    apt-get install $o $P_W_PKGS >"$log" 2>&1 || { apt-get update -q -o DPkg::Lock::Timeout=300 >>"$log" 2>&1; apt-get install $o $P_W_PKGS >>"$log" 2>&1; }
  else
    # shellcheck disable=SC2086
    dnf install -y -q $P_W_PKGS >"$log" 2>&1
  fi
  rc=$?
  if [ $rc -ne 0 ]; then printf '%s' "installing $P_W_PKGS failed: $(grep -E '^(E:|Error|No match)' "$log" | tail -n 3 | tr '\n' ' ')$(tail -n 2 "$log" | tr '\n' ' ')"; return 1; fi
}

# The files that change, each checked; the restart is due from before the first one is in place
# (a marker in $STATE: a run that dies between the change and the handler restarts on the next run).
worker_write() {
  local err
  err=$(worker_install_runtime) || { printf '%s' "$err"; return 1; }
  [ -x "$P_W_NODE" ] || { printf '%s' "$P_W_NODE (the unit's node) is not there${P_W_PKGS:+ after installing $P_W_PKGS}"; return 1; }
  if [ -n "${P_W_WHY:-}" ]; then
    err=$({ mkdir -p "$STATE" && chmod 0700 "$STATE" && printf '%s\n' "$P_W_WHY" > "$P_W_MARK"; } 2>&1) || { printf '%s' "writing $P_W_MARK: $err"; return 1; }
  fi
  if [ -n "${P_W_BUNDLE_B64:-}" ]; then worker_put "$P_W_BUNDLE" "$P_W_BUNDLE_B64" 0644 "$P_W_BUNDLE_SHA" || return 1; fi
  if [ -n "${P_W_ENV_B64:-}" ]; then worker_put "$P_W_ENV_FILE" "$P_W_ENV_B64" 0644 || return 1; fi
  if [ -n "${P_W_ARI_PW:-}" ]; then worker_put_secret "$P_W_ARI_PW_FILE" "$P_W_ARI_PW" || return 1; fi
  if [ -n "${P_W_REDIS_PW:-}" ]; then worker_put_secret "$P_W_REDIS_PW_FILE" "$P_W_REDIS_PW" || return 1; fi
  if [ -n "${P_W_UNIT_B64:-}" ]; then worker_put "$P_W_UNIT" "$P_W_UNIT_B64" 0644 || return 1; fi
  if ! systemctl is-enabled -q "$W_SERVICE" 2>/dev/null; then
    err=$(systemctl daemon-reload 2>&1 && systemctl enable "$W_SERVICE" 2>&1) || { printf '%s' "systemctl enable $W_SERVICE: $err"; return 1; }
  fi
}

# Verify: GET /health until it answers (at most ~10 s after a restart), reported as a fact for the plan.
worker_verify() {
  local h="" i
  step "verify asterisk-worker"
  for i in $(seq 1 40); do
    if [ "$(systemctl is-active "$W_SERVICE" 2>/dev/null)" = active ]; then
      h=$(worker_health_get)
      case "$h" in 200\ *) break;; 503\ *) [ "$i" -ge 12 ] && break;; esac
    elif [ "$i" -ge 8 ]; then break
    fi
    sleep 0.25
  done
  fact worker_state "$(systemctl show -p ActiveState -p UnitFileState -p MainPID "$W_SERVICE" 2>/dev/null)"
  fact worker_asterisk "$(systemctl is-active "$P_W_ASTERISK_SERVICE" 2>/dev/null)"
  fact worker_health "$h"
  [ -n "$h" ] || fact worker_journal "$(journalctl -u "$W_SERVICE" -n 3 -o cat --no-pager 2>/dev/null)"
}

worker_apply() {
  local err
  step "asterisk-worker"
  if err=$(worker_write); then
    task "asterisk-worker" "${P_W_STATUS:-changed}" "$P_W_DONE"
  else
    task "asterisk-worker" failed "$err"
    return 0
  fi
  W_APPLIED=1
  notify restart_asterisk_worker
}

# After flush_handlers: verify a worker this run applied, unless its restart failed (the marker stays).
worker_verify_applied() {
  [ -n "${W_APPLIED:-}" ] || return 0
  [ -e "$P_W_MARK" ] && return 0
  worker_verify
}
