/**
 * npm run demo: the whole flow on one machine, no AWS account — boot one local Debian 12 host
 * (systemd-nspawn test bed), provision Redis on it with the real CLI, show PONG, tear down.
 * Needs root on Linux (see README: test bed).
 */
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { main } from "./cli";
import * as testbed from "./testbed";

async function demo(): Promise<number> {
  const password = process.env.REDIS_PASSWORD || randomBytes(18).toString("base64url");
  const log = (m: string) => process.stderr.write(`demo: ${m}\n`);
  log("booting one Debian 12 host (first time: builds the cached image, ~1 min)...");
  const tb = await testbed.up({ count: 1, log });
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
    return 0;
  } finally {
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
