import { App } from "cdktf";
import { CampaignStack } from "./campaign-stack";
import type { CampaignConfig } from "./config";
import { validateCampaignConfig } from "./config";
import { campaignEnvironments } from "./environments";
import type { PythonideConfig } from "./pythonide-config";
import { validatePythonideConfig } from "./pythonide-config";
import { pythonide as pythonideConfig } from "./pythonide-environments";
import { addPythonideStacks } from "./pythonide-stack";
import { assertNoProblems } from "./validation";

export interface AppOptions {
  /** Where cdktf writes the stacks. @default cdktf's own (CDKTF_OUTDIR or cdktf.out) */
  readonly outdir?: string;
  /** The campaign environments. @default every environment of stacks/environments.ts */
  readonly campaign?: readonly CampaignConfig[];
  /** The PythonIDE classroom system (stacks pythonide-production and pythonide-staging). @default stacks/pythonide-environments.ts */
  readonly pythonide?: PythonideConfig;
}

/**
 * The whole CDKTF app. Every configuration is validated first, and synth stops with ONE error
 * listing every problem of every environment before a single construct is created.
 */
export function buildApp(options: AppOptions = {}): App {
  const campaign = options.campaign ?? campaignEnvironments;
  const pythonide = options.pythonide ?? pythonideConfig;
  assertNoProblems("Invalid configuration", [...campaign.flatMap(validateCampaignConfig), ...validatePythonideConfig(pythonide), ...stackNameProblems(campaign, pythonide)]);
  const app = new App({ outdir: options.outdir, skipBackendValidation: true });
  for (const config of campaign) new CampaignStack(app, config);
  addPythonideStacks(app, pythonide);
  return app;
}

/**
 * Two environments that would make one stack (an environment copied without renaming it): each
 * stack needs a name of its own (cdktf said only "There is already a Construct with name ...").
 */
export function stackNameProblems(campaign: readonly CampaignConfig[], pythonide: PythonideConfig): string[] {
  const owner = new Map<string, string>([
    [`${pythonide.project}-production`, "pythonide.production"],
    [`${pythonide.project}-staging`, "pythonide.staging"],
  ]);
  const problems: string[] = [];
  campaign.forEach((config, i) => {
    const stack = `${config.project}-${config.environment}`;
    const other = owner.get(stack);
    const label = `campaign environment #${i + 1}`;
    if (other) problems.push(`${config.environment}.environment: ${JSON.stringify(config.environment)} (${label}) makes the stack ${stack}, as ${other} does (allowed: a name of its own)`);
    else owner.set(stack, label);
  });
  return problems;
}
