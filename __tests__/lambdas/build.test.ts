/** The bundle contract the deploy stacks rely on: one CommonJS index.js per function exporting `handler`, ≤ 150 KB zipped. */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildLambdas, zippedSize, ZIP_BUDGET_BYTES, type BuiltLambda } from "../../lambdas/build";
import { FUNCTION_NAMES } from "../../lambdas/manifest";

let out: string;
let built: BuiltLambda[];

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), "lambda-bundles-"));
  built = buildLambdas({ outDir: out });
}, 120_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

test("every function is bundled, under the zipped-size budget", () => {
  expect(built.map((b) => b.name)).toEqual([...FUNCTION_NAMES]);
  for (const b of built) {
    expect(b.dir).toBe(join(out, b.name));
    expect(b.rebuilt).toBe(true);
    const zipped = zippedSize(readFileSync(join(b.dir, "index.js")));
    expect(zipped).toBeLessThanOrEqual(ZIP_BUDGET_BYTES);
    expect(zipped).toBeLessThan(b.bytes);
  }
});

test("a bundle is rebuilt only when it is not the one built from the current sources", () => {
  expect(buildLambdas({ outDir: out }).map((b) => b.rebuilt)).toEqual(FUNCTION_NAMES.map(() => false));
  const file = join(out, "dispatcher", "index.js");
  const original = readFileSync(file);
  writeFileSync(file, "// edited by hand\n");
  writeFileSync(join(out, "dispatcher", "stray.txt"), "not part of the bundle");
  writeFileSync(join(out, "dialer-worker", "stray.txt"), "the zip holds the whole directory");
  expect(buildLambdas({ outDir: out }).map((b) => [b.name, b.rebuilt])).toEqual(FUNCTION_NAMES.map((n) => [n, n === "dispatcher" || n === "dialer-worker"]));
  expect(readdirSync(join(out, "dialer-worker"))).toEqual(["index.js"]);
  expect(readFileSync(file).equals(original)).toBe(true);
  expect(readdirSync(join(out, "dispatcher"))).toEqual(["index.js"]);
  // A changed input (here: the record says a file had other content) rebuilds exactly its bundles.
  const record = join(out, "status-checker.inputs.json");
  const inputs = JSON.parse(readFileSync(record, "utf8")) as { files: Record<string, string> };
  expect(Object.keys(inputs.files)).toEqual(expect.arrayContaining(["lambdas/status-checker/handler.ts", "lambdas/shared/db.ts", "lambdas/build.ts"]));
  inputs.files["lambdas/status-checker/handler.ts"] = "0".repeat(64);
  writeFileSync(record, JSON.stringify(inputs));
  expect(buildLambdas({ outDir: out }).filter((b) => b.rebuilt).map((b) => b.name)).toEqual(["status-checker"]);
});

test("bundles leave the AWS SDK to the runtime and contain no ESM import()", () => {
  for (const b of built) {
    const code = readFileSync(join(b.dir, "index.js"), "utf8");
    expect(code).toContain('require("@aws-sdk/client-secrets-manager")');
    expect(code).not.toMatch(/import\("@aws-sdk/);
    expect(code).not.toContain("SecretsManagerClient.prototype"); // the SDK itself is not inside
  }
});

test("a bundle loads as CommonJS, exports handler, and reports configuration and health properly", async () => {
  const dir = built.find((b) => b.name === "report-generator")!.dir;
  const mod = require(join(dir, "index.js")) as { handler: (e: unknown) => Promise<unknown> };
  expect(typeof mod.handler).toBe("function");
  const saved = { ...process.env };
  try {
    for (const k of Object.keys(process.env)) if (/^(RDS_|DATABASE_|REDIS_|ARI_)/.test(k)) delete process.env[k];
    await expect(mod.handler({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f" })).rejects.toThrow(/RDS_PROXY_ENDPOINT is required/);
  } finally {
    process.env = saved;
  }
});

test("a configured bundle answers the health event with both dependencies down (degraded, no throw)", async () => {
  const dir = built.find((b) => b.name === "enrich-dial-task")!.dir;
  const saved = { ...process.env };
  Object.assign(process.env, {
    RDS_PROXY_ENDPOINT: "127.0.0.1",
    DATABASE_PORT: "1",
    DATABASE_NAME: "x",
    DATABASE_USER: "u",
    DATABASE_PASSWORD: "p",
    DATABASE_SSL: "disable",
    REDIS_HOST: "127.0.0.1",
    REDIS_PORT: "1",
    REDIS_PASSWORD: "r",
    LOG_LEVEL: "silent",
  });
  try {
    const mod = require(join(dir, "index.js")) as { handler: (e: unknown) => Promise<unknown> };
    expect(await mod.handler({ action: "health" })).toEqual({ status: "degraded", redis: { connected: false, endpoint: "127.0.0.1:1" }, database: { connected: false } });
  } finally {
    process.env = saved;
  }
});
