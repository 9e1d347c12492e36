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

export const pythonide: PythonideConfig = {
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
    database: {
      identifier: "pythonide-db",
      databaseName: "pythonide",
      secretArn: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pythonide/production/db-AbCdEf",
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
