import type { PythonideConfig, PythonideEfsConfig } from "./pythonide-config";

/**
 * The PythonIDE classroom system's values: the one place they live. They become the stacks
 * `pythonide-production` and `pythonide-staging`. Before deploying, replace the account-specific
 * values (image registry, database secret ARN, hosted zone, e-mail) with your account's
 * (README: "PythonIDE configuration reference").
 */

const domain = "pythonide-classroom.tech";
const image = "123456789012.dkr.ecr.us-east-2.amazonaws.com/pythonide";
const containerPort = 8000;
const efsMount: Pick<PythonideEfsConfig, "containerPath"> = { containerPath: "/home/students" };

/**
 * A new account (production.mode "create"): pythonide-production builds the VPC, the ALB with
 * its certificate, the cluster, the service, EFS and its own PostgreSQL in that VPC (an existing
 * database would be out of the new VPC's reach). Kept as the reference for that path.
 */
export const pythonideNewAccount: PythonideConfig = {
  project: "pythonide",
  region: "us-east-2",
  domain,
  network: {
    mode: "create",
    vpcCidr: "10.40.0.0/16",
    availabilityZones: ["us-east-2a", "us-east-2b"],
    publicSubnetCidrs: ["10.40.0.0/24", "10.40.1.0/24"],
    privateSubnetCidrs: ["10.40.10.0/24", "10.40.11.0/24"],
  },
  loadBalancer: {
    mode: "create",
    name: "pythonide",
    certificate: { mode: "create", hostedZoneId: "Z0123456789PYTHONIDE" },
  },
  cluster: { name: "pythonide-cluster", create: true, containerInsights: true },
  capacity: { studentsPerVcpu: 60 },
  production: {
    serviceName: "pythonide-service",
    family: "pythonide-task",
    image: `${image}:1.0.0`,
    containerPort,
    healthCheckPath: "/health",
    hostname: domain,
    listenerRulePriority: 100,
    // Right-sized from 2 vCPU / 8 GB: CloudWatch showed CPU and memory under 5 %.
    cpu: 1024,
    memoryMiB: 2048,
    desiredCount: 1,
    logRetentionDays: 30,
    environment: {},
    efs: { ...efsMount, throughputMode: "provisioned", provisionedThroughputMibps: 5 },
    autoscaling: {
      minCapacity: 1,
      maxCapacity: 4,
      targetCpuPercent: 60,
      scaleOutCooldownSeconds: 60,
      scaleInCooldownSeconds: 300,
      stepRules: [
        { comparison: ">", cpuPercent: 60, minutes: 2, adjustment: 1 },
        { comparison: ">", cpuPercent: 80, minutes: 1, adjustment: 2 },
        { comparison: "<", cpuPercent: 30, minutes: 5, adjustment: -1 },
      ],
    },
    monitoring: {
      dashboardName: "PythonIDE-Production",
      alarmTopicName: "pythonide-alarms",
      alarmEmails: ["ops@pythonide-classroom.tech"],
      highCpuPercent: 80,
      highCpuPeriodSeconds: 300,
      responseTimeMs: 500,
      responseTimeMinutes: 3,
    },
    mode: "create",
    // Built in the new VPC; the tasks are its only 5432 clients, the password is RDS-managed.
    database: {
      mode: "create",
      identifier: "pythonide-db",
      instanceClass: "db.t4g.small",
      engineVersion: "16",
      databaseName: "pythonide",
      masterUsername: "pythonide_admin",
      allocatedStorageGb: 20,
      backupRetentionDays: 7,
      deletionProtection: true,
      finalSnapshot: true,
    },
    backend: { type: "local" },
  },
  staging: {
    serviceName: "pythonide-staging",
    family: "pythonide-staging-task",
    image: `${image}:1.0.0`,
    containerPort,
    healthCheckPath: "/health",
    hostname: `staging.${domain}`,
    listenerRulePriority: 10,
    cpu: 512,
    memoryMiB: 1024,
    // Stopped: $0 for tasks. Start/stop with `aws ecs update-service ... --desired-count 1|0`.
    desiredCount: 0,
    logRetentionDays: 7,
    environment: {},
    efs: { ...efsMount, throughputMode: "bursting" },
    database: {
      identifier: "pythonide-staging",
      instanceClass: "db.t4g.micro",
      engineVersion: "16",
      databaseName: "pythonide",
      masterUsername: "pythonide_admin",
      allocatedStorageGb: 20,
      backupRetentionDays: 0,
    },
    backend: { type: "local" },
  },
};

/**
 * The account that runs the production system (seed 004): cluster pythonide-cluster, service
 * pythonide-service (family pythonide-task), the ALB, RDS pythonide-db and EFS in the existing
 * VPC. pythonide-production ADOPTS it (production.mode "adopt"): its first deploy imports what
 * it manages and right-sizes the running service in place. Replace the ids with your account's.
 */
export const pythonide: PythonideConfig = {
  ...pythonideNewAccount,
  network: {
    mode: "existing",
    vpcId: "vpc-0a1b2c3d4e5f60718",
    publicSubnetIds: ["subnet-0a1b2c3d4e5f60701", "subnet-0a1b2c3d4e5f60702"],
    privateSubnetIds: ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60712"],
    taskSubnets: "public",
  },
  loadBalancer: {
    mode: "existing",
    arn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/app/pythonide/0a1b2c3d4e5f6071",
    httpsListenerArn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:listener/app/pythonide/0a1b2c3d4e5f6071/1a2b3c4d5e6f7081",
    securityGroupId: "sg-0a1b2c3d4e5f60721",
  },
  production: {
    ...pythonideNewAccount.production,
    mode: "adopt",
    adopt: {
      taskDefinitionArn: "arn:aws:ecs:us-east-2:123456789012:task-definition/pythonide-task:7",
      targetGroupArn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/pythonide-service-tg/2a3b4c5d6e7f8091",
      listenerRuleArn:
        "arn:aws:elasticloadbalancing:us-east-2:123456789012:listener-rule/app/pythonide/0a1b2c3d4e5f6071/1a2b3c4d5e6f7081/3a4b5c6d7e8f9001",
      efs: { fileSystemId: "fs-0a1b2c3d4e5f60731", mountTargetIds: ["fsmt-0a1b2c3d4e5f60741", "fsmt-0a1b2c3d4e5f60742"] },
      logGroupExists: true,
    },
    database: {
      mode: "existing",
      identifier: "pythonide-db",
      databaseName: "pythonide",
      secretArn: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pythonide/production/db-AbCdEf",
      securityGroupId: "sg-0a1b2c3d4e5f60751",
    },
  },
};
