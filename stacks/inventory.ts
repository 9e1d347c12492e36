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
 * - in `<inventory>/group_vars/asterisk.yml`, every role variable the stack decides:
 *   `redis_password_secret_arn`, `asterisk_ari_password_secret_arn`, `redis_port`, and with backups on
 *   `redis_backup_bucket` and `redis_backup_schedule` (backups off: a bucket in the inventory becomes "",
 *   which makes provisioning disable the backup timer). With `redis.mode` "elasticache" the stack's
 *   redis_* outputs describe ElastiCache, not the host: its Redis password ARN and port are kept as they are.
 * `--check` prints what would change and writes nothing. Every bad input is named, and nothing is written.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { parseDocument } from "yaml";
import { UsageError } from "../lambdas/contracts/cli";
import { SECRET_ARN } from "../lambdas/contracts/secrets";
import { notAFile, refuseRepeated } from "./command-line";
import { campaignEnvironments } from "./environments";

const USAGE = `usage: npm run inventory -- <stack> [options]

Writes a campaign stack's outputs (host address or instance id, secret ARNs, Redis port, backup
bucket and schedule) into its inventory.

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

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Outputs a stack has only in some configurations (backups on; the redis_* pair in every stack of this code). */
const OPTIONAL = {
  redis_backup_bucket: { shape: BUCKET, what: "an S3 bucket name" },
  redis_backup_schedule: { shape: /^[A-Za-z0-9*:,/.~ -]{1,64}$/, what: "a systemd OnCalendar expression" },
  redis_endpoint: { shape: /^\S+$/, what: "a host name or address" },
} as const;
type Optional = keyof typeof OPTIONAL;
export type StackFacts = Record<Needed, string> & Partial<Record<Optional, string>> & { redis_port?: number };

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
  for (const [name, rule] of Object.entries(OPTIONAL) as [Optional, (typeof OPTIONAL)[Optional]][]) {
    const out = map[name];
    if (!out || !("value" in out)) continue;
    if (out.sensitive) problems.push(`${name}: marked sensitive; refusing to copy it into an inventory`);
    else if (typeof out.value !== "string" || !rule.shape.test(out.value)) problems.push(`${name}: must be ${rule.what} (got ${JSON.stringify(out.value)?.slice(0, 80)})`);
    else facts[name] = out.value;
  }
  const port = map.redis_port;
  if (port && "value" in port) {
    if (!(Number.isInteger(port.value) && (port.value as number) >= 1 && (port.value as number) <= 65535)) problems.push(`redis_port: must be a TCP port (got ${JSON.stringify(port.value)?.slice(0, 80)})`);
    else facts.redis_port = port.value as number;
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

/** A setting the stack does not decide this time, and why (printed, not written). */
export interface Kept {
  file: string;
  setting: string;
  why: string;
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
  kept: Kept[];
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
  const kept: Kept[] = [];
  const vars: [string, string | number][] = [];
  // ElastiCache mode: redis_endpoint is the cache's, and so are the password secret and the port.
  const elasticache = facts.redis_endpoint !== undefined && facts.redis_endpoint !== facts.asterisk_private_ip;
  if (elasticache) {
    for (const key of ["redis_password_secret_arn", "redis_port"]) {
      kept.push({ file: varsFile, setting: key, why: `the stack's Redis is ${facts.redis_endpoint} (redis.mode elasticache), not the host; its redis_* outputs do not describe the host` });
    }
  } else vars.push(["redis_password_secret_arn", facts.redis_password_secret_arn]);
  vars.push(["asterisk_ari_password_secret_arn", facts.ari_password_secret_arn]);
  if (!elasticache && facts.redis_port !== undefined) vars.push(["redis_port", facts.redis_port]);
  if (facts.redis_backup_bucket !== undefined) {
    vars.push(["redis_backup_bucket", facts.redis_backup_bucket]);
    if (facts.redis_backup_schedule !== undefined) vars.push(["redis_backup_schedule", facts.redis_backup_schedule]);
  } else if (doc.get("redis_backup_bucket")) {
    // Backups are off in the stack (no bucket): the host's timer must stop rather than fail every hour.
    vars.push(["redis_backup_bucket", ""]);
  }
  let varsChanged = false;
  for (const [key, value] of vars) {
    const from = doc.get(key);
    if (from === value) continue;
    doc.set(key, value);
    varsChanged = true;
    changes.push({ file: varsFile, setting: key, from: from === undefined ? undefined : String(from), to: value === "" ? '""' : String(value) });
  }
  if (varsChanged) files[varsFile] = doc.toString({ lineWidth: 0 });
  return { changes, kept, files };
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** A Terraform state of any format (4: resources[], 3 and before: modules[]). */
const isState = (v: unknown): v is { version: number; outputs?: unknown } => isMap(v) && typeof v.version === "number" && (Array.isArray(v.resources) || Array.isArray(v.modules));

/** A saved `terraform output -json`: a state file given here instead is named as one. */
function outputsOf(json: unknown, file: string): unknown {
  if (isState(json)) throw new InventoryError(`${file}: a Terraform state, not a saved \`terraform output -json\`: pass it with --state`);
  return json;
}

/** The outputs of a state file (format 4, Terraform 0.12 and later: { outputs: { name: { value } } }). */
function stateOutputs(json: unknown, file: string): unknown {
  if (!isState(json)) throw new InventoryError(`${file}: not a Terraform state (no "version" number and "resources" list)${isMap(json) && !("version" in json) ? "; a saved `terraform output -json` goes with --outputs" : ""}`);
  if (json.version !== 4) throw new InventoryError(`${file}: state format version ${json.version}: its outputs are read from format 4 (Terraform 0.12 and later)`);
  if (json.outputs === undefined) throw new InventoryError(`${file}: the state has no outputs (is the stack deployed, and is this its state?)`);
  return json.outputs;
}

function readOutputs(values: { outputs?: string; state?: string }, stack: string): StackFacts {
  if (values.outputs && values.state) throw new InventoryError("--outputs and --state: give one of them");
  const file = values.outputs ?? values.state;
  if (file) {
    let json: unknown;
    let text: string;
    const special = notAFile(file);
    if (special) throw new InventoryError(`${file}: ${special}`);
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InventoryError(`${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not a file" : (e as Error).message}`);
    }
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new InventoryError(`${file}: not valid JSON (${(e as Error).message}); expected ${values.state ? "a Terraform state file" : "the output of `terraform output -json`"}`);
    }
    return factsFromOutputs(values.state ? stateOutputs(json, file) : outputsOf(json, file), file);
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
  const config = {
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
  } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message, USAGE);
  }
  const { values, positionals } = parsed;
  if (values.help) return log(USAGE), 0;
  refuseRepeated(config, USAGE);
  if (positionals.length !== 1) throw new UsageError("give exactly one stack name", USAGE);
  const stack = positionals[0];
  const env = /^campaign-([a-z0-9-]+)$/.exec(stack)?.[1];
  if (!env) throw new InventoryError(`${stack}: not a campaign stack (campaign-<env>)`);
  const known = campaignEnvironments.map((c) => `campaign-${c.environment}`);
  if (!known.includes(stack)) throw new InventoryError(`${stack}: no such stack (the campaign stacks: ${known.join(", ")})`);
  if (values.address !== undefined && values.address !== "ip" && values.address !== "instance-id") {
    throw new InventoryError(`--address: must be ip or instance-id (got ${JSON.stringify(values.address)})`);
  }
  const dir = values.inventory ?? join("inventory", env);
  const facts = readOutputs(values, stack);
  const plan = planInventory(dir, facts, values.address as "ip" | "instance-id" | undefined);
  const rel = (f: string) => relative(process.cwd(), f) || f;
  for (const c of plan.changes) log(`${values.check ? "would change" : "changed"}: ${rel(c.file)}: ${c.setting}: ${c.from ?? "(unset)"} -> ${c.to}`);
  for (const k of plan.kept) log(`kept: ${rel(k.file)}: ${k.setting}: ${k.why}`);
  if (!plan.changes.length) log(`ok: ${rel(dir)} already holds ${stack}'s outputs`);
  if (!values.check) {
    for (const [file, text] of Object.entries(plan.files)) {
      // The new file keeps the old one's permissions (a 0600 group_vars file stays 0600).
      const { mode } = statSync(file);
      writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
      chmodSync(`${file}.tmp`, mode & 0o7777);
      renameSync(`${file}.tmp`, file);
    }
  }
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    // Every error here is bad input (command line, outputs, inventory files): nothing was written.
    process.stderr.write(`inventory: ${(error as Error).message}\n`);
    process.exitCode = 2;
  }
}
