import { Testing } from "cdktf";
import { buildApp } from "../stacks/app";
import { connectionBudget } from "../stacks/budget";
import { CampaignStack } from "../stacks/campaign-stack";
import { budgetOf, validateCampaignConfig, type CampaignConfig } from "../stacks/config";
import { dev, prod } from "../stacks/environments";
import { ConfigError } from "../stacks/validation";
import { variant } from "./helpers/synth";

/** Every database function at `each` reserved concurrency (6 functions). */
const reserveEach = (config: CampaignConfig, each: number) =>
  variant(config, (c) => {
    for (const f of Object.values(c.lambdas.functions)) f.reservedConcurrency = each;
  });

describe("connection budget: the arithmetic", () => {
  const functions = [
    { name: "a", reservedConcurrency: 60, usesDatabase: true },
    { name: "b", reservedConcurrency: 40, usesDatabase: true },
    { name: "c", reservedConcurrency: 500, usesDatabase: false },
  ];

  it("catches the seed's case: 100 concurrent Lambdas against db.t3.micro's 87 connections without the proxy", () => {
    const budget = connectionBudget({ instanceClass: "db.t3.micro", viaProxy: false, maxConnectionsPercent: 100, headroom: 0, connectionsPerEnvironment: 1, functions });
    expect(budget).toMatchObject({ demand: 100, limit: 87, fits: false, maxEnvironments: 87 });
    expect(budget?.demandText).toBe("reserved concurrency a 60 + b 40 = 100 environments × 1 connection(s) = 100");
    expect(budget?.limitText).toBe("db.t3.micro accepts max_connections 87 − 0 headroom = 87 directly (no proxy)");
  });

  it("through the proxy: max_connections × max_connections_percent − headroom", () => {
    const budget = connectionBudget({ instanceClass: "db.t3.small", viaProxy: true, maxConnectionsPercent: 50, headroom: 10, connectionsPerEnvironment: 1, functions });
    expect(budget).toMatchObject({ demand: 100, limit: 89, fits: false });
    expect(budget?.limitText).toBe("RDS Proxy may open db.t3.small max_connections 198 × 50 % = 99 − 10 headroom = 89");
    expect(connectionBudget({ instanceClass: "db.t3.small", viaProxy: true, maxConnectionsPercent: 100, headroom: 10, connectionsPerEnvironment: 1, functions })).toMatchObject({
      limit: 188,
      fits: true,
    });
  });

  it("multiplies by the connections each execution environment holds", () => {
    const budget = connectionBudget({ instanceClass: "db.t3.medium", viaProxy: true, maxConnectionsPercent: 100, headroom: 10, connectionsPerEnvironment: 2, functions });
    expect(budget).toMatchObject({ demand: 200, limit: 400, fits: true, maxEnvironments: 200 });
  });

  it("ignores functions that do not use the database, and unknown classes", () => {
    expect(connectionBudget({ instanceClass: "db.t3.micro", viaProxy: true, maxConnectionsPercent: 100, headroom: 0, connectionsPerEnvironment: 1, functions: [functions[2]] })).toMatchObject({ demand: 0, fits: true });
    expect(connectionBudget({ instanceClass: "db.x9.huge", viaProxy: true, maxConnectionsPercent: 100, headroom: 0, connectionsPerEnvironment: 1, functions })).toBeUndefined();
  });
});

describe("connection budget: the guardrail at synth", () => {
  it("passes for dev and prod as shipped", () => {
    expect(budgetOf(dev)).toMatchObject({ demand: 18, limit: 77, fits: true });
    expect(budgetOf(prod)).toMatchObject({ demand: 130, limit: 188, fits: true });
  });

  it("stops synth with the numbers when dev's functions reserve more than the proxy may open", () => {
    const over = reserveEach(dev, 15); // 6 × 15 = 90 > 87 × 100 % − 10 = 77
    expect(validateCampaignConfig(over)).toEqual([
      "dev.lambdas.functions: over the connection budget: reserved concurrency validate-campaign 15 + dispatcher 15 + enrich-dial-task 15 + dialer-worker 15 + status-checker 15 + report-generator 15 = 90 environments × 1 connection(s) = 90 > RDS Proxy may open db.t3.micro max_connections 87 × 100 % = 87 − 10 headroom = 77 (allowed: reserved concurrency of the database functions totalling at most 77, or a larger instance class)",
    ]);
    expect(() => buildApp({ campaign: [over], outdir: "/nonexistent" })).toThrow(ConfigError);
  });

  it("runs the same check against the instance when the proxy is off (the seed's 100 vs 87)", () => {
    const seed = variant(dev, (c) => {
      c.proxy.enabled = false;
      c.lambdas.connectionHeadroom = 0;
      const each = [20, 20, 20, 20, 10, 10]; // 100 concurrent Lambdas
      Object.values(c.lambdas.functions).forEach((f, i) => (f.reservedConcurrency = each[i]));
    });
    const problems = validateCampaignConfig(seed);
    expect(problems).toEqual([expect.stringContaining("= 100 environments × 1 connection(s) = 100 > db.t3.micro accepts max_connections 87 − 0 headroom = 87 directly (no proxy)")]);
  });

  it("fails a stack built without buildApp() too, naming the environment", () => {
    const stack = new CampaignStack(Testing.app(), reserveEach(prod, 40)); // 240 > 188
    expect(() => Testing.synth(stack, true)).toThrow(/prod\.lambdas\.functions: over the connection budget: .* = 240 > RDS Proxy may open db\.t3\.small max_connections 198/);
  });

  it("requires reserved concurrency for every function (an unreserved one has no bound)", () => {
    const unbounded = variant(dev, (c) => delete (c.lambdas.functions["dialer-worker"] as Partial<{ reservedConcurrency: number }>).reservedConcurrency);
    expect(validateCampaignConfig(unbounded)).toEqual([
      "dev.lambdas.functions.dialer-worker.reservedConcurrency: is required (allowed: an integer 1..1000)",
    ]);
  });
});

describe("lambdas configuration", () => {
  it("reports every problem of the section at once", () => {
    const bad = variant(dev, (c) => {
      (c.lambdas as { architecture: string }).architecture = "mips";
      c.lambdas.logRetentionDays = 10;
      c.lambdas.schedules = { ...c.lambdas.schedules, "dialer-worker": "every minute" };
      c.lambdas.functions.dispatcher.memoryMb = 64;
      c.lambdas.functions.dispatcher.timeoutSeconds = 901;
      c.lambdas.ari.port = 6379;
      (c.network as { egress: string }).egress = "vpn";
    });
    expect(validateCampaignConfig(bad)).toEqual([
      'dev.network.egress: "vpn" is not supported (allowed: endpoint, nat)',
      'dev.lambdas.architecture: "mips" is not supported (allowed: arm64, x86_64)',
      expect.stringMatching(/^dev\.lambdas\.logRetentionDays: 10 is not supported \(allowed: 1, 3, 5, 7, 14, 30, /),
      'dev.lambdas.schedules.dialer-worker: "every minute" is not valid (allowed: rate(1 minute), rate(5 minutes), cron(...))',
      "dev.lambdas.functions.dispatcher.memoryMb: 64 is out of range (allowed: an integer 128..10240)",
      "dev.lambdas.functions.dispatcher.timeoutSeconds: 901 is out of range (allowed: an integer 1..900)",
      "dev.lambdas.ari.port: 6379 is the Redis port (allowed: a free port such as 8088)",
    ]);
  });

  it("refuses a function the manifest does not have, and wants every one it has", () => {
    const bad = variant(dev, (c) => {
      (c.lambdas.functions as Record<string, unknown>)["dialer"] = { memoryMb: 256, timeoutSeconds: 30, reservedConcurrency: 1 };
      delete (c.lambdas.functions as Partial<typeof c.lambdas.functions>)["report-generator"];
    });
    expect(validateCampaignConfig(bad)).toEqual([
      "dev.lambdas.functions.report-generator: is required (allowed: { memoryMb, timeoutSeconds, reservedConcurrency })",
      "dev.lambdas.functions.dialer: is not a function (allowed: validate-campaign, dispatcher, enrich-dial-task, dialer-worker, status-checker, report-generator)",
    ]);
  });

  it("keeps opt-in CIDRs for the proxy inside the VPC", () => {
    expect(validateCampaignConfig(variant(dev, (c) => (c.proxy.allowedCidrs = ["192.168.0.0/24"])))).toEqual([
      "dev.proxy.allowedCidrs[0]: 192.168.0.0/24 is outside the VPC 10.20.0.0/16: the proxy is VPC-only (allowed: CIDRs inside 10.20.0.0/16)",
    ]);
  });
});
