# shellcheck shell=bash
# Task "install packages": runs only when the profile's packages (P_PKGS, lib.sh's PKGS) are absent
# (a second round trip on a fresh host). apt refreshes its lists only when a package cannot be found;
# it waits for the dpkg lock. Reports the installed version (or the package manager's error) as facts.
install_packages() {
  local log o
  log=$(mktemp)
  if [ "$PM" = apt ]; then
    export DEBIAN_FRONTEND=noninteractive
    o=(-q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold --no-install-recommends)
    # Word splitting of PKGS is intended (a list of package names).
    # shellcheck disable=SC2086
    apt-get install "${o[@]}" $PKGS >"$log" 2>&1 || { apt-get update -q -o DPkg::Lock::Timeout=300 >>"$log" 2>&1; apt-get install "${o[@]}" $PKGS >>"$log" 2>&1; }
  else
    # shellcheck disable=SC2086
    dnf install -y -q $PKGS >"$log" 2>&1
  fi
  if pkgs_installed; then
    fact version "$("$SERVER" --version 2>&1 | head -n 1)"
    fact active "$(systemctl is-active "$SERVICE" 2>/dev/null)"
    rm -f "$log"; exit 0
  fi
  fact error "$(grep -E '^(E:|Error|No match)' "$log" | tail -n 3 | tr '\n' ' ')$(tail -n 2 "$log" | tr '\n' ' ')"
  rm -f "$log"; exit 4
}
