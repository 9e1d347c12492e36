/**
 * Jest transform: TypeScript -> CommonJS with esbuild (no type-check; `tsc --noEmit` runs once
 * in `npm test`). esbuild is already here for tsx and the Lambda bundles, and unlike SWC its
 * platform binaries install from every registry this project uses.
 */
const { transformSync } = require("esbuild");
const { createHash } = require("node:crypto");
const { version } = require("esbuild/package.json");

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, {
      loader: filename.endsWith(".js") ? "js" : "ts",
      format: "cjs",
      target: "es2022",
      platform: "node",
      // Jest's module registry sees require(), not native import(): lower `await import(x)`.
      supported: { "dynamic-import": false },
      sourcemap: "external",
      sourcefile: filename,
    });
    return { code, map };
  },
  getCacheKey(source, filename) {
    return createHash("sha256").update(version).update("\0").update(filename).update("\0").update(source).digest("hex");
  },
};
