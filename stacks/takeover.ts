/**
 * State fixtures for offline plans: a Terraform state as an earlier deploy would have written it.
 *
 * `npx tsx stacks/takeover.ts STACK OUT.tfstate [--old-modules] [--env FILE]` synthesizes the
 * app, plans STACK against an empty state with the real provider, and turns the planned values
 * into state, giving every value AWS would assign (ids, ARNs, endpoints) a placeholder of the
 * type the provider schema says; a few more plans against that state fill in what depends on
 * those placeholders, until the plan is clean. With --old-modules each resource that a `moved`
 * block maps is written at its old address (module.data.*, module.compute.*), as the HCL
 * modules kept it, and stood-in random_password resources are written back as the random
 * provider stores them. The fixture is generated once and committed (__tests__/fixtures/).
 */
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, type Scratch, type Workspace } from "./terraform";

type Json = Record<string, any>;

/** A Terraform type expression from `terraform providers schema -json`. */
type TfType = string | [string, any];

/** The attribute types and versions of every resource type, from the provider schema. */
export interface ResourceSchemas {
  [type: string]: { version: number; block: Json };
}

export async function providerSchemas(ws: Workspace, scratch: Scratch): Promise<ResourceSchemas> {
  const { code, stdout, stderr } = await run("terraform", ["providers", "schema", "-json"], { cwd: ws.dir, env: scratch.env, timeoutMs: 180_000 });
  if (code !== 0) throw new Error(`terraform providers schema failed: ${stderr}`);
  const schemas = JSON.parse(stdout).provider_schemas as Record<string, { resource_schemas: ResourceSchemas }>;
  return Object.assign({}, ...Object.values(schemas).map((p) => p.resource_schemas));
}

/** The builtin terraform_data resource (not in any provider's schema). */
const TERRAFORM_DATA: ResourceSchemas[string] = {
  version: 0,
  block: { attributes: { id: { type: "string" }, input: { type: "dynamic" }, output: { type: "dynamic" }, triggers_replace: { type: "dynamic" } } },
};

let serial = 0;
/** Names whose value others reference (ids, ARNs, names, endpoints): a distinct placeholder; other strings stay empty. */
const REFERENCED = /(^|_)(id|ids|arn|name|endpoint|address|dns_name|url|zone_id|suffix|key)$/;

/** A value AWS would have assigned, of the right type. */
function placeholder(type: TfType, name: string, address: string): unknown {
  if (type === "string") {
    serial++;
    if (name === "arn" || name.endsWith("_arn")) return `arn:aws:fixture:us-east-1:123456789012:${address}/${name}`;
    if (name === "id") return `fixture-${address.replace(/[^a-z0-9]+/gi, "-")}`;
    return REFERENCED.test(name) ? `fixture-${name}-${serial}` : "";
  }
  if (type === "number") return 0;
  if (type === "bool") return false;
  if (type === "dynamic") return null;
  const [kind, inner] = type as [string, any];
  if (kind === "map") return {};
  if (kind === "object") return Object.fromEntries(Object.entries(inner as Record<string, TfType>).map(([k, t]) => [k, placeholder(t, k, address)]));
  // A computed list of objects (aws_db_instance.master_user_secret) is referenced by index: one element.
  if (Array.isArray(inner) && inner[0] === "object") return [placeholder(inner as TfType, name, address)];
  return [];
}

/** Fill the unknowns (after_unknown) of a value of a Terraform type. */
function fillTyped(value: any, unknown: any, type: TfType, name: string, address: string): any {
  if (unknown === true) return placeholder(type, name, address);
  if (!unknown || typeof type === "string") return value;
  const [kind, inner] = type;
  if (kind === "list" || kind === "set") {
    return (Array.isArray(value) ? value : []).map((v: any, i: number) => fillTyped(v, Array.isArray(unknown) ? unknown[i] : undefined, inner, name, address));
  }
  if (kind === "map") return Object.fromEntries(Object.entries(value ?? {}).map(([k, v]) => [k, fillTyped(v, unknown[k], inner, k, address)]));
  if (kind === "object") {
    const out: Json = { ...(value ?? {}) };
    for (const [k, t] of Object.entries(inner as Record<string, TfType>)) out[k] = fillTyped(out[k], unknown[k], t, k, address);
    return out;
  }
  return value;
}

/** Fill the unknowns of a planned resource (or nested block) with placeholders of their schema type. */
function fill(value: any, unknown: any, block: Json, address: string): any {
  const out: Json = { ...(value ?? {}) };
  for (const [name, attribute] of Object.entries((block.attributes ?? {}) as Record<string, Json>)) {
    out[name] = fillTyped(out[name], unknown?.[name], attribute.type, name, address);
  }
  for (const [name, nested] of Object.entries((block.block_types ?? {}) as Record<string, Json>)) {
    const u = unknown?.[name];
    if (u === true) out[name] = nested.nesting_mode === "single" || nested.nesting_mode === "group" ? fill({}, true, nested.block, address) : [];
    else if (!u) continue;
    else if (nested.nesting_mode === "single" || nested.nesting_mode === "group") out[name] = out[name] ? fill(out[name], u, nested.block, address) : out[name];
    else out[name] = (Array.isArray(out[name]) ? out[name] : []).map((e: any, i: number) => fill(e, Array.isArray(u) ? u[i] : undefined, nested.block, address));
  }
  return out;
}

/** Every attribute of the schema present (null when absent), as Terraform writes state. */
function complete(attributes: Json, block: Json): Json {
  const out: Json = {};
  for (const name of Object.keys(block.attributes ?? {})) out[name] = attributes[name] ?? null;
  for (const [name, nested] of Object.entries((block.block_types ?? {}) as Record<string, Json>)) {
    const v = attributes[name];
    if (nested.nesting_mode === "single" || nested.nesting_mode === "group") out[name] = v ? complete(v, nested.block) : null;
    else out[name] = Array.isArray(v) ? v.map((e) => complete(e, nested.block)) : [];
  }
  return out;
}

interface Instance {
  type: string;
  name: string;
  index?: number | string;
  attributes: Json;
  /** State's sensitive_attributes: the paths the plan marks sensitive (after_sensitive). */
  sensitive?: Json[][];
}

/** after_sensitive ({ secret_string: true }) as state paths ([[{ type: "get_attr", value: "secret_string" }]]). */
function sensitivePaths(marks: any, path: Json[] = []): Json[][] {
  if (marks === true) return [path];
  if (Array.isArray(marks)) return marks.flatMap((m, i) => sensitivePaths(m, [...path, { type: "index", value: { value: i, type: "number" } }]));
  if (marks && typeof marks === "object") return Object.entries(marks).flatMap(([k, m]) => sensitivePaths(m, [...path, { type: "get_attr", value: k }]));
  return [];
}

function key(i: Pick<Instance, "type" | "name" | "index">): string {
  return `${i.type}.${i.name}${i.index === undefined ? "" : `[${JSON.stringify(i.index)}]`}`;
}

/** A state file (format 4) holding the instances at the root module or at the given module. */
export function stateFile(instances: Instance[], schemas: ResourceSchemas, moduleOf: (i: Instance) => string | undefined = () => undefined): Json {
  const groups = new Map<string, Json>();
  for (const i of instances) {
    const module = moduleOf(i);
    const group = `${module ?? ""}/${i.type}.${i.name}`;
    const schema = i.type === "terraform_data" ? TERRAFORM_DATA : schemas[i.type];
    if (!groups.has(group)) {
      groups.set(group, {
        ...(module ? { module } : {}),
        mode: "managed",
        type: i.type,
        name: i.name,
        provider: i.type === "terraform_data" ? 'provider["terraform.io/builtin/terraform"]' : 'provider["registry.terraform.io/hashicorp/aws"]',
        instances: [],
      });
    }
    const attributes =
      i.type === "terraform_data"
        ? { ...i.attributes, input: dynamic(i.attributes.input), output: dynamic(i.attributes.output), triggers_replace: null }
        : i.attributes;
    groups.get(group)!.instances.push({
      ...(i.index === undefined ? {} : { index_key: i.index }),
      schema_version: schema.version,
      attributes,
      sensitive_attributes: i.sensitive ?? [],
    });
  }
  return { version: 4, terraform_version: "1.11.4", serial: 1, lineage: randomUUID(), outputs: {}, resources: [...groups.values()], check_results: null };
}

/** A dynamic attribute as state stores it. */
function dynamic(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "object" && v !== null && "type" in v && "value" in v) return v;
  return { value: v, type: "string" };
}

/** Plan, take what it would create as state, and repeat until the plan against it is clean. */
export async function generateState(
  ws: Workspace,
  scratch: Scratch,
  plan: (ws: Workspace) => Promise<Json>,
  opts: { rounds?: number } = {},
): Promise<{ instances: Instance[]; schemas: ResourceSchemas }> {
  const schemas = await providerSchemas(ws, scratch);
  const byKey = new Map<string, Instance>();
  for (let round = 0; round < (opts.rounds ?? 8); round++) {
    const shown = await plan(ws);
    let pending = 0;
    for (const change of (shown.resource_changes ?? []) as Json[]) {
      if (change.mode !== "managed") continue;
      const actions = change.change.actions as string[];
      if (actions.length === 1 && actions[0] === "no-op") continue;
      pending++;
      if (process.env.TAKEOVER_DEBUG) {
        const before = change.change.before ?? {};
        const after = change.change.after ?? {};
        const keys = Object.keys({ ...before, ...after }).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]) || change.change.after_unknown?.[k]);
        process.stderr.write(`round ${round}: ${actions.join("/")} ${change.address} ${keys.join(",")} ${JSON.stringify(change.change.replace_paths ?? [])}\n`);
      }
      const schema = change.type === "terraform_data" ? TERRAFORM_DATA : schemas[change.type];
      const prior = byKey.get(key({ type: change.type, name: change.name, index: change.index }))?.attributes ?? {};
      // Known planned values win; what stays unknown keeps its placeholder from an earlier round.
      const after = fill(change.change.after ?? {}, change.change.after_unknown ?? {}, schema.block, change.address);
      if (change.type === "terraform_data") after.input = change.change.after?.input ?? after.input;
      const merged = mergeKnown(prior, after, change.change.after_unknown ?? {});
      if (change.type === "terraform_data") merged.output = merged.input;
      byKey.set(key({ type: change.type, name: change.name, index: change.index }), {
        type: change.type,
        name: change.name,
        index: change.index,
        attributes: complete(merged, schema.block),
        sensitive: sensitivePaths(change.change.after_sensitive),
      });
    }
    if (pending === 0) return { instances: [...byKey.values()], schemas };
    writeFileSync(join(ws.dir, "terraform.tfstate"), JSON.stringify(stateFile([...byKey.values()], schemas), null, 2));
  }
  throw new Error(`${ws.stack}: the generated state still plans changes after ${opts.rounds ?? 8} rounds`);
}

function mergeKnown(prior: Json, after: Json, unknown: any): Json {
  if (unknown === true) return prior ?? after;
  const out: Json = { ...after };
  for (const [k, u] of Object.entries((unknown ?? {}) as Json)) {
    if (u === true && prior[k] !== undefined && prior[k] !== null) out[k] = prior[k];
  }
  return out;
}

/** random_password as the random provider (3.x) stores it: the stand-in's value as its result. */
export function randomPasswordState(name: string, result: string, length = 32): Json {
  return {
    mode: "managed",
    type: "random_password",
    name,
    provider: 'provider["registry.terraform.io/hashicorp/random"]',
    instances: [
      {
        schema_version: 3,
        attributes: {
          bcrypt_hash: `$2a$10$fixture.bcrypt.hash.of.${name}.xxxxxxxxxxxxxxxxxxxx`,
          id: "none",
          keepers: null,
          length,
          lower: true,
          min_lower: 0,
          min_numeric: 0,
          min_special: 0,
          min_upper: 0,
          number: true,
          numeric: true,
          override_special: null,
          result,
          special: false,
          upper: true,
        },
        sensitive_attributes: [[{ type: "get_attr", value: "result" }], [{ type: "get_attr", value: "bcrypt_hash" }]],
      },
    ],
  };
}

/** The moved blocks of a synthesized stack: new address -> old address. */
export function movedSources(cdkTfJson: string): Map<string, string> {
  const moved = ((JSON.parse(readFileSync(cdkTfJson, "utf8")) as Json).moved ?? []) as { from: string; to: string }[];
  return new Map(moved.map((m) => [m.to, m.from]));
}

/** Write a state fixture for one stack of an app (see the file comment). */
export async function writeStateFixture(opts: { stackDir: string; out: string; oldModules: boolean; onlyImported?: boolean; scratch: Scratch }): Promise<void> {
  const { prepareWorkspace, init, planJson } = await import("./terraform");
  // Generation only: later rounds may plan replacements that prevent_destroy would stop.
  const ws = prepareWorkspace(opts.stackDir, opts.scratch, { offline: true, dropPreventDestroy: true });
  await init(ws, opts.scratch);
  const { instances, schemas } = await generateState(ws, opts.scratch, async (w) => (await planJson(w, opts.scratch, { offline: true })).shown);
  const moved = opts.oldModules ? movedSources(join(opts.stackDir, "cdk.tf.json")) : new Map<string, string>();
  const original = new Map(Object.entries(ws.standIns).map(([from, to]) => [to, from]));
  const moduleOf = (address: string) => moved.get(address)?.replace(/^(module\.[^.]+)\..*$/, "$1");
  // The old modules' resources only (each at its old address): the rest is new to the old state.
  // With onlyImported: what the stack's import blocks adopt (the running system), nothing else.
  const imported = new Set((((JSON.parse(readFileSync(join(opts.stackDir, "cdk.tf.json"), "utf8")) as Json).import ?? []) as { to: string }[]).map((b) => b.to));
  const kept = instances
    .filter((i) => !opts.oldModules || moduleOf(original.get(`${i.type}.${i.name}`) ?? `${i.type}.${i.name}`))
    .filter((i) => !opts.onlyImported || imported.has(key(i)));
  const state = stateFile(
    kept.filter((i) => !original.has(`${i.type}.${i.name}`)),
    schemas,
    (i) => moduleOf(`${i.type}.${i.name}`),
  );
  for (const i of kept) {
    const from = original.get(`${i.type}.${i.name}`);
    if (!from) continue;
    const [, name] = from.split(".");
    const module = moduleOf(from);
    state.resources.push({ ...(module ? { module } : {}), ...randomPasswordState(name, i.attributes.input) });
  }
  writeFileSync(opts.out, `${JSON.stringify(state, null, 2)}\n`);
}

async function main(): Promise<void> {
  const [stack, out] = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  if (!stack || !out) throw new Error("usage: npx tsx stacks/takeover.ts STACK OUT.tfstate [--old-modules | --running-system]");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { createScratch, findMirror, synthesizedStacks } = await import("./terraform");
  const { synthOffline } = await import("./offline");
  const outdir = mkdtempSync(join(tmpdir(), "campaign-infra-synth-"));
  const scratch = createScratch(findMirror());
  const running = process.argv.includes("--running-system");
  try {
    if (running) {
      // The PythonIDE production system as seed 004 runs it: 2 vCPU / 8 GB tasks.
      const { pythonide } = await import("./pythonide-environments");
      synthOffline(outdir, { pythonide: { ...pythonide, production: { ...pythonide.production, cpu: 2048, memoryMiB: 8192 } } });
    } else synthOffline(outdir);
    const dir = synthesizedStacks(outdir).find((s) => s.name === stack)?.dir;
    if (!dir) throw new Error(`no such stack: ${stack}`);
    await writeStateFixture({ stackDir: dir, out, oldModules: process.argv.includes("--old-modules"), onlyImported: running, scratch });
    process.stdout.write(`${out}: state of ${stack}${process.argv.includes("--old-modules") ? " at the HCL modules' addresses" : ""}\n`);
  } finally {
    scratch.cleanup();
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
