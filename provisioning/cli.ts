/**
 * npm run provision -- -i <inventory> [--limit host|group] [--check] [--diff] [--forks N] [--json]
 * (npm runs provisioning/run.cjs, which runs a bundle of this file that it keeps up to date)
 *
 * Exit codes: 0 every host converged; 2 a host failed or was unreachable;
 *             1 bad arguments, inventory, variables or secret (no host touched).
 */
import { InventoryError, checkKeyFiles, loadInventory, parseExtraVars, selectHosts } from "./inventory";
import { Output } from "./output";
import { spawnSync } from "node:child_process";
import { heldLocks } from "./lock";
import { releaseScript, runPlay } from "./play";
import { RestoreSource, RestoreSourceError, restoreSource, runRestore } from "./tasks/restore";
import { sshArgs, stopSteps } from "./ssh";
import { HostSecrets, SecretError, SecretFetcher, awsSecretFetcher, redact, resolveSecrets } from "./secrets";

export interface CliOptions {
  inventory: string;
  limit?: string;
  check: boolean;
  diff: boolean;
  forks: number;
  json: boolean;
  deadline: number;
  stepTimeout: number;
  extraVars: string[];
  /** --restore SOURCE: replace one host's Redis data with a snapshot (provisioning/tasks/restore.ts). */
  restore?: string;
}

export const USAGE = `usage: npm run provision -- -i INVENTORY [options]
  -i, --inventory PATH   Ansible INI or YAML hosts file, or a directory holding one (group_vars/, host_vars/ beside it)
  -l, --limit PATTERN    Ansible host patterns: a,b a:b !x &group glob* ~regex @retry_file
  -e, --extra-vars VARS  key=value ..., a JSON/YAML mapping, or @file.yml (repeatable; overrides the inventory)
  -C, --check            change nothing, report what would change
  -D, --diff             show config differences (secrets masked)
  -f, --forks N          hosts in parallel (default 10)
      --deadline SECONDS  wall-clock budget of each host (default 600): a host past it fails with a recap
      --step-timeout SECONDS  bound of each remote command (redis-cli, a wait; default 30)
      --json             one JSON document on stdout
      --restore SOURCE   replace ONE host's Redis data with an RDB snapshot: a local file, s3://BUCKET/KEY,
                         or a key in redis_backup_bucket (docs/backups.md); with --check: fetch and check only
  -h, --help
exit codes: 0 converged, 2 a host failed or was unreachable, 1 bad arguments/inventory/variables`;

export class UsageError extends Error {}
/** An Ansible feature this tool does not have: said plainly, exit 1, no host touched. */
export class NotSupported extends UsageError {}

/** ansible-playbook options people reach for; each is refused as "not supported" rather than "unknown". */
const ANSIBLE_ONLY = [
  "-t", "--tags", "--skip-tags", "--start-at-task", "--step", "-u", "--user", "-k", "--ask-pass", "-K", "--ask-become-pass",
  "-b", "--become", "--become-user", "--become-method", "--vault-id", "--vault-password-file", "-J", "--ask-vault-pass",
  "--list-hosts", "--list-tasks", "--syntax-check", "-c", "--connection", "-T", "--timeout", "--private-key", "--key-file",
  "--ssh-common-args", "--ssh-extra-args", "-M", "--module-path", "--flush-cache", "--force-handlers",
];

export function parseArgs(argv: string[]): CliOptions | "help" {
  const o: Partial<CliOptions> = { check: false, diff: false, forks: 10, json: false, deadline: 600, stepTimeout: 30, extraVars: [] };
  const seconds = (name: string, v: string, max: number): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new UsageError(`${name} must be an integer 1-${max} seconds (got ${v})`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline: string | undefined;
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    if (eq > 0) {
      inline = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith("-"))) throw new UsageError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case "-i":
      case "--inventory":
        if (o.inventory !== undefined) throw new NotSupported(`${a} given twice: several inventories at once are not supported; run once per inventory`);
        o.inventory = value();
        break;
      case "-e":
      case "--extra-vars":
        o.extraVars!.push(value());
        break;
      case "-l":
      case "--limit":
        o.limit = value();
        break;
      case "-C":
      case "--check":
        o.check = true;
        break;
      case "-D":
      case "--diff":
        o.diff = true;
        break;
      case "--json":
        o.json = true;
        break;
      case "--restore":
        o.restore = value();
        break;
      case "-f":
      case "--forks": {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 200) throw new UsageError(`--forks must be an integer 1-200 (got ${v})`);
        o.forks = Number(v);
        break;
      }
      case "--deadline":
        o.deadline = seconds(a, value(), 86400);
        break;
      case "--step-timeout":
        o.stepTimeout = seconds(a, value(), 3600);
        break;
      case "-h":
      case "--help":
        return "help";
      default:
        if (ANSIBLE_ONLY.includes(a)) throw new NotSupported(`${a} (ansible-playbook) is not supported by this tool`);
        throw new UsageError(`unknown argument ${a}`);
    }
  }
  if (!o.inventory) throw new UsageError("-i/--inventory is required");
  return o as CliOptions;
}

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
  fetcher?: SecretFetcher;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  let opts: CliOptions;
  let hosts;
  let secrets: Map<string, HostSecrets>;
  let restore: RestoreSource | undefined;
  try {
    const parsed = parseArgs(argv);
    if (parsed === "help") {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    opts = parsed;
    const inv = loadInventory(opts.inventory, io.env, parseExtraVars(opts.extraVars));
    if (inv.ignored.length) io.stderr(`note: variables not used by this role (ignored): ${inv.ignored.join(", ")}\n`);
    hosts = selectHosts(inv, opts.limit);
    checkKeyFiles(hosts);
    if (opts.restore !== undefined) {
      if (hosts.length !== 1) throw new UsageError(`--restore replaces the data of exactly one host; ${hosts.length} selected (${hosts.map((h) => h.name).join(", ")}): narrow it with --limit`);
      restore = restoreSource(opts.restore, hosts[0].vars.redis_backup_bucket);
    }
    secrets = await resolveSecrets(hosts, io.env, io.fetcher ?? awsSecretFetcher);
  } catch (e) {
    if (e instanceof NotSupported) io.stderr(`error: not supported: ${e.message}\n`);
    else if (e instanceof UsageError) io.stderr(`error: ${e.message}\n${USAGE}\n`);
    else if (e instanceof RestoreSourceError) io.stderr(`error: ${e.message}; nothing changed\n`);
    else if (e instanceof InventoryError || e instanceof SecretError) io.stderr(`error: ${redact(e.message).split("\n").join("\nerror: ")}\n`);
    else throw e;
    return 1;
  }
  const t0 = Date.now();
  const out = new Output({ json: opts.json, diff: opts.diff, check: opts.check, write: io.stdout });
  running = { out, t0 };
  const timeouts = { stopTimeoutS: Number(io.env.PROVISION_STOP_TIMEOUT ?? 20), startTimeoutS: Number(io.env.PROVISION_START_TIMEOUT ?? 30) };
  if (restore) {
    out.start([hosts[0].name]);
    await runRestore(hosts[0], secrets.get(hosts[0].name)!, restore, { check: opts.check, deadlineS: opts.deadline, stepTimeoutS: opts.stepTimeout, ...timeouts }, out);
    out.finish(Date.now() - t0);
    return out.failedHosts().length ? 2 : 0;
  }
  await runPlay(hosts, secrets, { check: opts.check, diff: opts.diff, forks: opts.forks, deadlineS: opts.deadline, stepTimeoutS: opts.stepTimeout, ...timeouts }, out);
  out.finish(Date.now() - t0);
  return out.failedHosts().length ? 2 : 0;
}

/** The play in progress (what a signal reports). */
let running: { out: Output; t0: number } | undefined;

/**
 * On SIGINT/SIGTERM: stop the steps still running on hosts, say what each host had changed and print
 * the recap, release the host locks this run holds (bounded), then exit 130.
 */
function releaseLocksOnSignal(): void {
  let stopping = false;
  const handler = (sig: NodeJS.Signals) => {
    // One Ctrl-C often arrives twice (the terminal's, and npm's forward of it). Listening with `on`
    // rather than `once` keeps the repeat from meeting the default action, which would end the
    // process in the middle of releasing the host locks.
    if (stopping) return;
    stopping = true;
    stopSteps();
    running?.out.interrupted(sig, Date.now() - running.t0);
    for (const c of heldLocks.values()) {
      spawnSync("ssh", [...sshArgs(c, ["-o", "ControlMaster=no"]), c.host, c.become ? "sudo -n -H bash -s" : "bash -s"], { input: releaseScript(), timeout: 5000, stdio: ["pipe", "ignore", "ignore"] });
    }
    process.stderr.write(`interrupted (${sig}): released ${heldLocks.size} host lock(s)\n`);
    process.exit(130);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

/** Runs the CLI as the program: argv, stdio, environment and exit code of this process. */
export function runCli(): void {
  releaseLocksOnSignal();
  main(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: Error) => {
      process.stderr.write(`internal error: ${redact(e.stack ?? e.message)}\n`);
      process.exitCode = 2;
    },
  );
}

// `tsx provisioning/cli.ts` (and `node build/provision.cjs`); npm run provision goes through run.cjs.
if (require.main === module) runCli();
