/**
 * The Ansible forms people actually use, or a clear refusal (issue 11 point 5), and the structure rules
 * of the host shell (issue 12 point 4): YAML inventories, strict host patterns with file:line, --limit
 * patterns, -e/--extra-vars, missing key files, "not supported" for the rest; every provisioning .sh
 * file passes shellcheck; parameters never become shell syntax; a rendered config lacking what the
 * role owns is refused. No host is contacted here (a refused run exits 1 before any connection).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../provisioning/cli";
import { DEFAULTS } from "../../provisioning/defaults";
import { loadInventory, parseExtraVars, selectHosts } from "../../provisioning/inventory";
import { OS_PROFILES, serverVersion } from "../../provisioning/os";
import { buildContext, missingOwnedDirectives, renderRedisConf } from "../../provisioning/render";
import { PARAMS_END, SCRIPTS_DIR, paramLines, scriptFile } from "../../provisioning/scripts";
import { registerSecret } from "../../provisioning/secrets";
import { SESSION_LOOP, sessionStep } from "../../provisioning/ssh";
import { ScriptOutput, parseLine } from "../../provisioning/tasks/shell";
import { inventory, problems } from "./inventories";
import { scriptParams } from "./params";

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: { REDIS_PASSWORD: "forms-password-123" } });
  return { code, out, err };
}

const INI = `[asterisk]
ast1 ansible_host=127.0.0.1
ast[2:3]
pbx-a:2222

[pbx]
ast2
pbx-a

[asterisk:vars]
redis_port=6380
`;
const YAML = `all:
  vars:
    redis_maxmemory: 100mb
  children:
    asterisk:
      hosts:
        ast1:
          ansible_host: 127.0.0.1
        ast[2:3]:
        pbx-a:
          ansible_port: 2222
      vars:
        redis_port: 6380
    pbx:
      hosts:
        ast2:
        pbx-a:
`;

describe("YAML inventories (Ansible's yaml plugin format)", () => {
  it("reads all:/children:/hosts:/vars: with ranges, the same as the INI equivalent", () => {
    const y = loadInventory(join(inventory({ "hosts.yml": YAML }), "hosts.yml"), {});
    const i = loadInventory(join(inventory({ hosts: INI }), "hosts"), {});
    const view = (inv: typeof y) => ({
      hosts: inv.hosts.map((h) => [h.name, h.connection.host, h.connection.port ?? null, h.vars.redis_port]),
      asterisk: inv.groups.asterisk,
      pbx: inv.groups.pbx,
    });
    expect(view(y)).toEqual(view(i));
    expect(view(y).hosts).toEqual([
      ["ast1", "127.0.0.1", null, 6380],
      ["ast2", "ast2", null, 6380],
      ["ast3", "ast3", null, 6380],
      ["pbx-a", "pbx-a", 2222, 6380],
    ]);
    expect(y.hosts[0].vars.redis_maxmemory).toBe("100mb");
  });

  it("a directory with hosts.yml is found; group_vars/host_vars beside it apply", () => {
    const dir = inventory({ "hosts.yml": YAML, "host_vars/ast3.yml": "redis_port: 7000\n" });
    expect(loadInventory(dir, {}).hosts.find((h) => h.name === "ast3")!.vars.redis_port).toBe(7000);
  });

  it("names the file and line of every problem; inventory plugins are not supported", () => {
    const dir = inventory({
      "bad.yml": "all:\n  children:\n    asterisk:\n      hosts:\n        web[3:\n        ok1:\n      varz:\n        a: 1\n",
      "plugin.yml": "plugin: amazon.aws.aws_ec2\nregions: [us-east-1]\n",
      "broken.yml": "all:\n  hosts: [\n",
    });
    expect(problems(() => loadInventory(join(dir, "bad.yml"), {}))).toEqual([
      expect.stringMatching(/bad\.yml:5: bad host pattern web\[3: range "\[" is not closed/),
      expect.stringMatching(/bad\.yml:7: group asterisk: unknown key varz \(expected hosts, vars, children\)/),
    ]);
    expect(problems(() => loadInventory(join(dir, "plugin.yml"), {}))).toEqual([expect.stringMatching(/plugin\.yml:1: inventory plugins \(plugin: \.\.\.\) are not supported/)]);
    expect(problems(() => loadInventory(join(dir, "broken.yml"), {}))[0]).toMatch(/broken\.yml:\d+: invalid YAML/);
  });
});

describe("strict host patterns (INI)", () => {
  it.each([
    ["host[3:", /hosts:2: bad host pattern host\[3:: range "\[" is not closed/],
    ["ho$t,3!", /hosts:2: bad host name ho\$t,3!: only letters, digits/],
    ["host[a:3]", /hosts:2: bad host pattern host\[a:3\]: range a:3 mixes numbers and letters/],
    ["host[5:1]", /hosts:2: bad host pattern host\[5:1\]: range 5:1 runs backwards/],
    ["host[1:3:0]", /hosts:2: bad host pattern host\[1:3:0\]: the step must be 1 or more/],
    ["[1:3]", /hosts:2: malformed section header|hosts:2: bad/],
  ])("%s is an error naming the file and line", (pattern, re) => {
    const dir = inventory({ hosts: `[asterisk]\n${pattern}\nok1\n` });
    expect(problems(() => loadInventory(dir, {})).join("\n")).toMatch(re);
  });

  it("expands steps and letters; name:port sets the port", () => {
    const inv = loadInventory(inventory({ hosts: "[asterisk]\nn[0:10:5]\nx-[a:c].lan\nh9:2200\n" }), {});
    expect(inv.hosts.map((h) => h.name)).toEqual(["n0", "n5", "n10", "x-a.lan", "x-b.lan", "x-c.lan", "h9"]);
    expect(inv.hosts.at(-1)!.connection.port).toBe(2200);
  });
});

describe("--limit patterns", () => {
  const dir = inventory({ hosts: INI });
  const inv = loadInventory(dir, {});
  const sel = (p: string) => selectHosts(inv, p).map((h) => h.name);
  it.each([
    ["all:!ast2", ["ast1", "ast3", "pbx-a"]],
    ["ast?", ["ast1", "ast2", "ast3"]],
    // Globs and regexes match group names too, as in Ansible: ast* takes group asterisk with it.
    ["ast*", ["ast1", "ast2", "ast3", "pbx-a"]],
    ["asterisk:&pbx", ["ast2", "pbx-a"]],
    ["~ast[12]", ["ast1", "ast2"]],
    ["ast1,ast3", ["ast1", "ast3"]],
    ["ast1:ast3", ["ast1", "ast3"]],
    ["pbx:!pbx-a", ["ast2"]],
    ["*:!~^ast\\d", ["pbx-a"]],
  ])("%s", (p, want) => expect(sel(p)).toEqual(want));

  it("@retry_file (one host per line, as ansible-playbook writes them)", () => {
    const f = join(dir, "site.retry");
    writeFileSync(f, "ast3\npbx-a\n");
    expect(sel(`@${f}`)).toEqual(["ast3", "pbx-a"]);
    expect(() => sel(`@${join(dir, "nope.retry")}`)).toThrow(/nope\.retry: no such file/);
  });

  it("says what is wrong: unknown names, empty matches, bad regexes, subscripts not supported", () => {
    expect(() => sel("nosuch")).toThrow(/nosuch is neither a host nor a group of/);
    expect(() => sel("db*")).toThrow(/--limit db\* matches no host or group/);
    expect(() => sel("~ast[")).toThrow(/bad regular expression/);
    expect(() => sel("asterisk[0]")).toThrow(/subscripts of a group .* are not supported/);
    expect(() => sel("ast1:&pbx")).toThrow(/matches no host of group \[asterisk\]/);
  });
});

describe("-e / --extra-vars", () => {
  it("key=value, JSON and @file.yml override every inventory variable, in order; bad values name --extra-vars", () => {
    const dir = inventory({ hosts: "[asterisk]\nast1 redis_port=6380\n", "host_vars/ast1.yml": "redis_maxmemory: 200mb\n", "extra.yml": "redis_maxmemory: 300mb\n" });
    const extra = parseExtraVars(["redis_port=7001 redis_loglevel=warning", `@${join(dir, "extra.yml")}`, '{"redis_appendonly": false}']);
    const [h] = loadInventory(dir, {}, extra).hosts;
    expect(h.vars).toMatchObject({ redis_port: 7001, redis_loglevel: "warning", redis_maxmemory: "300mb", redis_appendonly: false });
    expect(h.origin.redis_port).toBe("--extra-vars #1");
    expect(problems(() => loadInventory(dir, {}, parseExtraVars(["redis_port=http"])))).toEqual([expect.stringMatching(/^--extra-vars #1: redis_port: must be an integer 1-65535/)]);
    expect(problems(() => parseExtraVars(["@/nonexistent/x.yml", "novalue"]))).toEqual([
      "--extra-vars #1: /nonexistent/x.yml: no such file",
      "--extra-vars #2: expected key=value, got novalue",
    ]);
  });
});

describe("refused before any connection (exit 1)", () => {
  it("a missing ansible_ssh_private_key_file is named with its file and host", async () => {
    const dir = inventory({ hosts: "[asterisk]\nast1 ansible_host=127.0.0.1 ansible_port=1\n\n[asterisk:vars]\nansible_ssh_private_key_file=/nonexistent/key.pem\n" });
    const r = await cli(["-i", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/hosts \[asterisk:vars\]: ansible_ssh_private_key_file: \/nonexistent\/key\.pem: no such file \(host ast1; nothing was contacted\)/);
    expect(r.out).toBe("");
  });

  it.each([["--tags", "x"], ["--become"], ["-u", "root"], ["--vault-password-file", "f"], ["--list-hosts"]])("ansible-playbook's %s says not supported", async (...flag) => {
    const dir = inventory({ hosts: "[asterisk]\nast1 ansible_host=127.0.0.1 ansible_port=1\n" });
    const r = await cli(["-i", dir, ...flag]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^error: not supported: ${flag[0]} \\(ansible-playbook\\) is not supported by this tool`));
  });

  it("two -i, script inventories and unknown ansible_ variables say not supported", async () => {
    const dir = inventory({ hosts: "[asterisk]\nast1 ansible_host=127.0.0.1 ansible_port=1 ansible_ssh_pass=x\n", "script.sh": "#!/bin/sh\necho '{}'\n" });
    expect((await cli(["-i", dir, "-i", dir])).err).toMatch(/not supported: -i given twice/);
    execFileSync("chmod", ["+x", join(dir, "script.sh")]);
    expect((await cli(["-i", join(dir, "script.sh")])).err).toMatch(/script\.sh: executable \(script\) inventories are not supported/);
    const r = await cli(["-i", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ansible_ssh_pass: connection variable not supported by this tool/);
  });
});

describe("host shell: real files, shellcheck-clean, parameters as data", () => {
  const shFiles = () => {
    const root = join(__dirname, "../../provisioning");
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith(".sh")) out.push(join(d, e.name));
      }
    };
    walk(root);
    return out;
  };
  const haveShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;

  it("every provisioning .sh file passes shellcheck", () => {
    if (!haveShellcheck && !process.env.CI) {
      console.warn("!! shellcheck not installed (apt-get install shellcheck): the shell files were NOT checked");
      return;
    }
    const files = shFiles();
    expect(files.map((f) => f.slice(f.indexOf("provisioning/")))).toEqual(expect.arrayContaining(["provisioning/scripts/lib.sh", "provisioning/scripts/handlers.sh", "provisioning/testbed/playbook-host.sh"]));
    const r = spawnSync("shellcheck", ["-x", ...files], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("parameters reach bash as values, whatever they contain", () => {
    // Quotes, expansions, printf's own escapes and formats, CR, a line that looks like the block's end.
    const nasty = `a'b"c $(touch /tmp/pwned) \`id\` \\ \\n \\c \\0101 %s %b \r\n${PARAMS_END}\n; rm -rf /\n\n`;
    const big = "x".repeat(70_000); // longer than bash's here-document pipe: a block of its own
    const text = paramLines({ P_X: nasty, P_EMPTY: "", P_N: 7, P_B: true, P_BIG: big, P_Y: "é\0z" });
    expect(text.split("\n").filter((l) => l === PARAMS_END)).toHaveLength(3); // the ends of 3 blocks, none from the value
    const r = spawnSync("bash", ["-c", `set -u\n${text}\nprintf '%s|%s|%s|%s|%s|%s' "$P_X" "$P_EMPTY" "$P_N" "$P_B" "\${#P_BIG}" "$P_Y"`], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`${nasty.replace(/\n+$/, "")}||7|1|70000|éz`); // as $(printf '%s' ...) gave: trailing newlines, NULs dropped
    expect(scriptParams(text)).toEqual({ P_X: nasty.replace(/\n+$/, ""), P_EMPTY: "", P_N: "7", P_B: "1", P_BIG: big, P_Y: "éz" });
    expect(text).not.toContain("pwned"); // short values travel as \xHH escapes only
    const longSecret = `${"long-secret-".repeat(30)}end`;
    registerSecret(longSecret);
    expect(paramLines({ P_S: longSecret, P_L: longSecret.replace("end", "not-a-secret") })).not.toContain("long-secret-long-secret-end");
    expect(scriptParams(paramLines({ P_S: longSecret })).P_S).toBe(longSecret);
    expect(() => paramLines({ "X; rm": "1" })).toThrow(/bad script parameter name/);
    expect(SCRIPTS_DIR).toMatch(/provisioning\/scripts$/);
  });

  it("a session runs its steps one after another, each in a clean subshell reading /dev/null, with its exit code", () => {
    const steps = [
      `${paramLines({ P_X: "from step 1" })}\nprintf '%s\\n' "$P_X"; LEFT=1; exit 3`,
      'printf \'%s|%s|%s\\n\' "${P_X:-unset}" "${LEFT:-unset}" "$(cat)"; echo oops >&2',
      `${paramLines({ P_Y: "é".repeat(3) })}\nprintf '%s\\n' "$P_Y"`,
    ];
    const r = spawnSync("bash", ["-s"], { input: SESSION_LOOP + steps.map(sessionStep).join(""), encoding: "utf8" });
    expect(r.status).toBe(0);
    const out = r.stdout.split("\n").filter(Boolean);
    expect(out[0]).toMatch(/^@@session-pg\|\d+$/);
    expect(out.slice(1)).toEqual(["from step 1", "@@step-end|3", "unset|unset|", "@@step-end|0", "ééé", "@@step-end|0"]);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual(["@@step-end|3", "oops", "@@step-end|0", "@@step-end|0"]);
  });

  it("facts, files and task messages come back exactly, without a fork per line", () => {
    const dir = mkdtempSync(join(tmpdir(), "facts-"));
    try {
      const value = `x\\y\nz\r & %s \\n é|bar`;
      writeFileSync(join(dir, "text"), "a\nb\n\n");
      writeFileSync(join(dir, "nul"), "a\0b");
      writeFileSync(join(dir, "empty"), "");
      const driver = [
        `fact v "$P_V"$'\\n'`,
        'fact blank ""',
        'task "a task" changed "$P_V"',
        'for f in text nul empty absent; do fact_file "$f" "$P_DIR/$f"; done',
      ];
      const r = spawnSync("bash", ["-s"], { input: [paramLines({ P_V: value, P_DIR: dir }), scriptFile("lib"), ...driver, "exit 0", ""].join("\n"), encoding: "utf8" });
      expect(r.stderr).toBe("");
      const out: ScriptOutput = { facts: {}, tasks: [] };
      for (const l of r.stdout.split("\n")) parseLine(l, out);
      expect(out.facts).toEqual({ v: `${value}\n`, blank: "", text: "a\nb\n\n", nul: "a\0b", empty: "" });
      expect(out.tasks).toEqual([{ name: "a task", status: "changed", msg: value }]);
      expect(r.stdout.split("\n").filter((l) => l.startsWith("@@fact|")).map((l) => l.split("|")[1])).toEqual(["nul"]); // the one case for base64
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("owned directives", () => {
  const p = OS_PROFILES.debian;
  const conf = renderRedisConf(buildContext(DEFAULTS, p, serverVersion("Redis server v=7.0.15 sha=0"), { app: "app-password-1", admin: "admin-password-1" }));
  it("a rendered config carries every directive the role owns", () => expect(missingOwnedDirectives(conf, DEFAULTS, p)).toEqual([]));
  it("a config without them (an edited template, an empty file) is refused, naming what is missing", () => {
    expect(missingOwnedDirectives("", DEFAULTS, p)).toEqual(expect.arrayContaining(["user default (password hash)", "dir /var/lib/redis", "appendonly yes", "port 6379"]));
    const cut = conf.replace(/^dir .*$/m, "").replace(/^user provisioner .*$/m, "");
    expect(missingOwnedDirectives(cut, DEFAULTS, p)).toEqual(["user provisioner (password hash)", "dir /var/lib/redis"]);
    expect(missingOwnedDirectives(`${conf}requirepass x\n`, DEFAULTS, p)).toEqual(["no plaintext requirepass"]);
  });
});
