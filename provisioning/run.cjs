#!/usr/bin/env node
/**
 * Entry point of `npm run provision`: runs build/provision.cjs, an esbuild bundle of
 * provisioning/cli.ts (node starts it in ~0.15 s; through tsx the same CLI needs ~0.5 s).
 *
 * Never stale: the bundle is rebuilt first (~0.2 s) whenever any file it was built from differs
 * from when it was built (mtime and size of every esbuild input, node_modules' lock file,
 * package.json and this launcher). Templates are read at run time, so they are not inputs.
 * The build writes to temp files and renames them, so concurrent runs never see half a bundle.
 * PROVISION_BUILD_DIR puts the bundle elsewhere (tests).
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..");
const OUT_DIR = process.env.PROVISION_BUILD_DIR || path.join(ROOT, "build");
const BUNDLE = path.join(OUT_DIR, "provision.cjs");
const STAMP = path.join(OUT_DIR, "provision.inputs.json");
const ALWAYS = [path.relative(ROOT, __filename), "package.json", "node_modules/.package-lock.json"];

/** One "path mtime size" entry per file (paths relative to the project root). */
function signature(files) {
  return files.map((f) => {
    try {
      const s = fs.statSync(path.join(ROOT, f));
      return `${f} ${s.mtimeMs} ${s.size}`;
    } catch {
      return `${f} absent`;
    }
  });
}

function upToDate() {
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(STAMP, "utf8"));
    fs.accessSync(BUNDLE, fs.constants.R_OK);
  } catch {
    return false;
  }
  const now = signature(stamp.files);
  return now.length === stamp.signature.length && now.every((s, i) => s === stamp.signature[i]);
}

function build() {
  const t0 = Date.now();
  let esbuild;
  try {
    esbuild = require("esbuild");
  } catch {
    process.stderr.write("error: esbuild is needed to build the provisioning bundle (run npm ci)\n");
    process.exit(1);
  }
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const tmp = `${BUNDLE}.${process.pid}.tmp`;
  const result = esbuild.buildSync({
    absWorkingDir: ROOT,
    entryPoints: ["provisioning/cli.ts"],
    outfile: tmp,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // Loaded only for redis_password_secret_arn; the SDK stays in node_modules. esbuild (lambdas/build.ts,
    // loaded only for the worker's bundle) cannot be bundled: it finds its binary beside its package.
    external: ["@aws-sdk/*", "esbuild"],
    metafile: true,
    logLevel: "error",
  });
  fs.renameSync(tmp, BUNDLE);
  const files = [...new Set([...Object.keys(result.metafile.inputs), ...ALWAYS])].sort();
  const sig = signature(files);
  // A file edited while esbuild was reading it may not be in this bundle: leave no stamp, rebuild next time.
  const editedDuring = files.some((f) => {
    try {
      return fs.statSync(path.join(ROOT, f)).mtimeMs >= t0 - 1;
    } catch {
      return true;
    }
  });
  if (!editedDuring) {
    fs.writeFileSync(`${STAMP}.${process.pid}.tmp`, JSON.stringify({ files, signature: sig }));
    fs.renameSync(`${STAMP}.${process.pid}.tmp`, STAMP);
  }
  process.stderr.write(`(rebuilt ${path.relative(ROOT, BUNDLE) || BUNDLE} from ${files.length} files in ${((Date.now() - t0) / 1000).toFixed(2)} s)\n`);
}

if (!upToDate()) build();
require(BUNDLE).runCli();
