/** The contracts stacks, provisioning and the Lambdas share (lambdas/contracts/): one rule each, dependency-free. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EVICTION_POLICIES } from "../../lambdas/contracts/eviction";
import { MEMORY_SIZE, memoryBytes } from "../../lambdas/contracts/memory";
import { parseDatabaseSecret, parsePasswordSecret, SECRET_ARN } from "../../lambdas/contracts/secrets";
import { DEFAULTS, ROLE_VARS, valueOf } from "../../provisioning/defaults";

const DIR = join(__dirname, "../../lambdas/contracts");

test("contracts import nothing but node: builtins and each other", () => {
  for (const file of readdirSync(DIR).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(join(DIR, file), "utf8");
    const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"/gm)].map((m) => m[1]);
    for (const s of specifiers) expect(`${file}: ${s}`).toMatch(/: (node:|\.\/)/);
  }
});

test("memory sizes as Redis reads them", () => {
  expect(memoryBytes("1k")).toBe(1000);
  expect(memoryBytes("1KB")).toBe(1024);
  expect(memoryBytes(" 512mb ")).toBe(512 * 1024 ** 2);
  expect(memoryBytes("2g")).toBe(2e9);
  expect(memoryBytes("100000")).toBe(100000);
  // redis.conf would reject `maxmemory 512 mb` (two arguments): the stack no longer lets it through.
  for (const bad of ["512 mb", "1.5gb", "-1mb", "mb", "", "1tb"]) expect(memoryBytes(bad)).toBeUndefined();
  expect(MEMORY_SIZE.test("512 mb")).toBe(false);
});

test("provisioning validates with the shared lists", () => {
  for (const p of EVICTION_POLICIES) expect(valueOf(ROLE_VARS.redis_maxmemory_policy, p)).toBe(p);
  expect(() => valueOf(ROLE_VARS.redis_maxmemory_policy, "lru")).toThrow(/must be one of allkeys-lru, .*noeviction/);
  expect(EVICTION_POLICIES).toContain(DEFAULTS.redis_maxmemory_policy);
  expect(() => valueOf(ROLE_VARS.redis_password_secret_arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbC")).not.toThrow();
  expect(() => valueOf(ROLE_VARS.redis_password_secret_arn, "arn:aws:s3:::bucket")).toThrow(/Secrets Manager ARN/);
});

test("the Secrets Manager ARN format", () => {
  expect(SECRET_ARN.test("arn:aws:secretsmanager:us-east-1:123456789012:secret:campaign-prod/redis-password-AbCdEf")).toBe(true);
  expect(SECRET_ARN.test("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x")).toBe(true);
  expect(SECRET_ARN.test("arn:aws:secretsmanager:us-east-1:12345:secret:x")).toBe(false);
  expect(SECRET_ARN.test("arn:aws:ssm:us-east-1:123456789012:parameter/x")).toBe(false);
});

describe("the password secret: what the stack writes and the playbook-era secrets hold, nothing else", () => {
  test("accepted: {\"password\": ...} (other fields ignored)", () => {
    // modules/generated-secret: jsonencode({ password = random_password.result }) -> 32 letters and digits.
    expect(parsePasswordSecret(JSON.stringify({ password: "A".repeat(32) }))).toEqual({ ok: true, value: { password: "A".repeat(32) } });
    // The old state's secret version (__tests__/fixtures/old-state) holds the same shape.
    const old = readFileSync(join(__dirname, "../fixtures/old-state/campaign-prod.tfstate"), "utf8");
    const stored = (JSON.parse(old) as { resources: { type: string; instances: { attributes: { secret_string?: string } }[] }[] }).resources
      .filter((r) => r.type === "aws_secretsmanager_secret_version")
      .map((r) => r.instances[0].attributes.secret_string!);
    expect(stored.length).toBeGreaterThan(0);
    for (const s of stored) expect(parsePasswordSecret(s).ok).toBe(true);
    expect(parsePasswordSecret(JSON.stringify({ username: "default", password: "p4ssw0rd-x" }))).toEqual({ ok: true, value: { password: "p4ssw0rd-x" } });
  });

  test.each([
    ["a plain string", "just-a-password", /not JSON of the form/],
    ["a JSON string", JSON.stringify("just-a-password"), /not JSON of the form/],
    ["an array", "[]", /not JSON of the form/],
    ["another key", JSON.stringify({ pw: "long-enough-1" }), /no JSON key "password"/],
    ["a short password", JSON.stringify({ password: "short" }), /of 8\+ characters/],
    ["a number", JSON.stringify({ password: 123456789 }), /no JSON key "password"/],
    ["a newline", JSON.stringify({ password: "line-one\nline-two" }), /without control characters/],
  ])("refused: %s, without quoting it", (_what, text, message) => {
    const read = parsePasswordSecret(text);
    expect(read.ok).toBe(false);
    if (!read.ok) {
      expect(read.problem).toMatch(message);
      expect(read.problem).not.toContain("password-");
      expect(read.problem).not.toContain("line-one");
    }
  });

  test("the RDS master secret", () => {
    expect(parseDatabaseSecret(JSON.stringify({ username: "u", password: "p", engine: "postgres" }))).toEqual({ ok: true, value: { username: "u", password: "p" } });
    expect(parseDatabaseSecret("{}").ok).toBe(false);
    expect(parseDatabaseSecret("nope").ok).toBe(false);
  });
});
