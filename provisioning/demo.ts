/**
 * npm run demo: the whole flow on one machine, no AWS account — boot one local Debian 12 host
 * (systemd-nspawn test bed), provision Redis on it with the real CLI, show PONG and one run of the
 * metrics publisher (against the AWS stand-ins of testbed/aws.ts), tear down.
 * Needs root on Linux (see README: test bed).
 */
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { main } from "./cli";
import * as testbed from "./testbed";
import { awsStandIns } from "./testbed/aws";
import { run } from "./testbed/sh";
import { commandLine } from "../lambdas/contracts/cli";

const USAGE = `usage: npm run demo [-- --help]

Boots one local Debian 12 host (systemd-nspawn test bed; needs root), provisions Redis on it with
npm run provision (twice: the second run is a no-op), shows PING -> PONG and one run of the metrics
publisher against the AWS stand-ins, then tears the host down. REDIS_PASSWORD: default a random one.

  -h, --help   this text`;

async function demo(): Promise<number> {
  if (!commandLine(USAGE, { options: {} })) return 0;
  const password = process.env.REDIS_PASSWORD || randomBytes(18).toString("base64url");
  const log = (m: string) => process.stderr.write(`demo: ${m}\n`);
  log("booting one Debian 12 host (first time: builds the cached image, ~1 min)...");
  const tb = await testbed.up({ count: 1, log });
  const imds = await awsStandIns(tb);
  try {
    const io = { stdout: (s: string) => process.stdout.write(s), stderr: (s: string) => process.stderr.write(s), env: { ...process.env, REDIS_PASSWORD: password } };
    log(`$ npm run provision -- -i ${tb.inventory}`);
    const code = await main(["-i", tb.inventory], io);
    if (code !== 0) return code;
    log("$ npm run provision again (no-op expected: changed=0)");
    await main(["-i", tb.inventory], io);
    const c = new Redis({ host: tb.hosts[0].ip, port: 6379, password, lazyConnect: true, maxRetriesPerRequest: 1 });
    await c.connect();
    process.stdout.write(`\nredis://${tb.hosts[0].ip}:6379 PING -> ${await c.ping()}\n`);
    c.disconnect();
    log("$ sudo systemctl start redis-metrics.service   (the timer does this every 60 s; aws is a recording stand-in)");
    const ssh = ["-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", `ec2-user@${tb.hosts[0].ip}`];
    const m = await run("ssh", [...ssh, "sudo systemctl start redis-metrics.service; sudo journalctl -u redis-metrics.service -o cat --no-pager | grep '^published' | tail -n 1"]);
    process.stdout.write(`metrics publisher: ${m.stdout.trim() || m.stderr.trim()}\n`);
    return 0;
  } finally {
    await imds.close();
    await testbed.down(tb);
    log("test bed torn down");
  }
}

demo().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`demo failed: ${e.message}\n`);
    process.exit(2);
  },
);
