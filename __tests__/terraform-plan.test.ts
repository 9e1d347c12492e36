/**
 * Terraform itself plans the stacks, offline, with the real AWS provider from the machine's
 * mirror (TF_PLUGIN_MIRROR or the machine's; __tests__/setup.sh checks it up front): the first
 * deploy of each campaign stack, the takeover of the HCL modules' state, the guard against
 * losing stateful resources, pythonide-production adopting the running system, and a new
 * account's pythonide-production building everything (its database too).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CampaignConfig } from "../stacks/config";
import { prod } from "../stacks/environments";
import { pythonideNewAccount } from "../stacks/pythonide-environments";
import type { PythonideConfig } from "../stacks/pythonide-config";
import { synthOffline } from "../stacks/offline";
import { planStack, type StackPlan } from "../stacks/plan";
import { findMirror, inParallel } from "../stacks/terraform";

const fixture = (name: string) => join(__dirname, "fixtures", "old-state", `${name}.tfstate`);
const dirs: string[] = [];
function synth(campaign?: CampaignConfig[], pythonide?: PythonideConfig): string {
  const outdir = mkdtempSync(join(tmpdir(), "campaign-infra-plan-test-"));
  dirs.push(outdir);
  synthOffline(outdir, { ...(campaign ? { campaign } : {}), ...(pythonide ? { pythonide } : {}) });
  return outdir;
}
const json = (outdir: string, stack: string) => JSON.parse(readFileSync(join(outdir, "stacks", stack, "cdk.tf.json"), "utf8"));
const resourceCount = (outdir: string, stack: string) => Object.values(json(outdir, stack).resource as Record<string, object>).reduce((n, byName) => n + Object.keys(byName).length, 0);
const change = (plan: StackPlan, address: string) => plan.summary.changes.find((c) => c.address === address);

const app = synth();
const renamed = synth([{ ...prod, database: { ...prod.database, masterUsername: "campaign_owner" } }]);
const unprotected = synth([{ ...prod, protection: { preventDestroy: false, secretRecoveryWindowDays: 7 }, database: { ...prod.database, masterUsername: "campaign_owner" } }]);
const newIdentifier = synth([{ ...prod, database: { ...prod.database, identifier: "campaign-prod-2" } }]);
const newAccount = synth([], pythonideNewAccount);

const plans: Record<string, StackPlan> = {};
beforeAll(async () => {
  const mirror = findMirror();
  const runs: [string, Parameters<typeof planStack>[0]][] = [
    ["dev", { outdir: app, stack: "campaign-dev" }],
    ["prod", { outdir: app, stack: "campaign-prod" }],
    ["takeover", { outdir: app, stack: "campaign-prod", state: fixture("campaign-prod") }],
    ["renamed", { outdir: renamed, stack: "campaign-prod", state: fixture("campaign-prod") }],
    ["unprotected", { outdir: unprotected, stack: "campaign-prod", state: fixture("campaign-prod"), allow: ["aws_instance.asterisk"] }],
    ["newIdentifier", { outdir: newIdentifier, stack: "campaign-prod", state: fixture("campaign-prod") }],
    ["adopt", { outdir: app, stack: "pythonide-production", state: fixture("pythonide-production") }],
    ["newAccount", { outdir: newAccount, stack: "pythonide-production" }],
  ];
  const results = await inParallel(runs, 2, ([, opts]) => planStack({ ...opts, offline: true, mirror }));
  runs.forEach(([name], i) => (plans[name] = results[i]));
}, 600_000);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("offline plan of each campaign stack (the first deploy)", () => {
  it.each(["dev", "prod"])("campaign-%s: succeeds and adds every resource, nothing else", (env) => {
    const plan = plans[env];
    expect(plan.summary).toMatchObject({ add: resourceCount(app, `campaign-${env}`), change: 0, replace: 0, destroy: 0 });
    expect(plan.lines[0]).toBe(`campaign-${env}: ${resourceCount(app, `campaign-${env}`)} to add, 0 to change, 0 to replace, 0 to destroy, 0 moved, 0 imported`);
  });

  it("says what the scratch copy changed (provider version, random stand-in, no AWS)", () => {
    expect(plans.dev.notes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^hashicorp\/aws pinned at 6\.25\.0, the mirror has .*: constraint rewritten to/),
        expect.stringMatching(/^the mirror has no hashicorp\/random: random_password stood in by terraform_data/),
        expect.stringMatching(/^offline: fake credentials/),
      ]),
    );
  });
});

describe("the takeover of the HCL modules' state, proven by Terraform", () => {
  const state = JSON.parse(readFileSync(fixture("campaign-prod"), "utf8"));

  it("the fixture holds every resource of module.data and module.compute, with attribute values", () => {
    const moved = json(app, "campaign-prod").moved as { from: string }[];
    const inState = state.resources.map((r: any) => `${r.module}.${r.type}.${r.name}`);
    expect(inState.sort()).toEqual(moved.map((m) => m.from).sort());
    const instance = state.resources.find((r: any) => r.type === "aws_db_instance").instances[0].attributes;
    expect(instance).toMatchObject({ identifier: "campaign-prod", username: "campaign_admin", storage_encrypted: true, engine: "postgres" });
  });

  it("plans every one as moved, 0 to replace, 0 to destroy", () => {
    const plan = plans.takeover;
    expect(plan.summary).toMatchObject({ moved: state.resources.length, replace: 0, destroy: 0 });
    expect(plan.blocked).toEqual([]);
    for (const r of state.resources) {
      const to = r.type === "random_password" ? `terraform_data.random_password_${r.name}` : `${r.type}.${r.name}`;
      expect(change(plan, to)?.previous_address).toBe(`${r.module}.${to}`);
      expect(change(plan, to)?.change.actions).not.toContain("delete");
    }
  });
});

describe("npm run plan: the guard against losing stateful resources", () => {
  it("fails on a changed master username, naming the address and the attribute (through prod's prevent_destroy)", () => {
    const plan = plans.renamed;
    expect(plan.preventedByLifecycle).toBe(true);
    expect(plan.blocked).toEqual([expect.objectContaining({ address: "aws_db_instance.main", action: "replace", forcedBy: ["username"] })]);
    expect(plan.lines.join("\n")).toContain("BLOCKED: REPLACES aws_db_instance.main: the RDS instance (its data), forced by username");
  });

  it("without prevent_destroy, Terraform's own plan shows the replacement and the guard still fails", () => {
    const plan = plans.unprotected;
    expect(plan.preventedByLifecycle).toBe(false);
    expect(change(plan, "aws_db_instance.main")?.change.replace_paths).toEqual([["username"]]);
    expect(plan.blocked.map((f) => f.address)).toEqual(["aws_db_instance.main"]);
  });

  it("a changed identifier renames the instance in place (aws 5.100), keeps its subnet group, and replaces the proxy target and the parameter group beside itself", () => {
    const plan = plans.newIdentifier;
    expect(change(plan, "aws_db_instance.main")?.change.actions).toEqual(["update"]);
    expect(change(plan, "aws_db_proxy_target.main")?.change.actions).toEqual(["delete", "create"]);
    const group = change(plan, "aws_db_parameter_group.main")!;
    // create_before_destroy: the new group is created first, under a new name, so it never collides.
    expect(group.change.actions).toEqual(["create", "delete"]);
    expect(group.change.before?.name).toBe("campaign-prod-postgres16");
    expect(group.change.after?.name).toBe("campaign-prod-2-postgres16");
    // The subnet group stays (its Name tag follows): RDS refuses to move an instance to another
    // subnet group of the same VPC, and the old one cannot be deleted while in use, so a
    // replacement would fail to apply.
    const subnets = change(plan, "aws_db_subnet_group.main")!;
    expect(subnets.change.actions).toEqual(["update"]);
    expect(subnets.change.after?.name).toBe("campaign-prod");
    expect(change(plan, "aws_db_instance.main")?.change.after?.db_subnet_group_name).toBe("campaign-prod");
    expect(plan.blocked).toEqual([]);
  });
});

describe("pythonide-production adopts the running system", () => {
  it("lists its import blocks and, against the running system's state, updates it in place: nothing destroyed", () => {
    const plan = plans.adopt;
    const imports = json(app, "pythonide-production").import as { to: string; id: string }[];
    expect(imports.map((i) => i.to)).toEqual(
      expect.arrayContaining(["aws_ecs_cluster.pythonide", "aws_ecs_service.service", "aws_ecs_task_definition.service", "aws_lb_target_group.service", "aws_lb_listener_rule.service", "aws_efs_file_system.main"]),
    );
    expect(plan.summary.destroy).toBe(0);
    expect(plan.blocked).toEqual([]);
    for (const { to } of imports) expect(change(plan, to)?.change.actions ?? ["no-op"]).not.toEqual(["create"]);
    // Right-sizing: a new task definition revision (the old one stays, skip_destroy), the service updated in place.
    expect(change(plan, "aws_ecs_task_definition.service")?.change).toMatchObject({ before: { cpu: "2048", memory: "8192" }, after: { cpu: "1024", memory: "2048" } });
    expect(change(plan, "aws_ecs_service.service")?.change.actions).toEqual(["update"]);
    expect(plan.lines.join("\n")).toContain(`import blocks (${imports.length}, performed by the first online plan/deploy`);
  });
});

describe("pythonide-production in a new account (production.mode, network.mode and database.mode \"create\")", () => {
  it("adds every resource, its PostgreSQL among them, and destroys nothing", () => {
    const plan = plans.newAccount;
    const managed = plan.summary.changes.filter((c) => c.mode === "managed");
    // Every resource of the stack is created (aws_efs_mount_target.main has one per subnet: count 2), nothing else happens.
    const addresses = Object.entries(json(newAccount, "pythonide-production").resource as Record<string, object>).flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`));
    expect([...new Set(managed.map((c) => c.address.replace(/\[\d+\]$/, "")))].sort()).toEqual(addresses.sort());
    expect(managed.filter((c) => c.change.actions.join() !== "create")).toEqual([]);
    expect(plan.summary).toMatchObject({ add: managed.length, change: 0, replace: 0, destroy: 0, moved: 0, imported: 0 });
    expect(plan.blocked).toEqual([]);
    expect(json(newAccount, "pythonide-production").import).toBeUndefined();
    const db = change(plan, "aws_db_instance.main")!;
    expect(db.change.actions).toEqual(["create"]);
    expect(db.change.after).toMatchObject({
      identifier: "pythonide-db",
      instance_class: "db.t4g.small",
      backup_retention_period: 7,
      deletion_protection: true,
      skip_final_snapshot: false,
      final_snapshot_identifier: "pythonide-db-final",
      storage_encrypted: true,
      publicly_accessible: false,
      manage_master_user_password: true,
    });
    for (const address of ["aws_db_subnet_group.main", "aws_security_group.rds", "aws_vpc.pythonide"]) expect(change(plan, address)?.change.actions).toEqual(["create"]);
    expect(plan.lines[0]).toBe(`pythonide-production: ${managed.length} to add, 0 to change, 0 to replace, 0 to destroy, 0 moved, 0 imported`);
  });
});
