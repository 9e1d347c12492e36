/**
 * `npm run validate`: Terraform validates every synthesized stack against the provider mirror,
 * and the tooling says clearly what is missing when Terraform or the mirror is not there.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../stacks/app";
import { pythonideNewAccount } from "../stacks/pythonide-environments";
import { TerraformSetupError, findMirror, readMirror } from "../stacks/terraform";
import { validateStacks, type StackValidation } from "../stacks/validate";

const outdir = mkdtempSync(join(tmpdir(), "campaign-infra-validate-test-"));
// A new account (stacks/pythonide-environments.ts pythonideNewAccount): its production stack builds VPC, ALB and database.
const newAccount = mkdtempSync(join(tmpdir(), "campaign-infra-validate-test-new-account-"));
let results: StackValidation[];
let newAccountResults: StackValidation[];
beforeAll(async () => {
  buildApp({ outdir }).synth();
  buildApp({ outdir: newAccount, campaign: [], pythonide: pythonideNewAccount }).synth();
  results = await validateStacks(outdir);
  newAccountResults = await validateStacks(newAccount, { only: ["pythonide-production"] });
}, 600_000);
afterAll(() => {
  for (const dir of [outdir, newAccount]) rmSync(dir, { recursive: true, force: true });
});

describe("npm run validate", () => {
  it("reports every stack valid, one line each", () => {
    expect(results.map((r) => r.lines[0])).toEqual(["campaign-dev: valid", "campaign-prod: valid", "pythonide-production: valid", "pythonide-staging: valid"]);
  });

  it("reports a new account's pythonide-production (its own VPC, ALB and database) valid", () => {
    expect(newAccountResults.map((r) => r.lines[0])).toEqual(["pythonide-production: valid"]);
  });

  it("says where it rewrote the provider version and stood in for random_password", () => {
    const dev = results.find((r) => r.stack === "campaign-dev")!.lines.join("\n");
    expect(dev).toMatch(/note: hashicorp\/aws pinned at 6\.25\.0, the mirror has [\d., ]+: constraint rewritten to /);
    expect(dev).toContain("note: the mirror has no hashicorp/random: random_password stood in by terraform_data (random_password.ari, random_password.redis");
    expect(results.find((r) => r.stack === "pythonide-staging")!.lines.join("\n")).not.toContain("random");
  });
});

describe("finding the provider mirror", () => {
  const root = mkdtempSync(join(tmpdir(), "campaign-infra-mirror-test-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("reads the versions of an unpacked mirror", () => {
    mkdirSync(join(root, "registry.terraform.io", "hashicorp", "aws", "5.100.0", "linux_amd64"), { recursive: true });
    writeFileSync(join(root, "registry.terraform.io", "hashicorp", "aws", "5.100.0", "linux_amd64", "terraform-provider-aws_v5.100.0_x5"), "");
    expect(readMirror(root).providers).toEqual({ "hashicorp/aws": ["5.100.0"] });
    expect(findMirror({ TF_PLUGIN_MIRROR: root }).path).toBe(root);
  });

  it("names TF_PLUGIN_MIRROR when it points at no mirror", () => {
    const empty = join(root, "empty");
    mkdirSync(empty);
    expect(() => findMirror({ TF_PLUGIN_MIRROR: empty })).toThrow(TerraformSetupError);
    expect(() => findMirror({ TF_PLUGIN_MIRROR: empty })).toThrow(`TF_PLUGIN_MIRROR=${empty} holds no registry.terraform.io/hashicorp/aws/<version>/linux_amd64/ provider`);
  });
});
