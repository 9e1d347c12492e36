/**
 * An Asterisk stand-in for the test bed, so the ARI task runs for real with no Asterisk package:
 *  - /etc/asterisk with stock-looking ari.conf and http.conf (given by the caller), owned
 *    root:asterisk 0640 like a packaged install, and a system user `asterisk`;
 *  - a recording `asterisk` executable in /usr/sbin: it appends its arguments (NUL-separated,
 *    base64, one call per line) to /var/log/asterisk-standin.log and answers like `asterisk -rx`.
 *    When /var/lib/asterisk-standin.down exists it answers like an Asterisk that is not running.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestHost } from "./index";

export const ASTERISK_CALLS_LOG = "/var/log/asterisk-standin.log";
export const ASTERISK_DOWN_FLAG = "/var/lib/asterisk-standin.down";

const STANDIN = `#!/bin/bash
# Test bed stand-in for asterisk (provisioning/testbed/asterisk.ts): records, reloads nothing.
printf '%s\\n' "$(printf '%s\\0' "$@" | base64 -w0)" >> ${ASTERISK_CALLS_LOG}
if [ -e ${ASTERISK_DOWN_FLAG} ]; then
  echo "Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)"; exit 1
fi
[ "$1" = -rx ] && case "$2" in "module reload "*) echo "Module '\${2#module reload }' reloaded successfully.";; esac
exit 0
`;

/** Writes the stand-in and the config files into a host's root; returns the shell commands that finish the job on the host (user, ownership). */
export function installAsteriskStandIn(host: TestHost, files: Record<string, string>): string {
  const etc = join(host.dir, "etc/asterisk");
  mkdirSync(etc, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(etc, name), text);
  writeFileSync(join(host.dir, "usr/sbin/asterisk"), STANDIN);
  chmodSync(join(host.dir, "usr/sbin/asterisk"), 0o755);
  return "sudo sh -c 'id asterisk >/dev/null 2>&1 || useradd --system --no-create-home asterisk; chown -R root:asterisk /etc/asterisk && chmod 0750 /etc/asterisk && chmod 0640 /etc/asterisk/*'";
}

/** The recorded calls (each an argv) from the log's text. */
export function parseAsteriskCalls(log: string): string[][] {
  return log
    .split("\n")
    .filter(Boolean)
    .map((l) => Buffer.from(l, "base64").toString("utf8").split("\0").slice(0, -1));
}
