/**
 * `npm run cost`: the monthly cost of synthesized stacks (stacks/cost.ts).
 *
 *   npm run cost [-- <stack>...] [--from <dir|file|scenario>] [--usage FILE | --no-usage] [--json]
 *   npm run cost -- --compare <A> <B> [<stack>...] [--json]
 *
 * A source is a synth output directory (cdktf.out), one stack's directory or cdk.tf.json, or a
 * named scenario of stacks/cost-scenarios.ts (synthesized in this process). Without --from, the
 * stacks in cdktf.out (run `npm run synth` first; if it is missing they are synthesized here).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import YAML from "yaml";
import { buildApp } from "./app";
import { notAFile, refuseRepeated } from "./command-line";
import { campaignEnvironments } from "./environments";
import { pythonide } from "./pythonide-environments";
import { PRICES, type Price } from "./prices";
import { COST_SCENARIOS, type CostScenario } from "./cost-scenarios";
import { compareCosts, costStack, formatBreakdown, formatDiff, mergeUsage, validateUsage, type StackCost, type StackJson, type Usage } from "./cost";

export const DEFAULT_USAGE_FILE = join(__dirname, "cost-usage.yml");

export interface LoadedStack {
  readonly name: string;
  readonly json: StackJson;
}

export interface Source {
  readonly label: string;
  readonly stacks: LoadedStack[];
  /** Usage figures the source brings (a scenario's), over the usage file's. */
  readonly usage?: Usage;
}

const readStack = (file: string): StackJson => {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: not a synthesized stack (${(error as Error).message})`);
  }
  const stack = json as Record<string, unknown>;
  // A state file (or any other JSON) would cost as a stack of nothing: $0.00, exit 0.
  const map = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!map(stack) || (!stack.terraform && !map(stack.resource)) || (stack.resource !== undefined && !map(stack.resource))) {
    const state = stack && typeof stack === "object" && typeof stack.version === "number" && Array.isArray(stack.resources);
    throw new Error(`${file}: not a synthesized stack (${state ? "a Terraform state file; " : ""}cost reads a stack's cdk.tf.json: its terraform and resource blocks)`);
  }
  return stack as StackJson;
};

/** The stacks of a synth output directory (with stacks/), of one stack directory, or of one JSON file. */
export function loadPath(path: string): LoadedStack[] {
  if (statSync(path).isFile()) {
    const name = basename(path) === "cdk.tf.json" ? basename(dirname(path)) : basename(path).replace(/\.json$/, "").replace(/\.tf$/, "");
    return [{ name, json: readStack(path) }];
  }
  if (existsSync(join(path, "cdk.tf.json"))) return [{ name: basename(path), json: readStack(join(path, "cdk.tf.json")) }];
  const dir = join(path, "stacks");
  if (!existsSync(dir)) throw new Error(`${path}: neither a synth output (no stacks/ folder) nor a stack directory (no cdk.tf.json)`);
  return readdirSync(dir)
    .filter((n) => existsSync(join(dir, n, "cdk.tf.json")))
    .sort()
    .map((name) => ({ name, json: readStack(join(dir, name, "cdk.tf.json")) }));
}

/** Synthesize a scenario's stacks into a temporary directory and read them back. */
export function synthScenario(scenario: Pick<CostScenario, "campaign" | "pythonide">): LoadedStack[] {
  const outdir = mkdtempSync(join(tmpdir(), "cost-"));
  try {
    buildApp({ outdir, campaign: scenario.campaign, pythonide: scenario.pythonide ?? pythonide }).synth();
    const stacks = loadPath(outdir);
    return scenario.pythonide ? stacks : stacks.filter((s) => !s.name.startsWith("pythonide-"));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** A path or a scenario name, resolved to its stacks; an unknown name lists what exists. */
export function loadSource(spec: string): Source {
  if (existsSync(spec)) return { label: spec, stacks: loadPath(spec) };
  const scenario = COST_SCENARIOS[spec];
  if (scenario) return { label: spec, stacks: synthScenario(scenario), usage: scenario.usage };
  if (spec === "current") return { label: spec, stacks: synthScenario({ campaign: campaignEnvironments, pythonide }) };
  throw new Error(`${spec}: no such file or directory, and not a scenario (scenarios: current, ${Object.keys(COST_SCENARIOS).join(", ")})`);
}

export function readUsageFile(file: string): Usage {
  const special = notAFile(file);
  if (special) throw new Error(`usage file ${file}: ${special}`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`usage file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (error) {
    throw new Error(`usage file ${file}: not valid YAML (${(error as Error).message})`);
  }
  return validateUsage(parsed, `usage file ${file}`);
}

/** Cost every stack of a source, keeping only `only` when given (an unknown name is an error). */
export function costSource(source: Source, usage: Usage, only: string[] = []): StackCost[] {
  const known = source.stacks.map((s) => s.name);
  const unknown = only.filter((n) => !known.includes(n));
  if (unknown.length) throw new Error(`${source.label}: no stack ${unknown.join(", ")} (stacks: ${known.join(", ")})`);
  const merged = mergeUsage(usage, source.usage);
  return source.stacks.filter((s) => only.length === 0 || only.includes(s.name)).map((s) => costStack(s.name, s.json, merged));
}

const USAGE =
  "usage: npm run cost -- [<stack>...] [--from <dir|file|scenario>] [--usage FILE | --no-usage] [--json]\n       npm run cost -- --compare <A> <B> [<stack>...] [--json]\n       npm run cost -- --prices [--json]";

/** The price table, one line per entry with its unit and source. */
export function formatPrices(): string {
  const lines: string[] = [];
  for (const table of Object.values(PRICES)) {
    lines.push(`${table.region} (checked ${table.checked})`);
    for (const [key, value] of Object.entries(table)) {
      if (key === "region" || key === "checked") continue;
      const entries = "usd" in value ? [[key, value as Price]] : Object.entries(value as Record<string, Price>).map(([size, p]) => [`${key} ${size}`, p] as const);
      for (const [name, p] of entries as [string, Price][]) lines.push(`  ${name.padEnd(32)} $${p.usd} per ${p.unit.padEnd(14)} ${p.source}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

export function runCost(argv: string[]): string {
  const config = {
    args: argv,
    allowPositionals: true,
    options: {
      from: { type: "string" },
      compare: { type: "boolean" },
      usage: { type: "string" },
      "no-usage": { type: "boolean" },
      json: { type: "boolean" },
      prices: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  } as const;
  const { values, positionals } = parseArgs(config);
  refuseRepeated(config, USAGE);
  if (values.help) return `${USAGE}\nscenarios (for --from and --compare):\n  current: the stacks the configuration synthesizes now${Object.entries(COST_SCENARIOS).map(([n, s]) => `\n  ${n}: ${s.description}`).join("")}\n`;
  if (values.prices) {
    const others = [...(["from", "compare", "usage", "no-usage"] as const).filter((k) => values[k] !== undefined).map((k) => `--${k}`), ...positionals];
    if (others.length) throw new Error(`--prices prints the price table and takes only --json, not ${others.join(", ")}\n${USAGE}`);
  }
  if (values.prices) return values.json ? `${JSON.stringify(PRICES, null, 2)}\n` : formatPrices();
  if (values.usage && values["no-usage"]) throw new Error(`--usage and --no-usage exclude each other\n${USAGE}`);
  const usage = values["no-usage"] ? {} : readUsageFile(values.usage ?? DEFAULT_USAGE_FILE);
  if (values.compare) {
    if (values.from) throw new Error(`--compare takes its two sources as arguments, not --from\n${USAGE}`);
    const [a, b, ...only] = positionals;
    if (!a || !b) throw new Error(`--compare needs two sources\n${USAGE}`);
    const before = costSource(loadSource(a), usage, only);
    const after = costSource(loadSource(b), usage, only);
    const diff = compareCosts(before, after);
    return values.json ? `${JSON.stringify({ from: a, to: b, ...diff }, null, 2)}\n` : formatDiff(diff, [a, b]);
  }
  const from = values.from ?? "cdktf.out";
  const source = values.from === undefined && !existsSync(from) ? loadSource("current") : loadSource(from);
  const stacks = costSource(source, usage, positionals);
  if (values.json) {
    const total = Math.round(stacks.reduce((n, s) => n + s.monthly, 0) * 100) / 100;
    return `${JSON.stringify({ source: source.label, stacks, total }, null, 2)}\n`;
  }
  return `Source: ${source.label}\n\n${formatBreakdown(stacks)}`;
}

if (require.main === module) {
  try {
    process.stdout.write(runCost(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}
