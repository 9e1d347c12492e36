/**
 * An inventory the old playbook ran with must mean the same to this tool as it meant to Ansible:
 * the same password (else the takeover cannot log in, or sets a password the applications do not
 * have), the same ssh arguments, the same variable files. Checked against the real
 * `ansible-inventory` (ansible-core, installed by __tests__/setup.sh) on the same files, and for
 * the forms Ansible reads differently from a shell. No host is contacted.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { DEFAULTS, checkRoleVar, isRoleVar } from "../../provisioning/defaults";
import { loadInventory, parseExtraVars, selectHosts, shlex } from "../../provisioning/inventory";
import { iniValue } from "../../provisioning/inventory/literal";
import { inventory, problems } from "./inventories";

/** [group:vars] and host-line values the way old inventories write them. */
const HOSTS = String.raw`[asterisk]
ast1 redis_password="abc #def\ghi" redis_save_intervals='["900 1", "300 10"]' redis_port=6390 # the old box
ast2 redis_password=plain-pass-2#comment redis_loglevel=warning

[pbx:children]
asterisk

[asterisk:vars]
ansible_ssh_common_args=-o ProxyCommand="ssh -W %h:%p -q bastion" -o StrictHostKeyChecking=no
redis_maxmemory = 256mb
redis_extra_config={"hz": 20, "lazyfree-lazy-eviction": "yes"}
redis_bind_address=127.0.0.1 10.0.0.5
asterisk_ari_password=it's"quoted"\and%s$HOME

[pbx:vars]
redis_timeout="30"
`;

const FILES = {
  hosts: HOSTS,
  // A directory wins over NAME.yml in Ansible; inside it, files without an extension, .json and subdirectories count.
  "group_vars/asterisk/10-memory": "redis_maxmemory_policy: allkeys-lfu\n",
  "group_vars/asterisk/20-net.json": '{"redis_tcp_keepalive": 120}\n',
  "group_vars/asterisk/sub/30-db.yml": "redis_databases: 4\n",
  "group_vars/asterisk/.hidden.yml": "redis_databases: 99\n",
  "group_vars/asterisk/40-old.yml~": "redis_databases: 98\n",
  "group_vars/asterisk/notes.txt": "redis_databases: 97\n",
  "host_vars/ast1.json": '{"redis_appendfsync": "always"}\n',
  // YAML 1.1 merge keys (PyYAML), and !unsafe: a string Ansible never templates.
  "group_vars/asterisk/50-merge.yml": "common: &common\n  redis_metrics_interval_seconds: 120\n  redis_backup_prefix: old/redis\n<<: *common\nredis_backup_schedule: !unsafe '*-*-* 02:30:00'\n",
  "host_vars/ast2.yml": "redis_password: !unsafe 'pw{{not-jinja}}2'\n",
};

/** Ansible's own reading: hostvars of every host, from `ansible-inventory --list`. */
function ansibleHostvars(dir: string): Record<string, Record<string, unknown>> {
  const out = execFileSync("ansible-inventory", ["-i", join(dir, "hosts"), "--list"], {
    encoding: "utf8",
    env: { ...process.env, ANSIBLE_INVENTORY_ENABLED: "ini", ANSIBLE_LOCAL_TEMP: join(dir, ".ansible-tmp"), ANSIBLE_HOME: join(dir, ".ansible") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // ansible-inventory writes an !unsafe string as {"__ansible_unsafe": "..."}.
  const plain = (_: string, v: unknown) => (v !== null && typeof v === "object" && "__ansible_unsafe" in v ? (v as { __ansible_unsafe: unknown }).__ansible_unsafe : v);
  return (JSON.parse(out, plain) as { _meta: { hostvars: Record<string, Record<string, unknown>> } })._meta.hostvars;
}

describe("an old playbook's INI inventory reads as Ansible reads it", () => {
  const dir = inventory(FILES);
  const inv = loadInventory(dir, {});

  it("gives every role variable and the ssh arguments the value ansible-inventory gives them", () => {
    const ansible = ansibleHostvars(dir);
    expect(Object.keys(ansible).sort()).toEqual(["ast1", "ast2"]);
    for (const host of inv.hosts) {
      const theirs = ansible[host.name];
      const roleVars = Object.keys(theirs).filter(isRoleVar);
      expect(roleVars.length).toBeGreaterThanOrEqual(10);
      for (const key of roleVars) {
        const expected = checkRoleVar(key, theirs[key]);
        expect({ host: host.name, key, value: expected.ok ? expected.value : expected.problems }).toEqual({ host: host.name, key, value: host.vars[key] });
      }
      // Ansible's ssh connection splits the string with shlex.split.
      expect(host.connection.sshArgs).toEqual(shlex(String(theirs.ansible_ssh_common_args)));
    }
  });

  it("keeps a password's #, backslashes, quotes and % exactly, and ProxyCommand as one argument", () => {
    const [ast1] = inv.hosts;
    expect(ast1.vars.redis_password).toBe(String.raw`abc #def\ghi`);
    expect(ast1.vars.asterisk_ari_password).toBe(String.raw`it's"quoted"\and%s$HOME`);
    expect(ast1.connection.sshArgs).toEqual(["-o", "ProxyCommand=ssh -W %h:%p -q bastion", "-o", "StrictHostKeyChecking=no"]);
    expect(ast1.vars.redis_save_intervals).toEqual(["900 1", "300 10"]);
    expect(ast1.vars.redis_extra_config).toEqual({ hz: "20", "lazyfree-lazy-eviction": "yes" });
    expect(ast1.vars.redis_port).toBe(6390);
    expect(ast1.vars.redis_timeout).toBe(30);
  });

  it("reads group_vars/NAME/ as Ansible does: no extension, .json, subdirectories; not hidden, ~ or other files", () => {
    const [ast1, ast2] = inv.hosts;
    expect(ast1.vars.redis_maxmemory_policy).toBe("allkeys-lfu");
    expect(ast1.vars.redis_tcp_keepalive).toBe(120);
    expect(ast1.vars.redis_databases).toBe(4);
    expect(ast1.vars.redis_appendfsync).toBe("always");
    expect(ast2.vars.redis_appendfsync).toBe(DEFAULTS.redis_appendfsync);
  });

  it("merges YAML << keys and takes !unsafe strings as written", () => {
    const [ast1, ast2] = inv.hosts;
    expect(ast1.vars.redis_metrics_interval_seconds).toBe(120);
    expect(ast1.vars.redis_backup_prefix).toBe("old/redis");
    expect(ast2.vars.redis_password).toBe("pw{{not-jinja}}2");
    expect(inv.ignored).toEqual(["common"]);
  });
});

describe("INI values", () => {
  it.each([
    ["6380", 6380],
    ['"6380"', "6380"],
    ["007", "007"],
    ["1_000", 1000],
    ["0x1f", 31],
    ["-3", -3],
    ["1.5", 1.5],
    ["True", true],
    ["true", "true"],
    ["None", null],
    ['["300 1", (1, 2)]', ["300 1", [1, 2]]],
    ["{'a': {'b': [1,]}}", { a: { b: [1] } }],
    ["{1, 2}", [1, 2]],
    ["1, 2", [1, 2]],
    ["(5)", 5],
    ['"a" \'b\'', "ab"],
    [String.raw`r"a\d"`, String.raw`a\d`],
    [String.raw`"\x41\t\101"`, "A\tA"],
    ['"x" # comment', "x"],
    ["12345678901234567890", "12345678901234567890"],
    ["127.0.0.1", "127.0.0.1"],
    ["'unterminated", "'unterminated"],
    ['b"bytes"', 'b"bytes"'],
    ["1+2j", "1+2j"],
    ["abc # not a comment", "abc # not a comment"],
  ])("%s reads as ast.literal_eval reads it (or as written)", (text, value) => {
    expect(iniValue(text)).toEqual(value);
  });
});

describe("a word that is not key=value", () => {
  it("is reported without showing it: it may be a secret", () => {
    const secret = "hunter2-hunter2";
    const dir = inventory({ hosts: `[asterisk]\nast1 redis_password = ${secret}\n[asterisk:vars]\n${secret}\n` });
    const found = problems(() => loadInventory(dir, {}));
    expect(found.join("\n")).toMatch(/hosts:2: expected key=value after host ast1, got redis_password\n.*hosts:2: expected key=value after host ast1, got word 3, which is not shown.*\n.*hosts:2: expected key=value after host ast1, got word 4, which is not shown/);
    expect(found.join("\n")).toMatch(/hosts:4: \[asterisk:vars\] expects key=value/);
    expect(found.join("\n")).not.toContain(secret);
    const extra = problems(() => parseExtraVars([`redis_password = ${secret}`, `redis_password =${secret}`]));
    expect(extra.join("\n")).toMatch(/--extra-vars #1: expected key=value/);
    expect(extra.join("\n")).not.toContain(secret);
  });
});

describe("YAML inventories and !vault", () => {
  it("merge << keys in a YAML inventory's hosts and vars", () => {
    const dir = inventory({ "hosts.yml": "all:\n  children:\n    asterisk:\n      vars:\n        <<: &net {redis_port: 6391}\n      hosts:\n        ast1:\n          <<: {redis_timeout: 5}\n" });
    const [ast1] = loadInventory(dir, {}).hosts;
    expect([ast1.vars.redis_port, ast1.vars.redis_timeout]).toEqual([6391, 5]);
  });

  it("an inline !vault value is refused naming the file and variable, not as a short password", () => {
    const dir = inventory({ hosts: "[asterisk]\nast1\n", "group_vars/asterisk.yml": "redis_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162636465\n" });
    expect(problems(() => loadInventory(dir, {}))).toEqual([expect.stringMatching(/group_vars\/asterisk\.yml: redis_password: vault-encrypted values \(!vault\) are not supported/)]);
  });
});

describe("group_vars files Ansible would skip", () => {
  it("are an error naming both files, not silently merged or dropped", () => {
    const dir = inventory({ hosts: "[asterisk]\nast1\n", "group_vars/asterisk.yml": "redis_port: 6391\n", "group_vars/asterisk.yaml": "redis_port: 6392\n" });
    const [p, ...rest] = problems(() => loadInventory(dir, {}));
    expect(rest).toEqual([]);
    expect(p).toMatch(/group_vars\/asterisk\.yaml: not read, because .*group_vars\/asterisk\.yml exists .*merge them into one$/);
  });
});

describe("--limit", () => {
  it("given but empty (an unset shell variable) is an error, not every host", () => {
    const inv = loadInventory(inventory({ hosts: "[asterisk]\nast1\nast2\n" }), {});
    for (const limit of ["", "  "]) expect(problems(() => selectHosts(inv, limit))).toEqual([expect.stringMatching(/^--limit ".*" is empty \(an unset variable\?\): it would select every host/)]);
    expect(selectHosts(inv).map((h) => h.name)).toEqual(["ast1", "ast2"]);
  });
});

describe("ansible_ssh_common_args / ansible_ssh_extra_args", () => {
  const connect = (args: string) => {
    const dir = inventory({ hosts: "[asterisk]\nast1\n", "group_vars/asterisk.yml": `ansible_ssh_extra_args: ${JSON.stringify(args)}\n` });
    return loadInventory(dir, {}).hosts[0].connection.sshArgs;
  };
  const refused = (args: unknown) => {
    const dir = inventory({ hosts: "[asterisk]\nast1\n", "group_vars/asterisk.yml": `ansible_ssh_extra_args: ${JSON.stringify(args)}\n` });
    return problems(() => loadInventory(dir, {})).join("\n");
  };

  it("take ssh options with their values, attached or not", () => {
    expect(connect("-vvv -C -o ServerAliveInterval=5 -J bastion -oProxyJump=b2 -p 2222 -4")).toEqual(["-vvv", "-C", "-o", "ServerAliveInterval=5", "-J", "bastion", "-oProxyJump=b2", "-p", "2222", "-4"]);
  });

  it("refuse a stray word (ssh would connect to it and run the host's address as a command), a list, a map, an option the session cannot work with", () => {
    expect(refused("-o ProxyJump=x bastion")).toMatch(/group_vars\/asterisk\.yml: ansible_ssh_extra_args: "bastion" is not an ssh option \(ssh would take it for the host to connect to\)/);
    expect(refused(["-o", "X=y"])).toMatch(/ansible_ssh_extra_args: must be a string of ssh options/);
    expect(refused({ a: 1 })).toMatch(/ansible_ssh_extra_args: must be a string of ssh options/);
    expect(refused("-n")).toMatch(/ssh option -n reads stdin from \/dev\/null .*: not supported/);
    expect(refused("-vN")).toMatch(/ssh option -N runs no command: not supported/);
    expect(refused("-C -p")).toMatch(/ssh option -p needs a value/);
    expect(refused("-Z")).toMatch(/-Z is not an ssh option/);
  });
});
