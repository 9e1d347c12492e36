import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The stack commands as a user runs them: a bad command line is one message and exit 2, never a stack trace. */
const root = join(__dirname, "..");
const work = mkdtempSync(join(tmpdir(), "probe-stacks-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(file: string, args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [join(root, "node_modules", "tsx", "dist", "cli.mjs"), join(root, file), ...args], {
    cwd: root,
    env: { ...process.env, CDKTF_OUTDIR: join(work, "cdktf.out") },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}
const noTrace = /^\s+at |\.ts:\d+\n|UsageError|InventoryError/m;

describe("bad command lines: exit 2, the problem and the usage, no stack trace", () => {
  it.each([
    ["docs", "stacks/docs.ts", ["--bogus"], /^Unknown option '--bogus'[^\n]*\nusage: npm run docs/],
    ["synth", "main.ts", ["--bogus"], /^Unknown option '--bogus'[^\n]*\nusage: npm run synth/],
    ["inventory", "stacks/inventory.ts", ["campaign-dev", "--bogus"], /^inventory: Unknown option '--bogus'[^\n]*\nusage: npm run inventory/],
    ["inventory", "stacks/inventory.ts", [], /^inventory: give exactly one stack name\nusage: npm run inventory/],
    ["inventory", "stacks/inventory.ts", ["campaign-dev", "--outputs", "a.json", "--outputs", "b.json"], /^inventory: --outputs given twice \(a\.json, b\.json\): give it once\nusage: npm run inventory/],
  ])("%s %j", (_name, file, args, message) => {
    const r = run(file, args as string[]);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(noTrace);
    expect(r.status).toBe(2);
  });
});

describe("npm run inventory: a bad outputs file is bad input (exit 2), and nothing is written", () => {
  it("a saved terraform output -json without the needed outputs", () => {
    const inventory = join(work, "dev");
    cpSync(join(root, "inventory", "dev"), inventory, { recursive: true });
    const before = readFileSync(join(inventory, "group_vars", "asterisk.yml"), "utf8");
    const outputs = join(work, "outputs.json");
    writeFileSync(outputs, JSON.stringify({ redis_password_secret_arn: { value: "x", sensitive: true }, extra: { value: 1 } }));
    const r = run("stacks/inventory.ts", ["campaign-dev", "-i", inventory, "--outputs", outputs]);
    expect(r.stderr).toMatch(/redis_password_secret_arn: marked sensitive; refusing to copy it/);
    expect(r.stderr).not.toMatch(noTrace);
    expect(r.status).toBe(2);
    expect(readFileSync(join(inventory, "group_vars", "asterisk.yml"), "utf8")).toBe(before);
  });
});

describe("npm run cost: what it cannot cost is refused, not priced at $0", () => {
  const { runCost } = require("../stacks/cost-cli") as typeof import("../stacks/cost-cli");
  it("a Terraform state given as --from (was: a stack of nothing, $0.00, exit 0)", () => {
    const state = join(work, "campaign-prod.tfstate");
    writeFileSync(state, JSON.stringify({ version: 4, terraform_version: "1.11.4", resources: [{ mode: "managed", type: "aws_instance", name: "asterisk", instances: [] }] }));
    expect(() => runCost(["--from", state, "--no-usage"])).toThrow(`${state}: not a synthesized stack (a Terraform state file; cost reads a stack's cdk.tf.json: its terraform and resource blocks)`);
  });

  it("JSON that is no stack", () => {
    const list = join(work, "list.json");
    writeFileSync(list, "[1, 2]");
    expect(() => runCost(["--from", list, "--no-usage"])).toThrow(/list\.json: not a synthesized stack \(cost reads/);
  });

  it("--from given twice (the first was silently dropped)", () => {
    expect(() => runCost(["--from", "current", "--from", "campaign-before"])).toThrow(/^--from given twice \(current, campaign-before\): give it once\nusage: npm run cost/);
  });
});

describe("npm run inventory: a state and a saved output mixed up, or a state it cannot read, is named as such", () => {
  const { main, InventoryError } = require("../stacks/inventory") as typeof import("../stacks/inventory");
  const save = (name: string, json: unknown) => {
    const path = join(work, name);
    writeFileSync(path, JSON.stringify(json));
    return path;
  };
  const quiet = () => undefined;
  it.each([
    ["--state", { version: 3, modules: [{ path: ["root"], outputs: {} }] }, /v\.json: state format version 3: its outputs are read from format 4 \(Terraform 0\.12 and later\)$/],
    ["--state", { redis_port: { value: 6379 } }, /: not a Terraform state .*; a saved `terraform output -json` goes with --outputs$/],
    ["--state", { version: 4, resources: [] }, /: the state has no outputs \(is the stack deployed, and is this its state\?\)$/],
    ["--state", { version: 5, resources: [], outputs: {} }, /: state format version 5: its outputs are read from format 4/],
    ["--outputs", { version: 4, resources: [], outputs: {} }, /: a Terraform state, not a saved `terraform output -json`: pass it with --state$/],
  ])("%s %j (was: 'not a JSON object of outputs', or every output 'missing')", (option, json, message) => {
    const path = save("v.json", json);
    expect(() => main(["campaign-dev", "-i", join(root, "inventory", "dev"), "--check", option, path], quiet)).toThrow(InventoryError);
    expect(() => main(["campaign-dev", "-i", join(root, "inventory", "dev"), "--check", option, path], quiet)).toThrow(message);
  });
});

describe("npm run inventory keeps the files' permissions", () => {
  const { main } = require("../stacks/inventory") as typeof import("../stacks/inventory");
  it("a 0600 group_vars/asterisk.yml stays 0600 (was rewritten 0644)", () => {
    const { chmodSync, statSync } = require("node:fs") as typeof import("node:fs");
    const inventory = join(work, "perm");
    cpSync(join(root, "inventory", "dev"), inventory, { recursive: true });
    const vars = join(inventory, "group_vars", "asterisk.yml");
    chmodSync(vars, 0o600);
    const arn = (n: string) => ({ value: `arn:aws:secretsmanager:us-east-1:111122223333:secret:campaign-dev/${n}-XyZ123` });
    const outputs = join(work, "perm-outputs.json");
    writeFileSync(
      outputs,
      JSON.stringify({ redis_password_secret_arn: arn("redis-password"), ari_password_secret_arn: arn("ari-password"), asterisk_instance_id: { value: "i-0abcdef0123456789" }, asterisk_private_ip: { value: "10.20.101.7" } }),
    );
    expect(main(["campaign-dev", "-i", inventory, "--outputs", outputs], () => undefined)).toBe(0);
    expect(readFileSync(vars, "utf8")).toContain("campaign-dev/redis-password-XyZ123");
    expect(statSync(vars).mode & 0o777).toBe(0o600);
  });
});

describe("--help says what the command does with bad input", () => {
  it("validate: exit 1 for an invalid stack, 2 for an unknown one or a missing terraform/mirror (said 'exits 1 on any error')", () => {
    const r = run("stacks/validate.ts", ["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Exit 1: a stack is invalid .*; exit 2: an\nunknown stack, or no terraform or provider mirror\./);
  });
});

describe("an input file that is a FIFO or a device is refused, not read forever (plan, inventory and cost hung)", () => {
  const { readStateFile } = require("../stacks/terraform") as typeof import("../stacks/terraform");
  const { main } = require("../stacks/inventory") as typeof import("../stacks/inventory");
  const { readUsageFile } = require("../stacks/cost-cli") as typeof import("../stacks/cost-cli");
  const fifo = join(work, "state.fifo");
  beforeAll(() => {
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  });
  const refusal = "not a regular file (a FIFO or device: its read would wait or never end); save it to a file first";

  it("plan --state FIFO", () => expect(() => readStateFile(fifo)).toThrow(`--state ${fifo}: ${refusal}`));
  it("plan --state /dev/zero", () => expect(() => readStateFile("/dev/zero")).toThrow(`--state /dev/zero: ${refusal}`));
  it("inventory --outputs /dev/zero", () =>
    expect(() => main(["campaign-dev", "-i", join(root, "inventory", "dev"), "--check", "--outputs", "/dev/zero"], () => undefined)).toThrow(`/dev/zero: ${refusal}`));
  it("inventory --state FIFO", () => expect(() => main(["campaign-dev", "-i", join(root, "inventory", "dev"), "--check", "--state", fifo], () => undefined)).toThrow(`${fifo}: ${refusal}`));
  it("cost --usage FIFO", () => expect(() => readUsageFile(fifo)).toThrow(`usage file ${fifo}: ${refusal}`));
  it("a regular file and a missing one still read or fail as before", () => {
    expect(() => readStateFile(join(work, "nope.tfstate"))).toThrow("cannot read it (ENOENT)");
  });
});
