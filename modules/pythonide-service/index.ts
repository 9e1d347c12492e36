import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { EcsService } from "@cdktf/provider-aws/lib/ecs-service";
import { EcsTaskDefinition } from "@cdktf/provider-aws/lib/ecs-task-definition";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { LbListenerRule } from "@cdktf/provider-aws/lib/lb-listener-rule";
import { LbTargetGroup } from "@cdktf/provider-aws/lib/lb-target-group";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Construct } from "constructs";
import { at, nameTag } from "../address";
import { z } from "zod";
import { accepting, across, integer, matching, missing, oneOf, section, settingsOf } from "../settings";
import { allEgress, ingress } from "../rules";

/** Where the students' file system is mounted in the container (an environment's `efs.containerPath`). */
export const CONTAINER_PATH = matching(/^\/[\w./-]*$/, "an absolute path such as /home/students");

/** A lowercase DNS name such as pythonide-classroom.tech. */
export const DNS_NAME = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/**
 * Valid Fargate (Linux) task sizes: CPU units -> allowed memory in MiB
 * (docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size).
 */
export const FARGATE_MEMORY_MIB: Readonly<Record<number, readonly number[]>> = {
  256: [512, 1024, 2048],
  512: steps(1024, 4096, 1024),
  1024: steps(2048, 8192, 1024),
  2048: steps(4096, 16384, 1024),
  4096: steps(8192, 30720, 1024),
  8192: steps(16384, 61440, 4096),
  16384: steps(32768, 122880, 8192),
};

function steps(from: number, to: number, step: number): number[] {
  return Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
}

/** The memory sizes a CPU size allows, as people read them: "2048-8192 MiB in 1024 MiB steps". */
export function describeFargateMemory(cpu: number): string {
  const sizes = FARGATE_MEMORY_MIB[cpu];
  if (sizes.length <= 3) return `${sizes.join(", ")} MiB`;
  return `${sizes[0]}-${sizes[sizes.length - 1]} MiB in ${sizes[1] - sizes[0]} MiB steps`;
}

const FARGATE_CPUS = Object.keys(FARGATE_MEMORY_MIB).map(Number);

/** A task size: the memory is checked against the CPU (a pair Fargate offers). */
const fargateShape = {
  /** Fargate CPU units (1024 = 1 vCPU). */
  cpu: oneOf(FARGATE_CPUS),
  /** Fargate memory in MiB; must be a valid pair with cpu. */
  memoryMiB: accepting<number>(() => true, () => ""),
};
const fargatePair = across<{ cpu?: unknown; memoryMiB?: unknown }>("memoryMiB", ({ cpu, memoryMiB }) => {
  if (!FARGATE_CPUS.includes(cpu as number)) return undefined; // the cpu's own problem says it
  const allowed = describeFargateMemory(cpu as number);
  if (missing(memoryMiB)) return `is required (allowed: ${allowed})`;
  if (!FARGATE_MEMORY_MIB[cpu as number].includes(memoryMiB as number)) return `${JSON.stringify(memoryMiB)} is not a Fargate size for ${cpu} CPU (allowed: ${allowed})`;
  return undefined;
});

/** A Fargate task size alone. */
export const FargateSize = section(fargateShape).refine(...fargatePair);

/** Plain environment variables: never secrets (they are visible in the task definition). */
export const TaskEnvironment = z.record(z.string(), z.string()).superRefine((environment, ctx) => {
  for (const name of Object.keys(environment)) {
    if (/PASSWORD|SECRET|TOKEN/i.test(name)) {
      ctx.addIssue({ code: "custom", path: [name], message: "looks like a secret: plain environment values are visible in the task definition (allowed: a Secrets Manager secret)" });
    }
  }
});

/** One ECS service: task size, image, port, health check, host name. An environment's `production`/`staging` section. */
export const PythonideServiceSettings = section({
  /** ECS service name (`aws ecs update-service --service NAME`); also the prefix of its roles, log group and target group. */
  serviceName: matching(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,28}$/, "letters, digits, dashes, at most 29 chars (the target group adds -tg)"),
  /** Task definition family; each deploy registers a new revision and keeps the previous ones. */
  family: matching(/^[a-zA-Z0-9_-]{1,255}$/, "letters, digits, dashes and underscores"),
  /** Container image (tag or digest). */
  image: matching(/^[a-z0-9][^\s]*(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$/, "an image with an explicit tag or digest, e.g. repo/pythonide:1.4.2"),
  /** The port the container listens on (the ALB's target). */
  containerPort: integer(1, 65535),
  /** ALB health check path. @default "/health" */
  healthCheckPath: matching(/^\/[\x21-\x7e]{0,1023}$/, "a path starting with /, e.g. /health").default("/health"),
  /** Host name the ALB routes to this service (a host-header listener rule). */
  hostname: matching(DNS_NAME, "a lowercase DNS name"),
  /** Listener rule priority (lower wins; staging's must be below production's). */
  listenerRulePriority: integer(1, 50000),
  ...fargateShape,
  /**
   * Tasks at creation. Terraform ignores desired_count afterwards (lifecycle.ignore_changes), so a
   * deploy never resets what the autoscaler (production) or `aws ecs update-service --desired-count` set.
   */
  desiredCount: integer(0, 100),
  /** Days the task logs are kept. @default 30 */
  logRetentionDays: integer(1, 3653).default(30),
  /** Plain environment variables (never secrets). @default {} */
  environment: TaskEnvironment.default({}),
}).refine(...fargatePair);

export type PythonideServiceSettings = z.input<typeof PythonideServiceSettings>;

/** The container's name in every task definition (the service's load_balancer block names it). */
export const CONTAINER_NAME = "pythonide";
const VOLUME_NAME = "students";

export interface PythonideServiceProps extends PythonideServiceSettings {
  readonly region: string;
  readonly clusterArn: string;
  /**
   * Secrets injected by ECS at start: variable name -> `valueFrom` (a Secrets Manager ARN,
   * optionally `ARN:json-key::`). The task definition holds only ARNs. @default {}
   */
  readonly secrets?: Record<string, string>;
  /** Secret ARNs the execution role may read (those referenced by `secrets`). @default [] */
  readonly secretArns?: string[];
  /** The students' files, mounted at `containerPath` with transit encryption and IAM authorization. */
  readonly efs: { fileSystemId: string; fileSystemArn: string; accessPointId: string; accessPointArn: string; containerPath: string };
  readonly vpcId: string;
  readonly subnetIds: string[];
  readonly assignPublicIp: boolean;
  /** The tasks' security group (see PythonideService.securityGroup). */
  readonly securityGroupId: string;
  /** The ALB's HTTPS listener the service's host-header rule goes on. */
  readonly listenerArn: string;
}

const MOUNT = section({ containerPath: CONTAINER_PATH });

/**
 * One PythonIDE ECS Fargate service behind the shared ALB: task definition (previous revisions
 * kept for rollback: skip_destroy), execution and task roles, log group, target group with
 * health check, host-header listener rule, and the service with a deployment circuit breaker.
 *
 * Addresses: aws_cloudwatch_log_group.service, aws_iam_role.{execution,task},
 * aws_iam_role_policy_attachment.execution, aws_iam_role_policy.{execution_secrets,task_efs},
 * aws_ecs_task_definition.service, aws_lb_target_group.service, aws_lb_listener_rule.service,
 * aws_ecs_service.service.
 */
export class PythonideService extends Construct {
  /**
   * The tasks' security group, created before the service so that EFS and the database can
   * name it as their only client: the container port from the ALB only. Address aws_security_group.tasks.
   */
  static securityGroup(scope: Construct, props: { serviceName: string; vpcId: string; containerPort: number; albSecurityGroupId: string }): SecurityGroup {
    return at(
      new SecurityGroup(scope, "tasks-sg", {
        name: `${props.serviceName}-tasks`,
        description: `${props.serviceName} tasks: the container port from the ALB only`,
        vpcId: props.vpcId,
        ingress: [ingress("tcp", props.containerPort, { securityGroupIds: [props.albSecurityGroupId] }, "ALB to the IDE")],
        egress: [allEgress],
        tags: nameTag(`${props.serviceName}-tasks`),
      }),
      "tasks",
    );
  }

  readonly service: EcsService;
  readonly taskDefinition: EcsTaskDefinition;
  readonly targetGroup: LbTargetGroup;

  constructor(scope: Construct, id: string, props: PythonideServiceProps) {
    super(scope, id);
    const settings = settingsOf(this.node.path, PythonideServiceSettings, props);
    settingsOf(`${this.node.path}.efs`, MOUNT, props.efs);
    const name = settings.serviceName;
    const logs = at(
      new CloudwatchLogGroup(this, "logs", { name: `/ecs/${name}`, retentionInDays: settings.logRetentionDays, tags: nameTag(name) }),
      "service",
    );

    const execution = this.role("execution", `${name}-execution`, "ECS pulls the image, writes logs and reads the task's secrets");
    at(
      new IamRolePolicyAttachment(this, "execution-managed", {
        role: execution.name,
        policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
      }),
      "execution",
    );
    const secretArns = props.secretArns ?? [];
    if (secretArns.length > 0) {
      at(
        new IamRolePolicy(this, "execution-secrets", {
          name: "read-task-secrets",
          role: execution.id,
          policy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Sid: "ReadTaskSecrets", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secretArns }],
          }),
        }),
        "execution_secrets",
      );
    }
    const task = this.role("task", `${name}-task`, "The IDE container: mounts its EFS access point");
    at(
      new IamRolePolicy(this, "task-efs", {
        name: "mount-students-efs",
        role: task.id,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "MountThroughTheAccessPoint",
              Effect: "Allow",
              Action: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
              Resource: props.efs.fileSystemArn,
              Condition: { StringEquals: { "elasticfilesystem:AccessPointArn": props.efs.accessPointArn } },
            },
          ],
        }),
      }),
      "task_efs",
    );

    const byName = (record: Record<string, string>, key: "value" | "valueFrom") =>
      Object.keys(record)
        .sort()
        .map((n) => ({ name: n, [key]: record[n] }));
    this.taskDefinition = at(
      new EcsTaskDefinition(this, "task-definition", {
        family: settings.family,
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: String(settings.cpu),
        memory: String(settings.memoryMiB),
        runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
        executionRoleArn: execution.arn,
        taskRoleArn: task.arn,
        // Rollback: a new revision never deregisters the previous one, which stays deployable.
        skipDestroy: true,
        volume: [
          {
            name: VOLUME_NAME,
            efsVolumeConfiguration: {
              fileSystemId: props.efs.fileSystemId,
              transitEncryption: "ENABLED",
              authorizationConfig: { accessPointId: props.efs.accessPointId, iam: "ENABLED" },
            },
          },
        ],
        containerDefinitions: JSON.stringify([
          {
            name: CONTAINER_NAME,
            image: settings.image,
            essential: true,
            portMappings: [{ containerPort: settings.containerPort, protocol: "tcp" }],
            environment: byName(settings.environment, "value"),
            secrets: byName(props.secrets ?? {}, "valueFrom"),
            mountPoints: [{ sourceVolume: VOLUME_NAME, containerPath: props.efs.containerPath, readOnly: false }],
            logConfiguration: {
              logDriver: "awslogs",
              options: { "awslogs-group": logs.name, "awslogs-region": props.region, "awslogs-stream-prefix": CONTAINER_NAME },
            },
          },
        ]),
        tags: nameTag(settings.family),
      }),
      "service",
    );

    this.targetGroup = at(
      new LbTargetGroup(this, "target-group", {
        name: `${name}-tg`,
        port: settings.containerPort,
        protocol: "HTTP",
        targetType: "ip",
        vpcId: props.vpcId,
        deregistrationDelay: "30",
        healthCheck: {
          enabled: true,
          path: settings.healthCheckPath,
          matcher: "200",
          interval: 30,
          timeout: 5,
          healthyThreshold: 2,
          unhealthyThreshold: 3,
        },
        // An IDE session holds state in its task: keep a student on the same task.
        stickiness: { type: "lb_cookie", enabled: true, cookieDuration: 28800 },
        tags: nameTag(`${name}-tg`),
      }),
      "service",
    );
    const rule = at(
      new LbListenerRule(this, "listener-rule", {
        listenerArn: props.listenerArn,
        priority: settings.listenerRulePriority,
        condition: [{ hostHeader: { values: [settings.hostname] } }],
        action: [{ type: "forward", targetGroupArn: this.targetGroup.arn }],
        tags: nameTag(settings.hostname),
      }),
      "service",
    );

    this.service = at(
      new EcsService(this, "service", {
        name,
        cluster: props.clusterArn,
        taskDefinition: this.taskDefinition.arn,
        desiredCount: settings.desiredCount,
        launchType: "FARGATE",
        platformVersion: "LATEST",
        networkConfiguration: { subnets: props.subnetIds, securityGroups: [props.securityGroupId], assignPublicIp: props.assignPublicIp },
        loadBalancer: [{ targetGroupArn: this.targetGroup.arn, containerName: CONTAINER_NAME, containerPort: settings.containerPort }],
        healthCheckGracePeriodSeconds: 60,
        deploymentMinimumHealthyPercent: 100,
        deploymentMaximumPercent: 200,
        // A revision that never gets healthy is rolled back by ECS itself.
        deploymentCircuitBreaker: { enable: true, rollback: true },
        enableEcsManagedTags: true,
        propagateTags: "SERVICE",
        // The autoscaler (production) and the start/stop one-liner (staging) own the task count.
        lifecycle: { ignoreChanges: ["desired_count"] },
        dependsOn: [rule],
        tags: nameTag(name),
      }),
      "service",
    );
  }

  private role(id: "execution" | "task", name: string, description: string): IamRole {
    return at(
      new IamRole(this, `${id}-role`, {
        name,
        description,
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        tags: nameTag(name),
      }),
      id,
    );
  }
}
