/**
 * Task "install packages": runs only when the profile's packages are absent (a second round trip on
 * a fresh host). apt refreshes its lists only when the package cannot be found; waits for the dpkg lock.
 */
import type { OsProfile } from "../os";
import { profileVars, scriptHeader } from "./shell";

export function installScript(p: OsProfile): string {
  return `${scriptHeader()}${profileVars(p)}
log=$(mktemp)
if [ "$PM" = apt ]; then
  export DEBIAN_FRONTEND=noninteractive
  o="-q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold --no-install-recommends"
  apt-get install $o $PKGS >"$log" 2>&1 || { apt-get update -q -o DPkg::Lock::Timeout=300 >>"$log" 2>&1; apt-get install $o $PKGS >>"$log" 2>&1; }
else
  dnf install -y -q $PKGS >"$log" 2>&1
fi
if pkgs_installed; then
  fact version "$("$SERVER" --version 2>&1 | head -n 1)"
  fact active "$(systemctl is-active "$SERVICE" 2>/dev/null)"
  rm -f "$log"; exit 0
fi
fact error "$(grep -E '^(E:|Error|No match)' "$log" | tail -n 3 | tr '\\n' ' ')$(tail -n 2 "$log" | tr '\\n' ' ')"
rm -f "$log"; exit 4
`;
}
