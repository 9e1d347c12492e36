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
 *   stacks/offline.ts); with the provider mirror (TF_PLUGIN_MIRROR or the machine's);
 * - --replace ADDRESS: plan it as replaced (terraform plan -replace), guarded like any replacement.
 * Findings cover every address (module.* ones of an old state too), deposed objects, resources
 * removed from the config and replace_triggered_by. An --allow the stack does not have is refused.
 * A `prevent_destroy` that stops the plan is reported the same way: the scratch copy is planned
 * once more without it to name the attribute that forces the replacement.
 */
import { commandLine, UsageError } from "../lambdas/contracts/cli";
import { refuseRepeated } from "./command-line";
import { synthOffline } from "./offline";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  PlanError,
  TerraformSetupError,
  createScratch,
  describeDiagnostic,
  describeSummary,
  findMirror,
  init,
  isReplace,
  plan,
  prepareWorkspace,
  readStateFile,
  runCli,
  synthesize,
  synthesizedStacks,
  terraformVersion,
  withSynthDir,
  type Diagnostic,
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
  /** Why Terraform plans it, in words (removed from the configuration, requested with --replace...). */
  reason?: string;
  /** The deposed key when the object is a deposed one (a replacement that did not finish). */
  deposed?: string;
  /** lifecycle.prevent_destroy stopped Terraform's own plan on this address: --allow cannot lift it. */
  preventDestroy?: boolean;
}

type Json = Record<string, any>;

/** An address with `from` (type.name, at any module, of any count/for_each instance) renamed to `to`. */
function renamed(address: string, from: string, to: string): string | undefined {
  const [, resource, key] = /^(.*?)(\[[^\]]*\])?$/.exec(address)!;
  if (resource !== from && !resource.endsWith(`.${from}`)) return undefined;
  return resource.slice(0, resource.length - from.length) + to + (key ?? "");
}

/** The address a stood-in resource has in the stack (terraform_data.random_password_redis[0] -> random_password.redis[0]). */
function stackAddress(address: string, ws: Workspace): string {
  for (const [from, to] of Object.entries(ws.standIns)) {
    const stack = renamed(address, to, from);
    if (stack) return stack;
  }
  return address;
}

/** The address Terraform knows in the scratch copy (random_password.redis -> terraform_data.random_password_redis). */
function copyAddress(address: string, ws: Workspace): string {
  for (const [from, to] of Object.entries(ws.standIns)) {
    const copy = renamed(address, from, to);
    if (copy) return copy;
  }
  return address;
}

/** A change's resource type in the stack (a stood-in random_password is one, whatever its module). */
function stackType(c: ResourceChange, ws: Workspace): string {
  const address = stackAddress(c.address, ws);
  return address === c.address ? c.type : address.replace(/\[[^\]]*\]$/, "").split(".").slice(-2)[0];
}

/** Terraform's action_reason in words; replace_triggered_by names its references from the config. */
function reasonOf(c: ResourceChange, config: Json): string | undefined {
  switch (c.action_reason) {
    case undefined:
    case "replace_because_cannot_update":
      return undefined;
    case "replace_because_tainted":
      return "tainted (a failed create or `terraform taint`)";
    case "replace_by_request":
      return "requested with --replace";
    case "replace_by_triggers": {
      const triggers = config.resource?.[c.type]?.[c.name ?? ""]?.lifecycle?.replace_triggered_by as string[] | undefined;
      return `lifecycle.replace_triggered_by${triggers?.length ? ` ${triggers.map((t) => t.replace(/^\$\{(.*)\}$/, "$1")).join(", ")}` : ""} changed`;
    }
    case "delete_because_no_resource_config":
      return "removed from the configuration";
    case "delete_because_no_module":
      return "its module is no longer in the configuration";
    case "delete_because_no_move_target":
      return "a moved block points at an address the configuration does not have";
    case "delete_because_count_index":
    case "delete_because_each_key":
    case "delete_because_wrong_repetition":
      return "its count/for_each instance is gone";
    default:
      return c.action_reason;
  }
}

/** Every destroy or replacement of a stateful resource in a plan (at any module address, deposed objects too). */
export function statefulChanges(changes: ResourceChange[], ws: Workspace, config: Json = {}): GuardFinding[] {
  const findings: GuardFinding[] = [];
  for (const c of changes) {
    if (c.mode !== "managed" || !c.change.actions.includes("delete")) continue;
    const type = stackType(c, ws);
    if (!STATEFUL_TYPES[type]) continue;
    findings.push({
      address: stackAddress(c.address, ws),
      action: isReplace(c.change.actions) ? "replace" : "destroy",
      what: STATEFUL_TYPES[type],
      forcedBy: (c.change.replace_paths ?? []).map((path) => path.map((p) => (typeof p === "number" ? `[${p}]` : p)).join(".").replace(/\.\[/g, "[")),
      reason: c.deposed ? "a deposed object: left by a replacement that did not finish" : reasonOf(c, config),
      ...(c.deposed ? { deposed: c.deposed } : {}),
    });
  }
  return findings;
}

export function describeFinding(f: GuardFinding): string {
  const why = [f.forcedBy.length > 0 ? `forced by ${f.forcedBy.join(", ")}` : undefined, f.reason].filter(Boolean).join("; ");
  return `${f.action === "replace" ? "REPLACES" : "DESTROYS"} ${f.address}${f.deposed ? ` (deposed object ${f.deposed})` : ""}: ${f.what}${why ? `, ${why}` : ""}`;
}

/** The addresses Terraform names in a prevent_destroy error ("Resource aws_db_instance.main has lifecycle.prevent_destroy set"). */
export function preventDestroyAddresses(diagnostics: Diagnostic[]): string[] {
  return diagnostics.flatMap((d) => [...`${d.summary} ${d.detail ?? ""}`.matchAll(/Resource (\S+) has lifecycle\.prevent_destroy set/g)].map((m) => m[1]));
}

/** An address as a shell argument to copy: quoted when it holds [ ] or " (for_each keys: aws_secretsmanager_secret.x["main"]). */
export function shellArg(address: string): string {
  return /^[\w.\/-]+$/.test(address) ? address : `'${address.replace(/'/g, "'\\''")}'`;
}

/** `--allow A --allow B`, ready to paste into a shell. */
const allowFlags = (addresses: string[]): string => addresses.map((a) => `--allow ${shellArg(a)}`).join(" ");

/**
 * An --allow no finding needs, in words. One that names a resource whose count/for_each instances the
 * plan loses (--allow aws_instance.asterisk for aws_instance.asterisk[0]) says which to allow instead.
 */
export function unusedAllows(allow: string[], findings: GuardFinding[]): string[] {
  return allow
    .filter((address) => !findings.some((f) => f.address === address))
    .map((address) => {
      const instances = [...new Set(findings.filter((f) => f.address.replace(/\[[^\]]*\]$/, "") === address).map((f) => f.address))];
      return instances.length > 0
        ? `--allow ${address}: allows no instance; this plan loses ${instances.join(", ")}: pass ${allowFlags(instances)} if that is intended`
        : `--allow ${address}: this plan neither destroys nor replaces it (nothing to allow)`;
    });
}

export interface StackPlan {
  stack: string;
  summary: PlanSummary;
  findings: GuardFinding[];
  /** Findings not allowed: the guard fails when there is any. */
  blocked: GuardFinding[];
  /** A prevent_destroy stopped Terraform's own plan (the findings come from a plan without it). */
  preventedByLifecycle: boolean;
  /** Terraform's own errors when a prevent_destroy stopped its plan, as lines. */
  terraformErrors: string[];
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
  /** Plan these addresses as replaced (terraform plan -replace). */
  replace?: string[];
  mirror?: Mirror;
}

/** The addresses a stack's config declares (type.name) and its moved blocks come from. */
function configAddresses(config: Json): string[] {
  const declared = Object.entries((config.resource ?? {}) as Record<string, Json>).flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`));
  return [...declared, ...((config.moved ?? []) as { from: string }[]).map((m) => m.from)];
}

function stateAddresses(state: Json): string[] {
  return ((state.resources ?? []) as Json[]).filter((r) => r.mode !== "data").map((r) => `${r.module ? `${r.module}.` : ""}${r.type}.${r.name}`);
}

/**
 * A --state file that cannot be this stack's: it holds resources, none at an address of the stack
 * (or a moved block's source), or its resources carry another Environment tag than the stack's.
 */
export function checkStateBelongs(stack: string, config: Json, state: Json, path: string): void {
  const inState = stateAddresses(state);
  if (inState.length === 0) return;
  const known = new Set(configAddresses(config));
  if (!inState.some((a) => known.has(a))) {
    // The old modules called with count/for_each (module.data[0]): the moved blocks name module.data.
    const unkeyed = (a: string) => a.replace(/(module\.[^.[]+)\[[^\]]*\]/g, "$1");
    const keyed = [...new Set(inState.filter((a) => a !== unkeyed(a) && known.has(unkeyed(a))).map((a) => /^(.*module\.[^.[]+\[[^\]]*\])\./.exec(a)![1]))].sort();
    if (keyed.length > 0) {
      const moves = keyed.map((m) => `terraform state mv ${shellArg(m)} ${unkeyed(m)}`).join("; ");
      throw new TerraformSetupError(
        `--state ${path}: its resources are at ${keyed.join(", ")} (the old modules had count or for_each), ${stack}'s moved blocks move ${keyed.map((m) => `${unkeyed(m)}.*`).join(", ")}: in a copy of the state run ${moves}, then plan against that copy`,
      );
    }
    throw new TerraformSetupError(
      `--state ${path}: holds none of ${stack}'s resources (it holds ${inState.slice(0, 3).join(", ")}${inState.length > 3 ? `, ... ${inState.length} in all` : ""}): another stack's state?`,
    );
  }
  const environment = config.provider?.aws?.[0]?.default_tags?.[0]?.tags?.Environment as string | undefined;
  const tagged = new Set(
    ((state.resources ?? []) as Json[]).flatMap((r) => ((r.instances ?? []) as Json[]).map((i) => i.attributes?.tags_all?.Environment).filter((e): e is string => typeof e === "string")),
  );
  if (environment && tagged.size > 0 && !tagged.has(environment)) {
    throw new TerraformSetupError(`--state ${path}: its resources are tagged Environment=${[...tagged].join(", ")}, ${stack} is Environment=${environment}: another environment's state?`);
  }
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = up;
    }
  }
  return row[b.length];
}

/** An address given on the command line that the stack does not have: refused, with the nearest one. */
function checkAddresses(option: string, given: string[], known: string[], stack: string): void {
  const all = new Set(known.flatMap((a) => [a, a.replace(/\[[^\]]*\]$/, "")]));
  for (const address of given) {
    if (all.has(address)) continue;
    const nearest = [...all].sort((x, y) => distance(address, x) - distance(address, y))[0];
    const hint = nearest && distance(address, nearest) <= Math.max(3, address.length / 4) ? ` (did you mean ${nearest}?)` : "";
    throw new TerraformSetupError(`${option} ${address}: ${stack} has no such address, in its configuration or state${hint}`);
  }
}

/** Plan one synthesized stack and apply the guard. */
export async function planStack(opts: PlanOptions): Promise<StackPlan> {
  const found = synthesizedStacks(opts.outdir).find((s) => s.name === opts.stack);
  if (!found) {
    throw new TerraformSetupError(`no such stack: ${opts.stack} (stacks: ${synthesizedStacks(opts.outdir).map((s) => s.name).join(", ")})`);
  }
  const config = JSON.parse(readFileSync(join(found.dir, "cdk.tf.json"), "utf8")) as Json;
  const given = opts.state ? readStateFile(opts.state).state : undefined;
  if (given) checkStateBelongs(opts.stack, config, given, opts.state!);
  checkAddresses("--replace", opts.replace ?? [], configAddresses(config), opts.stack);
  // With a state file every address is known before Terraform runs; with the backend, after its plan.
  if (given) checkAddresses("--allow", opts.allow ?? [], [...configAddresses(config), ...stateAddresses(given)], opts.stack);
  const scratch = createScratch(opts.mirror);
  try {
    const state = opts.state ?? (opts.offline ? "none" : "backend");
    const prepare = (dropPreventDestroy: boolean) =>
      prepareWorkspace(found.dir, scratch, { offline: opts.offline, state, dropPreventDestroy, subdir: dropPreventDestroy ? "without-prevent-destroy" : undefined });
    let ws = prepare(false);
    const run = { offline: opts.offline, replace: (opts.replace ?? []).map((a) => copyAddress(a, ws)) };
    await init(ws, scratch, { backend: state === "backend" });
    let summary: PlanSummary;
    let protectedAddresses: string[] = [];
    let terraformErrors: string[] = [];
    try {
      summary = await plan(ws, scratch, run);
    } catch (error) {
      protectedAddresses = error instanceof PlanError ? preventDestroyAddresses(error.diagnostics).map((a) => stackAddress(a, ws)) : [];
      if (protectedAddresses.length === 0) throw error;
      // Terraform stops at the first prevent_destroy without saying what forces it: plan the
      // copy once more without the lifecycle flag (never applied) to name the attribute.
      terraformErrors = (error as PlanError).diagnostics.map((d) => `terraform: ${describeDiagnostic(d)}`);
      ws = prepare(true);
      await init(ws, scratch, { backend: state === "backend" });
      summary = await plan(ws, scratch, run);
    }
    const preventedByLifecycle = protectedAddresses.length > 0;
    const findings = statefulChanges(summary.changes, ws, config);
    for (const address of protectedAddresses) {
      // prevent_destroy on a type the guard does not list: still a stop.
      if (findings.some((f) => f.address === address && !f.deposed)) continue;
      const c = summary.changes.find((x) => stackAddress(x.address, ws) === address);
      findings.push({ address, action: c && isReplace(c.change.actions) ? "replace" : "destroy", what: "protected by lifecycle.prevent_destroy", forcedBy: [] });
    }
    // Terraform names only the prevent_destroy errors it met before stopping: the config says the rest.
    const protects = (address: string) => {
      const [type, name] = address.replace(/\[[^\]]*\]$/, "").split(".");
      return protectedAddresses.includes(address) || config.resource?.[type]?.[name]?.lifecycle?.prevent_destroy === true;
    };
    for (const f of findings) if (!f.deposed && protects(f.address)) f.preventDestroy = true;
    const allow = opts.allow ?? [];
    checkAddresses("--allow", allow, [...configAddresses(config), ...summary.addresses.map((a) => stackAddress(a, ws))], opts.stack);
    const blocked = findings.filter((f) => f.preventDestroy || !allow.includes(f.address));
    const lines = [`${opts.stack}: ${describeSummary(summary)}`];
    const list = (label: string, pick: (c: ResourceChange) => string | undefined) => {
      const items = summary.changes.map(pick).filter((x): x is string => Boolean(x));
      if (items.length > 0) lines.push(`  ${label} (${items.length}): ${items.join(", ")}`);
    };
    list("moved", (c) => (!c.deposed && c.previous_address && c.previous_address !== c.address ? `${stackAddress(c.previous_address, ws)} -> ${stackAddress(c.address, ws)}` : undefined));
    list("imported", (c) => (c.change.importing ? `${c.address} (${c.change.importing.id})` : undefined));
    if (opts.offline && ws.imports.length > 0) {
      const actions = new Map(summary.changes.map((c) => [c.address, c.change.actions.join("/")]));
      lines.push(`  import blocks (${ws.imports.length}, performed by the first online plan/deploy; here: the state's resource and its plan):`);
      for (const i of ws.imports) lines.push(`    ${i.to} <- ${i.id}: ${actions.get(i.to) ?? "no change"}`);
    }
    list("replaced", (c) => (isReplace(c.change.actions) ? stackAddress(c.address, ws) : undefined));
    list("destroyed", (c) => (c.change.actions.length === 1 && c.change.actions[0] === "delete" ? `${stackAddress(c.address, ws)}${c.deposed ? ` (deposed ${c.deposed})` : ""}` : undefined));
    lines.push(...terraformErrors.map((e) => `  ${e}`));
    // Terraform's warnings come through as they are (a moved block that could not move, say).
    const warnings = [...new Set(summary.diagnostics.filter((d) => d.severity === "warning").map((d) => `  terraform: ${describeDiagnostic(d)}`))];
    lines.push(...warnings);
    for (const f of findings) {
      const allowed = !blocked.includes(f);
      lines.push(`  ${allowed ? "allowed" : "BLOCKED"}: ${describeFinding(f)}${f.preventDestroy ? " (lifecycle.prevent_destroy stops this plan too)" : ""}`);
    }
    lines.push(...unusedAllows(allow, findings).map((w) => `  warning: ${w}`));
    const lifted = blocked.filter((f) => f.preventDestroy && allow.includes(f.address));
    if (lifted.length > 0) {
      lines.push(
        `  --allow does not lift lifecycle.prevent_destroy (${lifted.map((f) => f.address).join(", ")}): Terraform refuses the deploy; set the environment's protection.preventDestroy to false for this one deploy if the loss is intended`,
      );
    }
    const allowable = blocked.filter((f) => !f.preventDestroy);
    if (allowable.length > 0) {
      lines.push(`  the plan would lose stateful resources: change the config back, or pass ${allowFlags([...new Set(allowable.map((f) => f.address))])} if that is intended`);
    } else if (blocked.length > 0 && lifted.length === 0) {
      const protectedOnes = [...new Set(blocked.map((f) => f.address))];
      lines.push(
        `  the plan would lose stateful resources that lifecycle.prevent_destroy protects: change the config back, or, if the loss is intended, set the environment's protection.preventDestroy to false for one deploy and pass ${allowFlags(protectedOnes)}`,
      );
    }
    lines.push(...ws.notes.map((n) => `  note: ${n}`));
    return { stack: opts.stack, summary, findings, blocked, preventedByLifecycle, terraformErrors, notes: ws.notes, lines };
  } finally {
    scratch.cleanup();
  }
}

const PLAN_USAGE = `usage: npm run plan -- STACK [--state FILE] [--offline] [--allow ADDRESS]... [--replace ADDRESS]...

A terraform plan of one stack in a scratch copy (nothing applied, no state written) that fails when it
would destroy or replace a stateful resource not allowed with --allow.

  --state FILE       plan against a copy of this state file instead of the stack's backend
  --offline          no AWS at all (fake credentials, no refresh, pinned data sources)
  --allow ADDRESS    allow this address to be destroyed or replaced (repeatable; an address the
                     stack does not have is refused; prevent_destroy is not lifted)
  --replace ADDRESS  plan this address as replaced (terraform plan -replace; repeatable)
  -h, --help         this text`;

/** Parses plan's arguments (undefined after printing the usage for --help); throws a UsageError on bad input. */
export function parsePlanArgs(argv: string[]): { stack: string; state?: string; offline: boolean; allow: string[]; replace: string[] } | undefined {
  const config = {
    args: argv,
    allowPositionals: true,
    options: { state: { type: "string" }, offline: { type: "boolean" }, allow: { type: "string", multiple: true }, replace: { type: "string", multiple: true } },
  } as const;
  const parsed = commandLine(PLAN_USAGE, config);
  if (!parsed) return undefined;
  refuseRepeated(config, PLAN_USAGE);
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one stack at a time, got ${positionals.join(", ")}` : "no stack named", PLAN_USAGE);
  return { stack: positionals[0], state: values.state, offline: values.offline ?? false, allow: values.allow ?? [], replace: values.replace ?? [] };
}

async function main(): Promise<number> {
  const args = parsePlanArgs(process.argv.slice(2));
  if (!args) return 0;
  await terraformVersion();
  let mirror: Mirror | undefined;
  try {
    mirror = findMirror();
  } catch (error) {
    // Online, Terraform may install from the registry instead; a mirror that was asked for must exist.
    if (args.offline || process.env.TF_PLUGIN_MIRROR) throw error;
  }
  if (args.state) readStateFile(args.state);
  return withSynthDir(async (outdir) => {
    if (args.offline) synthOffline(outdir);
    else await synthesize(outdir);
    const result = await planStack({ outdir, stack: args.stack, state: args.state, offline: args.offline, allow: args.allow, replace: args.replace, mirror });
    process.stdout.write(`${result.lines.join("\n")}\n`);
    return result.blocked.length > 0 ? 1 : 0;
  });
}

if (require.main === module) runCli(main);
