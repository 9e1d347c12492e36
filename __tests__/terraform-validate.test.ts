/**
 * `npm run validate`: Terraform validates every synthesized stack against the provider mirror,
 * and the tooling says clearly what is missing when Terraform or the mirror is not there.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../stacks/app";
import { pythonideNewAccount } from "../stacks/pythonide-environments";
import { PLATFORM, TerraformSetupError, createScratch, findMirror, mirrorCandidates, readMirror } from "../stacks/terraform";
import { validateStacks, type StackValidation } from "../stacks/validate";

const outdir = mkdtempSync(join(tmpdir(), "campaign-infra-validate-test-"));
// A new account (stacks/pythonide-environments.ts pythonideNewAccount): its production stack builds VPC, ALB and database.
const newAccount = mkdtempSync(join(tmpdir(), "campaign-infra-validate-test-new-account-"));
// Hand-broken copies: an argument the provider does not have (campaign-dev), a file that is not JSON (pythonide-staging),
// validated as on a fresh machine (an empty HOME; TF_PLUGIN_CACHE_DIR set, and unused with a mirror).
const broken = mkdtempSync(join(tmpdir(), "campaign-infra-validate-test-broken-"));
const fresh = mkdtempSync(join(tmpdir(), "campaign-infra-validate-test-home-"));
let results: StackValidation[];
let newAccountResults: StackValidation[];
let brokenResults: StackValidation[];
beforeAll(async () => {
  buildApp({ outdir }).synth();
  buildApp({ outdir: newAccount, campaign: [], pythonide: pythonideNewAccount }).synth();
  cpSync(outdir, broken, { recursive: true });
  const dev = join(broken, "stacks", "campaign-dev", "cdk.tf.json");
  const config = JSON.parse(readFileSync(dev, "utf8"));
  config.resource.aws_instance.asterisk.no_such_argument = 1;
  writeFileSync(dev, JSON.stringify(config));
  writeFileSync(join(broken, "stacks", "pythonide-staging", "cdk.tf.json"), "{ broken");
  results = await validateStacks(outdir);
  newAccountResults = await validateStacks(newAccount, { only: ["pythonide-production"] });
  const saved = { HOME: process.env.HOME, TF_PLUGIN_CACHE_DIR: process.env.TF_PLUGIN_CACHE_DIR };
  Object.assign(process.env, { HOME: fresh, TF_PLUGIN_CACHE_DIR: join(fresh, "plugin-cache") });
  try {
    brokenResults = await validateStacks(broken, { only: ["campaign-dev", "campaign-prod", "pythonide-staging"] });
  } finally {
    Object.assign(process.env, saved);
  }
}, 600_000);
afterAll(() => {
  for (const dir of [outdir, newAccount, broken, fresh]) rmSync(dir, { recursive: true, force: true });
});

describe("npm run validate", () => {
  it("reports every stack valid, one line each", () => {
    // An invalid stack shows all its lines (Terraform's reason), so a failure here says why.
    expect(results.map((r) => (r.valid ? r.lines[0] : r.lines.join("\n")))).toEqual(["campaign-dev: valid", "campaign-prod: valid", "pythonide-production: valid", "pythonide-staging: valid"]);
  });

  it("reports a new account's pythonide-production (its own VPC, ALB and database) valid", () => {
    expect(newAccountResults.map((r) => (r.valid ? r.lines[0] : r.lines.join("\n")))).toEqual(["pythonide-production: valid"]);
  });

  it("says where it rewrote the provider version and stood in for random_password", () => {
    const dev = results.find((r) => r.stack === "campaign-dev")!.lines.join("\n");
    expect(dev).toMatch(/note: hashicorp\/aws pinned at 6\.25\.0, the mirror has [\d., ]+: constraint rewritten to /);
    expect(dev).toContain("note: the mirror has no hashicorp/random: random_password stood in by terraform_data (random_password.ari, random_password.redis");
    expect(results.find((r) => r.stack === "pythonide-staging")!.lines.join("\n")).not.toContain("random");
  });
});

describe("npm run validate with broken stacks, on a fresh machine", () => {
  it("gives each stack its line: the broken ones INVALID with the reason and address, the others still validated", () => {
    expect(brokenResults.map((r) => [r.stack, r.valid])).toEqual([["campaign-dev", false], ["campaign-prod", true], ["pythonide-staging", false]]);
    expect(brokenResults[0].lines.slice(0, 2)).toEqual([
      "campaign-dev: INVALID",
      '  error at resource.aws_instance.asterisk: Extraneous JSON object property: No argument or block type is named "no_such_argument".',
    ]);
    expect(brokenResults[2].lines[0]).toBe("pythonide-staging: INVALID");
    expect(brokenResults[2].lines[1]).toMatch(/^ {2}\/.*\/stacks\/pythonide-staging\/cdk\.tf\.json is not JSON: /);
  });

  it("wrote no plugin cache: each stack's init links the read-only mirror, so no init can pull a provider from under another stack's validate", () => {
    expect(readdirSync(fresh)).toEqual([]);
    const scratch = createScratch(findMirror());
    try {
      expect(readFileSync(join(scratch.dir, "terraform.rc"), "utf8")).not.toContain("plugin_cache_dir");
    } finally {
      scratch.cleanup();
    }
  });
});

describe("finding the provider mirror", () => {
  const root = mkdtempSync(join(tmpdir(), "campaign-infra-mirror-test-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("reads the versions of an unpacked mirror", () => {
    mkdirSync(join(root, "registry.terraform.io", "hashicorp", "aws", "5.100.0", PLATFORM), { recursive: true });
    writeFileSync(join(root, "registry.terraform.io", "hashicorp", "aws", "5.100.0", PLATFORM, "terraform-provider-aws_v5.100.0_x5"), "");
    expect(readMirror(root).providers).toEqual({ "hashicorp/aws": ["5.100.0"] });
    expect(findMirror({ TF_PLUGIN_MIRROR: root }).path).toBe(root);
  });

  it("looks where Terraform looks for an implied mirror, then searches a few levels down", () => {
    expect(mirrorCandidates({ HOME: "/home/u", XDG_DATA_DIRS: "/a:/b" })).toEqual([
      "/opt/tf-plugins",
      "/home/u/.terraform.d/plugins",
      "/home/u/.local/share/terraform/plugins",
      "/a/terraform/plugins",
      "/b/terraform/plugins",
    ]);
    const image = join(root, "image");
    mkdirSync(join(image, "srv", "tf", "registry.terraform.io", "hashicorp", "aws", "5.99.0", PLATFORM), { recursive: true });
    expect(findMirror({}, { candidates: [join(root, "none")], searchRoots: [image] })).toEqual({ path: join(image, "srv", "tf"), providers: { "hashicorp/aws": ["5.99.0"] } });
    expect(() => findMirror({}, { candidates: [join(root, "none")], searchRoots: [join(image, "srv", "tf", "registry.terraform.io", "hashicorp")] })).toThrow(
      `No Terraform provider mirror with hashicorp/aws: set TF_PLUGIN_MIRROR to a filesystem mirror (the folder that contains registry.terraform.io/; looked in ${join(root, "none")} and 4 levels below ${join(image, "srv", "tf", "registry.terraform.io", "hashicorp")})`,
    );
  });

  it("names TF_PLUGIN_MIRROR when it points at no mirror", () => {
    const empty = join(root, "empty");
    mkdirSync(empty);
    expect(() => findMirror({ TF_PLUGIN_MIRROR: empty })).toThrow(TerraformSetupError);
    expect(() => findMirror({ TF_PLUGIN_MIRROR: empty })).toThrow(`TF_PLUGIN_MIRROR=${empty} holds no registry.terraform.io/hashicorp/aws/<version>/${PLATFORM}/ provider`);
  });
});
