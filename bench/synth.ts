/**
 * `npm run bench:synth`: median wall time of cold `npm run synth` runs (a new process each time,
 * as a user or CI runs it). Goal: <= 3 s for all stacks on a 2-core machine.
 * Usage: npm run bench:synth [-- --runs 5]
 */
import { execFileSync } from "node:child_process";
import { commandLine, UsageError } from "../lambdas/contracts/cli";
import { median, timeMs } from "./stats";

const USAGE = `usage: npm run bench:synth -- [--runs N]

Times cold \`npm run synth\` runs (a new process each) and prints their median (goal <= 3 s).

  --runs N     number of runs (default 5)
  -h, --help   this text`;

async function main(): Promise<void> {
  const args = commandLine(USAGE, { options: { runs: { type: "string" } } });
  if (!args) return;
  const text = args.values.runs;
  const runs = text === undefined ? 5 : Number(text);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a positive integer, got ${JSON.stringify(text)}`, USAGE);
  const times: number[] = [];
  for (let i = 1; i <= runs; i++) {
    const ms = await timeMs(() => execFileSync("npm", ["run", "--silent", "synth"], { stdio: "ignore" }));
    times.push(ms);
    process.stderr.write(`run ${i}/${runs}: ${(ms / 1000).toFixed(2)} s\n`);
  }
  const m = median(times) / 1000;
  process.stdout.write(`synth (all stacks, cold process): median ${m.toFixed(2)} s of ${runs} runs (goal <= 3 s) ${m <= 3 ? "OK" : "OVER GOAL"}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
