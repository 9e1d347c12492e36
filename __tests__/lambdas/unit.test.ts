/** Configuration, event validation, logging, secrets (through the real AWS SDK against a local endpoint) and the manifest. */
import { startSecretsManager, type SecretsManagerStandIn } from "./secrets-manager";
import { ENV_VARS, FUNCTION_NAMES, LAMBDA_FUNCTIONS, type FunctionName } from "../../lambdas/manifest";
import { EnvConfigError, describeValue, loadConfig } from "../../lambdas/shared/config";
import { createLogger, maskCredentials } from "../../lambdas/shared/logging";
import { getDatabaseCredentials, resolvePassword } from "../../lambdas/shared/secrets";
import { InvalidEventError } from "../../lambdas/shared/validate";
import { checkCampaign, run as validateRun } from "../../lambdas/validate-campaign/handler";
import { parseDispatchEvent } from "../../lambdas/dispatcher/handler";
import { parseEnrichEvent } from "../../lambdas/enrich-dial-task/handler";
import { inWindow, parseDialEvent } from "../../lambdas/dialer-worker/handler";
import { failureKind } from "../../lambdas/shared/ari";
import { parseStatusEvent } from "../../lambdas/status-checker/handler";
import { parseReportEvent } from "../../lambdas/report-generator/handler";
import { createRuntime } from "../../lambdas/shared/runtime";

const ARN = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`;

/** What the CDKTF stack sets in AWS (ARNs, no local overrides). */
function awsEnv(name: FunctionName): Record<string, string> {
  const env: Record<string, string> = {
    RDS_PROXY_ENDPOINT: "campaigns.proxy-abc.us-east-1.rds.amazonaws.com",
    DATABASE_NAME: "campaigns",
    RDS_SECRET_ARN: ARN("rds"),
    REDIS_HOST: "10.0.1.10",
    REDIS_PORT: "6379",
    REDIS_PASSWORD_SECRET_ARN: ARN("redis"),
  };
  if (name === "dialer-worker") Object.assign(env, { ARI_URL: "http://10.0.1.10:8088", ARI_USER: "dialer", ARI_PASSWORD_SECRET_ARN: ARN("ari") });
  return env;
}

describe("configuration", () => {
  test.each(FUNCTION_NAMES)("%s loads from the variables the manifest lists, with TLS verified by default", (name) => {
    const cfg = loadConfig(name, awsEnv(name));
    expect(cfg.database.ssl).toEqual({ rejectUnauthorized: true });
    expect(cfg.database.credentials).toEqual({ kind: "secret", arn: ARN("rds"), variable: "RDS_SECRET_ARN" });
    expect(cfg.redis !== null).toBe(LAMBDA_FUNCTIONS.find((f) => f.name === name)!.uses.redis);
    expect(cfg.ari !== null).toBe(name === "dialer-worker");
  });

  test("status-checker expires a call with no outcome only after 2 hours: a connected call must never be dialed again", () => {
    expect(loadConfig("status-checker", awsEnv("status-checker")).dialingStuckAfterSeconds).toBe(7200);
  });

  test.each(LAMBDA_FUNCTIONS.flatMap((f) => f.env.required.map((v) => [f.name, v] as const)))("%s without %s fails naming it", (name, variable) => {
    const env = awsEnv(name);
    delete env[variable];
    expect(() => loadConfig(name, env)).toThrow(EnvConfigError);
    expect(() => loadConfig(name, env)).toThrow(new RegExp(`\\b${variable}\\b`));
  });

  test.each([
    ["REDIS_PORT", "abc", /REDIS_PORT must be an integer between 1 and 65535/],
    ["REDIS_PORT", "70000", /REDIS_PORT must be an integer/],
    ["RDS_PROXY_ENDPOINT", "postgres://host:5432", /RDS_PROXY_ENDPOINT must be a bare host name/],
    ["RDS_SECRET_ARN", "my-secret", /RDS_SECRET_ARN must be a Secrets Manager secret ARN/],
    ["DATABASE_SSL", "prefer", /DATABASE_SSL must be verify-full, no-verify or disable/],
    ["DATABASE_SSL_CA", "/nonexistent/ca.pem", /DATABASE_SSL_CA names a file that cannot be read/],
    ["REDIS_CONNECT_TIMEOUT_MS", "5000", /REDIS_CONNECT_TIMEOUT_MS must be an integer between 10 and 500/],
    ["LOG_LEVEL", "loud", /LOG_LEVEL must be/],
    ["ARI_URL", "ftp://x", /ARI_URL must be an http\(s\) URL/],
    ["ARI_URL", "http://u:p@host:8088", /ARI_URL must not contain credentials/],
    ["ARI_ENDPOINT_TEMPLATE", "PJSIP/trunk", /ARI_ENDPOINT_TEMPLATE must contain \{number\}/],
    ["ARI_MAX_REJECTIONS", "0", /ARI_MAX_REJECTIONS must be an integer between 1 and 100/],
    ["ARI_MAX_TRANSIENT_FAILURES", "many", /ARI_MAX_TRANSIENT_FAILURES must be an integer between 1 and 1000/],
    ["ARI_RETRY_MAX_SECONDS", "30", /ARI_RETRY_MAX_SECONDS must be at least ARI_RETRY_BASE_SECONDS \(60\), got 30/],
  ])("malformed %s=%s is rejected with its name", (variable, value, message) => {
    const fn: FunctionName = variable.startsWith("REDIS") ? "report-generator" : "dialer-worker";
    expect(() => loadConfig(fn, { ...awsEnv(fn), [variable]: value })).toThrow(message);
  });

  test("local overrides are used only when the ARN is unset", () => {
    const local: Record<string, string> = { ...awsEnv("report-generator"), DATABASE_USER: "u", DATABASE_PASSWORD: "p", REDIS_PASSWORD: "r" };
    const withArns = loadConfig("report-generator", local);
    expect(withArns.database.credentials.kind).toBe("secret");
    expect(withArns.redis!.password.kind).toBe("secret");
    delete local.RDS_SECRET_ARN;
    delete local.REDIS_PASSWORD_SECRET_ARN;
    const withoutArns = loadConfig("report-generator", local);
    expect(withoutArns.database.credentials).toEqual({ kind: "local", user: "u", password: "p" });
    expect(withoutArns.redis!.password).toEqual({ kind: "local", value: "r" });
  });

  test("every variable the manifest names is documented, and defaults parse", () => {
    for (const spec of Object.values(ENV_VARS)) expect(spec.description.length).toBeGreaterThan(10);
    const cfg = loadConfig("dialer-worker", awsEnv("dialer-worker"));
    expect(cfg.database).toMatchObject({ port: 5432, queryTimeoutMs: 5000, connectTimeoutMs: 3000 });
    expect(loadConfig("report-generator", awsEnv("report-generator")).redis).toMatchObject({ port: 6379, connectTimeoutMs: 500, commandTimeoutMs: 250 });
    expect(cfg.ari).toMatchObject({ app: "campaign-dialer", endpointTemplate: "PJSIP/{number}@trunk", ringTimeoutSeconds: 30 });
    expect(cfg.ari).toMatchObject({ maxRejections: 3, maxTransientFailures: 10, retryBaseSeconds: 60, retryMaxSeconds: 3600 });
  });

  test("the first invocation of a misconfigured function fails with the variable's name", async () => {
    const { handler } = await import("../../lambdas/dispatcher/handler");
    const saved = process.env.RDS_PROXY_ENDPOINT;
    delete process.env.RDS_PROXY_ENDPOINT;
    await expect(handler({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f" })).rejects.toThrow(/RDS_PROXY_ENDPOINT is required/);
    if (saved !== undefined) process.env.RDS_PROXY_ENDPOINT = saved;
  });
});

describe("ARI failure kinds", () => {
  test.each([
    [400, "rejected"],
    [404, "rejected"],
    [409, "rejected"],
    [422, "rejected"],
    [401, "transient"], // our credentials: every call would fail alike
    [403, "transient"],
    [408, "transient"],
    [429, "transient"],
    [500, "transient"],
    [502, "transient"],
    [503, "transient"],
    [302, "transient"],
  ] as const)("ARI answering %i is %s", (status, kind) => {
    expect(failureKind(status)).toBe(kind);
  });
});

describe("config errors never quote a secret (they land in CloudWatch Logs)", () => {
  const PW = "S3cr3t-pw";
  const thrown = (fn: FunctionName, variable: string, value: string): string => {
    try {
      loadConfig(fn, { ...awsEnv(fn), [variable]: value });
    } catch (e) {
      expect(e).toBeInstanceOf(EnvConfigError);
      return (e as Error).message;
    }
    throw new Error(`${variable}=${value} was accepted`);
  };
  const logged = (error: unknown): string => {
    const lines: string[] = [];
    createLogger("info", {}, (l) => lines.push(l)).error("invocation failed", { error });
    return lines.join("\n");
  };

  test.each([
    ["dialer-worker", "RDS_PROXY_ENDPOINT", `postgres://admin:${PW}@db.example.com:5432/campaigns`, `"postgres://***@db.example.com:5432/campaigns"`],
    ["dialer-worker", "RDS_PROXY_ENDPOINT", `postgresql://admin:p@ss/${PW}@db.example.com`, `"postgresql://***@db.example.com"`],
    ["dialer-worker", "RDS_PROXY_ENDPOINT", `admin:${PW}@db.example.com`, `"***@db.example.com"`],
    ["dialer-worker", "RDS_PROXY_ENDPOINT", `host=db.example.com password=${PW}`, `"host=db.example.com password=***"`],
    ["dialer-worker", "ARI_URL", `ftp://ari:${PW}@10.0.1.10:8088`, `"ftp://***@10.0.1.10:8088"`],
    ["dialer-worker", "ARI_URL", `ari:${PW}@10.0.1.10:8088`, `"***@10.0.1.10:8088"`],
    ["dialer-worker", "ARI_URL", `http://ari:${PW}@10.0.1.10:8088`, "must not contain credentials"],
    ["report-generator", "REDIS_HOST", `redis://:${PW}@10.0.1.10:6379`, `"redis://***@10.0.1.10:6379"`],
    ["dialer-worker", "RDS_SECRET_ARN", PW, "a value that is not shown (RDS_SECRET_ARN may hold a secret)"],
    ["report-generator", "REDIS_PASSWORD_SECRET_ARN", `{"password":"${PW}"}`, "not shown"],
    ["dialer-worker", "ARI_PASSWORD_SECRET_ARN", PW, "not shown"],
    ["dialer-worker", "LOG_LEVEL", `postgres://u:${PW}@h`, `"postgres://***@h"`],
  ] as const)("%s: %s=%s is named, its password is not quoted", (fn, variable, value, shown) => {
    const message = thrown(fn, variable, value);
    expect(message).toContain(variable);
    expect(message).toContain(shown);
    expect(message).not.toContain(PW);
    expect(logged(new EnvConfigError(variable as never, `got ${describeValue(variable, value)}`))).not.toContain(PW);
  });

  test("ARNs are shown, even in a secret-bearing variable; ordinary values are quoted as before", () => {
    const wrongService = "arn:aws:ssm:us-east-1:123456789012:parameter/rds";
    expect(thrown("dialer-worker", "RDS_SECRET_ARN", wrongService)).toContain(JSON.stringify(wrongService));
    expect(thrown("report-generator", "REDIS_PORT", "abc")).toBe('Configuration error: REDIS_PORT must be an integer between 1 and 65535, got "abc"');
    expect(describeValue("ARN_WITH_AT", "arn:aws:secretsmanager:us-east-1:123456789012:secret:a@b")).toBe('"arn:aws:secretsmanager:us-east-1:123456789012:secret:a@b"');
  });

  test.each(["DATABASE_PASSWORD", "REDIS_PASSWORD", "API_TOKEN", "SIGNING_KEY", "client_secret"])("the value of %s is never quoted", (name) => {
    expect(describeValue(name, PW)).not.toContain(PW);
    expect(describeValue(name, `postgres://u:${PW}@h`)).not.toContain(PW);
  });

  test("masking is linear on hostile input", () => {
    const started = Date.now();
    maskCredentials("a://".repeat(50_000) + "password".repeat(50_000));
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("the logger masks credentials it was never meant to get", () => {
  const PW = "S3cr3t-pw";
  const line = (msg: string, fields: Record<string, unknown>): string => {
    const lines: string[] = [];
    createLogger("debug", { fn: "x" }, (l) => lines.push(l)).warn(msg, fields);
    expect(lines).toHaveLength(1);
    return lines[0];
  };

  test("a pg-style error carrying the connection string", () => {
    const pgError = Object.assign(new Error(`connect ECONNREFUSED: could not connect to postgres://admin:${PW}@db.example.com:5432/campaigns`), {
      code: "ECONNREFUSED",
      connectionString: `postgres://admin:${PW}@db.example.com:5432/campaigns`,
      client: { connectionParameters: { user: "admin", password: PW } },
    });
    const out = line("database connection lost", { error: pgError });
    expect(out).not.toContain(PW);
    expect(JSON.parse(out).error).toEqual({
      name: "Error",
      message: "connect ECONNREFUSED: could not connect to postgres://***@db.example.com:5432/campaigns",
      code: "ECONNREFUSED",
    });
  });

  test("errors from another realm, nested in arrays, in the message and in plain fields", () => {
    const foreign = { name: "DatabaseError", message: `bad DSN "host=h user=u password=${PW} dbname=d"`, stack: "…", code: "08001" };
    const out = line(`retrying postgres://u:${PW}@h`, {
      tasks: [{ error: foreign }],
      url: `http://ari:${PW}@10.0.1.10:8088/ari/channels`,
      connectionString: "postgres://u@h",
      dsn: "x",
      apiKey: PW,
      note: `PGPASSWORD=${PW} psql`,
    });
    expect(out).not.toContain(PW);
    const rec = JSON.parse(out);
    expect(rec.msg).toBe("retrying postgres://***@h");
    expect(rec.url).toBe("http://***@10.0.1.10:8088/ari/channels");
    expect(rec.tasks[0].error.message).toBe('bad DSN "host=h user=u password=*** dbname=d"');
    expect(rec).toMatchObject({ connectionString: "[redacted]", dsn: "[redacted]", apiKey: "[redacted]" });
  });

  test("objects nested too deep to inspect are not written at all", () => {
    const out = line("deep", { a: { b: { c: { d: { e: { password: PW, text: `p=${PW}` } } } } } });
    expect(out).not.toContain(PW);
    expect(JSON.parse(out).a.b.c.d.e).toBe("[truncated]");
  });

  test("a EnvConfigError thrown by the handler wrapper is logged without the password", async () => {
    const env = { ...awsEnv("dispatcher"), RDS_PROXY_ENDPOINT: `postgres://admin:${PW}@db.example.com` };
    expect(() => createRuntime("dispatcher", env)).toThrow(EnvConfigError);
    let error: unknown;
    try {
      createRuntime("dispatcher", env);
    } catch (e) {
      error = e;
    }
    expect(line("invocation failed", { error })).not.toContain(PW);
    expect(String(error)).not.toContain(PW);
  });
});

describe("logging", () => {
  test("JSON lines, credential-looking fields redacted, errors reduced to name/message/code", () => {
    const lines: string[] = [];
    const log = createLogger("info", { fn: "x" }, (l) => lines.push(l));
    log.debug("hidden");
    log.info("hello", { password: "hunter2", nested: { secretString: "s", ok: 1 }, error: Object.assign(new Error("boom"), { code: "ECONNRESET" }) });
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]);
    expect(rec).toMatchObject({ level: "info", msg: "hello", fn: "x", password: "[redacted]", nested: { secretString: "[redacted]", ok: 1 } });
    expect(rec.error).toEqual({ name: "Error", message: "boom", code: "ECONNRESET" });
    expect(lines[0]).not.toContain("hunter2");
  });
});

const goodCampaign = () => ({
  name: "Spring renewals",
  callerId: "+15551230000",
  callingWindow: { start: "09:00", end: "18:00", timeZone: "America/New_York" },
  maxConcurrentCalls: 5,
  retryPolicy: { maxAttempts: 3, retryDelaySeconds: 900 },
  contacts: [{ phone: "+15551230001", name: "Ann" }, { phone: "+15551230002" }],
});

describe("validate-campaign rules", () => {
  test("a good campaign passes", () => {
    const r = checkCampaign(goodCampaign());
    expect(r.errors).toEqual([]);
    expect(r.campaign).toMatchObject({ name: "Spring renewals", windowStart: "09:00", windowEnd: "18:00", maxAttempts: 3, contacts: [{ phone: "+15551230001", name: "Ann" }, { phone: "+15551230002", name: null }] });
  });

  test("every problem is returned with its path", () => {
    const r = checkCampaign({
      campaignId: "nope",
      name: "",
      callerId: "5551230000",
      callingWindow: { start: "9am", end: "25:00", timeZone: "Mars/Olympus" },
      maxConcurrentCalls: 0,
      retryPolicy: { maxAttempts: 1.5 },
      contacts: [{ phone: "+15551230001" }, { phone: "+0155512" }, { phone: "+15551230001" }, "x", { phone: "+15551230009", name: 7 }],
    });
    expect(r.campaign).toBeUndefined();
    expect(r.errors.map((e) => e.path)).toEqual([
      "campaignId",
      "name",
      "callerId",
      "callingWindow.start",
      "callingWindow.end",
      "callingWindow.timeZone",
      "maxConcurrentCalls",
      "retryPolicy.maxAttempts",
      "retryPolicy.retryDelaySeconds",
      "contacts[1].phone",
      "contacts[2].phone",
      "contacts[3]",
      "contacts[4].name",
    ]);
    expect(r.errors.find((e) => e.path === "contacts[2].phone")!.message).toMatch(/duplicate of contacts\[0\]\.phone/);
    expect(r.errors.find((e) => e.path === "callerId")!.message).toMatch(/E\.164/);
  });

  test("missing sections and a non-object event", () => {
    expect(checkCampaign(null).errors).toEqual([{ path: "$", message: "must be an object" }]);
    expect(checkCampaign({}).errors.map((e) => e.path)).toEqual(["name", "callerId", "callingWindow", "maxConcurrentCalls", "retryPolicy", "contacts"]);
    expect(checkCampaign({ ...goodCampaign(), contacts: [] }).errors).toEqual([{ path: "contacts", message: "must have between 1 and 50000 items, has 0" }]);
    expect(checkCampaign({ ...goodCampaign(), callingWindow: { start: "10:00", end: "10:00", timeZone: "UTC" } }).errors[0].path).toBe("callingWindow.end");
  });

  test("invalid input is answered without touching the database", async () => {
    // A runtime whose database does not exist: any query would fail.
    const rt = createRuntime("validate-campaign", { RDS_PROXY_ENDPOINT: "127.0.0.1", DATABASE_PORT: "1", DATABASE_NAME: "x", DATABASE_USER: "u", DATABASE_PASSWORD: "p", DATABASE_SSL: "disable", LOG_LEVEL: "silent" });
    await expect(validateRun(rt, { ...goodCampaign(), callerId: "bad" })).resolves.toEqual({ valid: false, errors: [{ path: "callerId", message: expect.stringMatching(/E\.164/) }] });
    await rt.close();
  });
});

describe("event parsing names the field path", () => {
  const bad: [string, () => unknown, RegExp][] = [
    ["dispatcher", () => parseDispatchEvent({ campaignId: 42 }), /dispatcher: invalid event: campaignId: must be a string \(a UUID\)/],
    ["dispatcher", () => parseDispatchEvent({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f", batchSize: 0 }), /batchSize: must be between 1 and 5000/],
    ["dispatcher", () => parseDispatchEvent("x"), /\$: must be an object/],
    ["enrich", () => parseEnrichEvent({}), /taskIds: is required/],
    ["enrich", () => parseEnrichEvent({ taskIds: [1, "2"] }), /taskIds\[1\]: must be an integer/],
    ["enrich", () => parseEnrichEvent({ campaignId: "x" }), /campaignId: must be a UUID/],
    ["dialer", () => parseDialEvent({ limit: -1 }), /limit: must be between 1 and 1000/],
    ["status", () => parseStatusEvent({ outcomes: [{ channelId: "c", outcome: "maybe" }] }), /outcomes\[0\]\.outcome: must be answered \| no_answer \| busy \| failed/],
    ["status", () => parseStatusEvent({ outcomes: [{ channelId: "c", outcome: "busy", talkSeconds: 3 }] }), /outcomes\[0\]\.talkSeconds: is only allowed for answered calls/],
    ["report", () => parseReportEvent({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f", refresh: "yes" }), /refresh: must be a boolean/],
  ];
  test.each(bad)("%s", (_name, parse, message) => {
    expect(parse).toThrow(InvalidEventError);
    expect(parse).toThrow(message);
  });

  test("valid events parse with defaults", () => {
    expect(parseDispatchEvent({ campaignId: "7D1F7C55-3B1A-4C55-9C55-1F2B3C4D5E6F" })).toEqual({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f", batchSize: 500 });
    expect(parseEnrichEvent({ taskId: 3 })).toEqual({ taskIds: [3] });
    expect(parseDialEvent({ source: "aws.events" })).toEqual({ campaignId: undefined, limit: undefined });
    expect(parseStatusEvent({})).toEqual({ outcomes: [] });
  });
});

test("calling windows, including across midnight", () => {
  expect(inWindow("09:00:00", "09:00:00", "18:00:00")).toBe(true);
  expect(inWindow("18:00:00", "09:00:00", "18:00:00")).toBe(false);
  expect(inWindow("23:59:59.5", "00:00:00", "24:00:00")).toBe(true);
  expect(inWindow("23:30:00", "22:00:00", "02:00:00")).toBe(true);
  expect(inWindow("01:00:00", "22:00:00", "02:00:00")).toBe(true);
  expect(inWindow("12:00:00", "22:00:00", "02:00:00")).toBe(false);
});

describe("secrets by ARN through the AWS SDK (local Secrets Manager endpoint)", () => {
  let sm: SecretsManagerStandIn;
  const secrets: Record<string, string> = {
    [ARN("rds")]: JSON.stringify({ username: "master", password: "pw1", engine: "postgres" }),
    [ARN("redis")]: JSON.stringify({ password: "redis-password-1" }),
    [ARN("short")]: JSON.stringify({ password: "r-pw" }),
    [ARN("plain")]: "just-a-password",
    [ARN("broken")]: JSON.stringify({ user: "x" }),
  };

  beforeAll(async () => {
    sm = await startSecretsManager(secrets);
  });
  afterAll(() => sm.close());

  test("fetched once per environment and cached; the one password-secret format", async () => {
    const [a, b] = await Promise.all([getDatabaseCredentials(ARN("rds")), getDatabaseCredentials(ARN("rds"))]);
    expect(a).toEqual({ user: "master", password: "pw1" });
    expect(b).toEqual(a);
    await getDatabaseCredentials(ARN("rds"));
    expect(sm.requests.filter((r) => r.endsWith(ARN("rds")))).toEqual([`secretsmanager.GetSecretValue ${ARN("rds")}`]);
    await expect(resolvePassword({ kind: "secret", arn: ARN("redis"), variable: "REDIS_PASSWORD_SECRET_ARN" })).resolves.toBe("redis-password-1");
    // Plain strings and short passwords are refused, as provisioning refuses them (lambdas/contracts/secrets.ts); the value is never quoted.
    const plain = await resolvePassword({ kind: "secret", arn: ARN("plain"), variable: "ARI_PASSWORD_SECRET_ARN" }).catch((e: Error) => e);
    expect((plain as Error).message).toBe(`secret ARI_PASSWORD_SECRET_ARN (${ARN("plain")}): the secret is not JSON of the form {"password": "..."}`);
    const short = await resolvePassword({ kind: "secret", arn: ARN("short"), variable: "REDIS_PASSWORD_SECRET_ARN" }).catch((e: Error) => e);
    expect((short as Error).message).toMatch(/REDIS_PASSWORD_SECRET_ARN .*: the secret has no JSON key "password" of 8\+ characters/);
    expect((short as Error).message).not.toContain("r-pw");
  });

  test("a malformed secret names the variable, not the value", async () => {
    await expect(getDatabaseCredentials(ARN("broken"))).rejects.toThrow(/RDS_SECRET_ARN .* must be JSON with string fields "username" and "password"/);
  });

  test("a failed fetch is not cached", async () => {
    await expect(getDatabaseCredentials(ARN("later"))).rejects.toThrow(/not found/);
    secrets[ARN("later")] = JSON.stringify({ username: "u", password: "p" });
    await expect(getDatabaseCredentials(ARN("later"))).resolves.toEqual({ user: "u", password: "p" });
  });
});
