/**
 * A takeover replaces the old playbook's redis.conf (and, since the role's config includes nothing,
 * every /etc/redis/conf.d/*.conf it included) with the role's: whatever those files set differently
 * was dropped silently, shown only as `-include ...` in --diff (a port 6380 moved to 6379 breaks every
 * client). Here the gather's own bash (lib.sh conf_flatten) reads old configs with includes as a real
 * host's, a real redis-server started from the same files says what it runs with, and the plan's
 * comparison with the role's rendered config decides: refused, warned, or nothing to say.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULTS, ROLE_SCHEMA, type RoleVars } from "../../provisioning/defaults";
import { OS_PROFILES, serverVersion } from "../../provisioning/os";
import { Output } from "../../provisioning/output";
import { buildContext, renderRedisConf } from "../../provisioning/render";
import { scriptFile } from "../../provisioning/scripts";
import { compareTakeover, effectiveSettings, parseEffective, takeoverResult } from "../../provisioning/tasks/takeover";
import { ScriptOutput, parseLine, prelude } from "../../provisioning/tasks/shell";

const PASSWORD = "app-password-0123456789";
const OLD_PASSWORD = "old-playbook-password-42";
const profile = OS_PROFILES.debian;
const server = serverVersion(spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout.trim());
const desiredFor = (vars: RoleVars) => renderRedisConf(buildContext(vars, profile, server, { app: PASSWORD, admin: "admin-secret-123" }));
const vars = (over: Record<string, unknown> = {}): RoleVars => ROLE_SCHEMA.parse({ ...over });

const dirs: string[] = [];
const servers: ChildProcess[] = [];
afterAll(() => {
  for (const s of servers) s.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An old host's /etc/redis: redis.conf and conf.d/ files (`@` in a text stands for the directory). */
function oldConfig(main: string[], confd: Record<string, string[]> = {}): { dir: string; conf: string } {
  const dir = mkdtempSync(join(tmpdir(), "takeover-"));
  dirs.push(dir);
  mkdirSync(join(dir, "conf.d"));
  for (const [name, lines] of Object.entries(confd)) writeFileSync(join(dir, "conf.d", name), `${lines.map((l) => l.replace(/@/g, dir)).join("\n")}\n`);
  const conf = join(dir, "redis.conf");
  writeFileSync(conf, `${main.map((l) => l.replace(/@/g, dir)).join("\n")}\n`);
  return { dir, conf };
}

/** What the gather's bash reports of that config (every directive, includes in place). */
function gathered(conf: string): string {
  const script = `${prelude(PASSWORD, "provisioner", { P_CONF: conf })}${scriptFile("gather")}\nCONF_FLAT=""\nconf_flatten "$CONF" 0\nfact x_effective "$CONF_FLAT"\n`;
  const r = spawnSync("bash", ["-s"], { input: script, encoding: "utf8", timeout: 20_000 });
  const out: ScriptOutput = { facts: {}, tasks: [] };
  for (const l of r.stdout.split("\n")) parseLine(l, out);
  expect(r.status).toBe(0);
  return out.facts.x_effective;
}

const compare = (conf: string, v: RoleVars, explicit: string[] = []) =>
  compareTakeover(parseEffective(gathered(conf)), desiredFor(v), profile.configPath, v, new Set(explicit), PASSWORD);

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** The old playbook's layout: its settings in conf.d/, included at the end of the stock file. */
const playbookHost = (port = "6380") =>
  oldConfig(["port 6379", "bind 127.0.0.1 -::1", "appendonly no", "include @/conf.d/*.conf"], {
    "10-net.conf": [`port ${port}`, "bind 0.0.0.0", "maxclients 20000"],
    "20-auth.conf": [`requirepass "${OLD_PASSWORD}"`, "rename-command FLUSHALL \"\"", "user reporting on >reporting-secret-pw ~report:* +get"],
    "30-memory.conf": ["maxmemory 2gb", "maxmemory-policy noeviction", "appendonly yes", "save 900 1"],
  });

describe("the old config's effective settings", () => {
  it("are what redis-server itself runs with: includes in place, nested, the last occurrence wins", async () => {
    const port = await freePort();
    const { conf } = oldConfig(["port 1", "maxmemory 1mb", "include @/conf.d/a.conf", "maxclients 123", "save 100 1"], {
      "a.conf": [`port ${port}`, "maxmemory 7mb", "include @/conf.d/nested/*.conf", "maxclients 99"],
    });
    mkdirSync(join(conf, "..", "conf.d", "nested"));
    writeFileSync(join(conf, "..", "conf.d", "nested", "b.conf"), "maxmemory 3mb\r\nmaxmemory-policy 'volatile-lru'\nsave 60 5\nbind 127.0.0.1");
    const effective = effectiveSettings(parseEffective(gathered(conf)));
    // The same files, read by redis-server.
    const srv = spawn("redis-server", [conf, "--daemonize", "no", "--save", "100 1"], { stdio: "ignore" });
    servers.push(srv);
    const cli = (cmd: string) => spawnSync("redis-cli", ["-p", String(port), "--raw", ...cmd.split(" ")], { encoding: "utf8", timeout: 10_000 }).stdout.trim();
    for (let i = 0; i < 100 && cli("PING") !== "PONG"; i++) await new Promise((r) => setTimeout(r, 50));
    const running = (k: string) => cli(`CONFIG GET ${k}`).split("\n")[1];
    expect(effective.get("port")!.values).toEqual([String(port)]);
    expect(running("maxmemory")).toBe(String(3 * 1024 * 1024));
    expect(effective.get("maxmemory")).toEqual({ values: ["3mb"], at: [`${join(conf, "..", "conf.d", "nested", "b.conf")}:1`] });
    expect(running("maxmemory-policy")).toBe("volatile-lru");
    expect(effective.get("maxmemory-policy")!.values).toEqual(["volatile-lru"]);
    expect(running("maxclients")).toBe("123");
    expect(effective.get("maxclients")).toEqual({ values: ["123"], at: [`${conf}:4`] });
    srv.kill("SIGKILL");
  });
});

describe("a takeover of a host whose included files set their own settings", () => {
  it("is refused, in --check too, naming each setting clients rely on with its file:line, without secret values", () => {
    const { dir, conf } = playbookHost();
    const c = compare(conf, vars());
    const refused = c.refusals.map((f) => f.setting);
    expect(refused).toEqual(["port", "rename-command flushall", "user reporting"]);
    const t = takeoverResult(c, profile.configPath)!;
    expect(t.status).toBe("failed");
    expect(t.msg).toContain(`port 6380 (${dir}/conf.d/10-net.conf:1) -> 6379: clients connect to the old port; set redis_port: 6379 in the inventory if intended`);
    expect(t.msg).toContain(`user reporting (its rules, not shown) (${dir}/conf.d/20-auth.conf:3) -> (none): clients logging in as this user would be refused; set redis_takeover_accept: [user] in the inventory if intended`);
    // The old requirepass differs from redis_password: said, never shown (a warning: the gather already
    // refuses a running server that does not accept redis_password).
    expect(c.warnings.find((f) => f.setting === "requirepass")?.text).toBe(`requirepass differs (${dir}/conf.d/20-auth.conf:1) -> redis_password`);
    expect(t.msg).toMatch(/refusing; nothing changed$/);
    expect(t.diff).toContain(`-port 6380   # ${dir}/conf.d/10-net.conf:1\n+port 6379`);
    // Warnings for the rest: the memory limit, eviction, persistence, clients.
    expect(c.warnings.map((f) => f.setting)).toEqual(["maxmemory", "maxmemory-policy", "save", "maxclients", "requirepass"]);
    expect(t.diff).toContain(`-maxmemory 2gb   # ${dir}/conf.d/30-memory.conf:1\n+maxmemory 512mb`);
    for (const secret of [OLD_PASSWORD, "reporting-secret-pw", PASSWORD]) {
      expect(t.msg).not.toContain(secret);
      expect(t.diff).not.toContain(secret);
    }
  });

  it("goes on when the inventory acknowledges each: redis_port set to the new port, redis_takeover_accept, with the warnings in the recap", () => {
    const { conf } = playbookHost();
    const v = vars({ redis_port: 6379, redis_takeover_accept: "user rename-command" });
    const c = compare(conf, v, ["redis_port", "redis_takeover_accept"]);
    expect(c.refusals).toEqual([]);
    const t = takeoverResult(c, profile.configPath)!;
    expect(t).toMatchObject({ status: "ok", warning: true });
    expect(t.msg).toMatch(/^warning: port 6380 \(.*10-net\.conf:1\) -> 6379: clients connect to the old port; /);
    const printed: string[] = [];
    const out = new Output({ json: false, diff: true, check: true, write: (s) => printed.push(s) });
    out.start(["ast1"]);
    out.task("ast1", t);
    out.finish(0);
    expect(printed.join("")).toMatch(/\nast1 : ok=1 changed=0 failed=0 unreachable=0 skipped=0\n\[WARNING\]: ast1: 1 warning\(s\) from compare old settings; the play went on/);
    expect(printed.join("")).not.toContain(OLD_PASSWORD);
  });

  it("keeping the old port is no difference at all", () => {
    const { conf } = playbookHost("6380");
    expect(compare(conf, vars({ redis_port: 6380, redis_takeover_accept: ["user", "rename-command"] }), ["redis_port"]).refusals).toEqual([]);
  });

  it("a redis_port left at its default does not acknowledge a move away from the old port", () => {
    const { conf } = playbookHost();
    expect(compare(conf, vars({ redis_takeover_accept: ["user", "rename-command"] })).refusals.map((f) => f.setting)).toEqual(["port"]);
  });

  it("a bind that stops listening where clients connect is refused unless redis_bind_address is set; a wider one is a warning", () => {
    const { dir, conf } = oldConfig(["bind 10.0.0.5 127.0.0.1", `requirepass ${PASSWORD}`]);
    const narrow = vars({ redis_bind_address: "127.0.0.1" });
    const c = compare(conf, narrow);
    expect(c.refusals.map((f) => f.text)).toEqual([`bind 10.0.0.5 127.0.0.1 (${dir}/redis.conf:1) -> 127.0.0.1`]);
    expect(c.refusals[0].why).toBe("clients of 10.0.0.5 would be refused");
    expect(compare(conf, narrow, ["redis_bind_address"]).refusals).toEqual([]);
    // The stock loopback-only bind (as the stack's first-boot hosts have it) widened to the role's 0.0.0.0.
    // (Spelled differently from the rendered config, the same settings: maxmemory in bytes, the policy's case.)
    const stock = oldConfig(["bind 127.0.0.1 -::1", `requirepass ${PASSWORD}`, "maxmemory 536870912", "maxmemory-policy ALLKEYS-LRU", "appendonly yes", "save 300 1"]);
    const wide = compare(stock.conf, vars());
    expect(wide.refusals).toEqual([]);
    expect(wide.warnings.map((f) => `${f.setting}: ${f.why}`)).toEqual(["bind: listens on more addresses"]);
  });

  it("a config without bind listened on every IPv6 address too, which the role's 0.0.0.0 does not", () => {
    const { conf } = oldConfig([`requirepass ${PASSWORD}`]);
    expect(compare(conf, vars()).refusals.find((f) => f.setting === "bind")).toMatchObject({
      text: "bind * -::* (not set: redis-server's default) -> 0.0.0.0",
      why: "clients of ::* (every IPv6 address) would be refused",
    });
    expect(compare(conf, vars({ redis_bind_address: "0.0.0.0 ::" })).refusals.find((f) => f.setting === "bind")).toBeUndefined();
  });

  it("a unix socket clients use and fewer databases are refused unless the inventory keeps or sets them", () => {
    const { dir, conf } = oldConfig(["bind 0.0.0.0", `requirepass ${PASSWORD}`, "unixsocket /run/redis/redis-server.sock", "databases 32"]);
    const c = compare(conf, vars());
    expect(c.refusals.map((f) => f.text)).toEqual([`unixsocket /run/redis/redis-server.sock (${dir}/redis.conf:3) -> (none)`, `databases 32 (${dir}/redis.conf:4) -> 16`]);
    const kept = vars({ redis_extra_config: { unixsocket: "/run/redis/redis-server.sock" }, redis_databases: 16 });
    expect(compare(conf, kept, ["redis_extra_config", "redis_databases"]).refusals).toEqual([]);
  });

  it("a TLS listener and replication are refused; a requirepass equal to redis_password is no difference", () => {
    const { conf } = oldConfig(["bind 0.0.0.0", "tls-port 6390", "replicaof 10.0.0.9 6379", `masterauth ${OLD_PASSWORD}`, `requirepass "${PASSWORD}"`]);
    const c = compare(conf, vars());
    expect(c.refusals.map((f) => f.setting)).toEqual(["tls-port", "replicaof"]);
    expect(c.warnings.map((f) => f.setting)).toContain("masterauth");
    const t = takeoverResult(c, profile.configPath)!;
    expect(`${t.msg}${t.diff}`).not.toContain(OLD_PASSWORD);
    expect(t.diff).toContain("-masterauth <hidden>");
    expect(compare(conf, vars({ redis_extra_config: { "tls-port": 0 }, redis_takeover_accept: ["replicaof"] })).refusals).toEqual([]);
  });

  it("a module it loads is refused unless accepted; keyspace notifications and the idle timeout are warnings (flags compared as redis-server reads them)", () => {
    const { dir, conf } = oldConfig(["bind 0.0.0.0", `requirepass ${PASSWORD}`, "loadmodule /usr/lib/redis/modules/redisbloom.so INITIAL_SIZE 400", "notify-keyspace-events Ex", "timeout 300", "maxmemory 512mb", "maxmemory-policy allkeys-lru", "appendonly yes", "save 300 1"]);
    const c = compare(conf, vars());
    expect(c.refusals.map((f) => f.text)).toEqual([`loadmodule /usr/lib/redis/modules/redisbloom.so INITIAL_SIZE 400 (${dir}/redis.conf:3) -> (none)`]);
    expect(c.refusals[0].refuse).toBe("set redis_takeover_accept: [loadmodule] in the inventory if intended");
    expect(c.warnings.map((f) => f.text)).toEqual([`notify-keyspace-events Ex (${dir}/redis.conf:4) -> ""`, `timeout 300 (${dir}/redis.conf:5) -> 0`]);
    expect(compare(conf, vars({ redis_takeover_accept: ["loadmodule"] })).refusals).toEqual([]);
    // Same flags in another order are no difference; another case is another flag (E keyevent, e evicted).
    const kept = vars({ redis_extra_config: { "notify-keyspace-events": "xE", timeout: 300 } });
    expect(compare(conf, kept).warnings).toEqual([]);
    const lower = vars({ redis_extra_config: { "notify-keyspace-events": "ex", timeout: 300 } });
    expect(compare(conf, lower).warnings.map((f) => f.setting)).toEqual(["notify-keyspace-events"]);
  });

  it("a host already running the role's config has nothing to report", () => {
    const { conf } = oldConfig(desiredFor(DEFAULTS).split("\n"));
    expect(takeoverResult(compare(conf, DEFAULTS), profile.configPath)).toBeUndefined();
    // Two save points on one line (as redis-server 7 also reads them) are the same as the role's two lines.
    const twoSaves = vars({ redis_save_intervals: ["900 1", "300 10"] });
    expect(desiredFor(twoSaves)).toContain("save 900 1\nsave 300 10");
    const oneLine = oldConfig(desiredFor(twoSaves).replace("save 900 1\nsave 300 10", "save 900 1 300 10").split("\n"));
    expect(takeoverResult(compare(oneLine.conf, twoSaves), profile.configPath)).toBeUndefined();
  });

  it("redis_takeover_accept names settings only from its list", () => {
    expect(() => ROLE_SCHEMA.parse({ redis_takeover_accept: ["port"] })).toThrow(/must be a list of setting names \(user, aclfile, rename-command, replicaof, loadmodule\)/);
  });
});
