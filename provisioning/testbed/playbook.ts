/**
 * A test host as ansible/asterisk-setup.yml left it (provisioning/testbed/playbook-host.sh): Redis
 * with a plaintext requirepass, AOF on, and data inside. The password travels on ssh stdin.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestHost, Testbed } from "./index";
import { run } from "./sh";

export const PLAYBOOK_HOST_SCRIPT = join(__dirname, "playbook-host.sh");

/** Configures `host` like the old playbook and loads `keys` keys (half with a TTL); returns DBSIZE. */
export async function playbookHost(tb: Testbed, host: TestHost, password: string, keys = 5000): Promise<number> {
  const script = readFileSync(PLAYBOOK_HOST_SCRIPT, "utf8");
  const r = await run(
    "ssh",
    ["-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", `ec2-user@${host.ip}`, `sudo env P_KEYS=${keys} bash -c 'IFS= read -r PW; export PW; exec bash -s'`],
    { input: `${password}\n${script}` },
  );
  if (r.code !== 0) throw new Error(`playbook host ${host.name}: exit ${r.code}: ${r.stderr.trim()}`);
  return Number(r.stdout.trim().split("\n").pop());
}
