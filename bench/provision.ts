/**
 * npm run bench:provision — median wall time of the real CLI (what `npm run provision` runs:
 * node provisioning/run.cjs, start-up included, npm's own start-up not) for a first converge on fresh
 * hosts and for a no-op re-run, on 1 and 3 hosts. The bundle is brought up to date before timing.
 * The hosts get the AWS stand-ins (testbed/aws.ts), so the metrics publisher is installed as on EC2.
 * RUNS (default 5) first converges, each on freshly booted hosts (boot time not counted), and RUNS
 * no-op re-runs. SSH masters persist between runs (ControlPersist), as with Ansible's ControlPersist.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as testbed from "../provisioning/testbed";
import { awsStandIns } from "../provisioning/testbed/aws";

const RUNS = Number(process.env.RUNS ?? 5);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const LAUNCHER = "provisioning/run.cjs";

/** Wall time of one CLI run; also records the play's own time (the recap's "(N s)", without node start-up). */
const playTimes: number[] = [];
function timeCli(inventory: string, env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [LAUNCHER, "-i", inventory], { env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`provision exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  playTimes.push(Number(/\((\d+\.\d+) s\)\s*$/.exec(r.stdout)?.[1] ?? NaN) * 1000);
  return ms;
}

async function bench(hosts: number, env: NodeJS.ProcessEnv): Promise<Record<"first" | "noop" | "firstPlay" | "noopPlay", number[]>> {
  const first: number[] = [];
  const noop: number[] = [];
  const firstPlay: number[] = [];
  const noopPlay: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const tb = await testbed.up({ count: hosts });
    const imds = await awsStandIns(tb); // like EC2 hosts: the first converge also installs the metrics publisher
    try {
      first.push(timeCli(tb.inventory, env));
      firstPlay.push(playTimes.pop()!);
      if (i === 0) {
        for (let j = 0; j < RUNS; j++) {
          noop.push(timeCli(tb.inventory, env));
          noopPlay.push(playTimes.pop()!);
        }
      }
    } finally {
      await imds.close();
      await testbed.down(tb);
    }
  }
  return { first, noop, firstPlay, noopPlay };
}

async function run(): Promise<void> {
  const control = mkdtempSync(join(tmpdir(), "bench-ssh-"));
  process.env.PROVISION_SSH_CONTROL_DIR = control;
  const env = { ...process.env, REDIS_PASSWORD: "bench-password-123456", PROVISION_SSH_CONTROL_DIR: control };
  const fmt = (xs: number[]) => `median ${(median(xs) / 1000).toFixed(2)} s  (runs: ${xs.map((x) => (x / 1000).toFixed(2)).join(", ")})`;
  spawnSync(process.execPath, [LAUNCHER, "--help"], { env, stdio: "ignore" }); // rebuild the bundle if stale, untimed
  process.stdout.write(`bench:provision — ${RUNS} runs each, wall time of 'node ${LAUNCHER}' (what npm run provision runs) incl. node start-up\n`);
  try {
    for (const n of [1, 3]) {
      const r = await bench(n, env);
      process.stdout.write(`${n} host(s)  first converge: ${fmt(r.first)}; play alone: median ${(median(r.firstPlay) / 1000).toFixed(2)} s\n`);
      process.stdout.write(`${n} host(s)  no-op re-run:   ${fmt(r.noop)}; play alone: median ${(median(r.noopPlay) / 1000).toFixed(2)} s\n`);
    }
  } finally {
    rmSync(control, { recursive: true, force: true });
  }
}

run().catch((e: Error) => {
  process.stderr.write(`bench failed: ${e.message}\n`);
  process.exit(2);
});
