/**
 * Entry point of the CDKTF app (`npx cdktf synth|diff|deploy`, `npm run synth`).
 * `--report` prints each synthesized stack with its resource count and outputs.
 * The Lambda bundles are built first, in this process: `cdktf deploy` runs this file too
 * (cdktf.json), so it always ships the current code, and synth stays one process.
 */
import { buildLambdas } from "./lambdas/build";
import { buildApp } from "./stacks/app";
import { report } from "./stacks/report";
import { ConfigError } from "./stacks/validation";

async function main(): Promise<void> {
  await buildLambdas();
  const app = buildApp();
  app.synth();
  if (process.argv.includes("--report")) process.stdout.write(report(app.outdir));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
