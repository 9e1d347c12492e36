/** The valibot schemas behind event parsing and the environment (lambdas/shared/validate.ts, config.ts): the rules the Checker and Reader had. */
import { loadConfig } from "../../lambdas/shared/config";
import { check, int, list, struct, text, uuid } from "../../lambdas/shared/validate";
import { parseDispatchEvent } from "../../lambdas/dispatcher/handler";
import { parseEnrichEvent } from "../../lambdas/enrich-dial-task/handler";
import { parseStatusEvent } from "../../lambdas/status-checker/handler";

const ARN = (n: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${n}-AbCdEf`;
const ariEnv = (extra: Record<string, string> = {}) => ({
  RDS_PROXY_ENDPOINT: "db.example.com",
  DATABASE_NAME: "campaigns",
  RDS_SECRET_ARN: ARN("rds"),
  REDIS_HOST: "10.0.1.10",
  REDIS_PASSWORD_SECRET_ARN: ARN("redis"),
  ARI_URL: "http://10.0.1.10:8088/",
  ARI_USER: "dialer",
  ARI_PASSWORD_SECRET_ARN: ARN("ari"),
  ...extra,
});

describe("event schemas", () => {
  test("one problem per field: the first rule it breaks", () => {
    const s = struct({ a: text({ max: 3, pattern: /^x+$/, expected: "x's" }), b: int(1, 5), c: uuid });
    expect(check(s, { a: "", b: 1.5, c: 7 }).issues).toEqual([
      { path: "a", message: "must not be empty" },
      { path: "b", message: "must be an integer" },
      { path: "c", message: "must be a string (a UUID)" },
    ]);
    expect(check(s, { a: "yyyy", b: 9, c: "nope" }).issues.map((i) => i.message)).toEqual([
      "must be at most 3 characters, has 4",
      "must be between 1 and 5, got 9",
      'must be a UUID, got "nope"',
    ]);
    expect(check(s, { a: "a\u0000", b: 2, c: "7D1F7C55-3B1A-4C55-9C55-1F2B3C4D5E6F" }).issues).toEqual([{ path: "a", message: "must not contain control characters (U+0000 at position 1)" }]);
    expect(check(s, { a: "xx", b: 2, c: "7D1F7C55-3B1A-4C55-9C55-1F2B3C4D5E6F" }).output).toEqual({ a: "xx", b: 2, c: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f" });
  });

  test("a list of the wrong length is not checked item by item; arrays and null are not objects", () => {
    const s = struct({ ids: list(int(1, 9), 1, 2) });
    expect(check(s, { ids: ["a", "b", "c"] }).issues).toEqual([{ path: "ids", message: "must have between 1 and 2 items, has 3" }]);
    expect(check(s, { ids: [0, "b"] }).issues.map((i) => i.path)).toEqual(["ids[0]", "ids[1]"]);
    expect(check(s, []).issues).toEqual([{ path: "$", message: "must be an object" }]);
    expect(check(s, null, "entry").issues).toEqual([{ path: "entry", message: "must be an object" }]);
  });

  test("events: defaults, the enrich shapes, duplicates in line with the items' own problems", () => {
    expect(parseDispatchEvent({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f", extra: 1 })).toEqual({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f", batchSize: 500 });
    expect(parseEnrichEvent({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f" })).toEqual({ campaignId: "7d1f7c55-3b1a-4c55-9c55-1f2b3c4d5e6f", limit: 500 });
    expect(parseEnrichEvent({ taskIds: [1, 2] })).toEqual({ taskIds: [1, 2] });
    expect(() => parseEnrichEvent(null)).toThrow("enrich-dial-task: invalid event: $: must be an object");
    const twice = { channelId: "c1", outcome: "answered", talkSeconds: 5 };
    expect(parseStatusEvent({ outcomes: [twice, twice] }).outcomes).toHaveLength(1);
    expect(() => parseStatusEvent({ outcomes: [twice, { channelId: "c1", outcome: "busy" }, { channelId: 3, outcome: "busy" }] })).toThrow(
      "status-checker: invalid event: outcomes[1].channelId: names the same call as outcomes[0] with a different outcome (answered, 5 s vs busy); outcomes[2].channelId: must be a string",
    );
  });
});

describe("environment schemas", () => {
  test.each([
    [{ DATABASE_SSL: "require" }, 'Configuration error: DATABASE_SSL must be verify-full, no-verify or disable, got "require"'],
    [{ LOG_LEVEL: "loud" }, 'Configuration error: LOG_LEVEL must be debug, info, warn, error or silent, got "loud"'],
    [{ DATABASE_PORT: "54x" }, 'Configuration error: DATABASE_PORT must be an integer between 1 and 65535, got "54x"'],
    [{ REDIS_HOST: "redis://10.0.1.10" }, 'Configuration error: REDIS_HOST must be a bare host name or IPv4 address (no scheme, no port), got "redis://10.0.1.10"'],
    [{ ARI_URL: "ftp://x" }, 'Configuration error: ARI_URL must be an http(s) URL, got "ftp://x"'],
    [{ ARI_URL: "not a url" }, 'Configuration error: ARI_URL must be an http(s) URL, got "not a url"'],
    [{ ARI_URL: "http://u:p@10.0.1.10:8088" }, "Configuration error: ARI_URL must not contain credentials (use ARI_USER and ARI_PASSWORD_SECRET_ARN)"],
    [{ ARI_ENDPOINT_TEMPLATE: "PJSIP/trunk" }, "Configuration error: ARI_ENDPOINT_TEMPLATE must contain {number}"],
    [{ ARI_RETRY_BASE_SECONDS: "600", ARI_RETRY_MAX_SECONDS: "60" }, "Configuration error: ARI_RETRY_MAX_SECONDS must be at least ARI_RETRY_BASE_SECONDS (600), got 60"],
    [{ REDIS_PASSWORD_SECRET_ARN: "hunter2-secret" }, "Configuration error: REDIS_PASSWORD_SECRET_ARN must be a Secrets Manager secret ARN, got a value that is not shown (REDIS_PASSWORD_SECRET_ARN may hold a secret)"],
  ])("%j", (extra, message) => {
    const fn = Object.keys(extra).some((k) => k.startsWith("REDIS_")) ? "enrich-dial-task" : "dialer-worker";
    expect(() => loadConfig(fn, ariEnv(extra))).toThrow(message);
  });

  test("values are trimmed, blanks take the manifest's defaults, the ARI URL loses its trailing slash", () => {
    const cfg = loadConfig("dialer-worker", ariEnv({ DATABASE_PORT: " 6432 " }));
    expect(cfg.database.port).toBe(6432);
    expect(loadConfig("enrich-dial-task", ariEnv({ REDIS_PORT: "  " })).redis!.port).toBe(6379);
    expect(cfg.ari!.url).toBe("http://10.0.1.10:8088");
    expect(cfg.logLevel).toBe("info");
  });
});
