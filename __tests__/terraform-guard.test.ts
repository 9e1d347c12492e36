/**
 * The plan guard under faults and bad input, with the real Terraform and AWS provider (mirror):
 * states as a real account holds them (hand-set tags, an older provider's schema versions, a 30-day
 * recovery window, a pinned minor, another parameter group name), a state with what the guard must
 * catch (a nested attribute forcing a replacement, replace_triggered_by, --replace, a deposed object,
 * a stateful resource removed from the config at a module.* address), and inputs that must be
 * refused with one clear line before anything runs.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { synthOffline } from "../stacks/offline";
import { planStack, type StackPlan } from "../stacks/plan";
import { findMirror, inParallel } from "../stacks/terraform";

const root = resolve(__dirname, "..");
const fixture = join(__dirname, "fixtures", "old-state", "campaign-prod.tfstate");
const work = mkdtempSync(join(tmpdir(), "campaign-infra-guard-test-"));
const app = join(work, "app");
synthOffline(app);
type Json = Record<string, any>;
const oldState = (): Json => JSON.parse(readFileSync(fixture, "utf8"));
const resource = (s: Json, type: string, name?: string) => s.resources.find((r: Json) => r.type === type && (!name || r.name === name));
function writeState(name: string, edit: (s: Json) => void): string {
  const s = oldState();
  edit(s);
  const path = join(work, `${name}.tfstate`);
  writeFileSync(path, JSON.stringify(s));
  return path;
}
const change = (plan: StackPlan, address: string) => plan.summary.changes.find((c) => c.address === address);
const finding = (plan: StackPlan, address: string) => plan.findings.find((f) => f.address === address);

/** What a real account's old state may differ in, none of which may replace or destroy anything. */
const variations = writeState("variations", (s) => {
  for (const type of ["aws_db_instance", "aws_instance"]) {
    const a = resource(s, type).instances[0].attributes;
    a.tags = { ...a.tags, Owner: "ops" }; // set by hand in the console
    a.tags_all = { ...a.tags };
  }
  resource(s, "aws_db_instance").instances[0].schema_version = 1; // written by aws 4.x
  Object.assign(resource(s, "aws_db_instance").instances[0].attributes, { engine_version: "16.4", engine_version_actual: "16.8" });
  for (const r of s.resources.filter((r: Json) => r.type === "aws_secretsmanager_secret")) r.instances[0].attributes.recovery_window_in_days = 30;
  const group = resource(s, "aws_db_parameter_group").instances[0].attributes;
  Object.assign(group, { name: "campaign-prod-pg16", id: "campaign-prod-pg16" });
  resource(s, "aws_db_instance").instances[0].attributes.parameter_group_name = "campaign-prod-pg16";
  // The host: an older AMI, another first-boot script, resized by hand.
  Object.assign(resource(s, "aws_instance").instances[0].attributes, { ami: "ami-0aaaaaaaaaaaaaaaa", user_data: "3f786850e387550fdab836ed7e6dc881de23001b", instance_type: "t3.large" });
});

/** Everything the guard must catch, in one state. */
const faults = writeState("faults", (s) => {
  resource(s, "aws_instance").instances[0].attributes.root_block_device[0].encrypted = false;
  const host = resource(s, "aws_instance");
  host.instances.push({ ...JSON.parse(JSON.stringify(host.instances[0])), deposed: "00000001" });
  s.resources.push({ ...JSON.parse(JSON.stringify(resource(s, "aws_db_instance"))), name: "replica" }); // module.data.aws_db_instance.replica
  resource(s, "aws_db_parameter_group").instances[0].attributes.description = "set by hand";
  // A takeover half done by hand: the secret imported at its new address, the old one still in state.
  s.resources.push({ ...JSON.parse(JSON.stringify(resource(s, "aws_secretsmanager_secret", "ari_password"))), module: undefined });
});
// replace_triggered_by is not in the stacks: added to a copy of the synthesized JSON.
const triggered = join(work, "triggered");
cpSync(app, triggered, { recursive: true });
{
  const file = join(triggered, "stacks", "campaign-prod", "cdk.tf.json");
  const config = JSON.parse(readFileSync(file, "utf8"));
  config.resource.aws_db_instance.main.lifecycle = { ...config.resource.aws_db_instance.main.lifecycle, replace_triggered_by: ["aws_db_parameter_group.main"] };
  writeFileSync(file, JSON.stringify(config));
}

const plans: Record<string, StackPlan> = {};
beforeAll(async () => {
  const mirror = findMirror();
  const runs: [string, Parameters<typeof planStack>[0]][] = [
    ["variations", { outdir: app, stack: "campaign-prod", state: variations }],
    [
      "faults",
      {
        outdir: triggered,
        stack: "campaign-prod",
        state: faults,
        replace: ["random_password.redis"],
        allow: ["random_password.redis", "aws_instance.asterisk", "aws_db_proxy.main"],
      },
    ],
  ];
  const results = await inParallel(runs, 2, ([, opts]) => planStack({ ...opts, offline: true, mirror }));
  runs.forEach(([name], i) => (plans[name] = results[i]));
}, 600_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the takeover of an old state as a real account holds it", () => {
  it("hand-set tags, aws 4.x's schema version, a 30-day window, a pinned minor, another AMI, a resized host: moves and in-place updates only", () => {
    const plan = plans.variations;
    expect(plan.summary).toMatchObject({ moved: 22, destroy: 0 });
    expect(plan.blocked).toEqual([]);
    expect(change(plan, "aws_db_instance.main")?.change.actions).toEqual(["update"]);
    expect(change(plan, "aws_db_instance.main")?.change.after).toMatchObject({ engine_version: "16", tags: { Name: "campaign-prod" }, parameter_group_name: "campaign-prod-postgres16" });
    // ami and user_data are ignored (never a replacement); the size goes back to the config's, in place (a stop/start).
    expect(change(plan, "aws_instance.asterisk")?.change).toMatchObject({ actions: ["update"], before: { instance_type: "t3.large" }, after: { instance_type: "t3.medium", ami: "ami-0aaaaaaaaaaaaaaaa" } });
    expect(change(plan, "aws_secretsmanager_secret.redis_password")?.change).toMatchObject({ actions: ["update"], before: { recovery_window_in_days: 30 }, after: { recovery_window_in_days: 7 } });
  });

  it("another parameter group name: the only replacement is the group, created beside the old one (docs/state-takeover.md)", () => {
    const plan = plans.variations;
    expect(plan.summary.replace).toBe(1);
    expect(change(plan, "aws_db_parameter_group.main")?.change).toMatchObject({ actions: ["create", "delete"], replace_paths: [["name"]], after: { name: "campaign-prod-postgres16" } });
  });
});

describe("the guard catches every way a plan loses a stateful resource", () => {
  it("shows Terraform's own prevent_destroy error, and --allow does not lift it", () => {
    const plan = plans.faults;
    expect(plan.preventedByLifecycle).toBe(true);
    expect(plan.lines.join("\n")).toMatch(/terraform: error .*Instance cannot be destroyed: Resource aws_db_instance\.main has lifecycle\.prevent_destroy set/);
    // Terraform stops before naming every protected address (not aws_instance.asterisk here): the config says it is protected.
    expect(finding(plan, "aws_instance.asterisk")).toMatchObject({ preventDestroy: true });
    expect(plan.blocked.map((f) => f.address)).toContain("aws_instance.asterisk");
    expect(plan.lines.join("\n")).toContain("--allow does not lift lifecycle.prevent_destroy (aws_instance.asterisk)");
  });

  it("names a nested attribute that forces a replacement", () => {
    expect(plans.faults.lines).toContainEqual(
      "  BLOCKED: REPLACES aws_instance.asterisk: the Asterisk host (Redis data, live calls), forced by root_block_device[0].encrypted (lifecycle.prevent_destroy stops this plan too)",
    );
  });

  it("names replace_triggered_by and what triggered it", () => {
    expect(finding(plans.faults, "aws_db_instance.main")).toMatchObject({ action: "replace", reason: "lifecycle.replace_triggered_by aws_db_parameter_group.main changed", preventDestroy: true });
  });

  it("a --replace'd password is allowed only by its --allow; what it drags along stays blocked", () => {
    expect(finding(plans.faults, "random_password.redis")).toMatchObject({ action: "replace", reason: "requested with --replace" });
    expect(plans.faults.blocked.map((f) => f.address)).not.toContain("random_password.redis");
    expect(finding(plans.faults, "aws_secretsmanager_secret_version.redis_password")).toMatchObject({ forcedBy: ["secret_string"], preventDestroy: true });
  });

  it("a deposed object and a stateful resource removed from the config at its module.* address", () => {
    const plan = plans.faults;
    expect(plan.lines).toContainEqual(expect.stringContaining("BLOCKED: DESTROYS module.data.aws_db_instance.replica: the RDS instance (its data), removed from the configuration"));
    // Deposed: allowed by --allow aws_instance.asterisk (no prevent_destroy on a deposed object), counted as a destroy, not a move.
    expect(plan.findings).toContainEqual(expect.objectContaining({ address: "aws_instance.asterisk", deposed: "00000001", action: "destroy" }));
    expect(plan.lines).toContainEqual(expect.stringMatching(/^ {2}allowed: DESTROYS aws_instance\.asterisk \(deposed object 00000001\)/));
    expect(plan.summary.moved).toBe(21);
  });

  it("a takeover half done by hand: Terraform's warning about the move comes through, the old secret's destroy is blocked", () => {
    const plan = plans.faults;
    expect(plan.lines).toContainEqual(
      expect.stringMatching(/^ {2}terraform: warning: Unresolved resource instance address changes: .*module\.compute\.aws_secretsmanager_secret\.ari_password could not move to aws_secretsmanager_secret\.ari_password/),
    );
    expect(plan.lines).toContainEqual(expect.stringContaining("BLOCKED: DESTROYS module.compute.aws_secretsmanager_secret.ari_password: a secret (clients hold its ARN), removed from the configuration"));
  });

  it("warns about an --allow the plan does not need", () => {
    expect(plans.faults.lines).toContainEqual("  warning: --allow aws_db_proxy.main: this plan neither destroys nor replaces it (nothing to allow)");
  });
});

describe("bad input: one clear message, before Terraform runs", () => {
  const bad = (name: string, text: string) => {
    const path = join(work, name);
    writeFileSync(path, text);
    return path;
  };
  const refused = (opts: Partial<Parameters<typeof planStack>[0]>) => planStack({ outdir: app, stack: "campaign-prod", offline: true, ...opts });

  it.each([
    ["an unknown stack", { stack: "campaign-stage" }, "no such stack: campaign-stage (stacks: campaign-dev, campaign-prod, pythonide-production, pythonide-staging)"],
    ["a missing state file", { state: "/nonexistent/old.tfstate" }, "--state /nonexistent/old.tfstate: cannot read it (ENOENT)"],
    ["a state that is not JSON", { state: bad("text.tfstate", "terraform {}\n") }, /^--state .*text\.tfstate: not a Terraform state \(not JSON: /],
    ["JSON that is no state", { state: bad("list.tfstate", "[1, 2]") }, /not a Terraform state \(no "version" number and "resources" list\)$/],
    ["a newer state format", { state: bad("v5.tfstate", JSON.stringify({ ...oldState(), version: 5, terraform_version: "2.0.0" })) }, /state format version 5 \(written by Terraform 2\.0\.0\); this Terraform reads versions 3 and 4/],
    ["another stack's state", { state: join(__dirname, "fixtures", "old-state", "pythonide-production.tfstate") }, /holds none of campaign-prod's resources \(it holds aws_cloudwatch_log_group\.service, .*\): another stack's state\?$/],
    [
      "another environment's state",
      { state: writeState("dev", (s) => s.resources.forEach((r: Json) => r.instances.forEach((i: Json) => i.attributes.tags_all && (i.attributes.tags_all.Environment = "dev")))) },
      /its resources are tagged Environment=dev, campaign-prod is Environment=prod: another environment's state\?$/,
    ],
    ["an --allow typo", { state: fixture, allow: ["aws_db_instanse.main"] }, "--allow aws_db_instanse.main: campaign-prod has no such address, in its configuration or state (did you mean aws_db_instance.main?)"],
    ["a --replace typo", { replace: ["aws_instance.astrisk"] }, "--replace aws_instance.astrisk: campaign-prod has no such address, in its configuration or state (did you mean aws_instance.asterisk?)"],
  ])("%s", async (_what, opts, message) => {
    await expect(refused(opts)).rejects.toThrow(message);
  });

  /** `npm run plan` as a user runs it, in a fresh folder: exit code, stderr, and nothing written to cdktf.out. */
  function cli(args: string[], env: NodeJS.ProcessEnv): { status: number | null; stderr: string; stdout: string } {
    const r = spawnSync(process.execPath, [join(root, "node_modules", "tsx", "dist", "cli.mjs"), join(root, "stacks", "plan.ts"), ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      encoding: "utf8",
      timeout: 120_000,
    });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  }
  const cdktfOut = join(root, "cdktf.out");
  const before = existsSync(cdktfOut);

  it("terraform missing from PATH", () => {
    const r = cli(["campaign-prod", "--offline"], { PATH: `${join(process.execPath, "..")}:/nonexistent` });
    expect(r).toMatchObject({ status: 2, stdout: "" });
    expect(r.stderr).toBe("terraform is not on PATH: install Terraform >= 1.10 (https://developer.hashicorp.com/terraform/install)\n");
  }, 120_000);

  it("a mirror that is not there, offline and online alike", () => {
    for (const args of [["campaign-prod", "--offline"], ["campaign-prod"]]) {
      const r = cli(args, { TF_PLUGIN_MIRROR: "/nonexistent/mirror" });
      expect(r).toMatchObject({ status: 2, stdout: "" });
      expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^TF_PLUGIN_MIRROR=\/nonexistent\/mirror holds no registry\.terraform\.io\/hashicorp\/aws/)]);
    }
  }, 120_000);

  it("a state file that is not JSON: one line, exit 2", () => {
    const r = cli(["campaign-prod", "--offline", "--state", bad("cli.tfstate", "{oops")], {});
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^--state .*cli\.tfstate: not a Terraform state \(not JSON: /)]);
  }, 120_000);

  it("writes nothing into cdktf.out", () => {
    expect(existsSync(cdktfOut)).toBe(before);
  });
});
