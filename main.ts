/**
 * Entry point of the CDKTF app (`npx cdktf synth|diff|deploy`, `npm run synth`).
 * `--report` prints each synthesized stack with its resource count and outputs.
 * The Lambda bundles are built while the stacks are synthesized (modules/lambdas calls
 * lambdas/build.ts, rebuilding a function whose sources changed), in this process: `cdktf deploy`
 * runs this file too (cdktf.json), so it always ships the current code.
 */
import { buildApp } from "./stacks/app";
import { commandLine, UsageError } from "./lambdas/contracts/cli";
import { report } from "./stacks/report";
import { ConfigError } from "./stacks/validation";

const USAGE = `usage: npm run synth [-- --report]

Synthesizes every stack into cdktf.out/ (what cdktf synth, diff and deploy run, without arguments),
building first the Lambda bundles whose sources changed.

  --report     print each synthesized stack with its resource count and outputs
  -h, --help   this text`;

async function main(): Promise<void> {
  // cdktf runs this file without arguments (cdktf.json "app"): the parse only sees npm run synth's.
  const args = commandLine(USAGE, { options: { report: { type: "boolean" } } });
  if (!args) return;
  const app = buildApp();
  app.synth();
  if (args.values.report) process.stdout.write(report(app.outdir));
}

main().catch((error: unknown) => {
  // A bad command line or configuration is bad input (exit 2); anything else is a bug, with its stack.
  const input = error instanceof ConfigError || error instanceof UsageError;
  process.stderr.write(`${input ? error.message : error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(input ? 2 : 1);
});
