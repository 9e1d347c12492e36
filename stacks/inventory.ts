/**
 * `npm run inventory -- <stack>`: writes a campaign stack's outputs into its Ansible inventory, the way
 * Ansible's aws_ec2 plugin saves people from copying instance ids and ARNs by hand.
 *
 * Reads the outputs from `terraform output -json` run in cdktf.out/stacks/<stack> (after `cdktf deploy`),
 * or from a saved `terraform output -json` file (`--outputs FILE`), or from a state file (`--state FILE`).
 * Updates, in place and keeping every comment and other setting:
 * - in `<inventory>/hosts`, the `ansible_host` of the one host in `[asterisk]`: the instance id when the
 *   inventory reaches the host through SSM (its current value is an instance id, as in inventory/dev),
 *   else the private IP;
 * - in `<inventory>/group_vars/asterisk.yml`, `redis_password_secret_arn` and
 *   `asterisk_ari_password_secret_arn`.
 * `--check` prints what would change and writes nothing. Every bad input is named, and nothing is written.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { parseDocument } from "yaml";
import { SECRET_ARN } from "../lambdas/contracts/secrets";

const USAGE = `usage: npm run inventory -- <stack> [options]

Writes a campaign stack's outputs (host address or instance id, secret ARNs) into its inventory.

  <stack>              campaign-dev, campaign-prod, ... (the inventory defaults to inventory/<env>)
  -i, --inventory DIR  inventory directory holding hosts and group_vars/ (default: inventory/<env>)
  --outputs FILE       a saved \`terraform output -json\` instead of running terraform
  --state FILE         read the outputs from a Terraform state file instead
  --address KIND       ip | instance-id: what ansible_host becomes (default: keep the kind in use)
  -C, --check          print what would change, write nothing
  -h, --help           this text`;

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export class InventoryError extends Error {}

/** One output the inventory needs: where it goes and what it must look like. */
const NEEDED = {
  redis_password_secret_arn: { shape: SECRET_ARN, what: "a Secrets Manager ARN" },
  ari_password_secret_arn: { shape: SECRET_ARN, what: "a Secrets Manager ARN" },
  asterisk_instance_id: { shape: INSTANCE_ID, what: "an EC2 instance id" },
  asterisk_private_ip: { shape: IPV4, what: "an IPv4 address" },
} as const;
type Needed = keyof typeof NEEDED;
export type StackFacts = Record<Needed, string>;

/**
 * The facts from `terraform output -json` or a state file's `outputs` (both map a name to `{ value }`).
 * Every missing, sensitive or malformed output is reported at once.
 */
export function factsFromOutputs(outputs: unknown, source: string): StackFacts {
  if (!outputs || typeof outputs !== "object") throw new InventoryError(`${source}: not a JSON object of outputs`);
  const map = outputs as Record<string, { value?: unknown; sensitive?: boolean } | undefined>;
  const problems: string[] = [];
  const facts: Partial<StackFacts> = {};
  for (const [name, rule] of Object.entries(NEEDED) as [Needed, (typeof NEEDED)[Needed]][]) {
    const out = map[name];
    if (!out || !("value" in out)) problems.push(`${name}: missing (is the stack deployed, and is this its output?)`);
    else if (out.sensitive) problems.push(`${name}: marked sensitive; refusing to copy it into an inventory`);
    else if (typeof out.value !== "string" || !rule.shape.test(out.value)) problems.push(`${name}: must be ${rule.what} (got ${JSON.stringify(out.value)?.slice(0, 80)})`);
    else facts[name] = out.value;
  }
  if (problems.length) throw new InventoryError(`${source}:\n  ${problems.join("\n  ")}`);
  return facts as StackFacts;
}

export interface Change {
  file: string;
  setting: string;
  from: string | undefined;
  to: string;
}

/** The `[asterisk]` host line of an INI hosts file, with its `ansible_host` value. */
function asteriskHost(text: string, file: string): { index: number; name: string; current?: string } {
  const lines = text.split("\n");
  let group = "";
  const hosts: { index: number; name: string; current?: string }[] = [];
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) return void (group = header[1]);
    if (group !== "asterisk") return;
    const name = line.split(/\s+/)[0];
    hosts.push({ index, name, current: /(?:^|\s)ansible_host=(\S+)/.exec(line)?.[1] });
  });
  if (hosts.length !== 1) {
    throw new InventoryError(`${file}: [asterisk] must list exactly one host to take the stack's address (found ${hosts.length}: ${hosts.map((h) => h.name).join(", ") || "none"})`);
  }
  return hosts[0];
}

export interface Plan {
  changes: Change[];
  files: Record<string, string>;
}

/** Computes the new contents of `hosts` and `group_vars/asterisk.yml`; touches no file. */
export function planInventory(dir: string, facts: StackFacts, address?: "ip" | "instance-id"): Plan {
  const hostsFile = join(dir, "hosts");
  const varsFile = join(dir, "group_vars", "asterisk.yml");
  for (const f of [hostsFile, varsFile]) if (!existsSync(f)) throw new InventoryError(`${f}: missing (an inventory directory holds hosts and group_vars/asterisk.yml)`);
  const changes: Change[] = [];
  const files: Record<string, string> = {};

  const hostsText = readFileSync(hostsFile, "utf8");
  const host = asteriskHost(hostsText, hostsFile);
  const kind = address ?? (host.current && INSTANCE_ID.test(host.current) ? "instance-id" : "ip");
  const target = kind === "instance-id" ? facts.asterisk_instance_id : facts.asterisk_private_ip;
  if (host.current !== target) {
    const lines = hostsText.split("\n");
    const line = lines[host.index];
    lines[host.index] = host.current === undefined ? `${line.trimEnd()} ansible_host=${target}` : line.replace(/((?:^|\s)ansible_host=)\S+/, `$1${target}`);
    files[hostsFile] = lines.join("\n");
    changes.push({ file: hostsFile, setting: `${host.name} ansible_host`, from: host.current, to: target });
  }

  const doc = parseDocument(readFileSync(varsFile, "utf8"));
  if (doc.errors.length) throw new InventoryError(`${varsFile}: ${doc.errors[0].message}`);
  const arns: [string, string][] = [
    ["redis_password_secret_arn", facts.redis_password_secret_arn],
    ["asterisk_ari_password_secret_arn", facts.ari_password_secret_arn],
  ];
  let varsChanged = false;
  for (const [key, value] of arns) {
    const from = doc.get(key);
    if (from === value) continue;
    doc.set(key, value);
    varsChanged = true;
    changes.push({ file: varsFile, setting: key, from: from === undefined ? undefined : String(from), to: value });
  }
  if (varsChanged) files[varsFile] = doc.toString({ lineWidth: 0 });
  return { changes, files };
}

function readOutputs(values: { outputs?: string; state?: string }, stack: string): StackFacts {
  if (values.outputs && values.state) throw new InventoryError("--outputs and --state: give one of them");
  const file = values.outputs ?? values.state;
  if (file) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new InventoryError(`${file}: ${(e as Error).message}`);
    }
    return factsFromOutputs(values.state ? (json as { outputs?: unknown }).outputs : json, file);
  }
  const dir = join("cdktf.out", "stacks", stack);
  if (!existsSync(dir)) throw new InventoryError(`${dir}: missing; run \`npm run synth\` and deploy the stack first (or pass --outputs / --state)`);
  let text: string;
  try {
    text = execFileSync("terraform", ["output", "-json"], { cwd: dir, encoding: "utf8", timeout: 60_000, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new InventoryError(`terraform output -json in ${dir} failed: ${(err.stderr || err.message).trim().split("\n").slice(-3).join(" ")}`);
  }
  return factsFromOutputs(JSON.parse(text), `terraform output -json (${dir})`);
}

export function main(argv: string[], log: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      inventory: { type: "string", short: "i" },
      outputs: { type: "string" },
      state: { type: "string" },
      address: { type: "string" },
      check: { type: "boolean", short: "C" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return log(USAGE), 0;
  if (positionals.length !== 1) throw new InventoryError(`give exactly one stack name\n${USAGE}`);
  const stack = positionals[0];
  const env = /^campaign-([a-z0-9-]+)$/.exec(stack)?.[1];
  if (!env) throw new InventoryError(`${stack}: not a campaign stack (campaign-<env>)`);
  if (values.address !== undefined && values.address !== "ip" && values.address !== "instance-id") {
    throw new InventoryError(`--address: must be ip or instance-id (got ${JSON.stringify(values.address)})`);
  }
  const dir = values.inventory ?? join("inventory", env);
  const facts = readOutputs(values, stack);
  const plan = planInventory(dir, facts, values.address as "ip" | "instance-id" | undefined);
  const rel = (f: string) => relative(process.cwd(), f) || f;
  for (const c of plan.changes) log(`${values.check ? "would change" : "changed"}: ${rel(c.file)}: ${c.setting}: ${c.from ?? "(unset)"} -> ${c.to}`);
  if (!plan.changes.length) log(`ok: ${rel(dir)} already holds ${stack}'s outputs`);
  if (!values.check) {
    for (const [file, text] of Object.entries(plan.files)) {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    }
  }
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`inventory: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
