import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";

/** The repository root: bundles and archives live under it, wherever synth runs. */
export const ROOT = join(__dirname, "..", "..");

/**
 * Build the bundles that are missing from `bundleDir` (a fresh clone running `npm test` or
 * `cdktf synth` before `npm run build:lambdas`), through lambdas/build.ts's buildLambdas() in a
 * child process (construct code is synchronous; esbuild's API is not). Each bundle is built in a
 * temporary directory and renamed into place, so parallel jest workers never see half a bundle.
 * Existing bundles are left alone: `npm run synth` rebuilds all of them first.
 */
export function ensureBundles(bundleDir: string, names: readonly string[]): void {
  const missing = names.filter((name) => !existsSync(join(bundleDir, name, "index.js")));
  if (missing.length === 0) return;
  mkdirSync(bundleDir, { recursive: true });
  const tmp = mkdtempSync(join(dirname(bundleDir), ".bundles-"));
  try {
    const script = `require(${JSON.stringify(join(ROOT, "lambdas", "build.ts"))})
      .buildLambdas({ outDir: ${JSON.stringify(tmp)}, functions: ${JSON.stringify(missing)} })
      .catch((e) => { console.error(e); process.exit(1); });`;
    execFileSync(process.execPath, [require.resolve("tsx/cli"), "-e", script], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    for (const name of missing) {
      try {
        renameSync(join(tmp, name), join(bundleDir, name));
      } catch (error) {
        if (!existsSync(join(bundleDir, name, "index.js"))) throw error; // else another process won the race
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
