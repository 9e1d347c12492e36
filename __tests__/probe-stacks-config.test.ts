import { validateCampaignConfig, type CampaignConfig } from "../stacks/config";
import { campaignEnvironments } from "../stacks/environments";
import { validatePythonideConfig, type PythonideConfig } from "../stacks/pythonide-config";
import { pythonide } from "../stacks/pythonide-environments";

const prod = campaignEnvironments.find((c) => c.environment === "prod")!;
const without = <T extends object>(config: T, key: string, value: unknown): T => ({ ...config, [key]: value });

describe("a section left out or set to null is a problem named by its key, not a TypeError", () => {
  it.each([
    ["database", undefined],
    ["database", null],
    ["proxy", null],
    ["asterisk", undefined],
  ])("campaign %s = %p", (key, value) => {
    const problems = validateCampaignConfig(without(prod, key, value) as CampaignConfig);
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^prod\\.${key}: is required`)));
  });

  it.each([
    ["production", null],
    ["staging", undefined],
  ])("pythonide %s = %p", (key, value) => {
    const problems = validatePythonideConfig(without(pythonide, key, value) as PythonideConfig);
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^pythonide\\.${key}: is required`)));
  });

  it("a nested section (production.autoscaling) set to null", () => {
    const config = { ...pythonide, production: { ...pythonide.production, autoscaling: null } } as unknown as PythonideConfig;
    expect(validatePythonideConfig(config)).toContainEqual(expect.stringMatching(/^pythonide\.production\.autoscaling: is required/));
  });
});

describe("a VPC or subnet the stack creates must be a size AWS creates (/16../28): a /8 failed only at apply", () => {
  const dev = campaignEnvironments.find((c) => c.environment === "dev")!;
  const network = (n: Record<string, unknown>) => ({ ...dev, network: { ...dev.network, ...n } }) as CampaignConfig;

  it("campaign vpcCidr /8", () => {
    expect(validateCampaignConfig(network({ vpcCidr: "10.0.0.0/8" }))).toContainEqual(
      "dev.network.vpcCidr: 10.0.0.0/8 is /8: AWS creates a VPC of /16 to /28 only (allowed: an IPv4 CIDR /16../28 such as 10.0.0.0/16)",
    );
  });

  it("campaign publicSubnetCidr /29", () => {
    expect(validateCampaignConfig(network({ publicSubnetCidr: "10.20.101.0/29" }))).toContainEqual(expect.stringMatching(/^dev\.network\.publicSubnetCidr: 10\.20\.101\.0\/29 is \/29: AWS creates a subnet of \/16 to \/28 only/));
  });

  it("the shipped environments still pass", () => {
    for (const c of campaignEnvironments) expect(validateCampaignConfig(c)).toEqual([]);
    expect(validatePythonideConfig(pythonide)).toEqual([]);
  });
});

describe("an offline plan's synth with a section left out: the validation's message, not a TypeError", () => {
  const { synthOffline } = require("../stacks/offline") as typeof import("../stacks/offline");
  const { mkdtempSync, rmSync } = require("node:fs") as typeof import("node:fs");
  const { tmpdir } = require("node:os") as typeof import("node:os");
  const { join } = require("node:path") as typeof import("node:path");
  let outdir = "";
  beforeAll(() => (outdir = mkdtempSync(join(tmpdir(), "probe-stacks-offline-"))));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it("campaign asterisk left out (was: Cannot read properties of undefined (reading 'amiId'))", () => {
    expect(() => synthOffline(outdir, { campaign: [without(prod, "asterisk", undefined) as CampaignConfig] })).toThrow(/^Invalid configuration: .*\n(.*\n)*  prod\.asterisk: is required/);
  });

  it("pythonide production null (was: Cannot read properties of null (reading 'database'))", () => {
    expect(() => synthOffline(outdir, { pythonide: without(pythonide, "production", null) as PythonideConfig })).toThrow(/pythonide\.production: is required/);
  });
});

describe("two environments that make one stack (a copied environment not renamed)", () => {
  const { buildApp } = require("../stacks/app") as typeof import("../stacks/app");
  const dev = campaignEnvironments.find((c) => c.environment === "dev")!;
  it("is a config problem naming both (was cdktf's 'There is already a Construct with name campaign-dev', a stack trace)", () => {
    expect(() => buildApp({ outdir: require("node:os").tmpdir(), campaign: [dev, { ...prod, environment: "dev" }] })).toThrow(
      'dev.environment: "dev" (campaign environment #2) makes the stack campaign-dev, as campaign environment #1 does (allowed: a name of its own)',
    );
  });
  it("a campaign environment named like a PythonIDE stack", () => {
    expect(() => buildApp({ outdir: require("node:os").tmpdir(), campaign: [{ ...prod, project: "pythonide", environment: "staging" }] })).toThrow(
      'staging.environment: "staging" (campaign environment #1) makes the stack pythonide-staging, as pythonide.staging does (allowed: a name of its own)',
    );
  });
});
