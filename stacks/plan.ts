/**
 * `npm run plan -- STACK [--state FILE] [--offline] [--allow ADDRESS]...`: a `terraform plan` of
 * one stack (in a scratch copy; nothing is applied, the state is never written) that FAILS,
 * naming the address and the attribute that forces it, when the plan would destroy or replace a
 * stateful resource (the RDS instance, the Asterisk host, the secrets and their generated
 * passwords, EFS) unless that address is allowed with --allow.
 *
 * - default: the stack's own backend and the AWS credentials of the shell (what `cdktf diff` plans);
 * - --state FILE: plan against a copy of FILE instead of the backend;
 * - --offline: no AWS at all (fake credentials, no refresh, data sources pinned as in
 *   stacks/offline.ts); with the provider mirror (TF_PLUGIN_MIRROR or the machine's).
 * A `prevent_destroy` that stops the plan is reported the same way: the scratch copy is planned
 * once more without it to name the attribute that forces the replacement.
 */
import { commandLine, UsageError } from "../lambdas/contracts/cli";
import { synthOffline } from "./offline";
import {
  TerraformSetupError,
  createScratch,
  describeSummary,
  findMirror,
  init,
  isReplace,
  plan,
  prepareWorkspace,
  runCli,
  synthesize,
  synthesizedStacks,
  terraformVersion,
  withSynthDir,
  type Mirror,
  type PlanSummary,
  type ResourceChange,
  type Workspace,
} from "./terraform";

/** Resource types whose loss loses data or breaks clients: a plan may not destroy or replace them unless allowed. */
export const STATEFUL_TYPES: Readonly<Record<string, string>> = {
  aws_db_instance: "the RDS instance (its data)",
  aws_instance: "the Asterisk host (Redis data, live calls)",
  aws_secretsmanager_secret: "a secret (clients hold its ARN)",
  aws_secretsmanager_secret_version: "a secret's value",
  random_password: "a generated password (a new one locks clients out)",
  aws_efs_file_system: "the EFS file system (the students' files)",
};

export interface GuardFinding {
  address: string;
  action: "destroy" | "replace";
  what: string;
  /** The attributes that force a replacement (replace_paths), e.g. ["username"]. */
  forcedBy: string[];
  reason?: string;
}

/** The address a stood-in resource has in the stack (terraform_data.random_password_redis -> random_password.redis). */
function stackAddress(address: string, ws: Workspace): string {
  for (const [from, to] of Object.entries(ws.standIns)) if (address === to || address.endsWith(`.${to}`)) return address.slice(0, address.length - to.length) + from;
  return address;
}

/** Every destroy or replacement of a stateful resource in a plan. */
export function statefulChanges(changes: ResourceChange[], ws: Workspace): GuardFinding[] {
  const findings: GuardFinding[] = [];
  for (const c of changes) {
    if (c.mode !== "managed" || !c.change.actions.includes("delete")) continue;
    const address = stackAddress(c.address, ws);
    const type = address.split(".")[0];
    if (!STATEFUL_TYPES[type]) continue;
    findings.push({
      address,
      action: isReplace(c.change.actions) ? "replace" : "destroy",
      what: STATEFUL_TYPES[type],
      forcedBy: (c.change.replace_paths ?? []).map((path) => path.map((p) => (typeof p === "number" ? `[${p}]` : p)).join(".").replace(/\.\[/g, "[")),
      reason: c.action_reason,
    });
  }
  return findings;
}

export function describeFinding(f: GuardFinding): string {
  const forced = f.forcedBy.length > 0 ? `, forced by ${f.forcedBy.join(", ")}` : f.reason ? ` (${f.reason})` : "";
  return `${f.action === "replace" ? "REPLACES" : "DESTROYS"} ${f.address}: ${f.what}${forced}`;
}

export interface StackPlan {
  stack: string;
  summary: PlanSummary;
  findings: GuardFinding[];
  /** Findings not allowed: the guard fails when there is any. */
  blocked: GuardFinding[];
  /** A prevent_destroy stopped Terraform's own plan (the findings come from a plan without it). */
  preventedByLifecycle: boolean;
  notes: string[];
  lines: string[];
}

export interface PlanOptions {
  /** Synthesized app (cdktf.out-like folder with manifest.json). */
  outdir: string;
  stack: string;
  /** State file to plan against; default the stack's backend. */
  state?: string;
  offline?: boolean;
  allow?: string[];
  mirror?: Mirror;
}

/** Plan one synthesized stack and apply the guard. */
export async function planStack(opts: PlanOptions): Promise<StackPlan> {
  const found = synthesizedStacks(opts.outdir).find((s) => s.name === opts.stack);
  if (!found) {
    throw new TerraformSetupError(`no such stack: ${opts.stack} (stacks: ${synthesizedStacks(opts.outdir).map((s) => s.name).join(", ")})`);
  }
  const scratch = createScratch(opts.mirror);
  try {
    const state = opts.state ?? (opts.offline ? "none" : "backend");
    const prepare = (dropPreventDestroy: boolean) =>
      prepareWorkspace(found.dir, scratch, { offline: opts.offline, state, dropPreventDestroy, subdir: dropPreventDestroy ? "without-prevent-destroy" : undefined });
    let ws = prepare(false);
    await init(ws, scratch, { backend: state === "backend" });
    let summary: PlanSummary;
    let preventedByLifecycle = false;
    try {
      summary = await plan(ws, scratch, { offline: opts.offline });
    } catch (error) {
      if (!/prevent_destroy/.test(String((error as Error).message))) throw error;
      // Terraform stops at the first prevent_destroy without saying what forces it: plan the
      // copy once more without the lifecycle flag (never applied) to name the attribute.
      preventedByLifecycle = true;
      ws = prepare(true);
      await init(ws, scratch, { backend: state === "backend" });
      summary = await plan(ws, scratch, { offline: opts.offline });
    }
    const findings = statefulChanges(summary.changes, ws);
    const blocked = findings.filter((f) => !(opts.allow ?? []).includes(f.address));
    const lines = [`${opts.stack}: ${describeSummary(summary)}`];
    const list = (label: string, pick: (c: ResourceChange) => string | undefined) => {
      const items = summary.changes.map(pick).filter((x): x is string => Boolean(x));
      if (items.length > 0) lines.push(`  ${label} (${items.length}): ${items.join(", ")}`);
    };
    list("moved", (c) => (c.previous_address && c.previous_address !== c.address ? `${stackAddress(c.previous_address, ws)} -> ${stackAddress(c.address, ws)}` : undefined));
    list("imported", (c) => (c.change.importing ? `${c.address} (${c.change.importing.id})` : undefined));
    if (opts.offline && ws.imports.length > 0) {
      const actions = new Map(summary.changes.map((c) => [c.address, c.change.actions.join("/")]));
      lines.push(`  import blocks (${ws.imports.length}, performed by the first online plan/deploy; here: the state's resource and its plan):`);
      for (const i of ws.imports) lines.push(`    ${i.to} <- ${i.id}: ${actions.get(i.to) ?? "no change"}`);
    }
    list("replaced", (c) => (isReplace(c.change.actions) ? stackAddress(c.address, ws) : undefined));
    list("destroyed", (c) => (c.change.actions.length === 1 && c.change.actions[0] === "delete" ? stackAddress(c.address, ws) : undefined));
    for (const f of findings) {
      const allowed = !blocked.includes(f);
      lines.push(`  ${allowed ? "allowed" : "BLOCKED"}: ${describeFinding(f)}${preventedByLifecycle && !allowed ? " (lifecycle.prevent_destroy stops this plan too)" : ""}`);
    }
    if (blocked.length > 0) {
      lines.push(`  the plan would lose stateful resources: change the config back, or pass --allow ${blocked.map((f) => f.address).join(" --allow ")} if that is intended`);
    }
    lines.push(...ws.notes.map((n) => `  note: ${n}`));
    return { stack: opts.stack, summary, findings, blocked, preventedByLifecycle, notes: ws.notes, lines };
  } finally {
    scratch.cleanup();
  }
}

const PLAN_USAGE = `usage: npm run plan -- STACK [--state FILE] [--offline] [--allow ADDRESS]...

A terraform plan of one stack in a scratch copy (nothing applied, no state written) that fails when it
would destroy or replace a stateful resource not allowed with --allow.

  --state FILE       plan against a copy of this state file instead of the stack's backend
  --offline          no AWS at all (fake credentials, no refresh, pinned data sources)
  --allow ADDRESS    allow this address to be destroyed or replaced (repeatable)
  -h, --help         this text`;

/** Parses plan's arguments (undefined after printing the usage for --help); throws a UsageError on bad input. */
function parsePlanArgs(argv: string[]): { stack: string; state?: string; offline: boolean; allow: string[] } | undefined {
  const parsed = commandLine(PLAN_USAGE, {
    args: argv,
    allowPositionals: true,
    options: { state: { type: "string" }, offline: { type: "boolean" }, allow: { type: "string", multiple: true } },
  });
  if (!parsed) return undefined;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one stack at a time, got ${positionals.join(", ")}` : "no stack named", PLAN_USAGE);
  return { stack: positionals[0], state: values.state, offline: values.offline ?? false, allow: values.allow ?? [] };
}

async function main(): Promise<number> {
  const args = parsePlanArgs(process.argv.slice(2));
  if (!args) return 0;
  await terraformVersion();
  let mirror: Mirror | undefined;
  try {
    mirror = findMirror();
  } catch (error) {
    if (args.offline) throw error;
  }
  return withSynthDir(async (outdir) => {
    if (args.offline) synthOffline(outdir);
    else await synthesize(outdir);
    const result = await planStack({ outdir, stack: args.stack, state: args.state, offline: args.offline, allow: args.allow, mirror });
    process.stdout.write(`${result.lines.join("\n")}\n`);
    return result.blocked.length > 0 ? 1 : 0;
  });
}

if (require.main === module) runCli(main);
