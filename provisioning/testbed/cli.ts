/**
 * npm run testbed -- up [N]        boot N local Debian 12 hosts (default 1), print the inventory path
 * npm run testbed -- down ID|--all stop them and remove everything the test bed created
 * npm run testbed -- list          show the live test beds
 */
import { commandLine, UsageError } from "../../lambdas/contracts/cli";
import { down, list, up } from "./index";

const USAGE = `usage: npm run testbed -- up [N] | down ID|--all | list

Local Debian 12 hosts (systemd-nspawn, needs root) to provision against.

  up [N]          boot N hosts (1..20, default 1) and print the test bed's id, inventory and hosts
  down ID|--all   stop a test bed (or all) and remove everything it created
  list            show the live test beds
  -h, --help      this text`;

async function main(argv: string[]): Promise<number> {
  const log = (m: string) => process.stderr.write(`testbed: ${m}\n`);
  let parsed;
  try {
    parsed = commandLine(USAGE, { args: argv, allowPositionals: true, options: { all: { type: "boolean" } } });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    log(e.message);
    return 1;
  }
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [cmd, arg, ...extra] = positionals;
  if (extra.length || (values.all && (cmd !== "down" || arg !== undefined))) {
    log(`unexpected arguments: ${argv.join(" ")}\n${USAGE}`);
    return 1;
  }
  switch (cmd) {
    case "up": {
      const count = arg === undefined ? 1 : Number(arg);
      if (!Number.isInteger(count) || count < 1 || count > 20) {
        log("usage: up [N]   (1..20 hosts)");
        return 1;
      }
      const tb = await up({ count, log });
      process.stdout.write(`${JSON.stringify({ id: tb.id, inventory: tb.inventory, hosts: tb.hosts.map((h) => ({ name: h.name, ip: h.ip })) }, null, 2)}\n`);
      log(`provision with: npm run provision -- -i ${tb.inventory}   (REDIS_PASSWORD must be set)`);
      log(`tear down with: npm run testbed -- down ${tb.id}`);
      return 0;
    }
    case "down": {
      const ids = values.all ? list().map((t) => t.id) : arg ? [arg] : [];
      if (ids.length === 0) {
        log(values.all ? "nothing to tear down" : "usage: down ID|--all");
        return values.all ? 0 : 1;
      }
      for (const id of ids) {
        await down(id);
        log(`test bed ${id} removed`);
      }
      return 0;
    }
    case "list":
      for (const t of list()) process.stdout.write(`${t.id} ${t.hosts.map((h) => `${h.name}=${h.ip}`).join(" ")} ${t.inventory}\n`);
      return 0;
    default:
      log(`${cmd === undefined ? "no command" : `unknown command ${JSON.stringify(cmd)}`}\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`testbed: ${e.message}\n`);
    process.exit(2);
  },
);
