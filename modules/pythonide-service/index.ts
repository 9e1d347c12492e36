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
import { matching } from "../settings";
import { allEgress, ingress } from "../rules";

/** Where the students' file system is mounted in the container (an environment's `efs.containerPath`). */
export const CONTAINER_PATH = matching(/^\/[\w./-]*$/, "an absolute path such as /home/students");

/** The container's name in every task definition (the service's load_balancer block names it). */
export const CONTAINER_NAME = "pythonide";
const VOLUME_NAME = "students";

export interface PythonideServiceProps {
  /** ECS service name; also the prefix of its roles, log group and target group. */
  readonly serviceName: string;
  /** Task definition family. */
  readonly family: string;
  readonly region: string;
  readonly clusterArn: string;
  readonly image: string;
  readonly containerPort: number;
  /** ALB health check path. @default "/health" */
  readonly healthCheckPath?: string;
  /** Fargate CPU units; validated with memoryMiB at synth (stacks/pythonide-config.ts). */
  readonly cpu: number;
  readonly memoryMiB: number;
  /**
   * Tasks when the service is created. Terraform ignores desired_count afterwards
   * (lifecycle.ignore_changes), so a deploy never resets what the autoscaler or the
   * `aws ecs update-service --desired-count` one-liner set.
   */
  readonly desiredCount: number;
  /** Plain environment variables (never secrets). @default {} */
  readonly environment?: Record<string, string>;
  /**
   * Secrets injected by ECS at start: variable name -> `valueFrom` (a Secrets Manager ARN,
   * optionally `ARN:json-key::`). The task definition holds only ARNs. @default {}
   */
  readonly secrets?: Record<string, string>;
  /** Secret ARNs the execution role may read (those referenced by `secrets`). @default [] */
  readonly secretArns?: string[];
  /** The students' files, mounted with transit encryption and IAM authorization. */
  readonly efs: { fileSystemId: string; fileSystemArn: string; accessPointId: string; accessPointArn: string; containerPath: string };
  readonly vpcId: string;
  readonly subnetIds: string[];
  readonly assignPublicIp: boolean;
  /** The tasks' security group (see PythonideService.securityGroup). */
  readonly securityGroupId: string;
  /** The ALB's HTTPS listener and the host-header rule this service gets on it. */
  readonly listener: { arn: string; hostname: string; priority: number };
  /** @default 30 */
  readonly logRetentionDays?: number;
}

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
    const name = props.serviceName;
    const logs = at(
      new CloudwatchLogGroup(this, "logs", { name: `/ecs/${name}`, retentionInDays: props.logRetentionDays ?? 30, tags: nameTag(name) }),
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
        family: props.family,
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: String(props.cpu),
        memory: String(props.memoryMiB),
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
            image: props.image,
            essential: true,
            portMappings: [{ containerPort: props.containerPort, protocol: "tcp" }],
            environment: byName(props.environment ?? {}, "value"),
            secrets: byName(props.secrets ?? {}, "valueFrom"),
            mountPoints: [{ sourceVolume: VOLUME_NAME, containerPath: props.efs.containerPath, readOnly: false }],
            logConfiguration: {
              logDriver: "awslogs",
              options: { "awslogs-group": logs.name, "awslogs-region": props.region, "awslogs-stream-prefix": CONTAINER_NAME },
            },
          },
        ]),
        tags: nameTag(props.family),
      }),
      "service",
    );

    this.targetGroup = at(
      new LbTargetGroup(this, "target-group", {
        name: `${name}-tg`,
        port: props.containerPort,
        protocol: "HTTP",
        targetType: "ip",
        vpcId: props.vpcId,
        deregistrationDelay: "30",
        healthCheck: {
          enabled: true,
          path: props.healthCheckPath ?? "/health",
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
        listenerArn: props.listener.arn,
        priority: props.listener.priority,
        condition: [{ hostHeader: { values: [props.listener.hostname] } }],
        action: [{ type: "forward", targetGroupArn: this.targetGroup.arn }],
        tags: nameTag(props.listener.hostname),
      }),
      "service",
    );

    this.service = at(
      new EcsService(this, "service", {
        name,
        cluster: props.clusterArn,
        taskDefinition: this.taskDefinition.arn,
        desiredCount: props.desiredCount,
        launchType: "FARGATE",
        platformVersion: "LATEST",
        networkConfiguration: { subnets: props.subnetIds, securityGroups: [props.securityGroupId], assignPublicIp: props.assignPublicIp },
        loadBalancer: [{ targetGroupArn: this.targetGroup.arn, containerName: CONTAINER_NAME, containerPort: props.containerPort }],
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
