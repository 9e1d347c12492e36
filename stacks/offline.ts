/**
 * The configuration offline plans use: the environments of stacks/environments.ts and
 * stacks/pythonide-environments.ts with every value a data source would look up pinned, so
 * `terraform plan` needs no AWS API (the Asterisk AMI instead of the public SSM parameter, the
 * PythonIDE database's endpoint instead of an RDS lookup).
 */
import { isMap } from "../modules/settings";
import { buildApp } from "./app";
import type { CampaignConfig } from "./config";
import { campaignEnvironments } from "./environments";
import type { PythonideConfig } from "./pythonide-config";
import { pythonide } from "./pythonide-environments";

/** Stands for the AL2023 AMI the SSM parameter would return. */
export const OFFLINE_AMI = "ami-0f1e2d3c4b5a69788";

// A section that is missing (or no map) is left as it is: the validation names it.
export function pinCampaign(config: CampaignConfig): CampaignConfig {
  if (!isMap(config.asterisk)) return config;
  return { ...config, asterisk: { ...config.asterisk, amiId: config.asterisk.amiId ?? OFFLINE_AMI } };
}

export function pinPythonide(config: PythonideConfig): PythonideConfig {
  const db = isMap(config.production) ? config.production.database : undefined;
  if (!isMap(db) || db.mode === "create") return config; // the stack builds it: nothing to look up
  return {
    ...config,
    production: {
      ...config.production,
      database: { ...db, address: db.address ?? `${db.identifier}.fixture.us-east-2.rds.amazonaws.com`, port: db.port ?? 5432 },
    },
  };
}

/** Synthesize the whole app, data sources pinned, into `outdir`. */
export function synthOffline(outdir: string, opts: { campaign?: readonly CampaignConfig[]; pythonide?: PythonideConfig } = {}): void {
  buildApp({
    outdir,
    campaign: (opts.campaign ?? campaignEnvironments).map(pinCampaign),
    pythonide: pinPythonide(opts.pythonide ?? pythonide),
  }).synth();
}
