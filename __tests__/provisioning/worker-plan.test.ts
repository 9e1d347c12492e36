/** The asterisk-worker task without a host: variables, rendering, the plan (--check and no-op) and the health verdict. */
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULTS, RoleVars } from "../../provisioning/defaults";
import { InventoryError, loadInventory } from "../../provisioning/inventory";
import { OS_PROFILES } from "../../provisioning/os";
import { sha256 } from "../../provisioning/render";
import { evaluateWorkerHealth, planWorker, workerBundle, renderWorkerFiles, workerAriUrl, workerFacts, workerRuntime } from "../../provisioning/tasks/worker";
import { scriptParams } from "./params";

const vars = (over: Partial<RoleVars> = {}): RoleVars => ({ ...DEFAULTS, asterisk_worker_enabled: true, ...over });
const deb = OS_PROFILES.debian;
const bundle = { text: "console.log(1)\n", sha: sha256("console.log(1)\n") };
const secrets = { redis: "redis-secret-123", ari: "ari-secret-4567" };

function loadProblems(groupVars: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), "inv-"));
  mkdirSync(join(dir, "group_vars"));
  writeFileSync(join(dir, "hosts"), "[asterisk]\nast1 ansible_host=10.0.0.1\n");
  writeFileSync(join(dir, "group_vars", "asterisk.yml"), groupVars);
  try {
    loadInventory(dir, {});
  } catch (e) {
    if (e instanceof InventoryError) return e.problems;
    throw e;
  }
  return [];
}

/** Facts of a host where everything is in place and healthy. */
function converged(v: RoleVars) {
  const want = renderWorkerFiles(v, deb, "/usr/bin/node");
  return workerFacts({
    worker_env: want.env,
    worker_unit: want.unit,
    worker_bundle_sha: bundle.sha,
    worker_ari_pw_sha: sha256(secrets.ari),
    worker_redis_pw_sha: sha256(secrets.redis),
    worker_node: "/usr/bin/node",
    worker_node_version: "v18.20.4",
    worker_state: "ActiveState=active\nUnitFileState=enabled\nMainPID=42",
    worker_asterisk: "active",
    worker_health: `200 ${JSON.stringify({ status: "healthy", redis: { connected: true, endpoint: "127.0.0.1:6379" }, ari: { connected: true, app: "campaign-dialer" }, backlog: { unsent: 0, stream: 3 }, calls: 1 })}`,
  });
}

describe("variables", () => {
  test("each bad value is named with its file; the worker without an ARI password is refused before any host", () => {
    const p = loadProblems(
      ["asterisk_worker_enabled: true", 'asterisk_worker_ari_url: "http://asterisk.internal:8088"', "asterisk_worker_health_port: 0", 'asterisk_worker_health_allow: "10.0.0.0/33"', "asterisk_worker_log_level: loud", "asterisk_worker_memory_max: 1T", "asterisk_worker_typo: 1"].join("\n"),
    );
    const text = p.join("\n");
    expect(text).toMatch(/group_vars\/asterisk\.yml.*asterisk_worker_ari_url: must be a http\(s\):\/\/ADDRESS\[:PORT\] URL .* IP address or localhost/);
    expect(text).toMatch(/asterisk_worker_health_port: must be an integer 1-65535/);
    expect(text).toMatch(/asterisk_worker_health_allow: must be space-separated IP addresses or CIDR ranges/);
    expect(text).toMatch(/asterisk_worker_log_level: must be one of debug, info, warn, error, silent/);
    expect(text).toMatch(/asterisk_worker_memory_max: must be a systemd MemoryMax= size/);
    expect(text).toMatch(/asterisk_worker_typo: unknown variable \(known: asterisk_worker_enabled, /);
    expect(text).toMatch(/asterisk_worker_enabled: the worker logs in to ARI as asterisk_ari_user and needs its password/);
    expect(loadProblems("asterisk_worker_enabled: true\nasterisk_ari_password: ari-secret-4567\n")).toEqual([]);
  });
});

describe("rendering", () => {
  test("ARI_URL follows asterisk_ari_*; addresses off loopback are allowed by the unit; no secret in either file", () => {
    expect(workerAriUrl(vars())).toBe("http://127.0.0.1:8088");
    expect(workerAriUrl(vars({ asterisk_ari_bind_address: "10.0.1.5", asterisk_ari_port: 8089 }))).toBe("http://10.0.1.5:8089");
    expect(workerAriUrl(vars({ asterisk_worker_ari_url: "https://[::1]:8443/" }))).toBe("https://[::1]:8443");
    const lo = renderWorkerFiles(vars(), deb, "/usr/bin/node");
    expect(lo.unit).toContain("IPAddressAllow=localhost\n");
    expect(lo.unit).toContain("ExecStart=/usr/bin/node /opt/asterisk-worker/index.js");
    expect(lo.unit).toContain("LoadCredential=redis-password:/etc/credstore/asterisk-worker.redis-password");
    expect(lo.env).toContain("REDIS_HOST=127.0.0.1\nREDIS_PORT=6379\n");
    const far = renderWorkerFiles(vars({ asterisk_ari_bind_address: "10.0.1.5", redis_bind_address: "10.0.1.6", asterisk_worker_health_allow: "10.0.9.0/24" }), deb, "/usr/bin/node");
    expect(far.unit).toContain("IPAddressAllow=localhost 10.0.1.5 10.0.1.6 10.0.9.0/24\n");
    expect(far.env).toContain("REDIS_HOST=10.0.1.6");
    for (const t of [lo.env, lo.unit]) for (const s of Object.values(secrets)) expect(t).not.toContain(s);
    expect(workerRuntime(OS_PROFILES["al2023-valkey"])).toEqual({ packages: ["nodejs20"], node: "/usr/bin/node-20" });
  });
});

describe("plan", () => {
  test("a converged, healthy host needs no round trip; --check of a fresh host lists every step and the restart", () => {
    const v = vars();
    const ok = planWorker(v, secrets, converged(v), deb, bundle, false);
    expect(ok.apply).toBeUndefined();
    expect(ok.results.map((r) => `${r.status} ${r.task}`)).toEqual(["ok asterisk-worker", "ok verify asterisk-worker"]);

    const fresh = planWorker(v, secrets, workerFacts({ worker_state: "ActiveState=inactive\nUnitFileState=\nMainPID=0" }), deb, bundle, true);
    expect(fresh.apply).toBeUndefined();
    expect(fresh.results[0].msg).toMatch(/^would install nodejs, copy the bundle, write \/etc\/asterisk-worker\/worker.env, write the ari-password credential, write the redis-password credential, write \/etc\/systemd\/system\/asterisk-worker.service, enable asterisk-worker.service/);
    expect(fresh.results[1]).toMatchObject({ task: "restart asterisk-worker", handler: true });
    expect(fresh.results[1].msg).toContain("runtime installed");
  });

  test("one changed credential: the apply carries that secret only (as data), never the other, and restarts", () => {
    const v = vars();
    const f = { ...converged(v), redisPasswordSha: "absent" };
    const p = planWorker(v, secrets, f, deb, bundle, false);
    expect(p.apply).toBeDefined();
    // The secret is data in the parameter here-document (\xHH escapes, on ssh stdin only), never in the clear.
    const params = scriptParams(p.apply!);
    expect(params.P_W_REDIS_PW).toBe(secrets.redis);
    expect(p.apply).not.toContain(secrets.redis);
    expect(p.apply).not.toContain(Buffer.from(secrets.redis).toString("base64"));
    expect(p.apply).not.toContain(secrets.ari);
    expect(p.apply).not.toContain(Buffer.from(secrets.ari).toString("base64"));
    expect(params.P_W_BUNDLE_B64).toBeUndefined();
    expect(params.P_W_WHY).toContain("credentials changed");
  });

  test("a node older than the bundle's target fails the task and changes nothing; disabled leaves an installed worker alone, saying so", () => {
    const v = vars();
    const old = planWorker(v, secrets, { ...converged(v), nodeVersion: "v12.22.9" }, deb, bundle, false);
    expect(old.apply).toBeUndefined();
    expect(old.results[0]).toMatchObject({ status: "failed" });
    expect(old.results[0].msg).toMatch(/needs Node\.js 18 or newer.*nothing changed/);
    const off = planWorker(vars({ asterisk_worker_enabled: false }), secrets, workerFacts({ worker_unit_present: "1" }), deb, bundle, false);
    expect(off.results[0].status).toBe("skipped");
    expect(off.results[0].msg).toContain("WARNING: /etc/systemd/system/asterisk-worker.service is installed on this host and left as it is");
  });
});

describe("verify", () => {
  const v = vars();
  const doc = (redis: boolean, ari: boolean) => JSON.stringify({ status: redis && ari ? "healthy" : "degraded", redis: { connected: redis, endpoint: "127.0.0.1:6379" }, ari: { connected: ari, app: "campaign-dialer" } });
  const at = (health: string, asterisk = "active", active = "active") => evaluateWorkerHealth(v, { active, health, asterisk, journal: "asterisk-worker: ARI_USER is required but not set", mainPid: "7" });
  test("healthy passes; Redis down fails; ARI down fails only when Asterisk runs; no answer or not running fails", () => {
    expect(at(`200 ${doc(true, true)}`)).toMatchObject({ status: "ok" });
    expect(at(`503 ${doc(false, true)}`)).toMatchObject({ status: "failed" });
    expect(at(`503 ${doc(true, false)}`).status).toBe("failed");
    expect(at(`503 ${doc(true, false)}`).msg).toContain("not connected although asterisk is active");
    const noAsterisk = at(`503 ${doc(true, false)}`, "inactive");
    expect(noAsterisk.status).toBe("ok");
    expect(noAsterisk.msg).toMatch(/^WARNING: degraded/);
    expect(at("000 ").msg).toMatch(/did not answer within 5 s/);
    expect(at("200 <html>").msg).toMatch(/without the health document/);
    expect(at("", "active", "failed").msg).toBe("asterisk-worker.service is failed: asterisk-worker: ARI_USER is required but not set");
  });
});

describe("bundle", () => {
  test("built in-process by lambdas/build.ts (content-hash record) when missing, then read; a bundle that is not the one recorded is rebuilt", async () => {
    const dir = mkdtempSync(join(tmpdir(), "worker-bundle-"));
    const b = await workerBundle(dir);
    const file = join(dir, "asterisk-worker", "index.js");
    expect(existsSync(file)).toBe(true);
    expect(existsSync(join(dir, "asterisk-worker.inputs.json"))).toBe(true);
    expect(b.sha).toBe(sha256(readFileSync(file, "utf8")));
    expect(b.text).toContain("asterisk-worker");
    // Another process's view (workerBundle reads once per process): the recorded bundle is up to date, an edited one is rebuilt.
    const { buildAsteriskWorker } = await import("../../lambdas/build");
    expect(buildAsteriskWorker({ outDir: dir }).rebuilt).toBe(false);
    writeFileSync(file, "old");
    expect(buildAsteriskWorker({ outDir: dir }).rebuilt).toBe(true);
    expect(sha256(readFileSync(file, "utf8"))).toBe(b.sha);
  }, 120_000);
});
