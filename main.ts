/**
 * Entry point of the CDKTF app (`npx cdktf synth|diff|deploy`, `npm run synth`).
 * `--report` prints each synthesized stack with its resource count and outputs.
 */
import { buildApp } from "./stacks/app";
import { report } from "./stacks/report";
import { ConfigError } from "./stacks/validation";

try {
  const app = buildApp();
  app.synth();
  if (process.argv.includes("--report")) process.stdout.write(report(app.outdir));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
