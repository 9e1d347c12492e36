/**
 * The one place Lambda bundles are built: each function with esbuild for Node 22 into
 * BUNDLE_DIR/<name>/index.js (one minified CommonJS file exporting `handler`; Lambda handler
 * `index.handler`, runtime nodejs22.x). `@aws-sdk/*` stays external: the runtime provides SDK v3.
 * The Lambdas construct (modules/lambdas) calls buildLambdas() while the stack is synthesized, so
 * `npm run synth`, `npx cdktf synth|diff|deploy`, `npm run plan` and the tests always zip the current
 * code; `npm run build:lambdas` runs the same build and prints each bundle's zipped size (goal <= 150 KB).
 */
import { createHash } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { buildSync, formatMessagesSync } from "esbuild";
import { commandLine, UsageError } from "./contracts/cli";
import { FUNCTION_NAMES, type FunctionName } from "./manifest";

export const ZIP_BUDGET_BYTES = 150 * 1024;

const ROOT = resolve(__dirname, "..");

/** Where the Lambda bundles live: `<repo>/build/lambdas/<name>/index.js`. */
export const BUNDLE_DIR = join(ROOT, "build", "lambdas");

export interface BuiltLambda {
  name: FunctionName;
  /** Absolute path of the directory holding index.js, and nothing else (what the function's zip holds). */
  dir: string;
  bytes: number;
  /** false when the bundle was already built from exactly these sources (nothing written). */
  rebuilt: boolean;
}

/** Size of a zip archive holding one deflated `index.js`: local header + data + central directory + end record. */
export function zippedSize(content: Buffer, entryName = "index.js"): number {
  const name = Buffer.byteLength(entryName);
  return 30 + name + deflateRawSync(content, { level: 9 }).length + 46 + name + 22;
}

/** Besides the files esbuild reads: the build settings (this file) and the installed packages. */
const ALWAYS_INPUTS = ["lambdas/build.ts", "package.json", "node_modules/.package-lock.json"];

/**
 * Bundle each function (synchronously: the construct that calls it is). A bundle is rebuilt only
 * when the content of a file it was built from changed (every esbuild input, this file, the
 * installed packages), or its index.js is gone or not the one built; the record of its inputs is
 * `<outDir>/<name>.inputs.json`, beside the bundle's directory. Files are written to temp names and
 * renamed, so a parallel synth (jest workers) never reads half a bundle.
 */
export function buildLambdas(opts: { outDir?: string; functions?: readonly FunctionName[] } = {}): BuiltLambda[] {
  const outDir = resolve(opts.outDir ?? BUNDLE_DIR);
  const digests = new Map<string, string>();
  return (opts.functions ?? FUNCTION_NAMES).map((name) => {
    const { dir, bytes, rebuilt } = bundleWithRecord(name, join("lambdas", name, "handler.ts"), outDir, digests, {
      target: "node22",
      // Provided by the runtime (SDK v3), or optional native/edge variants pg never loads here.
      external: ["@aws-sdk/*", "pg-native", "pg-cloudflare", "cloudflare:sockets"],
    });
    return { name, dir, bytes, rebuilt };
  });
}

/**
 * `<outDir>/<name>/index.js` from `entry` (esbuild, minified CommonJS for Node), unless the record
 * `<outDir>/<name>.inputs.json` shows it was built from files with exactly today's content.
 */
function bundleWithRecord(
  name: string,
  entry: string,
  outDir: string,
  digests: Map<string, string>,
  options: { target: string; external: string[] },
): { dir: string; file: string; bytes: number; rebuilt: boolean } {
  const dir = join(outDir, name);
  const outfile = join(dir, "index.js");
  const record = join(outDir, `${name}.inputs.json`);
  const current = readBundle(outfile);
  if (current && readdirSync(dir).length === 1 && upToDate(record, current, digests)) return { dir, file: outfile, bytes: current.length, rebuilt: false };

  const started = Date.now();
  let result;
  try {
    result = buildSync({
      absWorkingDir: ROOT,
      entryPoints: [entry],
      outfile,
      write: false,
      metafile: true,
      bundle: true,
      platform: "node",
      format: "cjs",
      minify: true,
      legalComments: "none",
      logLevel: "silent",
      ...options,
    });
    if (result.warnings.length) process.stderr.write(formatMessagesSync(result.warnings, { kind: "warning" }).join(""));
  } catch (error) {
    throw new Error(`building the ${name} bundle (lambdas/build.ts) failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const content = Buffer.from(result.outputFiles[0].contents);
  mkdirSync(dir, { recursive: true });
  for (const entry of readdirSync(dir)) if (entry !== "index.js") rmSync(join(dir, entry), { recursive: true, force: true });
  if (!current?.equals(content)) replace(outfile, content, outDir);
  const inputs = [...new Set([...Object.keys(result.metafile.inputs), ...ALWAYS_INPUTS])].sort();
  // A file edited while esbuild read it may not be in this bundle: leave no record, rebuild next time.
  if (!inputs.some((file) => modifiedSince(file, started))) {
    digests.clear();
    const files = Object.fromEntries(inputs.map((file) => [file, digest(file, digests)]));
    replace(record, Buffer.from(JSON.stringify({ bundle: sha256(content), files })), outDir);
  } else {
    rmSync(record, { force: true });
  }
  return { dir, file: outfile, bytes: content.length, rebuilt: true };
}

function readBundle(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Whether `bundle` is what the record says was built, from files whose content is unchanged. */
function upToDate(record: string, bundle: Buffer, digests: Map<string, string>): boolean {
  let recorded: { bundle?: string; files?: Record<string, string> };
  try {
    recorded = JSON.parse(readFileSync(record, "utf8"));
  } catch {
    return false;
  }
  if (recorded.bundle !== sha256(bundle) || !recorded.files) return false;
  return Object.entries(recorded.files).every(([file, sha]) => digest(file, digests) === sha);
}

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/** The sha256 of a file under the repository root ("absent" when it is not there), once per build. */
function digest(file: string, digests: Map<string, string>): string {
  let sha = digests.get(file);
  if (sha === undefined) {
    const data = readBundle(join(ROOT, file));
    sha = data ? sha256(data) : "absent";
    digests.set(file, sha);
  }
  return sha;
}

function modifiedSince(file: string, since: number): boolean {
  try {
    return statSync(join(ROOT, file)).mtimeMs >= since - 1;
  } catch {
    return false; // absent before and after (e.g. no lock file): nothing to miss
  }
}

/**
 * Write `file` through a temp file in `tmpDir` and a rename: readers see the old or the new content,
 * never half. The temp file is outside the bundle's directory, which is zipped whole.
 */
function replace(file: string, content: Buffer, tmpDir: string): void {
  const tmp = join(tmpDir, `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

/** Where the Asterisk worker's bundle lives: `<repo>/build/asterisk-worker/index.js`. */
export const WORKER_BUNDLE_DIR = join(ROOT, "build");

/**
 * The Asterisk-side worker (not a Lambda): `<outDir>/asterisk-worker/index.js` from
 * lambdas/asterisk-worker/main.ts, one CommonJS file for the host's Node.js (`node index.js`), with
 * the same content-hash record as the Lambdas (rebuilt only when a file it was built from changed).
 * Everything is bundled (ioredis, ws); ws's optional native helpers are left out (it falls back).
 */
export function buildAsteriskWorker(opts: { outDir?: string } = {}): { file: string; bytes: number; rebuilt: boolean } {
  const { file, bytes, rebuilt } = bundleWithRecord("asterisk-worker", join("lambdas", "asterisk-worker", "main.ts"), resolve(opts.outDir ?? WORKER_BUNDLE_DIR), new Map(), {
    target: "node18", // Debian 12 ships Node.js 18; Amazon Linux 2023 nodejs 18/20
    external: ["bufferutil", "utf-8-validate"],
  });
  return { file, bytes, rebuilt };
}

const USAGE = `usage: npm run build:lambdas [-- --help]

Bundles each Lambda function (and the Asterisk worker host service) with esbuild into build/lambdas/
and prints each bundle's zipped size; exits 1 if one is over the 150 KB zipped budget.

  -h, --help   this text`;

async function main(): Promise<void> {
  if (!commandLine(USAGE, { options: {} })) return;
  const worker = buildAsteriskWorker();
  console.log(`${"asterisk-worker".padEnd(18)} ${(worker.bytes / 1024).toFixed(1).padStart(7)} KB  (host service, not a Lambda)  ${worker.file}`);
  let over = 0;
  for (const b of buildLambdas()) {
    const zipped = zippedSize(readFileSync(join(b.dir, "index.js")));
    const ok = zipped <= ZIP_BUDGET_BYTES;
    if (!ok) over++;
    console.log(
      `${b.name.padEnd(18)} ${(b.bytes / 1024).toFixed(1).padStart(7)} KB  zipped ${(zipped / 1024).toFixed(1).padStart(6)} KB  ${ok ? "ok" : "OVER 150 KB"}  ${b.dir}/index.js${b.rebuilt ? "" : " (up to date)"}`,
    );
  }
  if (over) {
    console.error(`${over} bundle(s) over the 150 KB zipped budget`);
    process.exit(1);
  }
}

// Run as `tsx lambdas/build.ts` only: bundled into another program (the provisioning CLI imports
// buildAsteriskWorker), `require.main === module` holds there too.
if (require.main === module && /(^|[\\/])lambdas[\\/]build\.ts$/.test(process.argv[1] ?? "")) {
  main().catch((e: Error) => {
    console.error(e instanceof UsageError ? e.message : e);
    process.exit(1);
  });
}
