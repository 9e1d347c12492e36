/**
 * `npm run build:lambdas`: bundles each function with esbuild for Node 22 into
 * build/lambdas/<name>/index.js (one minified CommonJS file exporting `handler`; Lambda handler
 * `index.handler`, runtime nodejs22.x). `@aws-sdk/*` stays external: the runtime provides SDK v3.
 * Prints each bundle's zipped size (deflate, as in the deployment zip); goal ≤ 150 KB.
 * `buildLambdas()` is reused by the CDKTF stacks / tests.
 */
import { deflateRawSync } from "node:zlib";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { commandLine, UsageError } from "./contracts/cli";
import { FUNCTION_NAMES, type FunctionName } from "./manifest";

export const ZIP_BUDGET_BYTES = 150 * 1024;

export interface BuiltLambda {
  name: FunctionName;
  /** Absolute path of the directory holding index.js (the TerraformAsset source). */
  dir: string;
  bytes: number;
  zippedBytes: number;
}

/** Size of a zip archive holding one deflated `index.js`: local header + data + central directory + end record. */
export function zippedSize(content: Buffer, entryName = "index.js"): number {
  const name = Buffer.byteLength(entryName);
  return 30 + name + deflateRawSync(content, { level: 9 }).length + 46 + name + 22;
}

export async function buildLambdas(opts: { outDir?: string; functions?: readonly FunctionName[] } = {}): Promise<BuiltLambda[]> {
  const root = resolve(__dirname, "..");
  const outDir = resolve(opts.outDir ?? join(root, "build", "lambdas"));
  const names = opts.functions ?? FUNCTION_NAMES;
  const built: BuiltLambda[] = [];
  for (const name of names) {
    const dir = join(outDir, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, "index.js");
    await build({
      entryPoints: [join(root, "lambdas", name, "handler.ts")],
      outfile,
      bundle: true,
      platform: "node",
      target: "node22",
      format: "cjs",
      minify: true,
      legalComments: "none",
      // Provided by the runtime (SDK v3), or optional native/edge variants pg never loads here.
      external: ["@aws-sdk/*", "pg-native", "pg-cloudflare", "cloudflare:sockets"],
      logLevel: "warning",
    });
    const content = readFileSync(outfile);
    built.push({ name, dir, bytes: content.length, zippedBytes: zippedSize(content) });
  }
  return built;
}

/**
 * The Asterisk-side worker (not a Lambda): build/asterisk-worker/index.js from
 * lambdas/asterisk-worker/main.ts, one CommonJS file for the host's Node.js (`node index.js`).
 * Everything is bundled (ioredis, ws); ws's optional native helpers are left out (it falls back).
 */
export async function buildAsteriskWorker(opts: { outDir?: string } = {}): Promise<{ file: string; bytes: number }> {
  const root = resolve(__dirname, "..");
  const dir = resolve(opts.outDir ?? join(root, "build", "asterisk-worker"));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "index.js");
  await build({
    entryPoints: [join(root, "lambdas", "asterisk-worker", "main.ts")],
    outfile: file,
    bundle: true,
    platform: "node",
    target: "node18", // Debian 12 ships Node.js 18; Amazon Linux 2023 nodejs 18/20
    format: "cjs",
    minify: true,
    legalComments: "none",
    external: ["bufferutil", "utf-8-validate"],
    logLevel: "warning",
  });
  return { file, bytes: readFileSync(file).length };
}

const USAGE = `usage: npm run build:lambdas [-- --help]

Bundles each Lambda function (and the Asterisk worker host service) with esbuild into build/lambdas/
and prints each bundle's zipped size; exits 1 if one is over the 150 KB zipped budget.

  -h, --help   this text`;

async function main(): Promise<void> {
  if (!commandLine(USAGE, { options: {} })) return;
  const worker = await buildAsteriskWorker();
  console.log(`${"asterisk-worker".padEnd(18)} ${(worker.bytes / 1024).toFixed(1).padStart(7)} KB  (host service, not a Lambda)  ${worker.file}`);
  const built = await buildLambdas();
  let over = 0;
  for (const b of built) {
    const ok = b.zippedBytes <= ZIP_BUDGET_BYTES;
    if (!ok) over++;
    console.log(
      `${b.name.padEnd(18)} ${(b.bytes / 1024).toFixed(1).padStart(7)} KB  zipped ${(b.zippedBytes / 1024).toFixed(1).padStart(6)} KB  ${ok ? "ok" : "OVER 150 KB"}  ${b.dir}/index.js`,
    );
  }
  if (over) {
    console.error(`${over} bundle(s) over the 150 KB zipped budget`);
    process.exit(1);
  }
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(e instanceof UsageError ? e.message : e);
    process.exit(1);
  });
}
