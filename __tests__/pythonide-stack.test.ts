import { Testing } from "cdktf";
import { PythonideConfig } from "../stacks/pythonide-config";
import { pythonideNewAccount as pythonide } from "../stacks/pythonide-environments";
import { addPythonideStacks } from "../stacks/pythonide-stack";

type Block = Record<string, any>;
interface Synthesized {
  resource: Record<string, Record<string, Block>>;
  data?: Record<string, Record<string, Block>>;
  output: Record<string, Block>;
  provider: Record<string, Block[]>;
  terraform: Block;
}

function synthAll(config: PythonideConfig = pythonide): { production: Synthesized; staging: Synthesized; raw: { production: string; staging: string } } {
  const [production, staging] = addPythonideStacks(Testing.app(), config);
  // runValidations: the guardrails (stable addresses, no world-open DB ports, encrypted private RDS) must pass.
  const raw = { production: Testing.synth(production, true), staging: Testing.synth(staging, true) };
  return { production: JSON.parse(raw.production), staging: JSON.parse(raw.staging), raw };
}

const { production, staging, raw } = synthAll();
const containers = (stack: Synthesized) => JSON.parse(stack.resource.aws_ecs_task_definition.service.container_definitions);
const dashboard = () => JSON.parse(production.resource.aws_cloudwatch_dashboard.production.dashboard_body);

describe("pythonide-production", () => {
  it("runs family pythonide-task at 1 vCPU / 2 GB, desired 1, on Fargate in pythonide-cluster", () => {
    expect(production.resource.aws_ecs_task_definition.service).toMatchObject({
      family: "pythonide-task",
      cpu: "1024",
      memory: "2048",
      requires_compatibilities: ["FARGATE"],
      network_mode: "awsvpc",
    });
    expect(production.resource.aws_ecs_cluster.pythonide).toMatchObject({
      name: "pythonide-cluster",
      setting: [{ name: "containerInsights", value: "enabled" }],
    });
    expect(production.resource.aws_ecs_service.service).toMatchObject({
      name: "pythonide-service",
      cluster: "${aws_ecs_cluster.pythonide.arn}",
      desired_count: 1,
      launch_type: "FARGATE",
      task_definition: "${aws_ecs_task_definition.service.arn}",
      deployment_circuit_breaker: { enable: true, rollback: true },
    });
    expect(production.provider.aws[0].region).toBe("us-east-2");
  });

  it("never fights the autoscaler: Terraform ignores desired_count", () => {
    expect(production.resource.aws_ecs_service.service.lifecycle).toEqual({ ignore_changes: ["desired_count"] });
  });

  it("keeps every task definition revision deployable for rollback", () => {
    expect(production.resource.aws_ecs_task_definition.service.skip_destroy).toBe(true);
  });

  it("tracks 60 % average CPU between 1 and 4 tasks", () => {
    expect(production.resource.aws_appautoscaling_target.service).toMatchObject({
      service_namespace: "ecs",
      resource_id: "service/pythonide-cluster/pythonide-service",
      scalable_dimension: "ecs:service:DesiredCount",
      min_capacity: 1,
      max_capacity: 4,
      depends_on: ["aws_ecs_service.service"],
    });
    expect(production.resource.aws_appautoscaling_policy.cpu_target).toMatchObject({
      policy_type: "TargetTrackingScaling",
      target_tracking_scaling_policy_configuration: {
        target_value: 60,
        predefined_metric_specification: { predefined_metric_type: "ECSServiceAverageCPUUtilization" },
      },
    });
  });

  it.each([
    ["cpu_above_60_2m", "GreaterThanThreshold", 60, 2, { metric_interval_lower_bound: "0", scaling_adjustment: 1 }],
    ["cpu_above_80_1m", "GreaterThanThreshold", 80, 1, { metric_interval_lower_bound: "0", scaling_adjustment: 2 }],
    ["cpu_below_30_5m", "LessThanThreshold", 30, 5, { metric_interval_upper_bound: "0", scaling_adjustment: -1 }],
  ])("step rule %s: %s %i %% for %i min", (address, comparison, threshold, minutes, step) => {
    const alarm = production.resource.aws_cloudwatch_metric_alarm[address];
    expect(alarm).toMatchObject({
      namespace: "AWS/ECS",
      metric_name: "CPUUtilization",
      dimensions: { ClusterName: "pythonide-cluster", ServiceName: "pythonide-service" },
      statistic: "Average",
      period: 60,
      evaluation_periods: minutes,
      threshold,
      comparison_operator: comparison,
      alarm_actions: [`\${aws_appautoscaling_policy.${address}.arn}`],
    });
    expect(production.resource.aws_appautoscaling_policy[address]).toMatchObject({
      policy_type: "StepScaling",
      step_scaling_policy_configuration: { adjustment_type: "ChangeInCapacity", step_adjustment: [step] },
    });
  });

  it("alarms pythonide-high-cpu (> 80 % over 300 s) and response time (> 500 ms) to the SNS topic", () => {
    const alarms = production.resource.aws_cloudwatch_metric_alarm;
    const topic = ["${aws_sns_topic.alarms.arn}"];
    expect(alarms.high_cpu).toMatchObject({
      alarm_name: "pythonide-high-cpu",
      namespace: "AWS/ECS",
      metric_name: "CPUUtilization",
      statistic: "Average",
      period: 300,
      evaluation_periods: 1,
      threshold: 80,
      comparison_operator: "GreaterThanThreshold",
      alarm_actions: topic,
      ok_actions: topic,
    });
    expect(alarms.high_response_time).toMatchObject({
      alarm_name: "pythonide-high-response-time",
      namespace: "AWS/ApplicationELB",
      metric_name: "TargetResponseTime",
      dimensions: { LoadBalancer: "${aws_lb.pythonide.arn_suffix}", TargetGroup: "${aws_lb_target_group.service.arn_suffix}" },
      threshold: 0.5,
      comparison_operator: "GreaterThanThreshold",
      alarm_actions: topic,
    });
    expect(production.resource.aws_sns_topic.alarms.name).toBe("pythonide-alarms");
    expect(production.resource.aws_sns_topic_subscription.email_0).toMatchObject({ protocol: "email", topic_arn: "${aws_sns_topic.alarms.arn}" });
  });

  it("has the dashboard PythonIDE-Production with every widget the plan lists", () => {
    expect(production.resource.aws_cloudwatch_dashboard.production.dashboard_name).toBe("PythonIDE-Production");
    const metrics = dashboard().widgets.map((w: Block) => [w.properties.title, w.properties.metrics.map((m: string[]) => `${m[0]} ${m[1]}`)]);
    expect(metrics).toEqual([
      ["Service CPU and memory (%)", ["AWS/ECS CPUUtilization", "AWS/ECS MemoryUtilization"]],
      ["Tasks", ["ECS/ContainerInsights RunningTaskCount", "ECS/ContainerInsights DesiredTaskCount"]],
      ["ALB requests", ["AWS/ApplicationELB RequestCount"]],
      ["Target response time (s)", ["AWS/ApplicationELB TargetResponseTime", "AWS/ApplicationELB TargetResponseTime"]],
      ["5xx", ["AWS/ApplicationELB HTTPCode_Target_5XX_Count", "AWS/ApplicationELB HTTPCode_ELB_5XX_Count"]],
      ["RDS CPU (%) and connections", ["AWS/RDS CPUUtilization", "AWS/RDS DatabaseConnections"]],
      ["EFS throughput (bytes/min)", ["AWS/EFS TotalIOBytes", "AWS/EFS MeteredIOBytes"]],
      ["EFS throughput limit used (%)", ["AWS/EFS PercentIOLimit"]],
    ]);
    expect(dashboard().widgets[5].properties.metrics[0]).toEqual(["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "pythonide-db", { stat: "Average", label: "CPU" }]);
  });

  it("mounts EFS with provisioned throughput and transit encryption", () => {
    expect(production.resource.aws_efs_file_system.main).toMatchObject({
      encrypted: true,
      throughput_mode: "provisioned",
      provisioned_throughput_in_mibps: 5,
    });
    expect(production.resource.aws_ecs_task_definition.service.volume).toEqual([
      {
        name: "students",
        efs_volume_configuration: {
          file_system_id: "${aws_efs_file_system.main.id}",
          transit_encryption: "ENABLED",
          authorization_config: { access_point_id: "${aws_efs_access_point.main.id}", iam: "ENABLED" },
        },
      },
    ]);
    expect(containers(production)[0].mountPoints).toEqual([{ sourceVolume: "students", containerPath: "/home/students", readOnly: false }]);
    expect(production.resource.aws_efs_mount_target.main.count).toBe("${length([aws_subnet.private_a.id, aws_subnet.private_b.id])}");
  });

  it("routes pythonide-classroom.tech over HTTPS to the /health-checked target group", () => {
    expect(production.resource.aws_lb_listener_rule.service).toMatchObject({
      listener_arn: "${aws_lb_listener.https.arn}",
      priority: 100,
      condition: [{ host_header: { values: ["pythonide-classroom.tech"] } }],
    });
    expect(production.resource.aws_lb_target_group.service).toMatchObject({ target_type: "ip", port: 8000, health_check: { path: "/health", matcher: "200" } });
    expect(production.resource.aws_lb_listener.https).toMatchObject({ port: 443, protocol: "HTTPS", certificate_arn: "${aws_acm_certificate_validation.pythonide.certificate_arn}" });
    expect(production.resource.aws_lb_listener.http.default_action[0].redirect).toMatchObject({ protocol: "HTTPS", status_code: "HTTP_301" });
  });

  it("builds its own PostgreSQL in the VPC it creates: private subnets, the tasks its only 5432 client", () => {
    expect(production.data?.aws_db_instance).toBeUndefined();
    expect(production.resource.aws_vpc_security_group_ingress_rule).toBeUndefined();
    expect(production.resource.aws_db_subnet_group.main.subnet_ids).toEqual(["${aws_subnet.private_a.id}", "${aws_subnet.private_b.id}"]);
    expect(production.resource.aws_security_group.rds).toMatchObject({ name: "pythonide-db-rds", vpc_id: "${aws_vpc.pythonide.id}" });
    expect(production.resource.aws_security_group.rds.ingress).toEqual([
      expect.objectContaining({ from_port: 5432, to_port: 5432, protocol: "tcp", security_groups: ["${aws_security_group.tasks.id}"], cidr_blocks: [] }),
    ]);
    expect(production.resource.aws_db_instance.main).toMatchObject({
      identifier: "pythonide-db",
      instance_class: "db.t4g.small",
      engine: "postgres",
      engine_version: "16",
      db_subnet_group_name: "${aws_db_subnet_group.main.name}",
      vpc_security_group_ids: ["${aws_security_group.rds.id}"],
      publicly_accessible: false,
      manage_master_user_password: true,
    });
    expect(production.resource.aws_db_instance.main.password).toBeUndefined();
  });

  it("keeps production data: 7-day backups, deletion protection, a final snapshot, encrypted storage, prevent_destroy", () => {
    expect(production.resource.aws_db_instance.main).toMatchObject({
      backup_retention_period: 7,
      deletion_protection: true,
      skip_final_snapshot: false,
      final_snapshot_identifier: "pythonide-db-final",
      copy_tags_to_snapshot: true,
      storage_encrypted: true,
      lifecycle: { prevent_destroy: true },
    });
  });

  it("wires the tasks to it: endpoint from the instance, the RDS-managed secret by ARN only", () => {
    const [container] = containers(production);
    const secretArn = "${aws_db_instance.main.master_user_secret[0].secret_arn}";
    expect(container.environment).toEqual(
      expect.arrayContaining([
        { name: "ENVIRONMENT", value: "production" },
        { name: "DATABASE_HOST", value: "${aws_db_instance.main.address}" },
        { name: "DATABASE_PORT", value: "${aws_db_instance.main.port}" },
        { name: "DATABASE_NAME", value: "pythonide" },
      ]),
    );
    expect(container.secrets).toEqual([
      { name: "DATABASE_PASSWORD", valueFrom: `${secretArn}:password::` },
      { name: "DATABASE_USERNAME", valueFrom: `${secretArn}:username::` },
    ]);
    expect(JSON.parse(production.resource.aws_iam_role_policy.execution_secrets.policy).Statement[0].Resource).toEqual([secretArn]);
    expect(production.output.database_endpoint.value).toBe("${aws_db_instance.main.address}");
    expect(production.output.database_secret_arn.value).toBe(secretArn);
  });
});

describe("pythonide-staging", () => {
  it("runs family pythonide-staging-task at 0.5 vCPU / 1 GB, stopped (desired 0), ENVIRONMENT=staging", () => {
    expect(staging.resource.aws_ecs_task_definition.service).toMatchObject({ family: "pythonide-staging-task", cpu: "512", memory: "1024", skip_destroy: true });
    expect(staging.resource.aws_ecs_service.service).toMatchObject({ name: "pythonide-staging", desired_count: 0, cluster: "${data.aws_ecs_cluster.pythonide.arn}" });
    expect(containers(staging)[0].environment).toContainEqual({ name: "ENVIRONMENT", value: "staging" });
  });

  it("lets the start/stop one-liner own the task count: Terraform ignores desired_count", () => {
    expect(staging.resource.aws_ecs_service.service.lifecycle).toEqual({ ignore_changes: ["desired_count"] });
    expect(staging.resource.aws_appautoscaling_target).toBeUndefined();
  });

  it("routes staging.pythonide-classroom.tech to its own target group and health check, ahead of production", () => {
    expect(staging.resource.aws_lb_listener_rule.service).toMatchObject({
      listener_arn: "${data.aws_lb_listener.https.arn}",
      priority: 10,
      condition: [{ host_header: { values: ["staging.pythonide-classroom.tech"] } }],
      action: [{ type: "forward", target_group_arn: "${aws_lb_target_group.service.arn}" }],
    });
    expect(staging.resource.aws_lb_target_group.service).toMatchObject({ name: "pythonide-staging-tg", health_check: { path: "/health" } });
  });

  it("has its own PostgreSQL: db.t4g.micro, 20 GB, no backups, private, encrypted, password managed by RDS", () => {
    const db = staging.resource.aws_db_instance.main;
    expect(db).toMatchObject({
      identifier: "pythonide-staging",
      engine: "postgres",
      instance_class: "db.t4g.micro",
      allocated_storage: 20,
      backup_retention_period: 0,
      publicly_accessible: false,
      storage_encrypted: true,
      manage_master_user_password: true,
      multi_az: false,
    });
    expect(db.password).toBeUndefined();
    expect(staging.resource.aws_security_group.rds.ingress).toEqual([
      expect.objectContaining({ from_port: 5432, to_port: 5432, security_groups: ["${aws_security_group.tasks.id}"], cidr_blocks: [] }),
    ]);
  });

  it("hands the task the RDS-managed secret by ARN (valueFrom), never a password", () => {
    const [container] = containers(staging);
    expect(container.secrets).toEqual([
      { name: "DATABASE_PASSWORD", valueFrom: "${aws_db_instance.main.master_user_secret[0].secret_arn}:password::" },
      { name: "DATABASE_USERNAME", valueFrom: "${aws_db_instance.main.master_user_secret[0].secret_arn}:username::" },
    ]);
    expect(JSON.parse(staging.resource.aws_iam_role_policy.execution_secrets.policy).Statement[0]).toMatchObject({
      Action: "secretsmanager:GetSecretValue",
      Resource: ["${aws_db_instance.main.master_user_secret[0].secret_arn}"],
    });
  });

  it("finds the platform pythonide-production created by name, sharing no state with it", () => {
    expect(staging.data).toMatchObject({
      aws_vpc: { pythonide: { filter: [{ name: "tag:Name", values: ["pythonide"] }] } },
      aws_lb: { pythonide: { name: "pythonide" } },
      aws_lb_listener: { https: { load_balancer_arn: "${data.aws_lb.pythonide.arn}", port: 443 } },
      aws_ecs_cluster: { pythonide: { cluster_name: "pythonide-cluster" } },
    });
    expect(staging.terraform.backend).toEqual({ local: { path: "../../../terraform.pythonide-staging.tfstate" } });
    expect(staging.resource.aws_efs_file_system.main.throughput_mode).toBe("bursting");
  });
});

describe("pythonide with an existing VPC and ALB", () => {
  const existing = structuredClone(pythonide);
  existing.network = {
    mode: "existing",
    vpcId: "vpc-0123456789abcdef0",
    publicSubnetIds: ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
    privateSubnetIds: ["subnet-0ccccccccccccccc3", "subnet-0ddddddddddddddd4"],
    taskSubnets: "private",
  };
  const httpsListenerArn = "arn:aws:elasticloadbalancing:us-east-2:123456789012:listener/app/pythonide/0123456789abcdef/fedcba9876543210";
  existing.loadBalancer = {
    mode: "existing",
    arn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/app/pythonide/0123456789abcdef",
    httpsListenerArn,
    securityGroupId: "sg-0123456789abcdef0",
  };
  const secretArn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pythonide/production/db-AbCdEf";
  existing.production.database = { mode: "existing", identifier: "pythonide-db", databaseName: "pythonide", secretArn, securityGroupId: "sg-0fedcba9876543210" };
  const synthesized = synthAll(existing);

  it("creates no VPC, ALB or certificate and uses the configured ids in both stacks", () => {
    for (const stack of [synthesized.production, synthesized.staging]) {
      for (const type of ["aws_vpc", "aws_subnet", "aws_lb", "aws_lb_listener", "aws_acm_certificate"]) expect(stack.resource[type]).toBeUndefined();
      expect(stack.resource.aws_lb_listener_rule.service.listener_arn).toBe(httpsListenerArn);
      expect(stack.resource.aws_ecs_service.service.network_configuration).toMatchObject({
        subnets: ["subnet-0ccccccccccccccc3", "subnet-0ddddddddddddddd4"],
        assign_public_ip: false,
      });
    }
    expect(synthesized.production.resource.aws_vpc_security_group_ingress_rule.database_from_tasks).toMatchObject({
      security_group_id: "sg-0fedcba9876543210",
      referenced_security_group_id: "${aws_security_group.tasks.id}",
      from_port: 5432,
    });
  });

  it("an existing database: its endpoint looked up by identifier, its secret by ARN only, nothing built", () => {
    const prod = synthesized.production;
    expect(prod.data!.aws_db_instance.production.db_instance_identifier).toBe("pythonide-db");
    expect(prod.resource.aws_db_instance).toBeUndefined();
    expect(containers(prod)[0].environment).toContainEqual({ name: "DATABASE_HOST", value: "${data.aws_db_instance.production.address}" });
    expect(containers(prod)[0].secrets).toEqual([
      { name: "DATABASE_PASSWORD", valueFrom: `${secretArn}:password::` },
      { name: "DATABASE_USERNAME", valueFrom: `${secretArn}:username::` },
    ]);
  });

  it("or its own database, in the existing VPC's private subnets", () => {
    const own = structuredClone(existing);
    own.production.database = structuredClone(pythonide.production.database);
    const prod = synthAll(own).production;
    expect(prod.resource.aws_db_subnet_group.main.subnet_ids).toEqual(["subnet-0ccccccccccccccc3", "subnet-0ddddddddddddddd4"]);
    expect(prod.resource.aws_security_group.rds.vpc_id).toBe("vpc-0123456789abcdef0");
    expect(prod.resource.aws_vpc_security_group_ingress_rule).toBeUndefined();
  });
});

describe("pythonide snapshots (reviewed: addresses, values and wiring of both stacks)", () => {
  it("has no machine paths and no secret values", () => {
    for (const text of Object.values(raw)) {
      expect(text).not.toMatch(/\/work\/|\/tmp\/|\/home\/(?!students)/);
      expect(text).not.toMatch(/"password"\s*:/);
      expect(text).not.toMatch(/secret_string/);
    }
  });

  it("pythonide-production", () => {
    expect(production).toMatchSnapshot();
  });

  it("pythonide-staging", () => {
    expect(staging).toMatchSnapshot();
  });
});
