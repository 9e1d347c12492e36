/**
 * The metrics publisher: what the task plans from gathered facts (pure), and the rendered script run
 * for real on this machine against a local redis-server, the IMDSv2 stand-in on loopback and the
 * recording `aws` (edge cases the real-host suite does not reach: maxmemory 0, a wrong password,
 * IMDS down, no AWS CLI). Needs redis-server, redis-cli and curl; in CI their absence fails.
 */
import { execFile, execFileSync, spawn, ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { DEFAULTS, RoleVars } from "../../provisioning/defaults";
import { InventoryError } from "../../provisioning/inventory";
import { loadAsteriskVars } from "./inventories";
import { scriptParams } from "./params";
import { OS_PROFILES } from "../../provisioning/os";
import { parseInfo } from "../../provisioning/tasks/facts";
import { METRICS_FILES, MetricsFacts, metricsFacts, metricsRedisHost, planMetrics, renderMetricsFiles } from "../../provisioning/tasks/metrics";
import { AwsCall, ImdsStandIn, installAwsStandIn, parseAwsCalls, startImds } from "../../provisioning/testbed/aws";

const debian = OS_PROFILES.debian;
const vars = (v: Partial<RoleVars> = {}): RoleVars => ({ ...DEFAULTS, ...v });

describe("metrics publisher: variables", () => {
  const load = loadAsteriskVars;

  it("has documented defaults and validates every variable, naming file and variable", () => {
    expect(load("redis_port: 6379\n").hosts[0].vars).toMatchObject({
      redis_metrics_enabled: true,
      redis_metrics_namespace: "Campaign/Redis",
      redis_metrics_interval_seconds: 60,
      redis_metrics_region: "",
      redis_metrics_imds_url: "http://169.254.169.254",
    });
    expect(load('redis_metrics_region: eu-west-3\nredis_metrics_imds_url: "http://[fd00:ec2::254]"\nredis_metrics_enabled: no\n').hosts[0].vars).toMatchObject({
      redis_metrics_region: "eu-west-3",
      redis_metrics_imds_url: "http://[fd00:ec2::254]",
      redis_metrics_enabled: false,
    });
    let problems: string[] = [];
    try {
      load(
        'redis_metrics_namespace: "AWS/Redis"\nredis_metrics_interval_seconds: 5\nredis_metrics_region: "mars; rm -rf /"\n' +
          'redis_metrics_imds_url: "https://169.254.169.254/x"\nredis_metrics_enabled: maybe\n',
      );
    } catch (e) {
      problems = (e as InventoryError).problems;
    }
    for (const v of ["redis_metrics_namespace", "redis_metrics_interval_seconds", "redis_metrics_region", "redis_metrics_imds_url", "redis_metrics_enabled"]) {
      expect(problems.some((p) => p.includes(`group_vars/asterisk.yml: ${v}: `))).toBe(true);
    }
    expect(problems.join("\n")).toMatch(/redis_metrics_namespace: must not start with AWS\//);
    expect(problems.join("\n")).toMatch(/redis_metrics_interval_seconds: must be an integer 10-3600/);
  });
});

describe("metrics publisher: plan (pure)", () => {
  const files = renderMetricsFiles(vars(), debian);
  const converged = (over: Partial<MetricsFacts> = {}): MetricsFacts => ({
    files: { ...files },
    timerEnabled: "enabled",
    timerActive: "active",
    aws: "/usr/bin/aws",
    curl: "/usr/bin/curl",
    ...over,
  });

  it("renders the unit, the timer and the script from the variables; no secret in any of them", () => {
    const f = renderMetricsFiles(vars({ redis_metrics_interval_seconds: 120, redis_port: 6380, redis_bind_address: "10.0.0.5", redis_metrics_region: "eu-west-3" }), debian);
    expect(f.timer).toMatch(/^OnUnitActiveSec=120s$/m);
    expect(f.timer).toMatch(/^WantedBy=timers\.target$/m);
    expect(f.service).toMatch(/^LoadCredential=redis-admin:\/var\/lib\/redis-provision\/admin\.secret$/m);
    expect(f.service).toMatch(/^DynamicUser=yes$/m);
    expect(f.service).toMatch(/^After=redis-server\.service/m);
    expect(f.script).toContain("REDIS_HOST='10.0.0.5'\nREDIS_PORT='6380'\nREDIS_USER='provisioner'");
    expect(f.script).toContain("REGION='eu-west-3'");
    expect(renderMetricsFiles(vars(), OS_PROFILES["al2023-valkey"]).script).toContain("REDIS_CLI='valkey-cli'");
    expect(metricsRedisHost("0.0.0.0")).toBe("127.0.0.1");
    expect(metricsRedisHost("10.0.0.5 -127.0.0.1")).toBe("127.0.0.1");
    expect(metricsRedisHost("::1 10.0.0.5")).toBe("::1");
    expect(metricsRedisHost("10.0.0.5 10.0.0.6")).toBe("10.0.0.5");
  });

  it("reads the gathered facts", () => {
    const f = metricsFacts({ metrics_timer_state: "ActiveState=active\nUnitFileState=enabled", metrics_script: "x", metrics_aws: "/usr/bin/aws" });
    expect(f).toEqual({ files: { script: "x", service: null, timer: null }, timerEnabled: "enabled", timerActive: "active", aws: "/usr/bin/aws", curl: "" });
  });

  it("is ok with nothing to do on a converged host", () => {
    const p = planMetrics(vars(), debian, converged(), false);
    expect(p.apply).toBeUndefined();
    expect(p.result).toMatchObject({ status: "ok", msg: "redis-metrics.timer active, every 60 s to Campaign/Redis" });
  });

  it("installs, enables and starts on a fresh host; --check only says so, with the diff", () => {
    const fresh = converged({ files: { script: null, service: null, timer: null }, timerEnabled: "", timerActive: "inactive" });
    const p = planMetrics(vars(), debian, fresh, false);
    expect(p.result).toBeUndefined();
    // provisioning/scripts/units.sh runs it with these parameters (data, not shell syntax).
    expect(p.apply).toMatch(/\ntimer_task\n$/);
    expect(scriptParams(p.apply!)).toMatchObject({
      P_T_TASK: "metrics publisher",
      P_T_TIMER: "redis-metrics.timer",
      P_T_REMOVE: "0",
      P_T_FILES: `${METRICS_FILES.script.path} 0755\n${METRICS_FILES.service.path} 0644\n${METRICS_FILES.timer.path} 0644`,
      P_T_RELOAD: "1",
      P_T_ENABLE: "1",
      P_T_START: "start",
      P_T_DONE: "redis-metrics.timer: wrote script, service, timer, enabled, started; every 60 s to Campaign/Redis",
    });
    expect(Buffer.from(scriptParams(p.apply!).P_T_CONTENT_3, "base64").toString()).toContain("OnUnitActiveSec=60s");
    expect(p.diff).toContain("+++ /usr/local/libexec/redis-metrics (rendered)");
    const c = planMetrics(vars(), debian, fresh, true);
    expect(c.apply).toBeUndefined();
    expect(c.result).toMatchObject({ status: "changed", msg: "redis-metrics.timer: would write script, service, timer, enable, start; every 60 s to Campaign/Redis" });
    expect(c.result?.diff).toContain("+OnUnitActiveSec=60s");
  });

  it("an interval change rewrites the timer only and restarts it (no daemon-reload needed for the script alone)", () => {
    const p = planMetrics(vars({ redis_metrics_interval_seconds: 300 }), debian, converged(), false);
    // Only the timer (the script does not depend on the interval), then a restart of the timer.
    expect(scriptParams(p.apply!)).toMatchObject({ P_T_FILES: `${METRICS_FILES.timer.path} 0644`, P_T_RELOAD: "1", P_T_ENABLE: "0", P_T_START: "restart" });
    expect(p.diff).toMatch(/^-OnUnitActiveSec=60s\n\+OnUnitActiveSec=300s$/m);
    const s = planMetrics(vars(), debian, converged({ files: { ...files, script: "#!/bin/bash\n# edited by hand\n" } }), false);
    expect(scriptParams(s.apply!)).toMatchObject({ P_T_FILES: `${METRICS_FILES.script.path} 0755`, P_T_RELOAD: "0", P_T_ENABLE: "0", P_T_START: "" });
  });

  it("without aws or curl on the host: skipped with a warning, nothing installed", () => {
    const p = planMetrics(vars(), debian, converged({ aws: "", files: { script: null, service: null, timer: null } }), false);
    expect(p.apply).toBeUndefined();
    expect(p.result?.status).toBe("skipped");
    expect(p.result?.msg).toMatch(/^WARNING: the AWS CLI \(aws\) not found on the host.*apt-get install awscli curl.*redis_metrics_enabled: false/);
    expect(planMetrics(vars(), debian, converged({ curl: "" }), false).result?.msg).toMatch(/^WARNING: curl not found/);
  });

  it("redis_metrics_enabled: false removes what a previous run installed, then skips", () => {
    const off = vars({ redis_metrics_enabled: false });
    const p = planMetrics(off, debian, converged(), false);
    expect(scriptParams(p.apply!)).toMatchObject({
      P_T_REMOVE: "1",
      P_T_TIMER: "redis-metrics.timer",
      P_T_SERVICE: "redis-metrics.service",
      P_T_PATHS: [METRICS_FILES.script.path, METRICS_FILES.service.path, METRICS_FILES.timer.path].join("\n"),
    });
    expect(planMetrics(off, debian, converged(), true).result).toMatchObject({ status: "changed", msg: expect.stringMatching(/^redis-metrics\.timer: would stop, disable and remove/) });
    const gone = converged({ files: { script: null, service: null, timer: null }, timerEnabled: "", timerActive: "inactive" });
    expect(planMetrics(off, debian, gone, false).result).toMatchObject({ status: "skipped" });
  });
});

// ---------------------------------------------------------------------------------------------
// The script itself, run locally.

const missing = ["redis-server", "redis-cli", "curl", "bash"].filter((b) => {
  try {
    execFileSync("sh", ["-c", `command -v ${b}`], { stdio: "ignore" });
    return false;
  } catch {
    return true;
  }
});
if (missing.length && !process.env.CI) {
  console.warn(`\n!! SKIPPING the local run of the metrics script: missing ${missing.join(", ")} (CI installs them).\n`);
}
const local = missing.length && !process.env.CI ? describe.skip : describe;

const ADMIN_SECRET = "Adm1n-secret-for-the-metrics-test";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
  calls: AwsCall[];
  /** The INFO the script itself read (recorded by the redis-cli in front of the real one); {} if none. */
  info: Record<string, string>;
}

/** redis-cli as the script finds it: the real one, its output recorded (fixtures/recording-redis-cli.sh). */
const RECORDING_CLI = join(__dirname, "fixtures", "recording-redis-cli.sh");

/**
 * The values the script may print for used × 100 / limit with two decimals (awk printf "%.2f"):
 * the nearest hundredth, computed exactly in integers; both neighbours on an exact tie.
 */
function percentages(used: string, limit: string): number[] {
  const num = BigInt(used) * 10000n;
  const l = BigInt(limit);
  const floor = num / l;
  const twice = 2n * (num % l);
  const hundredths = twice < l ? [floor] : twice > l ? [floor + 1n] : [floor, floor + 1n];
  return hundredths.map((h) => Number(h) / 100);
}

local("metrics script against a local redis-server", () => {
  if (missing.length) {
    it("requires redis-server, redis-cli and curl in CI", () => {
      throw new Error(`missing ${missing.join(", ")}`);
    });
    return;
  }
  let dir: string;
  let port: number;
  let server: ChildProcess;
  let imds: ImdsStandIn;
  let admin: Redis;
  let realCli: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "redis-metrics-"));
    port = await freePort();
    writeFileSync(
      join(dir, "redis.conf"),
      `port ${port}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir ${dir}\nmaxmemory 64mb\nuser default off\nuser provisioner on >${ADMIN_SECRET} ~* &* +@all\n`,
    );
    server = spawn("redis-server", [join(dir, "redis.conf")], { stdio: "ignore" });
    imds = await startImds({ host: "127.0.0.1", region: "ap-southeast-2" });
    // A PATH with only what the script needs, plus the recording aws in its own directory.
    const tools = join(dir, "tools");
    mkdirSync(tools);
    for (const t of ["curl", "awk", "tr", "head", "cut", "base64", "env", "tee"]) {
      symlinkSync(execFileSync("sh", ["-c", `command -v ${t}`], { encoding: "utf8" }).trim(), join(tools, t));
    }
    realCli = execFileSync("sh", ["-c", "command -v redis-cli"], { encoding: "utf8" }).trim();
    symlinkSync(RECORDING_CLI, join(tools, "redis-cli"));
    installAwsStandIn({ bin: join(dir, "aws-bin") });
    mkdirSync(join(dir, "cred"));
    admin = new Redis({ port, host: "127.0.0.1", username: "provisioner", password: ADMIN_SECRET, lazyConnect: true, maxRetriesPerRequest: 0 });
    for (let i = 0; ; i++) {
      try {
        await admin.connect();
        break;
      } catch (e) {
        if (i > 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  afterAll(async () => {
    admin?.disconnect();
    server?.kill("SIGTERM");
    await imds?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const info = async (): Promise<Record<string, string>> => parseInfo(await admin.info());

  async function runScript(v: Partial<RoleVars> = {}, opts: { secret?: string; withAws?: boolean } = {}): Promise<ScriptRun> {
    const script = join(dir, "redis-metrics");
    writeFileSync(script, renderMetricsFiles(vars({ redis_port: port, redis_bind_address: "127.0.0.1", redis_metrics_imds_url: imds.url, ...v }), debian).script);
    chmodSync(script, 0o755);
    writeFileSync(join(dir, "cred", "redis-admin"), `${opts.secret ?? ADMIN_SECRET}\n`);
    const PATH = [opts.withAws === false ? "" : join(dir, "aws-bin"), join(dir, "tools")].filter(Boolean).join(":");
    const record = join(dir, "info.record");
    rmSync(record, { force: true });
    const env = { PATH, CREDENTIALS_DIRECTORY: join(dir, "cred"), REDIS_CLI_REAL: realCli, REDIS_CLI_RECORD: record };
    return new Promise((resolve) => {
      execFile("/bin/bash", [script], { env, encoding: "utf8" }, (err, stdout, stderr) =>
        resolve({
          code: err ? Number(err.code ?? 1) : 0,
          stdout,
          stderr,
          calls: parseAwsCalls(stdout),
          info: existsSync(record) ? parseInfo(readFileSync(record, "utf8")) : {},
        }),
      );
    });
  }

  const datum = (call: AwsCall) => {
    const data = JSON.parse(call.args[call.args.indexOf("--metric-data") + 1]) as { MetricName: string; Dimensions: unknown; Unit: string; Value: number }[];
    return Object.fromEntries(data.map((d) => [d.MetricName, d]));
  };

  it("publishes used_memory/maxmemory, connected_clients and ops/sec of the server in one call, IMDSv2 only", async () => {
    await admin.set("big", "x".repeat(6 * 1024 * 1024));
    const server = await info();
    imds.requests.length = 0;
    const r = await runScript();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.calls).toHaveLength(1);
    const [call] = r.calls;
    const id = "i-000000000" + "7f000001";
    expect(call.args).toEqual([
      "cloudwatch", "put-metric-data", "--region", "ap-southeast-2", "--namespace", "Campaign/Redis",
      "--metric-data", expect.any(String), "--cli-connect-timeout", "5", "--cli-read-timeout", "10",
    ]);
    const d = datum(call);
    expect(Object.keys(d)).toEqual(["MemoryUsedPercent", "ConnectedClients", "OpsPerSec"]);
    const dims = [{ Name: "InstanceId", Value: id }];
    expect(d.MemoryUsedPercent).toMatchObject({ Unit: "Percent", Dimensions: dims });
    // The INFO the script read came from this server (same run, port, limit), holding the 6 MB value.
    const seen = r.info;
    expect(seen).toMatchObject({ run_id: server.run_id, tcp_port: String(port), maxmemory: String(64 * 1024 * 1024) });
    expect(Number(seen.used_memory)).toBeGreaterThan(6 * 1024 * 1024);
    // Exactly the script's arithmetic on that INFO (no comparison with a later, moving used_memory).
    expect(percentages(seen.used_memory, seen.maxmemory)).toContain(d.MemoryUsedPercent.Value);
    expect(d.ConnectedClients).toEqual({ MetricName: "ConnectedClients", Unit: "Count", Dimensions: dims, Value: Number(seen.connected_clients) });
    expect(Number(seen.connected_clients)).toBeGreaterThanOrEqual(2); // the test's connection and the script's own
    expect(d.OpsPerSec).toEqual({ MetricName: "OpsPerSec", Unit: "Count/Second", Dimensions: dims, Value: Number(seen.instantaneous_ops_per_sec) });
    expect(r.stdout).toMatch(new RegExp(`published to Campaign/Redis \\(ap-southeast-2\\) for ${id}: MemoryUsedPercent=${d.MemoryUsedPercent.Value.toFixed(2)} `));
    expect(imds.requests.map((q) => [q.method, q.path, q.token, q.status])).toEqual([
      ["PUT", "/latest/api/token", false, 200],
      ["GET", "/latest/meta-data/instance-id", true, 200],
      ["GET", "/latest/meta-data/placement/region", true, 200],
    ]);
    expect(JSON.stringify(call)).not.toContain(ADMIN_SECRET);
  });

  it("with maxmemory 0 the percentage is of total_system_memory; a configured region skips the IMDS lookup", async () => {
    await admin.config("SET", "maxmemory", "0");
    try {
      imds.requests.length = 0;
      const r = await runScript({ redis_metrics_region: "us-east-2", redis_metrics_namespace: "Test/Redis" });
      expect(r.code).toBe(0);
      expect(r.calls[0].args.slice(2, 6)).toEqual(["--region", "us-east-2", "--namespace", "Test/Redis"]);
      expect(r.info).toMatchObject({ maxmemory: "0", total_system_memory: expect.stringMatching(/^[1-9]\d*$/) });
      expect(percentages(r.info.used_memory, r.info.total_system_memory)).toContain(datum(r.calls[0]).MemoryUsedPercent.Value);
      expect(imds.requests.map((q) => q.path)).toEqual(["/latest/api/token", "/latest/meta-data/instance-id"]);
    } finally {
      await admin.config("SET", "maxmemory", String(64 * 1024 * 1024));
    }
  });

  it("fails clearly, without calling aws and without printing the password: wrong password, IMDS down, no AWS CLI", async () => {
    const wrong = await runScript({}, { secret: "not-the-right-password-42" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(new RegExp(`^redis-metrics: no INFO from 127\\.0\\.0\\.1:${port} as provisioner: .*(WRONGPASS|AUTH failed)`));
    expect(wrong.stderr + wrong.stdout).not.toContain("not-the-right-password-42");
    expect(wrong.calls).toEqual([]);

    const down = await runScript({ redis_metrics_imds_url: `http://127.0.0.1:${await freePort()}` });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/redis-metrics: no IMDSv2 token from http:\/\/127\.0\.0\.1:\d+$/m);
    expect(down.calls).toEqual([]);

    const noAws = await runScript({}, { withAws: false });
    expect(noAws.code).toBe(1);
    expect(noAws.stderr).toMatch(/the AWS CLI \(aws\) is not installed or not on PATH/);
  });
});
