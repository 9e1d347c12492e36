/**
 * The hardened unit (templates/asterisk-worker.service.hbs + asterisk-worker.env.hbs) on a real
 * booted Debian 12 host (provisioning/testbed: systemd-nspawn, systemd as PID 1, reached over SSH):
 * Redis from Debian's package, the ARI stand-in as a plain service beside it, the worker bundle run
 * by systemd with DynamicUser, credentials and the sandbox. It must start, answer its health
 * endpoint, turn a call into a stream entry, keep its secrets out of process arguments and the
 * journal, and stop cleanly. Installing it from the inventory is the provisioning role's job (not
 * here); this pins that the unit it will install works. Needs root (the test bed).
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import Handlebars from "handlebars";
import { readFileSync } from "node:fs";
import { buildAsteriskWorker } from "../../lambdas/build";
import * as testbed from "../../provisioning/testbed";
import { run } from "../../provisioning/testbed/sh";

const ROOT = resolve(__dirname, "../..");
const IS_ROOT = process.getuid?.() === 0;
const suite = IS_ROOT && process.platform === "linux" ? describe : describe.skip;

const render = (name: string, ctx: object) => Handlebars.compile(readFileSync(join(ROOT, "templates", name), "utf8"), { strict: true, noEscape: true })(ctx);

suite("asterisk-worker.service on a real Debian 12 host", () => {
  let tb: testbed.Testbed;
  let host: testbed.TestHost;
  const ariPassword = `ari-${Math.random().toString(36).slice(2)}`;
  const redisPassword = `redis-${Math.random().toString(36).slice(2)}`;

  const sh = async (script: string, timeoutS = 60) => {
    const r = await run("timeout", [String(timeoutS), "ssh", "-i", tb.key, "-o", `UserKnownHostsFile=${tb.knownHosts}`, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", `ec2-user@${host.ip}`, "sudo bash -s"], { input: `set -eu\n${script}\n` });
    if (r.code !== 0) throw new Error(`on ${host.name}: exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-8).join(" | ")}`);
    return r.stdout;
  };
  const put = (path: string, text: string | Buffer, mode: number) => {
    const full = join(host.dir, path);
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, text, { mode });
  };
  /** fetch() from inside the host (the health endpoint listens on its loopback only). */
  const fetchOnHost = (url: string, init = "{}") => sh(`/usr/local/bin/node -e 'fetch(process.argv[1], JSON.parse(process.argv[2])).then(async (r) => console.log(r.status, await r.text()), (e) => { console.log("ERR", e.cause?.code ?? e.message); })' '${url}' '${init}'`);

  beforeAll(async () => {
    tb = await testbed.up({ count: 1, log: (m) => process.stderr.write(`testbed: ${m}\n`) });
    host = tb.hosts[0];
    const worker = await buildAsteriskWorker({ outDir: join(tb.dir, "worker-build") });
    const standin = join(tb.dir, "standin.js");
    await build({
      stdin: {
        contents: `import { AriStandIn } from "./ari-standin";
          const a = new AriStandIn({ user: "campaign_dialer", password: require("node:fs").readFileSync(process.env.CREDENTIALS_DIRECTORY + "/ari-password", "utf8").trim(), timeScale: 50,
            plan: () => ({ outcome: "answered", ringMs: 2000, talkMs: 20000 }) });
          a.port = 8088; a.start().then(() => console.log("ARI stand-in on", a.url));`,
        resolveDir: join(ROOT, "lambdas", "asterisk-worker"),
        loader: "ts",
      },
      outfile: standin,
      bundle: true,
      platform: "node",
      format: "cjs",
      external: ["bufferutil", "utf-8-validate"],
      logLevel: "warning",
    });
    put("usr/local/bin/node", readFileSync(process.execPath), 0o755);
    put("opt/asterisk-worker/index.js", readFileSync(worker.file), 0o644);
    put("opt/ari-standin/index.js", readFileSync(standin), 0o644);
    put("etc/asterisk-worker/ari-password", ariPassword + "\n", 0o600);
    put("etc/asterisk-worker/redis-password", redisPassword + "\n", 0o600);
    put(
      "etc/asterisk-worker/worker.env",
      render("asterisk-worker.env.hbs", { ari_url: "http://127.0.0.1:8088", ari_user: "campaign_dialer", ari_app: "campaign-dialer", redis_port: 6379, health_host: "127.0.0.1", health_port: 8090, log_level: "info" }),
      0o644,
    );
    put(
      "etc/systemd/system/asterisk-worker.service",
      render("asterisk-worker.service.hbs", {
        ari_app: "campaign-dialer",
        env_file: "/etc/asterisk-worker/worker.env",
        redis_service: "redis-server",
        asterisk_service: "asterisk",
        node_path: "/usr/local/bin/node",
        install_dir: "/opt/asterisk-worker",
        ari_password_file: "/etc/asterisk-worker/ari-password",
        redis_password_file: "/etc/asterisk-worker/redis-password",
        health_allow: "",
        memory_max: "256M",
      }),
      0o644,
    );
    put(
      "etc/systemd/system/ari-standin.service",
      "[Unit]\nDescription=ARI stand-in (test)\n[Service]\nExecStart=/usr/local/bin/node /opt/ari-standin/index.js\nLoadCredential=ari-password:/etc/asterisk-worker/ari-password\nDynamicUser=yes\n",
      0o644,
    );
    copyFileSync(join(host.dir, "etc/asterisk-worker/redis-password"), join(host.dir, "root/.redis-password"));
    await sh(
      `export DEBIAN_FRONTEND=noninteractive
       apt-get update -qq >/dev/null && apt-get install -y -qq redis-server redis-tools >/dev/null
       printf 'requirepass %s\\n' "$(cat /root/.redis-password)" >> /etc/redis/redis.conf
       systemctl restart redis-server
       systemctl daemon-reload
       systemctl start ari-standin asterisk-worker`,
      180,
    );
  }, 600_000);

  afterAll(async () => {
    if (tb) await testbed.down(tb);
  }, 120_000);

  test("systemd-analyze verify finds nothing; the sandbox rates well", async () => {
    const out = await sh("systemd-analyze verify /etc/systemd/system/asterisk-worker.service 2>&1 || true; systemd-analyze security asterisk-worker.service --no-pager | tail -n 1");
    expect(out).not.toMatch(/asterisk-worker\.service:\d+:/); // no complaint about a line of the unit
    const score = Number(/exposure level for asterisk-worker\.service: (\d+\.\d+)/.exec(out)?.[1]);
    process.stderr.write(`systemd-analyze security: ${out.trim().split("\n").pop()}\n`);
    expect(score).toBeLessThanOrEqual(2.5);
  }, 60_000);

  test("runs as a dynamic user with its secrets as credentials, answers /health, and hands a call's outcome to Redis", async () => {
    let health = "";
    for (let i = 0; i < 50 && !health.startsWith("200"); i++) {
      health = await fetchOnHost("http://127.0.0.1:8090/health");
      if (!health.startsWith("200")) await new Promise((r) => setTimeout(r, 200));
    }
    expect(health).toMatch(/^200 /);
    expect(JSON.parse(health.slice(4))).toMatchObject({ status: "healthy", redis: { connected: true, endpoint: "127.0.0.1:6379" }, ari: { connected: true, app: "campaign-dialer" } });

    const auth = Buffer.from(`campaign_dialer:${ariPassword}`).toString("base64");
    const post = await fetchOnHost("http://127.0.0.1:8088/ari/channels?endpoint=PJSIP/%2B15551230001@trunk&app=campaign-dialer&channelId=cmp-svc-1", JSON.stringify({ method: "POST", headers: { authorization: `Basic ${auth}` } }));
    expect(post).toMatch(/^200 /);
    let entry = "";
    for (let i = 0; i < 50 && !entry.includes("cmp-svc-1"); i++) {
      entry = await sh(`REDISCLI_AUTH="$(cat /root/.redis-password)" redis-cli --no-auth-warning XRANGE campaign:outcomes:v1 - +`);
      if (!entry.includes("cmp-svc-1")) await new Promise((r) => setTimeout(r, 200));
    }
    expect(entry.split("\n")).toEqual(expect.arrayContaining(["cmp-svc-1", "answered", "talkSeconds", "20", "cause", "16"]));

    const facts = await sh(
      `pid=$(systemctl show -p MainPID --value asterisk-worker)
       echo "user=$(stat -c %U /proc/$pid)"
       echo "cmdline=$(tr '\\0' ' ' < /proc/$pid/cmdline)"
       echo "environ=$(tr '\\0' '\\n' < /proc/$pid/environ | grep -c PASSWORD || true)"
       journalctl -u asterisk-worker --no-pager -o cat`,
    );
    expect(facts).toMatch(/^user=(?!root)\S+/m);
    expect(facts).toContain("cmdline=/usr/local/bin/node /opt/asterisk-worker/index.js");
    expect(facts).toContain("environ=0");
    expect(facts).not.toContain(ariPassword);
    expect(facts).not.toContain(redisPassword);
  }, 60_000);

  test("the health endpoint is not reachable from another host (loopback only)", async () => {
    const r = await run("timeout", ["5", "bash", "-c", `exec 3<>/dev/tcp/${host.ip}/8090 && echo open || echo closed`]);
    expect(r.stdout.trim()).not.toBe("open");
  });

  test("systemctl stop: a clean exit (status 0), not killed", async () => {
    const out = await sh("systemctl stop asterisk-worker; systemctl show -p ExecMainStatus -p Result asterisk-worker");
    expect(out).toContain("ExecMainStatus=0");
    expect(out).toContain("Result=success");
  }, 60_000);
});
