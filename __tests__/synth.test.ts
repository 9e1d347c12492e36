import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../stacks/app";
import { report } from "../stacks/report";

/**
 * The whole app, as `npm run synth` runs it: every stack written to disk, with no terraform binary
 * on PATH, and a reviewed snapshot of each stack.
 */
describe("full synth", () => {
  const outdir = mkdtempSync(join(tmpdir(), "synth-"));
  const path = process.env.PATH;
  let stacks: string[] = [];

  beforeAll(() => {
    process.env.PATH = "/nonexistent"; // synth must not need `terraform`
    try {
      const app = buildApp({ outdir });
      app.synth();
      stacks = app.node.children.map((c) => c.node.id).filter((id) => id.includes("-"));
    } finally {
      process.env.PATH = path;
    }
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const read = (stack: string) => readFileSync(join(outdir, "stacks", stack, "cdk.tf.json"), "utf8");

  it("writes campaign-dev and campaign-prod", () => {
    expect(stacks).toEqual(expect.arrayContaining(["campaign-dev", "campaign-prod"]));
  });

  it("reports each stack with its resource count and outputs", () => {
    const text = report(outdir);
    expect(text).toMatch(/^campaign-dev: \d+ resources, \d+ data sources, \d+ moved blocks -> /m);
    const outputs = /^campaign-prod: .*\n  outputs: (.*)$/m.exec(text)?.[1].split(", ") ?? [];
    for (const name of ["redis_endpoint", "redis_port", "redis_password_secret_arn", "rds_proxy_endpoint", "rds_master_secret_arn", "rds_endpoint", "asterisk_private_ip"]) {
      expect(outputs).toContain(name);
    }
  });

  it("keeps this machine's paths out of every stack", () => {
    for (const stack of stacks) expect(read(stack)).not.toContain(process.cwd());
  });

  it("matches the reviewed snapshot of each stack", () => {
    for (const stack of stacks) {
      // Lambda asset hashes change with every code edit; their stability has its own test.
      const json = JSON.parse(read(stack).replace(/\b[0-9A-F]{32}\b/g, "<asset hash>"));
      delete json["//"]; // cdktf version metadata
      expect(json).toMatchSnapshot(stack);
    }
  });
});
