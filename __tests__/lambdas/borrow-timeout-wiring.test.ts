/**
 * The functions learn the proxy's connection borrow timeout from the stack (their client-side
 * statement timeout includes it): absent at RDS Proxy's default 120 s (the functions' default too),
 * the configured value otherwise, 0 without a proxy (nothing queues in front of the instance).
 */
import { loadConfig } from "../../lambdas/shared/config";
import { dev } from "../../stacks/environments";
import { synthCampaign, variant } from "../helpers/synth";

const variables = (config: typeof dev) =>
  Object.values(synthCampaign(config).json.resource.aws_lambda_function).map((fn) => (fn as { environment: { variables: Record<string, string> } }).environment.variables);

test("default proxy: no variable, and the functions assume 120 s", () => {
  for (const v of variables(dev)) expect(v).not.toHaveProperty("DATABASE_BORROW_TIMEOUT_SECONDS");
  const env = { RDS_PROXY_ENDPOINT: "proxy.example", DATABASE_NAME: "campaign", DATABASE_USER: "u", DATABASE_PASSWORD: "p" };
  expect(loadConfig("dispatcher", env).database).toMatchObject({ borrowTimeoutMs: 120_000, queryTimeoutMs: 5000, connectAttempts: 3, reserveMs: 1000 });
});

test("a configured borrow timeout reaches every function; without the proxy it is 0", () => {
  for (const v of variables(variant(dev, (c) => (c.proxy.connectionBorrowTimeout = 45)))) expect(v.DATABASE_BORROW_TIMEOUT_SECONDS).toBe("45");
  for (const v of variables(variant(dev, (c) => (c.proxy.enabled = false)))) expect(v.DATABASE_BORROW_TIMEOUT_SECONDS).toBe("0");
});

test("bad values name the variable and its range", () => {
  const env = { RDS_PROXY_ENDPOINT: "proxy.example", DATABASE_NAME: "campaign", DATABASE_USER: "u", DATABASE_PASSWORD: "p" };
  expect(() => loadConfig("dispatcher", { ...env, DATABASE_BORROW_TIMEOUT_SECONDS: "-1" })).toThrow('DATABASE_BORROW_TIMEOUT_SECONDS must be an integer between 0 and 3600, got "-1"');
  expect(() => loadConfig("dispatcher", { ...env, DATABASE_CONNECT_ATTEMPTS: "0" })).toThrow('DATABASE_CONNECT_ATTEMPTS must be an integer between 1 and 10, got "0"');
  expect(() => loadConfig("dispatcher", { ...env, DATABASE_TIME_RESERVE_MS: "1s" })).toThrow("DATABASE_TIME_RESERVE_MS must be an integer between 0 and 60000");
});
