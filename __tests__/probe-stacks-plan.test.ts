import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePlanArgs, statefulChanges } from "../stacks/plan";
import { readStateFile, type ResourceChange, type Workspace } from "../stacks/terraform";

const work = mkdtempSync(join(tmpdir(), "probe-stacks-plan-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const file = (name: string, state: unknown) => {
  const path = join(work, name);
  writeFileSync(path, JSON.stringify(state));
  return path;
};

describe("--state files the guard cannot read: one message naming the file, no TypeError", () => {
  it("a format 3 state (Terraform 0.11: modules[], no resources[]; was 'state.resources is not iterable')", () => {
    const path = file("v3.tfstate", { version: 3, terraform_version: "0.11.14", serial: 5, lineage: "x", modules: [{ path: ["root", "compute"], outputs: {}, resources: {} }] });
    expect(() => readStateFile(path)).toThrow(`--state ${path}: state format version 3 (written by Terraform 0.11.14), a Terraform 0.11 state; the guard reads format 4`);
  });

  it("a resources entry that is not a resource (Terraform itself failed only at init)", () => {
    const path = file("string.tfstate", { version: 4, resources: [{ mode: "managed", type: "aws_instance", name: "asterisk", instances: [] }, "hello"] });
    expect(() => readStateFile(path)).toThrow(`--state ${path}: not a Terraform state (resources[1] is not a resource with a type and a name)`);
  });
});

describe("the guard on a stood-in random_password of count/for_each form", () => {
  const ws: Workspace = { stack: "campaign-prod", dir: work, notes: [], standIns: { "random_password.redis": "terraform_data.random_password_redis" }, imports: [] };
  const change = (address: string, actions: string[]): ResourceChange =>
    ({ address, mode: "managed", type: "terraform_data", name: "random_password_redis", change: { actions }, action_reason: "delete_because_no_resource_config" }) as ResourceChange;

  it.each(["terraform_data.random_password_redis[0]", 'module.compute.terraform_data.random_password_redis["main"]'])(
    "a destroy of %s is a finding at its stack address (was missed: not taken for a random_password)",
    (address) => {
      const [finding] = statefulChanges([change(address, ["delete"])], ws);
      expect(finding).toMatchObject({ action: "destroy", what: "a generated password (a new one locks clients out)", address: address.replace("terraform_data.random_password_redis", "random_password.redis") });
    },
  );
});

describe("npm run plan's arguments", () => {
  it("refuses --state given twice (the first file was silently dropped)", () => {
    expect(() => parsePlanArgs(["campaign-prod", "--state", "old.tfstate", "--state", "new.tfstate"])).toThrow(/^--state given twice \(old\.tfstate, new\.tfstate\): give it once\nusage: npm run plan/);
  });

  it("still takes --allow and --replace more than once, and --offline twice is harmless", () => {
    expect(parsePlanArgs(["campaign-prod", "--offline", "--offline", "--allow", "a.b", "--allow", "c.d", "--replace", "e.f", "--replace", "g.h"])).toEqual({
      stack: "campaign-prod",
      offline: true,
      allow: ["a.b", "c.d"],
      replace: ["e.f", "g.h"],
      state: undefined,
    });
  });

  it("--help's synopsis names every option it takes", () => {
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    try {
      expect(parsePlanArgs(["--help"])).toBeUndefined();
    } finally {
      write.mockRestore();
    }
    const synopsis = out.join("").split("\n")[0];
    for (const option of ["--state", "--offline", "--allow", "--replace"]) expect(synopsis).toContain(option);
  });
});

describe("an --allow of a resource whose count/for_each instance the plan loses", () => {
  const { unusedAllows } = require("../stacks/plan") as typeof import("../stacks/plan");
  const finding = { address: "aws_instance.asterisk[0]", action: "destroy" as const, what: "the Asterisk host (Redis data, live calls)", forcedBy: [] };

  it("says which instance to allow (was: 'this plan neither destroys nor replaces it', while it destroys [0])", () => {
    expect(unusedAllows(["aws_instance.asterisk"], [finding])).toEqual([
      "--allow aws_instance.asterisk: allows no instance; this plan loses aws_instance.asterisk[0]: pass --allow 'aws_instance.asterisk[0]' if that is intended",
    ]);
  });

  it("an exact --allow is used; one of another resource is still 'nothing to allow'", () => {
    expect(unusedAllows(["aws_instance.asterisk[0]"], [finding])).toEqual([]);
    expect(unusedAllows(["aws_db_instance.main"], [finding])).toEqual(["--allow aws_db_instance.main: this plan neither destroys nor replaces it (nothing to allow)"]);
  });
});

describe("the --allow the guard suggests can be pasted into a shell", () => {
  const { shellArg } = require("../stacks/plan") as typeof import("../stacks/plan");
  it("quotes a for_each key (bash made aws_secretsmanager_secret.x[main] of it: 'no such address')", () => {
    expect(shellArg('aws_secretsmanager_secret.ari_password["main"]')).toBe(`'aws_secretsmanager_secret.ari_password["main"]'`);
    expect(shellArg("aws_instance.asterisk[0]")).toBe("'aws_instance.asterisk[0]'");
    expect(shellArg("module.data.aws_db_instance.main")).toBe("module.data.aws_db_instance.main");
    expect(shellArg(`x["it's"]`)).toBe(`'x["it'\\''s"]'`);
  });
});

describe("a provider mirror whose version folder has no provider binary", () => {
  const { createScratch, prepareWorkspace, readMirror, TerraformSetupError, PLATFORM } = require("../stacks/terraform") as typeof import("../stacks/terraform");
  const { mkdirSync } = require("node:fs") as typeof import("node:fs");
  it("is one setup error before Terraform runs (was: every stack's init failed, validate said INVALID per stack and exit 1)", () => {
    const mirror = join(work, "mirror");
    const folder = join(mirror, "registry.terraform.io", "hashicorp", "aws", "5.100.0", PLATFORM);
    mkdirSync(folder, { recursive: true });
    const stack = join(work, "stacks", "campaign-dev");
    mkdirSync(stack, { recursive: true });
    writeFileSync(join(stack, "cdk.tf.json"), JSON.stringify({ terraform: { required_providers: { aws: { source: "aws", version: "6.25.0" } } }, resource: {} }));
    const scratch = createScratch(readMirror(mirror));
    try {
      expect(() => prepareWorkspace(stack, scratch)).toThrow(TerraformSetupError);
      expect(() => prepareWorkspace(stack, scratch)).toThrow(`provider mirror ${mirror}: ${folder} holds no terraform-provider-aws binary (a half-copied mirror?)`);
      writeFileSync(join(folder, "terraform-provider-aws_v5.100.0_x5"), "");
      expect(prepareWorkspace(stack, scratch).notes).toContain("hashicorp/aws pinned at 6.25.0, the mirror has 5.100.0: constraint rewritten to 5.100.0");
    } finally {
      scratch.cleanup();
    }
  });
});

describe("an interrupted plan or validate leaves no scratch copy behind (it holds the --state copy, secrets in it)", () => {
  const { spawn } = require("node:child_process") as typeof import("node:child_process");
  const root = join(__dirname, "..");

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("%s: both scratch folders removed, exit %d (were left in /tmp)", async (signal, code) => {
    const script = join(work, "interrupted.ts");
    writeFileSync(
      script,
      `import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createScratch, runCli, withSynthDir } from ${JSON.stringify(join(root, "stacks", "terraform"))};
runCli(() => withSynthDir(async (outdir) => {
  const scratch = createScratch({ path: ${JSON.stringify(work)}, providers: {} });
  writeFileSync(join(scratch.dir, "terraform.tfstate"), "secret");
  process.stdout.write(JSON.stringify([outdir, scratch.dir]) + "\\n");
  await new Promise(() => setInterval(() => undefined, 1000));
  return 0;
}));
`,
    );
    const child = spawn(process.execPath, [join(root, "node_modules", "tsx", "dist", "cli.mjs"), script], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const dirs = await new Promise<string[]>((resolve) => child.stdout.on("data", (d) => ((out += d), out.includes("\n") && resolve(JSON.parse(out.split("\n")[0])))));
    for (const dir of dirs) expect(existsSync(dir)).toBe(true);
    const exit = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    child.kill(signal);
    expect(await exit).toBe(code);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
    expect(err).toContain(`interrupted (${signal})`);
  }, 30_000);
});

describe("an interrupted run lets Terraform stop on its own (a backend's state lock is released only then)", () => {
  const { spawn } = require("node:child_process") as typeof import("node:child_process");
  const root = join(__dirname, "..");

  it("Ctrl-C: the program run() started gets exactly one SIGINT and the time to finish, then exit 130", async () => {
    // A stand-in for terraform: notes each signal, takes a moment to "release its lock", then exits.
    const log = join(work, "standin.log");
    const standin = join(work, "standin.sh");
    writeFileSync(standin, `#!/bin/bash\ntrap 'echo INT >> ${log}; sleep 0.5; echo released >> ${log}; exit 1' INT\necho started >> ${log}\nwhile :; do sleep 0.05; done\n`, { mode: 0o755 });
    const script = join(work, "interrupted-run.ts");
    writeFileSync(
      script,
      `import { run, runCli } from ${JSON.stringify(join(root, "stacks", "terraform"))};
runCli(async () => {
  const ran = run(${JSON.stringify(standin)}, []);
  process.stdout.write("running\\n");
  await ran;
  return 0;
});
`,
    );
    // Its own process group, like a terminal's job: a Ctrl-C goes to the whole group.
    const child = spawn(process.execPath, [join(root, "node_modules", "tsx", "dist", "cli.mjs"), script], { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    await new Promise<void>((resolve) => child.stdout.on("data", (d) => String(d).includes("running") && resolve()));
    for (let i = 0; i < 100 && !(existsSync(log) && readFileSync(log, "utf8").includes("started")); i++) await new Promise((r) => setTimeout(r, 50));
    const exit = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    process.kill(-child.pid!, "SIGINT");
    expect(await exit).toBe(130);
    expect(readFileSync(log, "utf8").split("\n").filter(Boolean)).toEqual(["started", "INT", "released"]);
    expect(err).toContain("interrupted (SIGINT): stopping terraform (it releases any state lock; again to kill it)");
  }, 30_000);
});

describe("a state whose old modules had count/for_each (module.data[0].*)", () => {
  const { checkStateBelongs } = require("../stacks/plan") as typeof import("../stacks/plan");
  const config = {
    resource: { aws_db_instance: { main: {} }, aws_instance: { asterisk: {} } },
    moved: [
      { from: "module.data.aws_db_instance.main", to: "aws_db_instance.main" },
      { from: "module.compute.aws_instance.asterisk", to: "aws_instance.asterisk" },
    ],
  };
  const resource = (module: string, type: string) => ({ module, mode: "managed", type, name: type === "aws_instance" ? "asterisk" : "main", instances: [{ attributes: {} }] });

  it("says how to move them (was: 'holds none of campaign-prod's resources: another stack's state?')", () => {
    const state = { version: 4, resources: [resource("module.data[0]", "aws_db_instance"), resource('module.compute["main"]', "aws_instance")] };
    expect(() => checkStateBelongs("campaign-prod", config, state, "old.tfstate")).toThrow(
      `--state old.tfstate: its resources are at module.compute["main"], module.data[0] (the old modules had count or for_each), campaign-prod's moved blocks move module.compute.*, module.data.*: in a copy of the state run terraform state mv 'module.compute["main"]' module.compute; terraform state mv 'module.data[0]' module.data, then plan against that copy`,
    );
  });

  it("another stack's state is still said to be one", () => {
    const state = { version: 4, resources: [resource("module.web[0]", "aws_lb")] };
    expect(() => checkStateBelongs("campaign-prod", config, state, "other.tfstate")).toThrow(/holds none of campaign-prod's resources .*another stack's state\?$/);
  });
});
