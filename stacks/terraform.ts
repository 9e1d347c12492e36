/**
 * Terraform itself reads the synthesized stacks: `npm run validate` and `npm run plan` (and the
 * tests) run the real `terraform` binary with the real AWS provider from a filesystem mirror, in a
 * scratch copy of each stack, never in cdktf.out. What the copy changes is said in its `notes`:
 * the provider version rewritten to the mirror's, a stand-in for a provider the mirror lacks
 * (random), the backend replaced by a local state file.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type Dirent, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { notAFile } from "./command-line";

/** Terraform or the provider mirror is missing, or an input file is unusable: what to do, in one message. */
export class TerraformSetupError extends Error {}

/** `terraform plan` failed: its error diagnostics (a prevent_destroy among them, say). */
export class PlanError extends Error {
  constructor(
    message: string,
    readonly diagnostics: Diagnostic[],
  ) {
    super(message);
  }
}

/** The state format versions Terraform 1.x reads (it upgrades 3 to 4 itself). */
const STATE_FORMATS = [3, 4];
/** The format the guard's own checks read (resources with module, type, name, instances). */
const GUARD_FORMAT = 4;

/**
 * A state file given with --state, read and checked before Terraform sees it: readable, JSON, a
 * Terraform state of a format this Terraform reads. Throws a TerraformSetupError naming the file.
 */
export function readStateFile(path: string): { text: string; state: Record<string, any> } {
  const special = notAFile(path);
  if (special) throw new TerraformSetupError(`--state ${path}: ${special}`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new TerraformSetupError(`--state ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (error) {
    throw new TerraformSetupError(`--state ${path}: not a Terraform state (not JSON: ${(error as Error).message.split("\n")[0]})`);
  }
  const s = state as Record<string, any>;
  if (!s || typeof s !== "object" || Array.isArray(s) || typeof s.version !== "number" || (s.resources !== undefined && !Array.isArray(s.resources))) {
    throw new TerraformSetupError(`--state ${path}: not a Terraform state (no "version" number and "resources" list)`);
  }
  const writtenBy = s.terraform_version ? ` (written by Terraform ${s.terraform_version})` : "";
  if (!STATE_FORMATS.includes(s.version)) {
    throw new TerraformSetupError(
      `--state ${path}: state format version ${s.version}${writtenBy}; this Terraform reads versions ${STATE_FORMATS.join(" and ")}: plan with the Terraform that wrote it`,
    );
  }
  if (s.version < GUARD_FORMAT) {
    // Its modules/resources layout (and legacy "-/aws" providers) are not what the checks here read.
    throw new TerraformSetupError(
      `--state ${path}: state format version ${s.version}${writtenBy}, a Terraform 0.11 state; the guard reads format ${GUARD_FORMAT}: upgrade it first (an apply with Terraform 0.12, then 0.13's terraform state replace-provider) and plan against the state that writes`,
    );
  }
  const bad = (s.resources ?? []).findIndex((r: unknown) => !r || typeof r !== "object" || typeof (r as Record<string, unknown>).type !== "string" || typeof (r as Record<string, unknown>).name !== "string");
  if (bad >= 0) throw new TerraformSetupError(`--state ${path}: not a Terraform state (resources[${bad}] is not a resource with a type and a name)`);
  return { text, state: s };
}

/**
 * Where a provider mirror is looked for, in this order: where this project's machine images put one,
 * then the implied local mirror directories Terraform itself searches on Linux
 * (~/.terraform.d/plugins, $XDG_DATA_HOME/terraform/plugins, each $XDG_DATA_DIRS/terraform/plugins).
 */
export function mirrorCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  const dataHome = env.XDG_DATA_HOME || join(home, ".local", "share");
  const dataDirs = (env.XDG_DATA_DIRS || "/usr/local/share:/usr/share").split(":").filter(Boolean);
  return [...new Set(["/opt/tf-plugins", join(home, ".terraform.d", "plugins"), join(dataHome, "terraform", "plugins"), ...dataDirs.map((d) => join(d, "terraform", "plugins"))])];
}

/** Folders searched (a few levels down) for a mirror none of the candidates holds. */
export const MIRROR_SEARCH_ROOTS = ["/opt", "/usr/local", "/usr/share", "/usr/lib", "/srv", "/var/lib", "/var/cache"];
const MIRROR_SEARCH_DEPTH = 4;
const MIRROR_SEARCH_MAX_DIRS = 50_000;

/** This machine's platform in Terraform's naming (linux_amd64, linux_arm64, darwin_arm64, ...). */
export const PLATFORM = `${process.platform}_${({ x64: "amd64", ia32: "386" } as Record<string, string>)[process.arch] ?? process.arch}`;

/** The providers the stacks use, as `registry.terraform.io/<namespace>/<type>`. */
const REGISTRY = "registry.terraform.io";

export interface Mirror {
  /** The mirror's root (the folder holding registry.terraform.io/). */
  readonly path: string;
  /** Versions per provider, e.g. { "hashicorp/aws": ["5.100.0"] }. */
  readonly providers: Record<string, string[]>;
}

/** The provider versions a mirror holds (unpacked layout: host/namespace/type/version/os_arch/). */
export function readMirror(path: string): Mirror {
  const providers: Record<string, string[]> = {};
  const host = join(path, REGISTRY);
  if (!existsSync(host)) return { path, providers };
  for (const namespace of readdirSync(host)) {
    for (const type of safeList(join(host, namespace))) {
      const versions = safeList(join(host, namespace, type)).filter((v) => existsSync(join(host, namespace, type, v, PLATFORM)));
      if (versions.length > 0) providers[`${namespace}/${type}`] = versions.sort(compareVersions);
    }
  }
  return { path, providers };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/**
 * The provider mirror: TF_PLUGIN_MIRROR, else the first of mirrorCandidates() that holds hashicorp/aws,
 * else one found below MIRROR_SEARCH_ROOTS (and HOME) in the unpacked layout. Throws a
 * TerraformSetupError naming what was searched.
 */
export function findMirror(
  env: NodeJS.ProcessEnv = process.env,
  where: { candidates?: string[]; searchRoots?: string[] } = {},
): Mirror {
  const configured = env.TF_PLUGIN_MIRROR;
  if (configured) {
    const mirror = readMirror(resolve(configured));
    if (!mirror.providers["hashicorp/aws"]) {
      throw new TerraformSetupError(
        `TF_PLUGIN_MIRROR=${configured} holds no ${REGISTRY}/hashicorp/aws/<version>/${PLATFORM}/ provider: point it at a filesystem mirror (the folder that contains ${REGISTRY}/)`,
      );
    }
    return mirror;
  }
  const candidates = where.candidates ?? mirrorCandidates(env);
  const searchRoots = where.searchRoots ?? [...MIRROR_SEARCH_ROOTS, env.HOME || homedir()];
  for (const candidate of candidates) {
    const mirror = readMirror(candidate);
    if (mirror.providers["hashicorp/aws"]) return mirror;
  }
  const found = searchMirror(searchRoots);
  if (found) return found;
  throw new TerraformSetupError(
    `No Terraform provider mirror with hashicorp/aws: set TF_PLUGIN_MIRROR to a filesystem mirror (the folder that contains ${REGISTRY}/; looked in ${candidates.join(", ")} and ${MIRROR_SEARCH_DEPTH} levels below ${searchRoots.join(", ")})`,
  );
}

/** Breadth-first, a few levels down, for a `registry.terraform.io` folder holding hashicorp/aws; symlinks not followed. */
function searchMirror(roots: string[]): Mirror | undefined {
  let level = roots.filter((r) => existsSync(r));
  let visited = 0;
  for (let depth = 0; depth <= MIRROR_SEARCH_DEPTH && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const entry of entries) {
        if (!entry.isDirectory() || entry.name === "node_modules" || entry.name.startsWith(".")) continue;
        if (entry.name === REGISTRY) {
          const mirror = readMirror(dir);
          if (mirror.providers["hashicorp/aws"]) return mirror;
        } else if (++visited <= MIRROR_SEARCH_MAX_DIRS) next.push(join(dir, entry.name));
      }
    }
    level = next;
  }
  return undefined;
}

/** Run a program; resolves with its output whatever the exit code, rejects only if it cannot start or times out. */
export function run(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  return new Promise((done, fail) => {
    // detached: its own process group, so only runCli's one SIGINT reaches it (see there).
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on("data", (d: Buffer) => stdout.push(d));
    child.stderr!.on("data", (d: Buffer) => stderr.push(d));
    let timedOut = false;
    const timer = setTimeout(() => ((timedOut = true), child.kill("SIGKILL")), timeoutMs);
    let settled = false;
    const settle = (then: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      running.delete(child);
      then();
    };
    child.on("error", (error) => settle(() => fail(error)));
    child.on("close", (code) =>
      settle(() =>
        timedOut
          ? fail(new Error(`${file} ${args.join(" ")} timed out after ${timeoutMs / 1000} s`))
          : done({ code: code ?? 1, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") }),
      ),
    );
  });
}

/** The programs run() started that have not ended: stopped when this process is interrupted. */
const running = new Set<ChildProcess>();

/** The version of `terraform` on PATH; a TerraformSetupError when there is none. */
export async function terraformVersion(): Promise<string> {
  try {
    const { stdout } = await run("terraform", ["version", "-json"], { env: { ...process.env, CHECKPOINT_DISABLE: "1" }, timeoutMs: 30_000 });
    return (JSON.parse(stdout) as { terraform_version: string }).terraform_version;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new TerraformSetupError("terraform is not on PATH: install Terraform >= 1.10 (https://developer.hashicorp.com/terraform/install)");
    }
    throw error;
  }
}

/** The scratch area of one run: the CLI config, one folder per stack. */
export interface Scratch {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly mirror?: Mirror;
  cleanup(): void;
}

/**
 * A scratch folder with a Terraform CLI config. With a mirror, providers come from it only (no network)
 * and each stack's init links its provider straight to the read-only mirror: nothing shared is written.
 * (A plugin_cache_dir is not used then: every init without a lock file re-creates the cache's entry,
 * and a plan or validate of another stack reading it at that moment fails with "there is no package
 * ... cached in .terraform/providers".) Without a mirror (`mirror` undefined) Terraform installs from
 * the registry into a plugin cache (`TF_PLUGIN_CACHE_DIR`, else ~/.cache/campaign-infra/terraform-plugins),
 * so a second init links the 675 MB provider instead of downloading it again.
 */
export function createScratch(mirror: Mirror | undefined, opts: { keep?: boolean } = {}): Scratch {
  const dir = mkdtempSync(join(tmpdir(), "campaign-infra-terraform-"));
  const lines: string[] = [];
  if (mirror) lines.push("provider_installation {", `  filesystem_mirror {`, `    path = ${JSON.stringify(mirror.path)}`, "  }", "}");
  else {
    const cache = process.env.TF_PLUGIN_CACHE_DIR || join(homedir(), ".cache", "campaign-infra", "terraform-plugins");
    mkdirSync(cache, { recursive: true });
    lines.push(`plugin_cache_dir = ${JSON.stringify(cache)}`);
  }
  const cliConfig = join(dir, "terraform.rc");
  writeFileSync(cliConfig, `${lines.join("\n")}\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TF_CLI_CONFIG_FILE: cliConfig,
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    CHECKPOINT_DISABLE: "1",
  };
  delete env.TF_PLUGIN_CACHE_DIR;
  if (!opts.keep) removeAtExit(dir);
  return { dir, env, mirror, cleanup: () => (opts.keep ? undefined : removeNow(dir)) };
}

/**
 * Scratch folders not yet removed: a copy of a --state file (secrets in it) and the stand-ins'
 * values. Removed when the process exits by any path, also Ctrl-C or SIGTERM under runCli.
 */
const pendingRemoval = new Set<string>();

function removeAtExit(dir: string): void {
  if (pendingRemoval.size === 0) process.once("exit", () => [...pendingRemoval].forEach(removeNow));
  pendingRemoval.add(dir);
}

function removeNow(dir: string): void {
  pendingRemoval.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** What the offline copy pins instead of AWS: fake credentials, no account lookup, no metadata API. */
export const OFFLINE_PROVIDER = {
  skip_credentials_validation: true,
  skip_requesting_account_id: true,
  skip_metadata_api_check: true,
  skip_region_validation: true,
  access_key: "offline-plan",
  secret_key: "offline-plan",
} as const;

/** A closed loopback port: where an offline plan's stray AWS request goes. */
export const OFFLINE_PROXY = "http://127.0.0.1:9";

export interface WorkspaceOptions {
  /** Add OFFLINE_PROVIDER to every aws provider block (plans without AWS). */
  readonly offline?: boolean;
  /**
   * The state the copy plans against: a path to a state file (copied, never written), "none"
   * (an empty local state: what a first deploy plans) or "backend" (the stack's own backend;
   * a local one keeps pointing at the project's file). @default "none"
   */
  readonly state?: string;
  /** Drop lifecycle.prevent_destroy from the copy (to learn what a blocked plan would replace; never applied). */
  readonly dropPreventDestroy?: boolean;
  /** Folder name under the scratch dir. @default the stack's name */
  readonly subdir?: string;
}

export interface Workspace {
  readonly stack: string;
  readonly dir: string;
  /** What the copy changed compared with the synthesized stack, one sentence each. */
  readonly notes: string[];
  /** Resource types stood in by terraform_data, e.g. random_password -> terraform_data.random_password_<name>. */
  readonly standIns: Record<string, string>;
  /** The stack's import blocks; offline they are listed but left out of the copy. */
  readonly imports: { to: string; id: string }[];
}

type Json = Record<string, any>;

/** random_password.<name> stands in as terraform_data.random_password_<name> (output: a fixed string). */
export function standInAddress(type: string, name: string): string {
  return `terraform_data.${type}_${name}`;
}

/**
 * The provider binary of a mirror's version folder: a folder without it (a half-copied mirror) is a
 * setup error said once, before every stack's init fails with "provider binary not found".
 */
function checkMirrorBinary(mirror: Mirror, source: string, version: string): void {
  const dir = join(mirror.path, REGISTRY, source, version, PLATFORM);
  const type = source.split("/").pop()!;
  if (safeList(dir).some((f) => f.startsWith(`terraform-provider-${type}`))) return;
  throw new TerraformSetupError(`provider mirror ${mirror.path}: ${dir} holds no terraform-provider-${type} binary (a half-copied mirror?): copy the provider's unpacked folder there again`);
}

/**
 * Copy a synthesized stack (cdktf.out/stacks/<stack>/) to `scratch/<stack>/` as Terraform with
 * the mirror can run it. Returns the notes to print.
 */
export function prepareWorkspace(stackDir: string, scratch: Scratch, opts: WorkspaceOptions = {}): Workspace {
  const stack = stackDir.split("/").filter(Boolean).pop()!;
  const dir = join(scratch.dir, opts.subdir ?? stack);
  mkdirSync(dir, { recursive: true });
  if (existsSync(join(stackDir, "assets"))) symlinkSync(resolve(stackDir, "assets"), join(dir, "assets"));
  let text = readFileSync(join(stackDir, "cdk.tf.json"), "utf8");
  const notes: string[] = [];
  const standIns: Record<string, string> = {};

  let config: Json;
  try {
    config = JSON.parse(text) as Json;
  } catch (error) {
    throw new Error(`${stack}: ${join(stackDir, "cdk.tf.json")} is not JSON: ${(error as Error).message}`);
  }
  const stateText = opts.state && opts.state !== "none" && opts.state !== "backend" ? readStateFile(opts.state).text : undefined;
  const stateValues = stateText ? randomResults(stateText) : {};
  const required = (config.terraform?.required_providers ?? {}) as Record<string, { source?: string; version?: string }>;
  for (const [local, req] of Object.entries(required)) {
    const source = (req.source ?? local).includes("/") ? (req.source ?? local) : `hashicorp/${req.source ?? local}`;
    if (!scratch.mirror) continue;
    const versions = scratch.mirror.providers[source];
    if (!versions) {
      // Stand in only for the resources of a provider the mirror does not have.
      const types = Object.keys(config.resource ?? {}).filter((t) => t.startsWith(`${local}_`));
      const unsupported = types.filter((t) => t !== "random_password");
      if (unsupported.length > 0) throw new TerraformSetupError(`${stack}: the mirror has no ${source} for ${unsupported.join(", ")}`);
      for (const type of types) {
        for (const name of Object.keys(config.resource[type])) {
          standIns[`${type}.${name}`] = standInAddress(type, name);
          config.resource.terraform_data ??= {};
          config.resource.terraform_data[`${type}_${name}`] = { input: stateValues[`${type}.${name}`] ?? `stand-in for ${type}.${name}` };
        }
        delete config.resource[type];
      }
      delete required[local];
      delete config.provider?.[local];
      if (types.length > 0) {
        notes.push(
          `the mirror has no ${source}: ${types.join(", ")} stood in by terraform_data (${Object.keys(standIns).join(", ")}; .result reads ${stateText ? "the value in the state" : "a fixed string"})`,
        );
      }
      continue;
    }
    if (req.version && !versions.includes(req.version)) {
      const use = versions[versions.length - 1];
      notes.push(`${source} pinned at ${req.version}, the mirror has ${versions.join(", ")}: constraint rewritten to ${use}`);
      req.version = use;
    }
    checkMirrorBinary(scratch.mirror, source, req.version ?? versions[versions.length - 1]);
  }

  if (opts.dropPreventDestroy) {
    for (const byName of Object.values((config.resource ?? {}) as Record<string, Record<string, Json>>)) {
      for (const block of Object.values(byName)) if (block.lifecycle) delete block.lifecycle.prevent_destroy;
    }
    notes.push("lifecycle.prevent_destroy dropped in this copy only, to name what forces the replacement");
  }
  const imports = ((config.import ?? []) as { to: string; id: string }[]).map(({ to, id }) => ({ to, id }));
  if (opts.offline && imports.length > 0) {
    // An import reads the resource from AWS: offline, the state given must hold it already.
    delete config.import;
    notes.push(`${imports.length} import blocks listed, not performed offline (an import reads the resource from AWS)`);
  }
  if (opts.offline) {
    for (const block of (config.provider?.aws ?? []) as Json[]) Object.assign(block, OFFLINE_PROVIDER);
    notes.push("offline: fake credentials, no account/metadata lookups, no refresh (nothing is sent to AWS)");
  }

  const state = opts.state ?? "none";
  if (state !== "backend") {
    const backend = config.terraform?.backend;
    if (backend) delete config.terraform.backend;
    if (state !== "none") {
      writeFileSync(join(dir, "terraform.tfstate"), rewriteState(stateText!, standIns), { mode: 0o600 });
      notes.push(`state: a copy of ${state}${backend ? ` instead of the ${Object.keys(backend)[0]} backend` : ""}`);
    } else if (backend) {
      notes.push(`state: empty (the ${Object.keys(backend)[0]} backend is not read)`);
    }
  } else if (config.terraform?.backend?.local?.path) {
    // The path is relative to <project>/cdktf.out/stacks/<stack>/ (stacks/backend.ts), wherever this copy was synthesized.
    config.terraform.backend.local.path = resolve(__dirname, "..", "cdktf.out", "stacks", stack, config.terraform.backend.local.path);
  }

  text = JSON.stringify(config, null, 2);
  for (const [from, to] of Object.entries(standIns)) {
    text = text.split(`${from}.result`).join(`${to}.output`).split(`"${from}"`).join(`"${to}"`).split(`.${from}"`).join(`.${to}"`);
  }
  writeFileSync(join(dir, "cdk.tf.json"), text);
  return { stack, dir, notes, standIns, imports };
}

/** The result of each random_password in a state, by `type.name` (whatever its module). */
function randomResults(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const r of (JSON.parse(text) as Json).resources ?? []) {
    if (r.type === "random_password" && r.instances?.[0]?.attributes?.result) values[`${r.type}.${r.name}`] = r.instances[0].attributes.result;
  }
  return values;
}

/** The same stand-ins in a state file: random_password instances become terraform_data ones holding the same result. */
export function rewriteState(text: string, standIns: Record<string, string>): string {
  if (Object.keys(standIns).length === 0) return text;
  const state = JSON.parse(text) as Json;
  for (const resource of state.resources as Json[]) {
    const address = `${resource.type}.${resource.name}`;
    if (!standIns[address]) continue;
    resource.name = standIns[address].split(".")[1];
    resource.type = "terraform_data";
    resource.provider = 'provider["terraform.io/builtin/terraform"]';
    for (const instance of resource.instances as Json[]) {
      const value = { value: instance.attributes.result ?? `stand-in for ${address}`, type: "string" };
      instance.schema_version = 0;
      instance.attributes = { id: instance.attributes.id, input: value, output: value, triggers_replace: null };
      delete instance.sensitive_attributes;
    }
  }
  return JSON.stringify(state, null, 2);
}

/** One Terraform diagnostic as a line: severity, address (or file:line) and summary: detail. */
export interface Diagnostic {
  severity: "error" | "warning";
  summary: string;
  detail?: string;
  address?: string;
  range?: { filename: string; start: { line: number } };
  snippet?: { context?: string };
}

export function describeDiagnostic(d: Diagnostic): string {
  const where = d.address ?? d.snippet?.context ?? (d.range ? `${d.range.filename}:${d.range.start.line}` : "");
  return `${d.severity}${where ? ` at ${where}` : ""}: ${d.summary}${d.detail ? `: ${d.detail.replace(/\s+/g, " ").trim()}` : ""}`;
}

/**
 * Inits run one at a time: without a mirror they fill the plugin cache, which Terraform does not make
 * safe for concurrent installs (two at once fail with "still not detected in .terraform/providers").
 * With a mirror they only link (well under a second each). Validate and plan still run in parallel.
 */
let initQueue: Promise<unknown> = Promise.resolve();

/** `terraform init` in a workspace; throws with Terraform's own message when it fails. */
export async function init(ws: Workspace, scratch: Scratch, opts: { backend?: boolean } = {}): Promise<void> {
  const args = ["init", "-input=false", "-no-color", ...(opts.backend ? [] : ["-backend=false"])];
  const turn = initQueue.then(() => run("terraform", args, { cwd: ws.dir, env: scratch.env, timeoutMs: 180_000 }));
  initQueue = turn.catch(() => undefined);
  const { code, stdout, stderr } = await turn;
  if (code !== 0) throw new Error(`${ws.stack}: terraform init failed:\n${(stderr || stdout).trim()}`);
}

/** `terraform validate -json`: the diagnostics (empty when valid). */
export async function validate(ws: Workspace, scratch: Scratch): Promise<{ valid: boolean; diagnostics: Diagnostic[] }> {
  const { stdout, stderr } = await run("terraform", ["validate", "-json", "-no-color"], { cwd: ws.dir, env: scratch.env, timeoutMs: 180_000 });
  try {
    const result = JSON.parse(stdout) as { valid: boolean; diagnostics: Diagnostic[] };
    return { valid: result.valid, diagnostics: result.diagnostics ?? [] };
  } catch {
    return { valid: false, diagnostics: [{ severity: "error", summary: "terraform validate failed", detail: stderr.trim() || stdout.trim() }] };
  }
}

/** A resource_changes entry of `terraform show -json <plan>`. */
export interface ResourceChange {
  address: string;
  previous_address?: string;
  type: string;
  name?: string;
  mode: "managed" | "data";
  action_reason?: string;
  /** Set on a deposed object (left by an interrupted create_before_destroy replacement). */
  deposed?: string;
  change: { actions: string[]; replace_paths?: (string | number)[][]; importing?: { id?: string }; before?: Record<string, any> | null; after?: Record<string, any> | null };
}

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  replace: number;
  moved: number;
  imported: number;
  changes: ResourceChange[];
  /** Every address the plan knows (config and state, no-ops included). */
  addresses: string[];
  diagnostics: Diagnostic[];
}

export function isReplace(actions: string[]): boolean {
  return actions.includes("delete") && actions.includes("create");
}

/** Count a plan the way Terraform's summary line does, plus moves and imports. */
export function summarize(changes: ResourceChange[]): Omit<PlanSummary, "changes" | "diagnostics" | "addresses"> {
  const managed = changes.filter((c) => c.mode === "managed");
  const count = (f: (a: string[]) => boolean) => managed.filter((c) => f(c.change.actions)).length;
  return {
    add: count((a) => a.length === 1 && a[0] === "create"),
    change: count((a) => a.length === 1 && a[0] === "update"),
    destroy: count((a) => a.length === 1 && a[0] === "delete"),
    replace: count(isReplace),
    moved: managed.filter((c) => !c.deposed && c.previous_address && c.previous_address !== c.address).length,
    imported: managed.filter((c) => c.change.importing).length,
  };
}

export function describeSummary(s: Omit<PlanSummary, "changes" | "diagnostics" | "addresses">): string {
  return `${s.add} to add, ${s.change} to change, ${s.replace} to replace, ${s.destroy} to destroy, ${s.moved} moved, ${s.imported} imported`;
}

/** `terraform plan` (no refresh when offline) and its JSON: every resource change and the counts. */
export async function plan(ws: Workspace, scratch: Scratch, opts: PlanRunOptions = {}): Promise<PlanSummary> {
  const { shown, diagnostics } = await planJson(ws, scratch, opts);
  const all = (shown.resource_changes ?? []) as ResourceChange[];
  const changes = all.filter((c) => !(c.change.actions.length === 1 && c.change.actions[0] === "no-op" && !c.previous_address && !c.change.importing));
  return { ...summarize(changes), changes, addresses: [...new Set(all.map((c) => c.address))], diagnostics };
}

export interface PlanRunOptions {
  offline?: boolean;
  /** Addresses to plan as replaced (`terraform plan -replace=ADDRESS`). */
  replace?: string[];
}

/** `terraform plan -out` then `terraform show -json`: the whole plan document. */
export async function planJson(ws: Workspace, scratch: Scratch, opts: PlanRunOptions = {}): Promise<{ shown: Json; diagnostics: Diagnostic[] }> {
  const args = [
    "plan",
    "-input=false",
    "-no-color",
    "-lock=false",
    "-out=plan.bin",
    ...(opts.offline ? ["-refresh=false"] : []),
    ...(opts.replace ?? []).map((a) => `-replace=${a}`),
  ];
  const env = opts.offline
    ? {
        ...scratch.env,
        AWS_ACCESS_KEY_ID: "offline-plan",
        AWS_SECRET_ACCESS_KEY: "offline-plan",
        AWS_PROFILE: undefined,
        AWS_EC2_METADATA_DISABLED: "true",
        // Any AWS request the plan would still make goes to a closed loopback port and fails at
        // once: nothing leaves the machine, not even a DNS lookup.
        HTTPS_PROXY: OFFLINE_PROXY,
        HTTP_PROXY: OFFLINE_PROXY,
        NO_PROXY: "",
      }
    : scratch.env;
  const planned = await run("terraform", [...args, "-json"], { cwd: ws.dir, env, timeoutMs: 300_000 });
  const diagnostics = planned.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { type: string; diagnostic?: Diagnostic })
    .filter((m) => m.type === "diagnostic" && m.diagnostic)
    .map((m) => m.diagnostic!);
  if (planned.code !== 0) {
    const errors = diagnostics.filter((d) => d.severity === "error");
    const detail = errors.length > 0 ? errors.map(describeDiagnostic).join("\n  ") : planned.stderr.trim();
    throw new PlanError(`${ws.stack}: terraform plan failed:\n  ${detail}`, errors);
  }
  const shown = await run("terraform", ["show", "-json", "plan.bin"], { cwd: ws.dir, env, timeoutMs: 180_000 });
  if (shown.code !== 0) throw new Error(`${ws.stack}: terraform show failed: ${shown.stderr.trim()}`);
  return { shown: JSON.parse(shown.stdout) as Json, diagnostics };
}

/** Run `fn` over `items` with at most `limit` at once, results in input order. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Synthesize the whole app into `outdir` (the same as `npm run synth`, in a child process). */
export async function synthesize(outdir: string, projectRoot = resolve(__dirname, "..")): Promise<void> {
  const { code, stdout, stderr } = await run(process.execPath, [join(projectRoot, "node_modules", "tsx", "dist", "cli.mjs"), join(projectRoot, "main.ts")], {
    cwd: projectRoot,
    env: { ...process.env, CDKTF_OUTDIR: outdir },
    timeoutMs: 180_000,
  });
  if (code !== 0) throw new Error(`synth failed:\n${(stderr || stdout).trim()}`);
}

/** The stacks a synthesized app holds (cdktf's manifest.json), in its order. */
export function synthesizedStacks(outdir: string): { name: string; dir: string }[] {
  const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8")) as { stacks: Record<string, { workingDirectory: string }> };
  return Object.entries(manifest.stacks).map(([name, s]) => ({ name, dir: join(outdir, s.workingDirectory) }));
}

/** Run `fn` with a fresh folder for a synthesized app, removed afterwards. */
export async function withSynthDir<T>(fn: (outdir: string) => Promise<T>): Promise<T> {
  const outdir = mkdtempSync(join(tmpdir(), "campaign-infra-synth-"));
  removeAtExit(outdir);
  try {
    return await fn(outdir);
  } finally {
    removeNow(outdir);
  }
}

/** How long an interrupted run waits for Terraform to stop on its own (releasing a state lock) before killing it. */
const STOP_GRACE_MS = 20_000;
const REPEAT_MS = 2_000;

/**
 * A command line tool's main: its exit code, or 2 with the error's message (no stack trace for setup problems).
 * Ctrl-C or SIGTERM: Terraform gets one SIGINT (it runs in its own process group, so a terminal's Ctrl-C
 * does not reach it twice: a second interrupt makes it exit at once, leaving a backend's state lock
 * held), up to STOP_GRACE_MS to stop, then the run exits 130/143 and the scratch copies go with it.
 * A second signal (after REPEAT_MS) kills at once.
 */
export function runCli(main: () => Promise<number>): void {
  let interrupted = false;
  let since = 0;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      const stop = () => {
        for (const child of running) child.kill("SIGKILL");
        process.exit(code);
      };
      // One Ctrl-C often arrives twice (from the terminal, and forwarded by npm or tsx): a repeat
      // within REPEAT_MS is the same interrupt.
      if (interrupted) return Date.now() - since > REPEAT_MS ? stop() : undefined;
      interrupted = true;
      since = Date.now();
      process.stderr.write(
        `interrupted (${signal}): ${running.size ? "stopping terraform (it releases any state lock; again to kill it), then " : ""}removing the scratch copies; nothing applied\n`,
      );
      for (const child of running) child.kill("SIGINT");
      setInterval(() => (running.size === 0 || Date.now() - since > STOP_GRACE_MS) && stop(), 50);
    });
  }
  main().then(
    (code) => interrupted || process.exit(code),
    (error: unknown) => {
      if (interrupted) return; // Terraform's own "interrupted" failure: the signal decides the exit
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
