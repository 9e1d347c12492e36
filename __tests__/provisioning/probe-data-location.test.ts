/**
 * A host the old playbook set up with its own `dir` / `dbfilename` (or an `include` and a renamed
 * CONFIG, so nobody can tell): restarting it into the role's config would bring Redis back EMPTY
 * (seen on a test-bed host: "restarted but the dataset is EMPTY (had 200 keys)", the rollback copy
 * already gone). The plan must refuse before anything changes, naming where the data is. Here the
 * gather's own bash (lib.sh + gather.sh probe) asks a real local redis-server, configured as such a
 * host, and the plan's check reads what it reported.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULTS } from "../../provisioning/defaults";
import { OS_PROFILES, serverVersion } from "../../provisioning/os";
import { buildContext, renderRedisConf } from "../../provisioning/render";
import { scriptFile } from "../../provisioning/scripts";
import { dataLocationProblem } from "../../provisioning/tasks/config";
import { runtimeFrom } from "../../provisioning/tasks/facts";
import { ScriptOutput, parseLine, prelude } from "../../provisioning/tasks/shell";

const PASSWORD = String.raw`p%s$HOME;|&\x` + "`id`";
const profile = OS_PROFILES.debian;
const version = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout.trim();
const desired = renderRedisConf(buildContext(DEFAULTS, profile, serverVersion(version), { app: PASSWORD, admin: "admin-secret-123" }));

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

interface OldHost {
  conf: string;
  text: string;
  server: ChildProcess;
}
const dirs: string[] = [];
const servers: ChildProcess[] = [];

/**
 * A redis-server started from `lines` (plus port, bind and the plaintext requirepass), with 50 keys.
 * With `portIn` the port it listens on is set by an included file, and the main file names another one.
 */
async function oldHost(lines: (dir: string) => string[], portIn?: "include"): Promise<OldHost> {
  const dir = mkdtempSync(join(tmpdir(), "old-host-"));
  dirs.push(dir);
  mkdirSync(join(dir, "data"));
  const port = await freePort();
  const conf = join(dir, "redis.conf");
  let portLines = [`port ${port}`];
  if (portIn === "include") {
    writeFileSync(join(dir, "port.conf"), `# the old playbook's local settings\nport ${port}\n`);
    portLines = [`port ${await freePort()}`, `include "${dir}/port.conf"`];
  }
  const text = [...portLines, "bind 127.0.0.1", "daemonize no", "save 300 1", `requirepass ${PASSWORD}`, ...lines(dir), ""].join("\n");
  writeFileSync(conf, text);
  const server = spawn("redis-server", [conf], { stdio: "ignore" });
  servers.push(server);
  const cli = (input: string) => spawnSync("redis-cli", ["-p", String(port)], { input, encoding: "utf8", env: { ...process.env, REDISCLI_AUTH: PASSWORD }, timeout: 10_000 }).stdout;
  for (let i = 0; i < 100 && cli("PING\n").trim() !== "PONG"; i++) await new Promise((r) => setTimeout(r, 50));
  cli(Array.from({ length: 50 }, (_, i) => `SET keep:${i} v${i}\n`).join(""));
  return { conf, text, server };
}

/** What the gather reports about that server (its probe, as the application user), as the plan reads it. */
function gathered(host: OldHost) {
  const script = `${prelude(PASSWORD, "provisioner", { P_CLI: "redis-cli", P_CONF: host.conf })}${scriptFile("gather")}\nADMIN_PW=""\nrc_target "$CONF"\nRT_PREFIX=x_ probe_gather 0\n`;
  const r = spawnSync("bash", ["-s"], { input: script, encoding: "utf8", timeout: 20_000 });
  const out: ScriptOutput = { facts: {}, tasks: [] };
  for (const l of r.stdout.split("\n")) parseLine(l, out);
  expect(out.facts.x_rt_auth).toBe("app");
  return runtimeFrom(out.facts, "x_rt_");
}

afterAll(() => {
  for (const s of servers) s.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("a running server that keeps its data elsewhere", () => {
  it("is refused before any change, naming the directives, their lines and the role's", async () => {
    const host = await oldHost((d) => [`dir ${d}/data/`, "dbfilename campaign.rdb", "appendonly no"]);
    const problem = dataLocationProblem(desired, host.text, host.conf, profile.service, gathered(host));
    expect(problem).toContain(`keeps its 50 keys at dir ${host.conf.replace("redis.conf", "data")} (${host.conf}:6), dbfilename campaign.rdb (${host.conf}:7)`);
    expect(problem).toContain(`the new config reads dir ${profile.dataDir}, dbfilename dump.rdb: restarting into it would start EMPTY`);
    expect(problem).not.toContain(PASSWORD);
  });

  it("is found from the config file when CONFIG is renamed", async () => {
    const host = await oldHost((d) => [`dir ${d}/data`, 'rename-command CONFIG ""']);
    const rt = gathered(host);
    expect(rt.files?.refused).toMatch(/unknown command 'CONFIG'/);
    expect(dataLocationProblem(desired, host.text, host.conf, profile.service, rt)).toContain(`keeps its 50 keys at dir ${host.conf.replace("redis.conf", "data")} (${host.conf}:6)`);
  });

  it("cannot be told when CONFIG is renamed and the config includes other files: refused, saying why", async () => {
    const host = await oldHost((d) => {
      writeFileSync(join(d, "local.conf"), `dir ${d}/data\n`);
      return [`include ${d}/local.conf`, 'rename-command CONFIG ""'];
    });
    expect(dataLocationProblem(desired, host.text, host.conf, profile.service, gathered(host))).toMatch(
      new RegExp(`^cannot tell where the running redis-server keeps its 50 keys: CONFIG GET dir answered "ERR unknown command 'CONFIG'.*" and ${host.conf}:6 includes other files; restarting it into dir /var/lib/redis could start it EMPTY, refusing \\(let it answer CONFIG GET dir: no rename-command CONFIG\\)$`),
    );
  });

  it("is reached where it listens when its port is set in an included file (not refused as a wrong password)", async () => {
    const host = await oldHost(() => [], "include");
    const rt = gathered(host);
    expect(rt.ping).toBe("PONG");
    expect(rt.files?.settings.dbfilename).toBe("dump.rdb");
  });

  it("is refused also when INFO is renamed, so the keys cannot be counted", async () => {
    const host = await oldHost((d) => [`dir ${d}/data`, 'rename-command INFO ""']);
    expect(dataLocationProblem(desired, host.text, host.conf, profile.service, gathered(host))).toMatch(
      /^the running redis-server keeps its data \(INFO did not answer: how much is unknown\) at dir /,
    );
  });

  it("is no problem when it already keeps its data where the role's config does", () => {
    const rt = { info: { redis_version: "7.0.15", db0: "keys=5,expires=0,avg_ttl=0" }, files: { settings: { dir: `${profile.dataDir}/`, dbfilename: "dump.rdb", appendfilename: "appendonly.aof", appenddirname: "appendonlydir" } } };
    expect(dataLocationProblem(desired, null, profile.configPath, profile.service, rt)).toBeNull();
    expect(dataLocationProblem(desired, null, profile.configPath, profile.service, { ...rt, info: { redis_version: "7.0.15" }, files: { settings: { dir: "/srv" } } })).toBeNull();
  });
});
