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
