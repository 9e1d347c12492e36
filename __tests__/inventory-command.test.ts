/** `npm run inventory -- <stack>`: the stack's outputs land in the shipped inventories, in place. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { factsFromOutputs, InventoryError, main } from "../stacks/inventory";
import { loadInventory } from "../provisioning/inventory";
import { prod } from "../stacks/environments";
import { synthCampaign } from "./helpers/synth";

const ARN = (name: string) => `arn:aws:secretsmanager:us-east-1:210987654321:secret:campaign-dev/${name}-Zx12Qw`;
/** What `terraform output -json` prints for a deployed campaign-dev (only the fields the command reads). */
const OUTPUTS = {
  redis_password_secret_arn: { sensitive: false, type: "string", value: ARN("redis-password") },
  ari_password_secret_arn: { sensitive: false, type: "string", value: ARN("ari-password") },
  asterisk_instance_id: { sensitive: false, type: "string", value: "i-0fedcba9876543210" },
  asterisk_private_ip: { sensitive: false, type: "string", value: "10.20.101.37" },
  redis_port: { sensitive: false, type: "number", value: 6379 },
};

describe("npm run inventory", () => {
  let dir: string;
  let inv: (env: string) => string;
  const lines: string[] = [];
  const run = (...args: string[]) => main(args, (s) => lines.push(s));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "inv-"));
    inv = (env) => {
      cpSync(join(__dirname, "..", "inventory", env), join(dir, env), { recursive: true });
      return join(dir, env);
    };
    lines.length = 0;
    writeFileSync(join(dir, "outputs.json"), JSON.stringify(OUTPUTS));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("writes the instance id (dev reaches its host through SSM) and both ARNs, keeping comments and other settings", () => {
    const dev = inv("dev");
    const before = readFileSync(join(dev, "group_vars", "asterisk.yml"), "utf8");
    expect(run("campaign-dev", "-i", dev, "--outputs", join(dir, "outputs.json"))).toBe(0);
    const hosts = readFileSync(join(dev, "hosts"), "utf8");
    expect(hosts).toContain("asterisk-dev-1 ansible_host=i-0fedcba9876543210\n");
    expect(hosts).toContain("ansible_ssh_common_args='-o ProxyCommand=");
    const vars = readFileSync(join(dev, "group_vars", "asterisk.yml"), "utf8");
    expect(vars).toContain(`redis_password_secret_arn: "${ARN("redis-password")}"`);
    expect(vars).toContain(`asterisk_ari_password_secret_arn: "${ARN("ari-password")}"`);
    // Every comment line and every other setting survives.
    const keep = (t: string) => t.split("\n").filter((l) => !/_secret_arn:/.test(l));
    expect(keep(vars)).toEqual(keep(before));
    expect(lines).toHaveLength(3);
    // The provisioning tool reads the result.
    const host = loadInventory(dev, {}).hosts[0];
    expect(host.connection.host).toBe("i-0fedcba9876543210");
    expect(host.vars.redis_password_secret_arn).toBe(ARN("redis-password"));
    // A second run has nothing to do.
    lines.length = 0;
    run("campaign-dev", "-i", dev, "--outputs", join(dir, "outputs.json"));
    expect(lines).toEqual([expect.stringMatching(/^ok: .* already holds campaign-dev's outputs$/)]);
  });

  it("writes the private IP where the inventory addresses the host by IP (prod), and reads a state file", () => {
    const prod = inv("prod");
    writeFileSync(join(dir, "terraform.tfstate"), JSON.stringify({ version: 4, outputs: OUTPUTS, resources: [] }));
    run("campaign-prod", "-i", prod, "--state", join(dir, "terraform.tfstate"));
    expect(readFileSync(join(prod, "hosts"), "utf8")).toContain("asterisk-prod-1 ansible_host=10.20.101.37\n");
    run("campaign-prod", "-i", prod, "--state", join(dir, "terraform.tfstate"), "--address", "instance-id");
    expect(readFileSync(join(prod, "hosts"), "utf8")).toContain("asterisk-prod-1 ansible_host=i-0fedcba9876543210\n");
  });

  it("--check prints the changes and writes nothing", () => {
    const dev = inv("dev");
    const before = readFileSync(join(dev, "hosts"), "utf8");
    run("campaign-dev", "-i", dev, "--outputs", join(dir, "outputs.json"), "--check");
    expect(lines[0]).toMatch(/^would change: .*hosts: asterisk-dev-1 ansible_host: i-0123456789abcdef0 -> i-0fedcba9876543210$/);
    expect(readFileSync(join(dev, "hosts"), "utf8")).toBe(before);
  });

  it("names every missing, sensitive or malformed output and writes nothing", () => {
    const dev = inv("dev");
    const before = readFileSync(join(dev, "hosts"), "utf8");
    const bad = { ...OUTPUTS, asterisk_instance_id: undefined, asterisk_private_ip: { value: "10.0.0.999" }, ari_password_secret_arn: { sensitive: true, value: ARN("ari") } };
    writeFileSync(join(dir, "bad.json"), JSON.stringify(bad));
    expect(() => run("campaign-dev", "-i", dev, "--outputs", join(dir, "bad.json"))).toThrow(InventoryError);
    try {
      factsFromOutputs(bad, "bad.json");
    } catch (e) {
      const m = (e as Error).message;
      expect(m).toMatch(/ari_password_secret_arn: marked sensitive/);
      expect(m).toMatch(/asterisk_instance_id: missing/);
      expect(m).toMatch(/asterisk_private_ip: must be an IPv4 address \(got "10.0.0.999"\)/);
    }
    expect(readFileSync(join(dev, "hosts"), "utf8")).toBe(before);
  });

  it("writes what the stack decides for the role: the backup bucket and schedule, the Redis port; provisioning reads them", () => {
    const dev = inv("dev");
    const outputs = {
      ...OUTPUTS,
      redis_endpoint: { sensitive: false, type: "string", value: OUTPUTS.asterisk_private_ip.value },
      redis_port: { sensitive: false, type: "number", value: 6380 },
      redis_backup_bucket: { sensitive: false, type: "string", value: "campaign-dev-redis-backup-20261201abcd" },
      redis_backup_schedule: { sensitive: false, type: "string", value: "*-*-* 02:30:00" },
    };
    writeFileSync(join(dir, "backups.json"), JSON.stringify(outputs));
    expect(run("campaign-dev", "-i", dev, "--outputs", join(dir, "backups.json"), "--check")).toBe(0);
    expect(lines.filter((l) => /group_vars/.test(l)).map((l) => l.replace(/^would change: .*asterisk\.yml: /, ""))).toEqual([
      `redis_password_secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:campaign-dev/redis-password-AbCdEf -> ${ARN("redis-password")}`,
      `asterisk_ari_password_secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:campaign-dev/ari-password-AbCdEf -> ${ARN("ari-password")}`,
      "redis_port: 6379 -> 6380",
      "redis_backup_bucket: (unset) -> campaign-dev-redis-backup-20261201abcd",
      "redis_backup_schedule: (unset) -> *-*-* 02:30:00",
    ]);
    run("campaign-dev", "-i", dev, "--outputs", join(dir, "backups.json"));
    const vars = loadInventory(dev, {}).hosts[0].vars;
    expect({ port: vars.redis_port, bucket: vars.redis_backup_bucket, schedule: vars.redis_backup_schedule }).toEqual({
      port: 6380,
      bucket: "campaign-dev-redis-backup-20261201abcd",
      schedule: "*-*-* 02:30:00",
    });

    // Backups turned off in the stack: the bucket is gone from the outputs, the inventory's becomes "" (the timer is disabled).
    lines.length = 0;
    const { redis_backup_bucket: _b, redis_backup_schedule: _s, ...off } = outputs;
    writeFileSync(join(dir, "off.json"), JSON.stringify(off));
    run("campaign-dev", "-i", dev, "--outputs", join(dir, "off.json"));
    expect(lines).toEqual([expect.stringMatching(/^changed: .*asterisk\.yml: redis_backup_bucket: campaign-dev-redis-backup-20261201abcd -> ""$/)]);
    expect(loadInventory(dev, {}).hosts[0].vars.redis_backup_bucket).toBe("");
    lines.length = 0;
    run("campaign-dev", "-i", dev, "--outputs", join(dir, "off.json"));
    expect(lines).toEqual([expect.stringMatching(/already holds campaign-dev's outputs$/)]);
  });

  it("redis.mode elasticache: the stack's redis_* outputs are the cache's, so the host's password ARN and port are kept, and said so", () => {
    const dev = inv("dev");
    const before = readFileSync(join(dev, "group_vars", "asterisk.yml"), "utf8");
    const cache = {
      ...OUTPUTS,
      redis_endpoint: { sensitive: false, type: "string", value: "master.campaign-dev.abc123.use1.cache.amazonaws.com" },
      redis_password_secret_arn: { sensitive: false, type: "string", value: ARN("elasticache-auth") },
      redis_port: { sensitive: false, type: "number", value: 6390 },
    };
    writeFileSync(join(dir, "cache.json"), JSON.stringify(cache));
    run("campaign-dev", "-i", dev, "--outputs", join(dir, "cache.json"));
    const vars = readFileSync(join(dev, "group_vars", "asterisk.yml"), "utf8");
    expect(vars).not.toContain("elasticache-auth");
    expect(vars).toContain("redis_port: 6379\n");
    expect(vars).toContain(`asterisk_ari_password_secret_arn: "${ARN("ari-password")}"`);
    expect(vars.replace(/^asterisk_ari_password_secret_arn: .*$/m, "")).toBe(before.replace(/^asterisk_ari_password_secret_arn: .*$/m, ""));
    expect(lines.filter((l) => l.startsWith("kept: "))).toEqual([
      expect.stringMatching(/^kept: .*asterisk\.yml: redis_password_secret_arn: the stack's Redis is master\.campaign-dev\.abc123\.use1\.cache\.amazonaws\.com \(redis\.mode elasticache\), not the host/),
      expect.stringMatching(/^kept: .*asterisk\.yml: redis_port: /),
    ]);
  });

  it("every stack output that names an inventory variable in its description is one this command writes", () => {
    // A deployed prod (backups on): each output with a value of its shape.
    const { json } = synthCampaign(prod);
    const named = Object.entries(json.output).flatMap(([name, o]) => [...String(o.description).matchAll(/inventory: ([a-z_]+)/g)].map((m) => ({ name, variable: m[1] })));
    expect(named.map((n) => n.variable).sort()).toEqual(["redis_backup_bucket", "redis_backup_schedule"]);
    const sample: Record<string, unknown> = {
      ...Object.fromEntries(Object.entries(OUTPUTS).map(([k, v]) => [k, v.value])),
      redis_backup_bucket: "campaign-prod-redis-backup-20261201abcd",
      redis_backup_schedule: json.output.redis_backup_schedule.value,
    };
    const outputs = Object.fromEntries(Object.keys(json.output).map((k) => [k, { sensitive: false, value: sample[k] ?? `value-of-${k}` }]));
    outputs.redis_endpoint = { sensitive: false, value: OUTPUTS.asterisk_private_ip.value };
    writeFileSync(join(dir, "prod.json"), JSON.stringify(outputs));
    const prodInv = inv("prod");
    run("campaign-prod", "-i", prodInv, "--outputs", join(dir, "prod.json"));
    const vars = loadInventory(prodInv, {}).hosts[0].vars as unknown as Record<string, unknown>;
    for (const { name, variable } of named) expect({ variable, value: vars[variable] }).toEqual({ variable, value: sample[name] });
  });

  it("refuses bad arguments with the usage, and answers --help", () => {
    expect(() => run()).toThrow(/give exactly one stack name[\s\S]*usage: npm run inventory/);
    expect(() => run("pythonide-production")).toThrow(/not a campaign stack/);
    expect(() => run("campaign-dev", "--address", "dns")).toThrow(/--address: must be ip or instance-id/);
    expect(() => run("campaign-dev", "--bogus")).toThrow(/bogus/);
    // the stack is checked before any file is read
    expect(() => run("campaign-nope", "--outputs", join(dir, "no-such.json"))).toThrow("campaign-nope: no such stack (the campaign stacks: campaign-dev, campaign-prod)");
    expect(() => run("campaign-dev", "--outputs", join(dir, "no-such.json"))).toThrow(`${join(dir, "no-such.json")}: no such file`);
    expect(() => run("campaign-dev", "--outputs", dir)).toThrow(`${dir}: is a directory, not a file`);
    writeFileSync(join(dir, "broken.json"), "{not json");
    expect(() => run("campaign-dev", "--outputs", join(dir, "broken.json"))).toThrow(/broken\.json: not valid JSON \(.*\); expected the output of `terraform output -json`$/);
    expect(() => run("campaign-dev", "--state", join(dir, "broken.json"))).toThrow(/broken\.json: not valid JSON \(.*\); expected a Terraform state file$/);
    expect(run("--help")).toBe(0);
    expect(lines[0]).toMatch(/^usage: npm run inventory -- <stack>/);
  });
});
