import { ARI } from "../lambdas/contracts/ari";
import type { CampaignConfig, LambdaFunctionConfig, LambdasConfig } from "./config";

/**
 * The campaign system's environments: the one place their values live. Each becomes the stack
 * `campaign-<environment>`. Before deploying prod, replace the network ids and the SSH/SIP CIDRs
 * with your account's values (README: "Configuration reference").
 */

const shared = {
  project: "campaign",
  region: "us-east-1",
  proxy: {
    connectionBorrowTimeout: 120,
    maxConnectionsPercent: 100,
    maxIdleConnectionsPercent: 50,
    idleClientTimeout: 1800,
    requireTls: true,
  },
  redis: {
    port: 6379,
  },
} as const;

/**
 * Lambda settings both environments share. Reserved concurrency is per environment: the sum over
 * the functions (all use the database) must fit the connection budget (README: "Connection budget").
 */
const lambdas = (functions: LambdasConfig["functions"], logRetentionDays: number): LambdasConfig => ({
  architecture: "arm64",
  logRetentionDays,
  connectionsPerEnvironment: 1,
  connectionHeadroom: 10,
  functions,
  ari: { port: ARI.port, user: ARI.user },
});
const fn = (reservedConcurrency: number, timeoutSeconds = 30, memoryMb = 256): LambdaFunctionConfig => ({
  memoryMb,
  timeoutSeconds,
  reservedConcurrency,
});

export const dev: CampaignConfig = {
  ...shared,
  environment: "dev",
  proxy: { ...shared.proxy },
  redis: { ...shared.redis, backup: { enabled: true, retentionDays: 7, schedule: "daily" } },
  network: {
    mode: "create",
    vpcCidr: "10.20.0.0/16",
    availabilityZones: ["us-east-1a", "us-east-1b"],
    privateSubnetCidrs: ["10.20.1.0/24", "10.20.2.0/24"],
    publicSubnetCidr: "10.20.101.0/24",
  },
  database: {
    identifier: "campaign-dev",
    instanceClass: "db.t3.micro",
    engineVersion: "16",
    databaseName: "campaign",
    masterUsername: "campaign_admin",
    allocatedStorageGb: 20,
    maxAllocatedStorageGb: 0,
    multiAz: false,
    backupRetentionDays: 1,
    deletionProtection: false,
  },
  asterisk: {
    instanceType: "t3.small",
    rootVolumeGb: 20,
    sshCidrs: ["203.0.113.0/24"],
    sipCidrs: ["198.51.100.0/24"],
    rtpPorts: [10000, 20000],
  },
  // db.t3.micro: 87 × 100 % − 10 headroom = 77 connections; these reserve 18.
  lambdas: lambdas(
    {
      "validate-campaign": fn(2),
      dispatcher: fn(2, 60),
      "enrich-dial-task": fn(5),
      "dialer-worker": fn(5, 60),
      "status-checker": fn(2),
      "report-generator": fn(2),
    },
    14,
  ),
  monitoring: {},
  backend: { type: "local" },
  // Disposable: destroy and rebuild the same day (secret names are free again at once).
  protection: { preventDestroy: false, secretRecoveryWindowDays: 0 },
};

export const prod: CampaignConfig = {
  ...shared,
  environment: "prod",
  proxy: { ...shared.proxy },
  redis: { ...shared.redis, backup: { enabled: true, retentionDays: 14, schedule: "hourly" } },
  network: {
    mode: "existing",
    vpcId: "vpc-0c0ffee0c0ffee000",
    vpcCidr: "10.0.0.0/16",
    privateSubnetIds: ["subnet-0a0a0a0a0a0a0a0a1", "subnet-0b0b0b0b0b0b0b0b2"],
    asteriskSubnetId: "subnet-0c0c0c0c0c0c0c0c3",
    // The account's VPC already has a Secrets Manager endpoint: reuse it and admit the Lambdas and
    // the Asterisk host on its security group. Use { mode: "create" } only if it has none.
    secretsManagerEndpoint: { mode: "existing", securityGroupId: "sg-0e0e0e0e0e0e0e0e4" },
  },
  database: {
    identifier: "campaign-prod",
    instanceClass: "db.t3.small",
    engineVersion: "16",
    databaseName: "campaign",
    masterUsername: "campaign_admin",
    allocatedStorageGb: 50,
    maxAllocatedStorageGb: 200,
    multiAz: true,
    backupRetentionDays: 14,
    deletionProtection: true,
  },
  asterisk: {
    instanceType: "t3.medium",
    keyName: "campaign-prod",
    rootVolumeGb: 30,
    sshCidrs: ["203.0.113.0/24"],
    sipCidrs: ["198.51.100.0/24"],
    rtpPorts: [10000, 20000],
  },
  // db.t3.small: 198 × 100 % − 10 headroom = 188 connections; these reserve 130.
  lambdas: lambdas(
    {
      "validate-campaign": fn(10),
      dispatcher: fn(10, 60),
      "enrich-dial-task": fn(40),
      "dialer-worker": fn(50, 60),
      "status-checker": fn(10),
      "report-generator": fn(10, 30, 512),
    },
    90,
  ),
  // Replace with the on-call address before deploying; AWS mails it a confirmation link.
  monitoring: { alarmEmail: "campaign-alerts@example.com" },
  backend: {
    type: "s3",
    bucket: "campaign-terraform-state",
    key: "campaign/prod/terraform.tfstate",
    region: "us-east-1",
  },
  protection: { preventDestroy: true, secretRecoveryWindowDays: 7 },
};

export const campaignEnvironments: readonly CampaignConfig[] = [dev, prod];
