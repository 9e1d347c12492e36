import { Testing } from "cdktf";
import { CampaignStack } from "../../stacks/campaign-stack";
import type { CampaignConfig } from "../../stacks/config";

export type Block = Record<string, any>;
export interface Synthesized {
  resource: Record<string, Record<string, Block>>;
  data?: Record<string, Record<string, Block>>;
  output: Record<string, Block>;
  moved: { from: string; to: string }[];
  terraform: Block;
  provider: Block;
}

/** Synthesize one campaign stack, running aspects and validations as `cdktf synth` does. */
export function synthCampaign(config: CampaignConfig): { stack: CampaignStack; json: Synthesized } {
  const stack = new CampaignStack(Testing.app(), config);
  return { stack, json: JSON.parse(Testing.synth(stack, true)) as Synthesized };
}

/** A deep copy of a config with `edit` applied, for deliberately bad variants. */
export function variant<T>(config: T, edit: (copy: T) => void): T {
  const copy = structuredClone(config);
  edit(copy);
  return copy;
}

/** Every `type.name` address in a synthesized stack. */
export function addresses(json: Synthesized): string[] {
  return Object.entries(json.resource).flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`));
}
