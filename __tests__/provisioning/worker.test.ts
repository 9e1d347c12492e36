/**
 * The asterisk-worker task on a real Debian 12 host (provisioning/testbed: systemd-nspawn, systemd as
 * PID 1, reached over SSH): Node.js 18 from Debian's package (the test bed's local mirror), the bundle,
 * the env file, the hardened unit, the passwords as systemd credentials, the restart handler and the
 * health probe. Asterisk is played by the ARI stand-in (lambdas/asterisk-worker/ari-standin.ts) run as
 * the host's `asterisk.service` on Debian's node, so "Asterisk is active" means what it means in
 * production. Needs root (skips loudly without; fails under CI).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";

const CONTROL = mkdtempSync(join(tmpdir(), "prov-ssh-"));
process.env.PROVISION_SSH_CONTROL_DIR = CONTROL;

import * as testbed from "../../provisioning/testbed";
import { run as runLocal } from "../../provisioning/testbed/sh";
import { filesWith, missingPrereqs, onHost, provisionIn, provisionProcess, recap, taskLines, type Run } from "./realhost";

const ROOT = resolve(__dirname, "../..");
const REDIS_PW = "Wk-redis-pa55word-never-printed-51c";
const ARI_PW = "Wk-ari-pa55word-never-printed-9e2";
const missing = missingPrereqs();
if (missing.length && !process.env.CI) {
  console.warn(`\n!! SKIPPING the asterisk-worker provisioning tests: missing ${missing.join(", ")} (they boot a Debian host with systemd-nspawn).\n`);
}
const suite = missing.length && !process.env.CI ? describe.skip : describe;

suite("asterisk-worker provisioned on a real Debian 12 host", () => {
  let tb: testbed.Testbed;
  const H = "host1";
  const env = { REDIS_PASSWORD: REDIS_PW };
  const provision = (...args: string[]) => provisionIn(tb, env, ...args);
  const sh = (cmd: string) => onHost(tb, H, `sudo bash -c ${JSON.stringify(cmd)}`);
  const line = (r: Run, task: string) => r.out.split("\n").find((l) => l.includes(`[${H}] ${task} =>`) || l.includes(`[${H}] RUNNING HANDLER [${task}] =>`)) ?? "";
  const handlerRuns = (r: Run) => r.out.split("\n").filter((l) => l.startsWith(`changed: [${H}] RUNNING HANDLER [restart asterisk-worker]`)).length;
  /** How many times the worker process started (its own log line, from the journal). */
  const starts = async () => Number((await sh("journalctl -u asterisk-worker -o cat --no-pager | grep -c 'asterisk-worker started' || true")).trim());
  const health = () => sh("curl -s --max-time 5 -w ' %{http_code}' http://127.0.0.1:8090/health || true");
  /** The worker's own task lines (the Redis part's --check on a fresh host is pinned by hosts.test.ts). */
  const workerLines = (r: Run) => taskLines(r, H).filter((l) => l.includes("asterisk-worker") && !l.includes("verify"));

  beforeAll(async () => {
    tb = await testbed.up({
      count: 1,
      log: (m) => process.stderr.write(`testbed: ${m}\n`),
      groupVars: { asterisk_worker_enabled: true, asterisk_ari_password: ARI_PW, redis_metrics_enabled: false },
    });
    // The ARI stand-in, bundled for the host; its unit is written now and started in a later test.
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
      target: "node18",
      format: "cjs",
      external: ["bufferutil", "utf-8-validate"],
      logLevel: "warning",
    });
    const host = tb.hosts[0];
    mkdirSync(join(host.dir, "opt/ari-standin"), { recursive: true });
    writeFileSync(join(host.dir, "opt/ari-standin/index.js"), readFileSync(standin));
    writeFileSync(
      join(host.dir, "etc/systemd/system/asterisk.service"),
      "[Unit]\nDescription=Asterisk (ARI stand-in, test)\n[Service]\nExecStart=/usr/bin/node /opt/ari-standin/index.js\nLoadCredential=ari-password:/etc/credstore/asterisk-worker.ari-password\nDynamicUser=yes\n",
    );
  }, 600_000);

  afterAll(async () => {
    if (tb) await testbed.down(tb);
  }, 120_000);

  test("a fresh host: --check predicts the run; the run installs Node 18 from Debian, starts the hardened worker once; degraded without Asterisk passes with a warning", async () => {
    const check = await provision("--check");
    expect(check.code).toBe(0);
    expect(line(check, "asterisk-worker")).toMatch(/would install nodejs, copy the bundle, write \/etc\/asterisk-worker\/worker.env, write the ari-password credential, write the redis-password credential, write \/etc\/systemd\/system\/asterisk-worker.service, enable/);
    expect(line(check, "restart asterisk-worker")).toContain("would restart");

    const r = await provision("--diff");
    expect(r.code).toBe(0);
    expect(workerLines(r)).toEqual(["changed asterisk-worker", "changed restart asterisk-worker"]);
    expect(workerLines(check)).toEqual(workerLines(r));
    expect(handlerRuns(r)).toBe(1);
    expect(line(r, "verify asterisk-worker")).toMatch(/^ok: .*WARNING: degraded: Redis connected, but ARI is not: no asterisk service is active/);
    expect(r.out).toContain("+ARI_URL=http://127.0.0.1:8088"); // the env file's diff
    for (const s of [REDIS_PW, ARI_PW]) expect(r.out + r.err).not.toContain(s);

    expect((await sh("node --version")).trim()).toMatch(/^v18\./);
    expect(await onHost(tb, H, "dpkg-query -W -f='${Status} ${Version}' nodejs")).toMatch(/install ok installed 18\./);
    expect(await sh("systemctl is-active asterisk-worker; systemctl is-enabled asterisk-worker")).toBe("active\nenabled\n");
    const h = await health();
    expect(h).toMatch(/ 503$/);
    expect(JSON.parse(h.replace(/ 503$/, ""))).toMatchObject({ status: "degraded", redis: { connected: true }, ari: { connected: false } });
    expect(await starts()).toBe(1);
    expect(await sh("stat -c '%a %U' /etc/credstore /etc/credstore/asterisk-worker.ari-password /etc/credstore/asterisk-worker.redis-password")).toBe("700 root\n600 root\n600 root\n");
    process.stderr.write(`first converge ${r.ms} ms\n`);
    const verify = await sh("systemd-analyze verify /etc/systemd/system/asterisk-worker.service 2>&1 || true");
    expect(verify).not.toMatch(/asterisk-worker\.service:\d+:/); // no complaint about a line of the unit
    const sec = await sh("systemd-analyze security asterisk-worker.service --no-pager | tail -n 1");
    process.stderr.write(`${sec.trim()}\n`);
    expect(Number(/exposure level for asterisk-worker\.service: (\d+\.\d+)/.exec(sec)?.[1])).toBeLessThanOrEqual(2.5);
    // The health endpoint is on the host's loopback only.
    const probe = await runLocal("timeout", ["5", "bash", "-c", `exec 3<>/dev/tcp/${tb.hosts[0].ip}/8090 && echo open || echo closed`]);
    expect(probe.stdout.trim()).not.toBe("open");
  }, 300_000);

  test("with Asterisk (the ARI stand-in) running, health is healthy and the next run is changed=0, in --check too; outcomes reach the stream", async () => {
    await sh("systemctl daemon-reload && systemctl start asterisk");
    let h = "";
    for (let i = 0; i < 60 && !h.endsWith(" 200"); i++) {
      h = await health();
      if (!h.endsWith(" 200")) await new Promise((res) => setTimeout(res, 250));
    }
    expect(h).toMatch(/"status":"healthy".* 200$/);
    // The second one as `npm run provision` runs it: the CLI's own esbuild bundle, its own process.
    for (const args of [["--check"], []]) {
      const r = args.length ? await provision(...args) : await provisionProcess(tb, env, ["--forks", "3"]);
      expect(r.code).toBe(0);
      expect(recap(r, H).changed).toBe(0);
      expect(line(r, "verify asterisk-worker")).toMatch(/^ok: .* healthy: Redis 127\.0\.0\.1:6379 and ARI app campaign-dialer connected/);
    }
    expect(await starts()).toBe(1);

    // A call placed over ARI becomes one stream entry (what status-checker consumes).
    const auth = Buffer.from(`campaign_dialer:${ARI_PW}`).toString("base64");
    await onHost(tb, H, "curl -s -o /dev/null -w '%{http_code}' -X POST -H @- 'http://127.0.0.1:8088/ari/channels?endpoint=PJSIP/%2B15551230001@trunk&app=campaign-dialer&channelId=cmp-prov-1'", `Authorization: Basic ${auth}\n`);
    let entry = "";
    for (let i = 0; i < 50 && !entry.includes("cmp-prov-1"); i++) {
      entry = await onHost(tb, H, "sudo sh -c 'REDISCLI_AUTH=$(cat) redis-cli --no-auth-warning XRANGE campaign:outcomes:v1 - +'", REDIS_PW);
      if (!entry.includes("cmp-prov-1")) await new Promise((res) => setTimeout(res, 200));
    }
    expect(entry.split("\n")).toEqual(expect.arrayContaining(["cmp-prov-1", "answered", "talkSeconds", "20"]));
  }, 180_000);

  test("a changed config, bundle or credential restarts the worker exactly once, and the run after is changed=0", async () => {
    let before = await starts();
    const check = await provision("--check", "-e", "asterisk_worker_log_level=debug");
    expect(line(check, "asterisk-worker")).toContain("would write /etc/asterisk-worker/worker.env");
    expect(line(check, "restart asterisk-worker")).toContain("would restart: env file changed");
    const cfg = await provision("-e", "asterisk_worker_log_level=debug");
    expect(cfg.code).toBe(0);
    expect(handlerRuns(cfg)).toBe(1);
    expect(await starts()).toBe(before + 1);
    expect(await sh("grep ^LOG_LEVEL= /etc/asterisk-worker/worker.env")).toBe("LOG_LEVEL=debug\n");
    expect(recap(await provision("-e", "asterisk_worker_log_level=debug"), H).changed).toBe(0);

    // The bundle on the host differs (an edit, a partial copy): copied again, one restart.
    before = await starts();
    await sh("echo '// edited' >> /opt/asterisk-worker/index.js");
    const b = await provision("-e", "asterisk_worker_log_level=debug");
    expect(line(b, "asterisk-worker")).toMatch(/^changed: .*copied the bundle/);
    expect(line(b, "restart asterisk-worker")).toContain("why: bundle changed");
    expect(handlerRuns(b)).toBe(1);
    expect(await starts()).toBe(before + 1);

    // A credential file that no longer holds the password: rewritten (value never shown), one restart.
    before = await starts();
    await sh("printf wrong > /etc/credstore/asterisk-worker.redis-password");
    const c = await provision("--diff", "-e", "asterisk_worker_log_level=debug");
    expect(line(c, "asterisk-worker")).toMatch(/^changed: .*wrote the redis-password credential/);
    expect(handlerRuns(c)).toBe(1);
    expect(await starts()).toBe(before + 1);
    expect(line(c, "verify asterisk-worker")).toMatch(/^ok: .*healthy/);
    for (const s of [REDIS_PW, ARI_PW]) expect(c.out + c.err).not.toContain(s);
    expect(recap(await provision("-e", "asterisk_worker_log_level=debug"), H).changed).toBe(0);
  }, 300_000);

  test("the passwords are in the credential files only: not in the unit, env file, process arguments, environment or journal", async () => {
    for (const pw of [REDIS_PW, ARI_PW]) {
      const files = await filesWith(tb, H, pw);
      // The credential store and systemd's per-service copies of it (/run/credentials, ramfs, root only).
      for (const f of files) expect(f).toMatch(/^(\/etc\/credstore\/asterisk-worker\.(ari|redis)-password|\/run\/credentials\/(asterisk-worker|asterisk)\.service\/(ari|redis)-password)$/);
      expect(files).toContain(`/etc/credstore/asterisk-worker.${pw === ARI_PW ? "ari" : "redis"}-password`);
    }
    const seen = await onHost(
      tb,
      H,
      "sudo sh -c 'pid=$(systemctl show -p MainPID --value asterisk-worker); { ps -eo args; tr \"\\0\" \"\\n\" < /proc/$pid/environ; journalctl --no-pager -o cat; cat /etc/systemd/system/asterisk-worker.service /etc/asterisk-worker/worker.env; } | grep -c -F -f /dev/stdin || true'",
      `${REDIS_PW}\n${ARI_PW}\n`,
    );
    expect(seen.trim()).toBe("0");
    expect(await sh("stat -c %U /proc/$(systemctl show -p MainPID --value asterisk-worker)")).not.toMatch(/^root$/m);
  }, 60_000);

  test("without curl on the host the probe uses the node the task installed; systemctl stop is a clean exit", async () => {
    await sh("mv /usr/bin/curl /usr/bin/curl.away");
    try {
      const r = await provision("-e", "asterisk_worker_log_level=debug");
      expect(recap(r, H).changed).toBe(0);
      expect(line(r, "verify asterisk-worker")).toMatch(/^ok: .*healthy/);
    } finally {
      await sh("mv /usr/bin/curl.away /usr/bin/curl");
    }
    const out = await sh("systemctl stop asterisk-worker; systemctl show -p ExecMainStatus -p Result asterisk-worker");
    expect(out).toContain("ExecMainStatus=0");
    expect(out).toContain("Result=success");
    // Stopped behind the tool's back: the next run starts it again (one start), health back.
    const r = await provision("-e", "asterisk_worker_log_level=debug");
    expect(line(r, "restart asterisk-worker")).toContain("why: not running (inactive)");
    expect(line(r, "verify asterisk-worker")).toMatch(/^ok: .*healthy/);
  }, 180_000);
});
