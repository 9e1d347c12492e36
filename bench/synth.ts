/**
 * `npm run bench:synth`: cold synth of all stacks, the two ways people run it, in one run:
 * `npm run synth` (the app alone) and `npx cdktf synth` (the CLI, which starts the app from cdktf.json),
 * alternated A B A B so the ratio is taken pair by pair on a noisy machine.
 * Goals: `npm run synth` <= 3 s; `npx cdktf synth` <= 1.5 x `npm run synth` (issue 10, item 6).
 * Usage: npm run bench:synth [-- --runs 5]
 */
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { commandLine, UsageError } from "../lambdas/contracts/cli";
import { formatSpread, spread, timeMs } from "./stats";

const USAGE = `usage: npm run bench:synth -- [--runs N]

Times cold synths of all stacks (a new process each): \`npm run synth\` and \`npx cdktf synth\`, alternated,
and prints min / median / max of each and of their pairwise ratio (CHECKPOINT_DISABLE=1 is set, as
README asks of every shell that runs cdktf).

  --runs N     number of pairs (default 5)
  -h, --help   this text`;

const SIDES = [
  { name: "npm run synth", file: "npm", args: ["run", "--silent", "synth"] },
  { name: "npx cdktf synth", file: "npx", args: ["cdktf", "synth"] },
] as const;

async function main(): Promise<void> {
  const args = commandLine(USAGE, { options: { runs: { type: "string" } } });
  if (!args) return;
  const text = args.values.runs;
  const runs = text === undefined ? 5 : Number(text);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a positive integer, got ${JSON.stringify(text)}`, USAGE);
  const env = { ...process.env, CHECKPOINT_DISABLE: "1" };
  const times: number[][] = SIDES.map(() => []);
  for (let i = 1; i <= runs; i++) {
    for (const [k, side] of SIDES.entries()) {
      const ms = await timeMs(() => execFileSync(side.file, [...side.args], { stdio: "ignore", env, timeout: 300_000 }));
      times[k].push(ms / 1000);
      process.stderr.write(`pair ${i}/${runs}: ${side.name} ${(ms / 1000).toFixed(2)} s\n`);
    }
  }
  const [app, cli] = times;
  const ratios = cli.map((t, i) => t / app[i]);
  const ratio = spread(ratios);
  const appSpread = spread(app);
  process.stdout.write(
    [
      `bench:synth, all stacks, cold process, ${runs} pairs, ${cpus().length} cores`,
      `  npm run synth     ${formatSpread(appSpread, 2)} s (goal <= 3 s) ${appSpread.median <= 3 ? "OK" : "OVER GOAL"}`,
      `  npx cdktf synth   ${formatSpread(spread(cli), 2)} s`,
      `  cdktf / npm       ${formatSpread(ratio, 2)} x (goal <= 1.5 x) ${ratio.median <= 1.5 ? "OK" : "OVER GOAL"}`,
      "",
    ].join("\n"),
  );
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
