/**
 * The old playbook kept `requirepass` (or `masterauth`) in a file its redis.conf includes
 * (`include /etc/redis/conf.d/*.conf`). The takeover replaced redis.conf and left that file, with the
 * plaintext password, on a test-bed host, reporting success. Now the retire task finds such files in
 * the gather and, once Redis runs with the role's config, removes their secret lines (a file left with
 * only comments goes). Here the task's own bash (gather, then apply) runs over real files.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OS_PROFILES } from "../../provisioning/os";
import { retireFacts, retireGather, planRetire } from "../../provisioning/tasks/retire";
import { ScriptOutput, parseLine, prelude } from "../../provisioning/tasks/shell";

const PASSWORD = "old-playbook-pass-1";
const dir = mkdtempSync(join(tmpdir(), "secret-includes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(script: string): ScriptOutput {
  const r = spawnSync("bash", ["-s"], { input: script, encoding: "utf8", timeout: 20_000 });
  const out: ScriptOutput = { facts: {}, tasks: [] };
  for (const l of r.stdout.split("\n")) parseLine(l, out);
  return out;
}

describe("secret lines in files the replaced config included", () => {
  const conf = join(dir, "redis.conf");
  const confD = join(dir, "conf.d");
  const auth = join(confD, "auth.conf");
  const repl = join(confD, "repl.conf");
  const nested = join(dir, "nested.conf");
  const other = join(confD, "limits.conf");

  beforeAll(() => {
    mkdirSync(confD);
    writeFileSync(conf, `port 6379\ninclude ${confD}/*.conf\ninclude "${nested}"\n`);
    writeFileSync(auth, `# local auth\nrequirepass ${PASSWORD}\nmaxclients 5000\n`);
    chmodSync(auth, 0o640);
    writeFileSync(repl, `\n# replication\n  MasterAuth ${PASSWORD}\n`);
    writeFileSync(nested, `include ${join(dir, "deep.conf")}\n`);
    writeFileSync(join(dir, "deep.conf"), `requirepass "${PASSWORD}"\n`);
    writeFileSync(other, "maxclients 100\n");
  });

  it("are found by the gather, nested includes and globs as redis-server reads them", () => {
    const out = run(`${prelude("x", "provisioner")}${retireGather([conf])}`);
    expect([...(retireFacts(out.facts).secretIncludes ?? [])].sort()).toEqual([auth, repl, join(dir, "deep.conf")].sort());
  });

  it("lose their secret lines once Redis runs without them; the rest, owner and mode stay; a file left empty goes", () => {
    const facts = retireFacts(run(`${prelude("x", "provisioner")}${retireGather([conf])}`).facts);
    const plan = planRetire(OS_PROFILES.debian, { ...facts, paths: [] }, false);
    expect(plan.pre).toBeDefined();
    // The role's config (no include) is in place by then.
    const roleConf = join(dir, "role.conf");
    writeFileSync(roleConf, "port 6379\n");
    const out = run(`${prelude("x", "provisioner", { P_CONF: roleConf })}${plan.pre}${plan.post}`);
    expect(out.tasks).toEqual([expect.objectContaining({ status: "changed", msg: expect.stringContaining(`removed the plaintext secret lines`) })]);
    expect(readFileSync(auth, "utf8")).toBe("# local auth\nmaxclients 5000\n");
    expect(statSync(auth).mode & 0o777).toBe(0o640);
    expect(existsSync(repl)).toBe(false);
    expect(existsSync(join(dir, "deep.conf"))).toBe(false);
    expect(readFileSync(other, "utf8")).toBe("maxclients 100\n");
    const left = spawnSync("grep", ["-rlF", PASSWORD, dir], { encoding: "utf8" }).stdout;
    expect(left).toBe("");
  });

  it("do not repeat the first-boot password.conf, which the task removes whole", () => {
    const plan = planRetire(OS_PROFILES.debian, { paths: ["/etc/redis/password.conf"], unitState: "", secretIncludes: ["/etc/redis/password.conf"] }, true);
    expect(plan.result?.msg).toBe("would remove /etc/redis/password.conf (plaintext requirepass)");
  });

  it("are reported by --check's plan without touching anything", () => {
    expect(planRetire(OS_PROFILES.debian, { paths: [], unitState: "", secretIncludes: [auth] }, true).result?.msg).toMatch(
      new RegExp(`^would remove the plaintext secret lines .* of ${auth}, included by the config it replaces`),
    );
  });
});
