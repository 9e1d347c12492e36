/**
 * npm run bench:provision — wall time of a first converge (fresh hosts) and of a no-op re-run, on 1 and
 * 3 hosts, for this tool (node provisioning/run.cjs, what npm run provision runs, node start-up
 * included) and, in the same run on the same test bed layout, for ansible-playbook (Debian's
 * ansible-core) running the old playbook's Redis tasks (provisioning/testbed/asterisk-setup.yml).
 * Prints min / median / max, the 3-host / 1-host ratios of both (goal for this tool: <= 1.3), and tool / Ansible.
 *
 * Same Redis-only task list on both sides: the metrics publisher is off (redis_metrics_enabled: false).
 * Ansible's hosts get python3 + python3-apt first, untimed (EC2 images ship them). SSH masters persist
 * between runs on both sides (ControlPersist). RUNS (default 3) first converges per point, each on
 * freshly booted hosts (boot not counted), and RUNS no-op re-runs. The machine may be shared: compare
 * the ratios, which come from the same run.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as testbed from "../provisioning/testbed";
import { commandLine } from "../lambdas/contracts/cli";
import { run as runLocal } from "../provisioning/testbed/sh";
import { formatSpread, median, spread } from "./stats";

const RUNS = Number(process.env.RUNS ?? 3);
const LAUNCHER = "provisioning/run.cjs";
const PLAYBOOK = "provisioning/testbed/asterisk-setup.yml";

type Tool = "provision" | "ansible";

function timed(tool: Tool, inventory: string, env: NodeJS.ProcessEnv): number {
  const [cmd, args] =
    tool === "provision" ? [process.execPath, [LAUNCHER, "-i", inventory]] : ["ansible-playbook", ["-i", inventory, PLAYBOOK]];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${tool} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  if (tool === "ansible" && !/failed=0/.test(r.stdout)) throw new Error(`ansible reported a failure:\n${r.stdout}`);
  return ms;
}

async function preparePython(tb: testbed.Testbed): Promise<void> {
  await Promise.all(
    tb.hosts.map(async (h) => {
      const r = await runLocal("ssh", [
        "-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", `ec2-user@${h.ip}`,
        "sudo sh -c 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -q -y python3 python3-apt >/dev/null'",
      ]);
      if (r.code !== 0) throw new Error(`${h.name}: installing python3 failed: ${r.stderr}`);
    }),
  );
}

async function bench(tool: Tool, hosts: number, env: NodeJS.ProcessEnv): Promise<{ first: number[]; noop: number[] }> {
  const first: number[] = [];
  const noop: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const tb = await testbed.up({ count: hosts, groupVars: { redis_metrics_enabled: false } });
    try {
      if (tool === "ansible") await preparePython(tb);
      first.push(timed(tool, tb.inventory, env));
      if (i === 0) for (let j = 0; j < RUNS; j++) noop.push(timed(tool, tb.inventory, env));
    } finally {
      await testbed.down(tb);
    }
  }
  return { first, noop };
}

const USAGE = `usage: npm run bench:provision [-- --help]

Boots local Debian 12 test beds (1 and 3 hosts, fresh for each first converge) and prints the wall time
of a first converge and of a no-op re-run, for this tool and for ansible-playbook when installed.
Needs root. Environment: RUNS (default 3) first converges per point and no-op re-runs.

  -h, --help   this text`;

async function main(): Promise<void> {
  if (!commandLine(USAGE, { options: {} })) return;
  const control = mkdtempSync(join(tmpdir(), "bench-ssh-"));
  const env = {
    ...process.env,
    REDIS_PASSWORD: "bench-password-123456",
    PROVISION_SSH_CONTROL_DIR: control,
    ANSIBLE_SSH_CONTROL_PATH_DIR: control,
    ANSIBLE_PIPELINING: "True",
    ANSIBLE_FORKS: "10",
    ANSIBLE_RETRY_FILES_ENABLED: "False",
    ANSIBLE_PYTHON_INTERPRETER: "/usr/bin/python3",
    ANSIBLE_LOCAL_TEMP: join(control, "ansible-tmp"),
    ANSIBLE_NOCOLOR: "1",
  };
  process.env.PROVISION_SSH_CONTROL_DIR = control;
  const ansible = spawnSync("ansible-playbook", ["--version"], { encoding: "utf8" });
  const withAnsible = ansible.status === 0;
  spawnSync(process.execPath, [LAUNCHER, "--help"], { env, stdio: "ignore" }); // rebuild the bundle if stale, untimed
  const fmt = (xs: number[]) => `${formatSpread(spread(xs.map((ms) => ms / 1000)), 2)} s (${xs.length} runs)`;
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(`bench:provision — ${RUNS} runs per point; wall time incl. start-up; ${withAnsible ? ansible.stdout.split("\n")[0] : "ansible-playbook NOT installed: its figures are missing"}`);
  const res: Partial<Record<Tool, Record<number, { first: number[]; noop: number[] }>>> = {};
  try {
    for (const tool of (withAnsible ? ["provision", "ansible"] : ["provision"]) as Tool[]) {
      res[tool] = {};
      for (const n of [1, 3]) {
        const r = await bench(tool, n, env);
        res[tool]![n] = r;
        out(`${tool.padEnd(9)} ${n} host(s)  first converge: ${fmt(r.first)}`);
        out(`${tool.padEnd(9)} ${n} host(s)  no-op re-run:   ${fmt(r.noop)}`);
      }
    }
  } finally {
    rmSync(control, { recursive: true, force: true });
  }
  out("");
  for (const tool of Object.keys(res) as Tool[]) {
    const r = res[tool]!;
    const ratio = (k: "first" | "noop") => (median(r[3][k]) / median(r[1][k])).toFixed(2);
    out(`${tool.padEnd(9)} 3 hosts / 1 host: no-op ${ratio("noop")}x, first converge ${ratio("first")}x${tool === "provision" ? "   (goal <= 1.3x)" : ""}`);
  }
  if (res.ansible && res.provision) {
    for (const n of [1, 3]) {
      const x = (k: "first" | "noop") => (median(res.provision![n][k]) / median(res.ansible![n][k])).toFixed(2);
      out(`provision / ansible, ${n} host(s): no-op ${x("noop")}x, first converge ${x("first")}x`);
    }
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench failed: ${e.message}\n`);
  process.exit(2);
});
