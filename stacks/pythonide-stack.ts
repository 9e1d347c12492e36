import { DataAwsDbInstance } from "@cdktf/provider-aws/lib/data-aws-db-instance";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import { TerraformOutput, TerraformStack, Token } from "cdktf";
import { Construct } from "constructs";
import { at } from "../modules/address";
import { applyGuardrails } from "../modules/guardrails";
import { PythonideAutoscaling } from "../modules/pythonide-autoscaling";
import { PythonideDatabase, type PythonideDatabaseSettings } from "../modules/pythonide-database";
import { PythonideEfs } from "../modules/pythonide-efs";
import { PythonideMonitoring } from "../modules/pythonide-monitoring";
import { PythonidePlatform } from "../modules/pythonide-platform";
import { PythonideService, PythonideServiceProps } from "../modules/pythonide-service";
import { applyAwsProvider, applyBackend } from "./backend";
import type { PythonideConfig, PythonideExistingDatabaseConfig, PythonideProductionConfig, PythonideStagingConfig } from "./pythonide-config";

type Environment = "production" | "staging";

/**
 * The PythonIDE classroom system as two stacks with separate state:
 * - `pythonide-production` owns the shared platform (VPC, ALB, certificate, cluster) and runs the
 *   production service with autoscaling, the dashboard and the alarms;
 * - `pythonide-staging` finds that platform by name and adds the staging service, its listener
 *   rule and its own database. It can be deployed, or destroyed to stop paying for its database,
 *   without a plan that could touch production.
 */
export function addPythonideStacks(scope: Construct, config: PythonideConfig): [PythonideProductionStack, PythonideStagingStack] {
  return [new PythonideProductionStack(scope, config), new PythonideStagingStack(scope, config)];
}

/** What every PythonIDE environment stack has: provider, backend, platform, task security group, EFS. */
interface Foundation {
  platform: PythonidePlatform;
  tasksSecurityGroupId: string;
  efs: PythonideEfs;
}

function foundation(stack: TerraformStack, config: PythonideConfig, environment: Environment): Foundation {
  const env = config[environment];
  applyAwsProvider(stack, { region: config.region, project: config.project, environment, tags: config.tags });
  applyBackend(stack, env.backend);
  const platform = new PythonidePlatform(stack, "platform", {
    name: config.project,
    network: config.network,
    loadBalancer: config.loadBalancer,
    cluster: config.cluster,
    domain: config.domain,
    hostnames: [config.production.hostname, config.staging.hostname],
    role: environment === "production" ? "own" : "lookup",
  });
  const tasks = PythonideService.securityGroup(stack, {
    serviceName: env.serviceName,
    vpcId: platform.vpcId,
    containerPort: env.containerPort,
    albSecurityGroupId: platform.albSecurityGroupId,
  });
  const adopting = environment === "production" && (config.production.mode ?? "adopt") === "adopt";
  const efs = new PythonideEfs(stack, "efs", {
    ...env.efs,
    name: `${config.project}-${environment}`,
    // The students' files: production's survive any plan (README "Protection"); staging's are disposable.
    preventDestroy: environment === "production",
    adopted: adopting,
    vpcId: platform.vpcId,
    subnetIds: platform.privateSubnetIds,
    clientSecurityGroupIds: [tasks.id],
  });
  return { platform, tasksSecurityGroupId: tasks.id, efs };
}

/** Where the tasks find their database: endpoint, database name and the secret with {"username", "password"}. */
interface DatabaseWiring {
  host: string;
  port: string;
  name: string;
  secretArn: string;
}

/**
 * A PostgreSQL the stack builds (staging's; production's in a new account) in the VPC the stack
 * uses, on its private subnets, the tasks its only 5432 clients.
 */
function ownDatabase(stack: TerraformStack, base: Foundation, settings: PythonideDatabaseSettings, preventDestroy?: boolean): PythonideDatabase {
  return new PythonideDatabase(stack, "database", {
    ...settings,
    vpcId: base.platform.vpcId,
    subnetIds: base.platform.privateSubnetIds,
    clientSecurityGroupIds: [base.tasksSecurityGroupId],
    preventDestroy,
  });
}

function ownDatabaseWiring(database: PythonideDatabase, name: string): DatabaseWiring {
  return { host: database.instance.address, port: Token.asString(database.instance.port), name, secretArn: database.secretArn };
}

function ownDatabaseOutputs(database: PythonideDatabase, environment: string): Record<string, { value: unknown; description: string }> {
  return {
    database_endpoint: { value: database.instance.address, description: `${environment} PostgreSQL host` },
    database_secret_arn: { value: database.secretArn, description: "RDS-managed secret ARN (not the secret itself)" },
  };
}

/**
 * Production's existing database: its endpoint is read by identifier (unless the config pins it)
 * and, with its security group given, the tasks are granted 5432 on it.
 */
function existingDatabase(stack: TerraformStack, base: Foundation, database: PythonideExistingDatabaseConfig, serviceName: string): DatabaseWiring {
  const pinned = database.address !== undefined && database.port !== undefined;
  const db = pinned
    ? { address: database.address!, port: database.port! }
    : at(new DataAwsDbInstance(stack, "database", { dbInstanceIdentifier: database.identifier }), "production");
  if (database.securityGroupId) {
    at(
      new VpcSecurityGroupIngressRule(stack, "database-from-tasks", {
        securityGroupId: database.securityGroupId,
        referencedSecurityGroupId: base.tasksSecurityGroupId,
        ipProtocol: "tcp",
        fromPort: 5432,
        toPort: 5432,
        description: `PostgreSQL from ${serviceName}`,
      }),
      "database_from_tasks",
    );
  }
  return { host: db.address, port: Token.asString(db.port), name: database.databaseName, secretArn: database.secretArn };
}

/** The service props both environments share; the database wiring differs. */
function serviceProps(config: PythonideConfig, environment: Environment, base: Foundation, database: DatabaseWiring): PythonideServiceProps {
  const env: PythonideProductionConfig | PythonideStagingConfig = config[environment];
  const { platform, efs } = base;
  return {
    ...env,
    region: config.region,
    clusterArn: platform.clusterArn,
    environment: {
      ...env.environment,
      ENVIRONMENT: environment,
      DATABASE_HOST: database.host,
      DATABASE_PORT: database.port,
      DATABASE_NAME: database.name,
    },
    // Only the secret's ARN (with the JSON key) is in the task definition; ECS injects the values.
    secrets: { DATABASE_USERNAME: `${database.secretArn}:username::`, DATABASE_PASSWORD: `${database.secretArn}:password::` },
    secretArns: [database.secretArn],
    efs: {
      fileSystemId: efs.fileSystem.id,
      fileSystemArn: efs.fileSystem.arn,
      accessPointId: efs.accessPoint.id,
      accessPointArn: efs.accessPoint.arn,
      containerPath: env.efs.containerPath,
    },
    vpcId: platform.vpcId,
    subnetIds: platform.taskSubnetIds,
    assignPublicIp: platform.assignPublicIp,
    securityGroupId: base.tasksSecurityGroupId,
    listenerArn: platform.httpsListenerArn,
  };
}

function outputs(stack: TerraformStack, values: Record<string, { value: unknown; description: string }>): void {
  for (const [name, props] of Object.entries(values)) new TerraformOutput(stack, name, props);
}

/** `pythonide-production`: the platform, the production service, autoscaling and monitoring. */
export class PythonideProductionStack extends TerraformStack {
  readonly platform: PythonidePlatform;
  readonly service: PythonideService;
  readonly autoscaling: PythonideAutoscaling;
  readonly monitoring: PythonideMonitoring;
  /** The database the stack built (production.database.mode "create"); undefined for an existing one. */
  readonly database?: PythonideDatabase;

  constructor(scope: Construct, readonly config: PythonideConfig) {
    super(scope, `${config.project}-production`);
    const prod = config.production;
    const base = foundation(this, config, "production");
    this.platform = base.platform;

    // An existing database (adopt, or a VPC it is in), or, in a new account, one the stack builds
    // in its VPC: production data, so backups, deletion protection, a final snapshot (config) and
    // prevent_destroy (always).
    let wiring: DatabaseWiring;
    if (prod.database.mode === "create") {
      const { mode: _mode, ...settings } = prod.database;
      this.database = ownDatabase(this, base, settings, true);
      wiring = ownDatabaseWiring(this.database, settings.databaseName);
    } else {
      wiring = existingDatabase(this, base, prod.database, prod.serviceName);
    }
    this.service = new PythonideService(this, "service", serviceProps(config, "production", base, wiring));

    this.autoscaling = new PythonideAutoscaling(this, "autoscaling", {
      ...prod.autoscaling,
      clusterName: config.cluster.name,
      serviceName: prod.serviceName,
      service: this.service.service,
    });

    this.monitoring = new PythonideMonitoring(this, "monitoring", {
      ...prod.monitoring,
      region: config.region,
      alarmPrefix: config.project,
      clusterName: config.cluster.name,
      serviceName: prod.serviceName,
      albArnSuffix: this.platform.albArnSuffix,
      targetGroupArnSuffix: this.service.targetGroup.arnSuffix,
      dbInstanceIdentifier: prod.database.identifier,
      efsFileSystemId: base.efs.fileSystem.id,
    });

    outputs(this, {
      url: { value: `https://${prod.hostname}`, description: "Production URL" },
      cluster_name: { value: config.cluster.name, description: "ECS cluster" },
      service_name: { value: prod.serviceName, description: "ECS service (aws ecs update-service --service ...)" },
      task_definition_arn: { value: this.service.taskDefinition.arn, description: "Task definition revision this deploy runs" },
      efs_file_system_id: { value: base.efs.fileSystem.id, description: "EFS with the students' files" },
      alarm_topic_arn: { value: this.monitoring.topic.arn, description: "SNS topic of the alarms" },
      dashboard_url: {
        value: `https://${config.region}.console.aws.amazon.com/cloudwatch/home?region=${config.region}#dashboards:name=${prod.monitoring.dashboardName}`,
        description: "CloudWatch dashboard",
      },
      ...(this.database ? ownDatabaseOutputs(this.database, "Production") : {}),
    });
    if ((prod.mode ?? "adopt") === "adopt") this.addOverride("import", adoptionImports(config));
    applyGuardrails(this);
  }
}

export interface ImportBlock {
  to: string;
  id: string;
}

/**
 * The `import` blocks that adopt the running production system: on the first deploy Terraform
 * reads each into state at its address, and then plans only the differences (a new task
 * definition revision, the service updated in place). Terraform ignores an import whose address
 * is already in state, so later deploys are unaffected. Written as a raw override: cdktf's
 * importFrom() would make synth need the terraform binary.
 */
export function adoptionImports(config: PythonideConfig): ImportBlock[] {
  const prod = config.production;
  const a = prod.adopt!;
  return [
    { to: "aws_ecs_cluster.pythonide", id: config.cluster.name },
    { to: "aws_ecs_service.service", id: `${config.cluster.name}/${prod.serviceName}` },
    { to: "aws_ecs_task_definition.service", id: a.taskDefinitionArn },
    { to: "aws_lb_target_group.service", id: a.targetGroupArn },
    { to: "aws_lb_listener_rule.service", id: a.listenerRuleArn },
    { to: "aws_efs_file_system.main", id: a.efs.fileSystemId },
    ...a.efs.mountTargetIds.map((id, i) => ({ to: `aws_efs_mount_target.main[${i}]`, id })),
    ...(a.efs.accessPointId ? [{ to: "aws_efs_access_point.main", id: a.efs.accessPointId }] : []),
    ...(a.logGroupExists ? [{ to: "aws_cloudwatch_log_group.service", id: `/ecs/${prod.serviceName}` }] : []),
  ];
}

/** `pythonide-staging`: the on-demand staging service (desired 0 by default) and its own database. */
export class PythonideStagingStack extends TerraformStack {
  readonly service: PythonideService;
  readonly database: PythonideDatabase;

  constructor(scope: Construct, readonly config: PythonideConfig) {
    super(scope, `${config.project}-staging`);
    const staging = config.staging;
    const base = foundation(this, config, "staging");
    this.database = ownDatabase(this, base, staging.database);
    this.service = new PythonideService(this, "service", serviceProps(config, "staging", base, ownDatabaseWiring(this.database, staging.database.databaseName)));
    outputs(this, {
      url: { value: `https://${staging.hostname}`, description: "Staging URL (while started)" },
      service_name: { value: staging.serviceName, description: "ECS service (start/stop with --desired-count 1|0)" },
      ...ownDatabaseOutputs(this.database, "Staging"),
    });
    applyGuardrails(this);
  }
}
