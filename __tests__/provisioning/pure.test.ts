/** Pure parts of the provisioner: inventory, variables, rendering, OS table, CLI arguments, diff, secrets. */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { main, parseArgs, UsageError } from "../../provisioning/cli";
import { memoryBytes } from "../../lambdas/contracts/memory";
import { DEFAULTS } from "../../provisioning/defaults";
import { unifiedDiff } from "../../provisioning/diff";
import { displayPath, expandHostPattern, HostSpec, loadInventory, selectHosts, shlex } from "../../provisioning/inventory";
import { OS_PROFILES, selectProfile, serverVersion } from "../../provisioning/os";
import { buildContext, maskSecrets, render, renderRedisConf, sha256 } from "../../provisioning/render";
import { Output } from "../../provisioning/output";
import { dev as devConfig, prod as prodConfig } from "../../stacks/environments";
import { cidrContains, parseCidr } from "../../modules/settings";
import { describeFetchError, redact, registerSecret, resolveSecrets } from "../../provisioning/secrets";
import { parseFacts } from "../../provisioning/tasks/facts";
import { parseLine, ScriptOutput } from "../../provisioning/tasks/shell";
import { evaluateVerify, runtimeDrift } from "../../provisioning/tasks/verify";
import { inventory, problems } from "./inventories";

describe("inventory (Ansible INI + group_vars/host_vars)", () => {
  const hosts = `# comment
[asterisk]
ast1 ansible_host=10.0.0.5 ansible_port=2222 ansible_user=ec2-user
ast[2:3] ansible_ssh_common_args='-o ProxyJump=bastion -o Compression=yes'

[db]
db1

[prod:children]
asterisk

[asterisk:vars]
ansible_become=true
redis_port=6380

[all:vars]
redis_maxmemory=100mb
`;

  it("parses groups, ranges, children and merges variables with Ansible precedence", () => {
    const dir = inventory({
      hosts,
      "group_vars/all.yml": "redis_maxmemory: 200mb\nsome_other_role_var: 1\n",
      "group_vars/asterisk.yml": "redis_maxmemory_policy: allkeys-lfu\nredis_port: 6381\n",
      "host_vars/ast2.yml": "redis_port: 7000\nredis_appendonly: no\n",
    });
    const inv = loadInventory(dir, {});
    expect(inv.hosts.map((h) => h.name)).toEqual(["ast1", "ast2", "ast3", "db1"]);
    expect(inv.groups.prod.sort()).toEqual(["ast1", "ast2", "ast3"]);
    const [ast1, ast2] = inv.hosts;
    expect(ast1.connection).toMatchObject({ host: "10.0.0.5", port: 2222, user: "ec2-user", become: true });
    expect(ast2.connection.sshArgs).toEqual(["-o", "ProxyJump=bastion", "-o", "Compression=yes"]);
    // group_vars file beats [group:vars]; host_vars beats both; group_vars/all beats [all:vars]
    expect(ast1.vars.redis_port).toBe(6381);
    expect(ast2.vars.redis_port).toBe(7000);
    expect(ast2.vars.redis_appendonly).toBe(false);
    expect(ast1.vars.redis_maxmemory).toBe("200mb");
    expect(ast1.vars.redis_maxmemory_policy).toBe("allkeys-lfu");
    expect(ast1.vars.redis_save_intervals).toEqual(["300 1"]);
    expect(inv.ignored).toEqual(["some_other_role_var"]);
    expect(selectHosts(inv).map((h) => h.name)).toEqual(["ast1", "ast2", "ast3"]);
    expect(selectHosts(inv, "ast3").map((h) => h.name)).toEqual(["ast3"]);
    expect(() => selectHosts(inv, "nosuch")).toThrow(/nosuch is neither a host nor a group/);
  });

  it("names the file and the variable for unknown and invalid variables", () => {
    const dir = inventory({
      hosts: "[asterisk]\nast1 redis_port=99999\n",
      "group_vars/asterisk.yml": "redis_maxmemmory: 1gb\nredis_maxmemory_policy: lru\nredis_save_intervals: ['300']\n",
      "host_vars/ast1.yml": "redis_bind_address: not-an-ip\nansible_ssh_pass: x\n",
    });
    const p = problems(() => loadInventory(dir, {}));
    const has = (file: string, v: string) => expect(p.some((x) => x.includes(file) && x.includes(`: ${v}: `))).toBe(true);
    has("hosts (host ast1)", "redis_port");
    has("group_vars/asterisk.yml", "redis_maxmemmory");
    has("group_vars/asterisk.yml", "redis_maxmemory_policy");
    has("group_vars/asterisk.yml", "redis_save_intervals");
    has("host_vars/ast1.yml", "redis_bind_address");
    has("host_vars/ast1.yml", "ansible_ssh_pass");
  });

  it("never echoes an invalid password, rejects vault files and unsupported Jinja", () => {
    const dir = inventory({
      hosts: "[asterisk]\nast1\n",
      "group_vars/asterisk.yml": 'redis_password: "short"\nredis_port: "{{ 6379 + 1 }}"\n',
      "host_vars/ast1.yml": "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
    });
    const p = problems(() => loadInventory(dir, {}));
    expect(p.join("\n")).not.toContain('"short"');
    expect(p.some((x) => x.includes("redis_password") && x.includes("value hidden"))).toBe(true);
    expect(p.some((x) => x.includes("redis_port") && x.includes("Jinja"))).toBe(true);
    expect(p.some((x) => x.includes("host_vars/ast1.yml") && x.includes("vault"))).toBe(true);
  });

  it("a list variable names every bad entry, each with the value as written; the schema normalises the good ones", () => {
    const dir = inventory({
      hosts: "[asterisk]\nast1 redis_protected_mode=no redis_databases=' 4 '\n",
      "group_vars/asterisk.yml": 'redis_save_intervals: ["300", 5, "60 100"]\nasterisk_worker_health_allow: "10.0.0.0/8 ::1/129 x"\n',
    });
    const at = "group_vars/asterisk.yml: ";
    expect(problems(() => loadInventory(dir, {})).map((x) => x.slice(x.indexOf(at)))).toEqual([
      `${at}redis_save_intervals: each entry must be "SECONDS CHANGES" or {seconds, changes} with positive integers (got "300")`,
      `${at}redis_save_intervals: each entry must be "SECONDS CHANGES" or {seconds, changes} with positive integers (got 5)`,
      `${at}asterisk_worker_health_allow: must be space-separated IP addresses or CIDR ranges (IPAddressAllow= of the unit) (got "::1/129")`,
      `${at}asterisk_worker_health_allow: must be space-separated IP addresses or CIDR ranges (IPAddressAllow= of the unit) (got "x")`,
    ]);
    const ok = inventory({
      hosts: "[asterisk]\nast1 redis_protected_mode=no redis_databases=' 4 '\n",
      "group_vars/asterisk.yml": 'redis_save_intervals: ["300 1", [60, "100"], {seconds: 10, changes: 2}]\n',
    });
    expect(loadInventory(ok, {}).hosts[0].vars).toMatchObject({ redis_protected_mode: false, redis_databases: 4, redis_save_intervals: ["300 1", "60 100", "10 2"] });
  });

  it("resolves {{ lookup('env', ...) }} like the old group_vars did", () => {
    const dir = inventory({ hosts: "[asterisk]\nast1\n", "group_vars/asterisk.yml": "redis_password: \"{{ lookup('env', 'MY_PW') }}\"\n" });
    expect(loadInventory(dir, { MY_PW: "from-env-123" }).hosts[0].vars.redis_password).toBe("from-env-123");
  });

  it("redis_extra_config refuses secret-bearing directives and reports every problem, naming each directive, never a value", () => {
    const dir = inventory({
      hosts: "[asterisk]\nast1\n",
      "group_vars/asterisk.yml": [
        "redis_extra_config:",
        '  masterauth: "S3cret-masterauth"',
        "  masteruser: repl",
        '  primaryauth: "S3cret-primaryauth"',
        '  tls-key-file-pass: "S3cret-tls"',
        '  tls-client-key-file-pass: "S3cret-tls-client"',
        '  user: "bob on >S3cret-user ~* +@all"',
        '  requirepass: "S3cret-requirepass"',
        "  dir: /tmp",
        "  Bad_Name: 1",
        "  hz: [1, 2]",
        "  maxclients: 100",
        "",
      ].join("\n"),
    });
    const p = problems(() => loadInventory(dir, {}));
    const at = "group_vars/asterisk.yml: redis_extra_config: ";
    for (const d of ["masterauth", "masteruser", "primaryauth", "tls-key-file-pass", "tls-client-key-file-pass", "requirepass"]) {
      expect(p).toContainEqual(expect.stringMatching(new RegExp(`${at}${d}: carries a secret, .*refused`)));
    }
    expect(p).toContainEqual(expect.stringMatching(new RegExp(`${at}user: ACL users carry passwords`)));
    expect(p).toContainEqual(expect.stringMatching(new RegExp(`${at}dir: managed by the role`)));
    expect(p).toContainEqual(expect.stringMatching(new RegExp(`${at}"Bad_Name": directive names are lowercase`)));
    expect(p).toContainEqual(expect.stringMatching(new RegExp(`${at}hz: must be a single-line value`)));
    expect(p).toHaveLength(10);
    expect(p.join("\n")).not.toMatch(/S3cret/);
    // Valid directives still load.
    const ok = inventory({ hosts: "[asterisk]\nast1\n", "group_vars/asterisk.yml": "redis_extra_config:\n  hz: 20\n  maxclients: 100\n" });
    expect(loadInventory(ok, {}).hosts[0].vars.redis_extra_config).toEqual({ hz: "20", maxclients: "100" });
  });

  it("names files relative to the working directory when inside it, absolute otherwise, whatever form -i had", () => {
    mkdirSync(join(process.cwd(), "build"), { recursive: true }); // a fresh clone has no build/ yet
    const inside = mkdtempSync(join(process.cwd(), "build", "inv-"));
    try {
      mkdirSync(join(inside, "group_vars"));
      writeFileSync(join(inside, "hosts"), "[asterisk]\nast1 redis_port=0\n");
      writeFileSync(join(inside, "group_vars/asterisk.yml"), "redis_port: x\n");
      mkdirSync(join(inside, "host_vars"));
      writeFileSync(join(inside, "host_vars/ast1.yml"), "$ANSIBLE_VAULT;1.1;AES256\n");
      const rel = relative(process.cwd(), inside);
      for (const arg of [inside, rel, `./${rel}`, join(inside, "hosts")]) {
        const p = problems(() => loadInventory(arg, {}));
        expect(p.sort()).toEqual(
          [
            `${rel}/group_vars/asterisk.yml: redis_port: must be an integer 1-65535 (got "x")`,
            `${rel}/hosts (host ast1): redis_port: must be an integer 1-65535 (got 0)`,
            `${rel}/host_vars/ast1.yml: vault-encrypted variable files are not supported; use REDIS_PASSWORD or redis_password_secret_arn`,
          ].sort(),
        );
      }
      for (const arg of [join(inside, "nope"), join(rel, "nope")]) expect(problems(() => loadInventory(arg, {}))).toEqual([`${rel}/nope: inventory not found`]);
      writeFileSync(join(inside, "hosts"), "[other]\nx\n");
      rmSync(join(inside, "host_vars"), { recursive: true });
      rmSync(join(inside, "group_vars"), { recursive: true });
      expect(problems(() => selectHosts(loadInventory(inside, {})))).toEqual([`${rel}/hosts: no hosts in group [asterisk]`]);
    } finally {
      rmSync(inside, { recursive: true, force: true });
    }
    const outside = inventory({ hosts: "[asterisk]\nast1\n", "group_vars/asterisk.yml": "redis_port: x\n" });
    for (const arg of [outside, relative(process.cwd(), outside)]) {
      expect(problems(() => loadInventory(arg, {}))).toEqual([`${outside}/group_vars/asterisk.yml: redis_port: must be an integer 1-65535 (got "x")`]);
    }
    expect(displayPath("/work/x/y", "/work/x")).toBe("y");
    expect(displayPath("/work/xy", "/work/x")).toBe("/work/xy");
    expect(displayPath("../z", "/work/x")).toBe("/work/z");
  });

  it("shlex and host ranges", () => {
    expect(shlex(`a b='c d' "e \\" f"`)).toEqual(["a", "b=c d", 'e " f']);
    expect(expandHostPattern("web[08:10].x")).toEqual(["web08.x", "web09.x", "web10.x"]);
    expect(expandHostPattern("n[a:c]")).toEqual(["na", "nb", "nc"]);
  });

  it("ships dev and prod inventories that parse, validate and match their stacks (no secret fetched)", async () => {
    const fetched: string[] = [];
    const fakeFetch = async (a: string) => {
      fetched.push(a);
      return JSON.stringify({ password: `fake-${a.split(":").pop()}` });
    };
    for (const env of [devConfig, prodConfig]) {
      const dir = `inventory/${env.environment}`;
      const inv = loadInventory(dir, {});
      const hosts = selectHosts(inv);
      expect(hosts).toHaveLength(1);
      const [h] = hosts;
      expect(inv.ignored).toEqual([]);
      // The stack's own secrets (the Lambdas read the same ones): name <project>-<env>/..., region of the stack.
      const arn = (name: string) => new RegExp(`^arn:aws:secretsmanager:${env.region}:\\d{12}:secret:${env.project}-${env.environment}/${name}-[A-Za-z0-9]{6}$`);
      expect(h.vars.redis_password_secret_arn).toMatch(arn("redis-password"));
      expect(h.vars.asterisk_ari_password_secret_arn).toMatch(arn("ari-password"));
      expect(h.vars.redis_password).toBeUndefined();
      expect(h.origin.redis_password_secret_arn).toBe(`${dir}/group_vars/asterisk.yml`);
      expect(h.connection).toMatchObject({ user: "ec2-user", become: true });
      // Validated end to end with a stand-in fetcher: nothing reaches AWS.
      const secrets = await resolveSecrets(hosts, { REDIS_PASSWORD: "ignored-when-an-arn-is-set" }, fakeFetch);
      expect(secrets.get(h.name)).toEqual({ redis: "fake-campaign-" + `${env.environment}/redis-password-AbCdEf`, ari: `fake-campaign-${env.environment}/ari-password-AbCdEf` });
    }
    expect(fetched).toHaveLength(4);

    // dev: no key pair (SSM only), so ssh goes through Session Manager to the instance id.
    expect(devConfig.asterisk.keyName).toBeUndefined();
    const [dev] = loadInventory("inventory/dev", {}).hosts;
    expect(dev.connection.host).toMatch(/^i-[0-9a-f]{17}$/);
    expect(dev.connection.keyFile).toBeUndefined();
    expect(dev.connection.sshArgs).toEqual([
      "-o",
      "ProxyCommand=aws ssm start-session --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p",
    ]);
    expect(readFileSync("inventory/dev/hosts", "utf8")).toContain(`cd cdktf.out/stacks/${devConfig.project}-dev && terraform output -raw asterisk_instance_id`);
    expect(readFileSync("inventory/dev/hosts", "utf8")).toContain(devConfig.network.mode === "create" ? devConfig.network.publicSubnetCidr : "?");

    // prod: a private address inside the prod VPC, the stack's key pair.
    const [prod] = loadInventory("inventory/prod", {}).hosts;
    expect(cidrContains(parseCidr(prodConfig.network.vpcCidr)!, parseCidr(`${prod.connection.host}/32`)!)).toBe(true);
    expect(prod.connection.keyFile).toBe(join(homedir(), `.ssh/${prodConfig.asterisk.keyName}.pem`)); // ~ expanded, as ssh would
    expect(prod.connection.sshArgs).toEqual(["-o", "ProxyJump=ec2-user@bastion.prod.example.internal"]);
    expect(prod.vars.redis_tcp_keepalive).toBe(300);

    // REDIS_PASSWORD stays the documented local/demo path (an inventory without an ARN).
    const local = inventory({ hosts: "[asterisk]\nast1\n" });
    expect((await resolveSecrets(loadInventory(local, {}).hosts, { REDIS_PASSWORD: "demo-password-1" })).get("ast1")).toEqual({ redis: "demo-password-1", ari: undefined });
  });
});

describe("secrets", () => {
  const host = (vars: Record<string, unknown>, name = "h"): HostSpec =>
    ({ name, vars: { ...DEFAULTS, ...vars }, origin: { redis_password_secret_arn: "group_vars/asterisk.yml" } }) as unknown as HostSpec;
  const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbC";

  it("reads the JSON key password from Secrets Manager once per ARN", async () => {
    const fetcher = jest.fn(async () => JSON.stringify({ password: "from-secrets-manager" }));
    const pw = await resolveSecrets([host({ redis_password_secret_arn: arn }), host({ redis_password_secret_arn: arn }, "h2")], {}, fetcher);
    expect(pw.get("h")?.redis).toBe("from-secrets-manager");
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(redact("x from-secrets-manager y")).toBe("x ******** y");
  });

  it("falls back to REDIS_PASSWORD and fails without any password, naming nothing secret", async () => {
    expect((await resolveSecrets([host({})], { REDIS_PASSWORD: "env-password" })).get("h")?.redis).toBe("env-password");
    await expect(resolveSecrets([host({})], {})).rejects.toThrow(/redis_password is not set/);
    await expect(resolveSecrets([host({ redis_password_secret_arn: arn })], {}, async () => '{"pw":"x"}')).rejects.toThrow(
      /group_vars\/asterisk.yml: redis_password_secret_arn: .*no JSON key "password"/,
    );
  });

  it("a failed fetch reports the error's name and message, never a secret", async () => {
    class CredentialsProviderError extends Error {
      name = "CredentialsProviderError";
    }
    const err = await resolveSecrets([host({ redis_password_secret_arn: arn })], {}, async () => {
      throw new CredentialsProviderError("Could not load credentials from any providers");
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe(
      `group_vars/asterisk.yml: redis_password_secret_arn: cannot read the secret ${arn}: CredentialsProviderError: Could not load credentials from any providers`,
    );
    const multi = await resolveSecrets([host({ redis_password_secret_arn: arn })], {}, async () => {
      throw Object.assign(new Error("User: arn:aws:iam::123456789012:user/x is not authorized\nto perform: secretsmanager:GetSecretValue"), { name: "AccessDeniedException" });
    }).catch((e: Error) => e);
    expect((multi as Error).message).toMatch(/: AccessDeniedException: User: .* is not authorized to perform: secretsmanager:GetSecretValue$/);
    // An error whose message is only its name is not repeated.
    expect(describeFetchError(Object.assign(new Error("TimeoutError"), { name: "TimeoutError" }))).toBe("TimeoutError");
    expect(describeFetchError("x".repeat(400))).toMatch(/^Error: x{300}\.\.\.$/);
    // The secret itself is never in a message (bad JSON, wrong key).
    const leaky = await resolveSecrets([host({ redis_password_secret_arn: arn })], {}, async () => "not-json-S3cret").catch((e: Error) => e);
    expect((leaky as Error).message).not.toContain("S3cret");
  });

  it("resolves the optional ARI password (plain or from its own secret, fetched once with the Redis one when the ARN is shared)", async () => {
    const ariArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:campaign-dev/ari-password-AbCdEf";
    const fetcher = jest.fn(async (a: string) => JSON.stringify({ password: a === ariArn ? "ari-password-1" : "redis-password-1" }));
    const s = await resolveSecrets([host({ redis_password_secret_arn: arn, asterisk_ari_password_secret_arn: ariArn }), host({ redis_password_secret_arn: arn, asterisk_ari_password_secret_arn: ariArn }, "h2")], {}, fetcher);
    expect(s.get("h")).toEqual({ redis: "redis-password-1", ari: "ari-password-1" });
    expect(fetcher).toHaveBeenCalledTimes(2);
    expect((await resolveSecrets([host({ redis_password: "redis-pw-123" })], {})).get("h")).toEqual({ redis: "redis-pw-123", ari: undefined });
    await expect(resolveSecrets([host({ redis_password: "redis-pw-123", asterisk_ari_password_secret_arn: ariArn })], {}, async () => "{}")).rejects.toThrow(
      /asterisk_ari_password_secret_arn: the secret has no JSON key "password"/,
    );
  });

  it("redacts base64 forms too", () => {
    registerSecret("another-secret-value");
    expect(redact(Buffer.from("another-secret-value").toString("base64"))).toBe("********");
  });
});

describe("render (Handlebars strict mode)", () => {
  const ctx = (version = "7.0.15", vars = {}) =>
    buildContext({ ...DEFAULTS, ...vars }, OS_PROFILES.debian, { flavor: "redis", version, compat: version }, { app: "app-password-1", admin: "admin-password-1" });

  it("renders a complete config without plaintext passwords", () => {
    const conf = renderRedisConf(ctx());
    for (const line of [
      "bind 0.0.0.0", "port 6379", "protected-mode yes", "daemonize no", "supervised systemd",
      "logfile /var/log/redis/redis-server.log", "pidfile /run/redis/redis-server.pid", "save 300 1", "dir /var/lib/redis",
      "appendonly yes", "appendfsync everysec", "aof-use-rdb-preamble yes", "maxmemory 512mb", "maxmemory-policy allkeys-lru",
      `user default on #${sha256("app-password-1")} ~* &* +@all -@dangerous +info`,
      `user provisioner on #${sha256("admin-password-1")} ~* &* +@all`,
    ]) {
      expect(conf).toContain(line);
    }
    expect(conf).not.toContain("app-password-1");
    expect(conf).not.toContain("admin-password-1");
    expect(conf).not.toMatch(/^requirepass/m);
    expect(renderRedisConf(ctx())).toBe(conf); // pure
  });

  it("leaves out directives the installed version does not know", () => {
    const v7 = renderRedisConf(ctx("7.0.15"));
    const v62 = renderRedisConf(ctx("6.2.14"));
    for (const d of ["appenddirname", "shutdown-on-sigterm", "enable-debug-command", "latency-tracking"]) {
      expect(v7).toMatch(new RegExp(`^${d} `, "m"));
      expect(v62).not.toMatch(new RegExp(`^${d} `, "m"));
    }
    expect(v62).toMatch(/^acl-pubsub-default resetchannels/m);
  });

  it("empty save list renders save \"\" and extra directives are appended", () => {
    const conf = renderRedisConf(ctx("7.0.15", { redis_save_intervals: [], redis_extra_config: { "hz": "20" } }));
    expect(conf).toMatch(/^save ""$/m);
    expect(conf).toMatch(/^hz 20$/m);
  });

  it("throws on a missing variable instead of rendering an empty string", () => {
    const c = ctx() as unknown as Record<string, unknown>;
    delete c.maxmemory;
    expect(() => renderRedisConf(c as never)).toThrow(/maxmemory/);
    expect(() => render("x {{nope}}", ctx())).toThrow(/"nope" not defined/);
  });

  it("masks hashes in text shown to people", () => {
    expect(maskSecrets(`user default on #${sha256("x")} ~*`)).toBe("user default on #<hidden> ~*");
  });

  it("masks the value of every secret-bearing directive, in configs, diffs and Redis's error echo", () => {
    const old = [
      "port 6379",
      'masterauth "S3cret one"',
      "MasterAuth S3cret-2",
      "requirepass S3cret-3",
      "  primaryauth S3cret-4",
      "tls-key-file-pass S3cret-5",
      "tls-client-key-file-pass S3cret-6",
      '"requirepass" S3cret-7',
      "user bob on >S3cret-8 <S3cret-9 !" + sha256("y") + " ~* +@all",
      "hz 10",
      "",
    ].join("\n");
    const masked = maskSecrets(old);
    expect(masked).not.toMatch(/S3cret|[0-9a-f]{64}/);
    expect(masked).toBe(
      [
        "port 6379",
        "masterauth <hidden>",
        "MasterAuth <hidden>",
        "requirepass <hidden>",
        "  primaryauth <hidden>",
        "tls-key-file-pass <hidden>",
        "tls-client-key-file-pass <hidden>",
        '"requirepass" <hidden>',
        "user bob on ><hidden> <<hidden> !<hidden> ~* +@all",
        "hz 10",
        "",
      ].join("\n"),
    );
    // A diff of a host's old config (e.g. one the Ansible playbook wrote) against the rendered one.
    const d = unifiedDiff(old, "port 6379\nhz 10\n", "a", "b");
    expect(d).toMatch(/^-masterauth "S3cret one"$/m);
    const md = maskSecrets(d);
    expect(md).toMatch(/^-masterauth <hidden>$/m);
    expect(md).toMatch(/^-MasterAuth <hidden>$/m);
    expect(md).not.toMatch(/S3cret/);
    // Redis quotes the offending line in its errors, possibly in the middle of a message.
    expect(maskSecrets(`rejected: *** FATAL CONFIG FILE ERROR *** >>> 'masterauth "S3cret x"' Bad directive`)).toBe(
      `rejected: *** FATAL CONFIG FILE ERROR *** >>> 'masterauth <hidden>' Bad directive`,
    );
    // Messages without secrets are untouched.
    for (const m of ["restarted once (pid 12, keys without TTL: 5 -> 5)", "a > b", "hz 10", "masteruser-like text"]) expect(maskSecrets(m)).toBe(m);
  });

  it("the CLI masks secret-bearing values in --diff and --json output even when the tool never knew them", () => {
    const out: string[] = [];
    const o = new Output({ json: false, diff: true, check: true, write: (s) => out.push(s) });
    o.start(["h"]);
    o.task("h", { task: "write config", status: "changed", msg: "would write", diff: "--- a\n+++ b\n@@ -1 +1 @@\n-masterauth \"S3cret\"\n+hz 10\n" });
    o.finish(1);
    expect(out.join("")).toContain("-masterauth <hidden>");
    expect(out.join("")).not.toContain("S3cret");
    const json: string[] = [];
    const j = new Output({ json: true, diff: true, check: true, write: (s) => json.push(s) });
    j.start(["h"]);
    j.task("h", { task: "write config", status: "failed", msg: ">>> 'tls-key-file-pass S3cret' Bad directive", diff: "-masterauth S3cret\n" });
    j.finish(1);
    expect(json.join("")).not.toContain("S3cret");
    expect(JSON.parse(json.join("")).hosts.h.tasks[0]).toMatchObject({ msg: ">>> 'tls-key-file-pass <hidden>' Bad directive", diff: "-masterauth <hidden>\n" });
  });
});

describe("OS table", () => {
  const os = (id: string, idLike: string, versionId: string) => ({ id, idLike, versionId });
  it("selects package, service, user and paths from gathered facts", () => {
    expect(selectProfile(os("debian", "", "12"), "valkey").service).toBe("redis-server");
    expect(selectProfile(os("ubuntu", "debian", "24.04"), "valkey").packages).toEqual(["redis-server", "redis-tools"]);
    const al = selectProfile(os("amzn", "fedora", "2023"), "valkey");
    expect([al.packages, al.service, al.user, al.configPath, al.cli]).toEqual([["valkey"], "valkey", "valkey", "/etc/valkey/valkey.conf", "valkey-cli"]);
    expect(selectProfile(os("amzn", "fedora", "2023"), "redis6").configPath).toBe("/etc/redis6/redis6.conf");
    expect(selectProfile(os("rocky", "rhel centos fedora", "9.3"), "valkey").configPath).toBe("/etc/redis/redis.conf");
    expect(selectProfile(os("almalinux", "rhel centos fedora", "8.9"), "valkey").configPath).toBe("/etc/redis.conf");
    expect(() => selectProfile(os("amzn", "centos rhel fedora", "2"), "valkey")).toThrow(/Amazon Linux 2 is not supported/);
    expect(() => selectProfile(os("arch", "", ""), "valkey")).toThrow(/unsupported OS/);
  });

  it("never switches an Amazon Linux host from an installed flavour silently", () => {
    expect(() => selectProfile(os("amzn", "fedora", "2023"), "valkey", ["al2023-redis6"])).toThrow(/redis_amazon_linux_package=redis6/);
  });

  it("reads server versions, valkey as Redis 7.2 compatible", () => {
    expect(serverVersion("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0")).toEqual({ flavor: "redis", version: "7.0.15", compat: "7.0.15" });
    expect(serverVersion("Valkey server v=8.0.2 sha=00000000:0").compat).toBe("7.2.4");
  });

  it("parses a gathered-facts block (fixture)", () => {
    const out: ScriptOutput = { facts: {}, tasks: [] };
    const b = (s: string) => Buffer.from(s).toString("base64");
    for (const [k, v] of Object.entries({
      os_id: "amzn", os_like: "fedora", os_version: "2023", al2023_redis6_installed: "1",
      al2023_redis6_version: "Redis server v=6.2.14", al2023_redis6_active: "active", al2023_redis6_rt_ping: "PONG",
      al2023_redis6_rt_info: "# Keyspace\ndb0:keys=10,expires=2,avg_ttl=0\n", restart_pending: "1",
    })) {
      parseLine(`@@fact|${k}|${b(v)}`, out);
    }
    const f = parseFacts(out);
    expect(f.restartPending).toBe(true);
    expect(Object.keys(f.profiles)).toEqual(["al2023-redis6"]);
    expect(f.profiles["al2023-redis6"].runtime.ping).toBe("PONG");
    expect(() => selectProfile(f.os, "valkey", Object.keys(f.profiles))).toThrow(/redis6 is already installed/);
  });
});

describe("verify and safety", () => {
  const rt = { ping: "PONG", probe: "ok", config: { port: "6379", maxmemory: String(512 * 1024 * 1024), "maxmemory-policy": "allkeys-lru", appendonly: "yes" } };
  it("checks PONG, the probe key and the running settings", () => {
    expect(evaluateVerify(DEFAULTS, rt, true).ok).toBe(true);
    expect(runtimeDrift({ ...DEFAULTS, redis_maxmemory: "1gb" }, rt)).toEqual([`maxmemory=${512 * 1024 * 1024} (want ${1024 ** 3})`]);
    expect(evaluateVerify(DEFAULTS, { ...rt, ping: "NOAUTH Authentication required." }, true).msg).toMatch(/PING/);
    expect(memoryBytes("1k")).toBe(1000);
    expect(memoryBytes("1KB")).toBe(1024);
  });
});

describe("diff", () => {
  it("produces a unified diff with context", () => {
    const d = unifiedDiff("a\nb\nc\nd\n", "a\nB\nc\nd\n", "old", "new");
    expect(d).toBe("--- old\n+++ new\n@@ -1,4 +1,4 @@\n a\n-b\n+B\n c\n d\n");
    expect(unifiedDiff("x\n", "x\n", "a", "b")).toBe("");
  });
});

describe("CLI arguments (exit 1, nothing touched)", () => {
  it("parses flags", () => {
    expect(parseArgs(["-i", "inv", "--limit=web", "--check", "--diff", "--forks", "3", "--json"])).toEqual({
      inventory: "inv", limit: "web", check: true, diff: true, forks: 3, json: true, deadline: 600, stepTimeout: 30, extraVars: [],
    });
    expect(() => parseArgs([])).toThrow(UsageError);
    expect(() => parseArgs(["-i", "x", "--forks", "0"])).toThrow(/--forks/);
    expect(() => parseArgs(["-i", "x", "--bogus"])).toThrow(/unknown argument --bogus/);
    expect(() => parseArgs(["-i"])).toThrow(/needs a value/);
  });

  it("returns 1 for bad arguments, inventories and variables without contacting any host", async () => {
    const dir = inventory({ hosts: "[asterisk]\nast1 ansible_host=203.0.113.9\n", "group_vars/asterisk.yml": "redis_port: nope\n" });
    const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      let out = "";
      const code = await main(argv, { stdout: (s) => (out += s), stderr: (s) => (out += s), env });
      return { code, out };
    };
    expect((await run(["--forks", "2"])).code).toBe(1);
    const bad = await run(["-i", dir], { REDIS_PASSWORD: "password-123" });
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/group_vars\/asterisk.yml: redis_port: must be an integer/);
    expect((await run(["-i", "/nonexistent"])).code).toBe(1);
    const noPw = inventory({ hosts: "[asterisk]\nast1 ansible_host=203.0.113.9\n" });
    const r = await run(["-i", noPw]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/redis_password is not set/);
  });

  it("the real entry point exits 1 on bad arguments", () => {
    const r = spawnSync(process.execPath, [require.resolve("tsx/cli"), "provisioning/cli.ts", "--nope"], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown argument --nope/);
    expect(execFileSync(process.execPath, [require.resolve("tsx/cli"), "provisioning/cli.ts", "--help"], { encoding: "utf8" })).toMatch(/exit codes/);
  });

  it("npm run provision runs a bundle that is rebuilt whenever one of its sources changes", () => {
    expect(JSON.parse(readFileSync("package.json", "utf8")).scripts.provision).toBe("node provisioning/run.cjs");
    const buildDir = mkdtempSync(join(tmpdir(), "provision-build-"));
    const launch = (...args: string[]) =>
      spawnSync(process.execPath, ["provisioning/run.cjs", ...args], { encoding: "utf8", env: { ...process.env, PROVISION_BUILD_DIR: buildDir } });
    const first = launch("--help");
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/exit codes/);
    expect(first.stderr).toMatch(/^\(rebuilt \S+provision\.cjs from \d+ files in \d+\.\d+ s\)$/m);
    const second = launch("--nope");
    expect(second.status).toBe(1);
    expect(second.stderr).not.toMatch(/rebuilt/);
    expect(second.stderr).toMatch(/unknown argument --nope/);
    // Any change of an input (here only its mtime, restored afterwards) makes the next run rebuild first.
    const src = "provisioning/diff.ts";
    const { atime, mtime } = statSync(src);
    utimesSync(src, atime, new Date(mtime.getTime() - 10_000));
    try {
      expect(launch("--help").stderr).toMatch(/rebuilt/);
    } finally {
      utimesSync(src, atime, mtime);
    }
    expect(launch("--help").stderr).toMatch(/rebuilt/);
    expect(launch("--help").stderr).toBe("");
  });
});
