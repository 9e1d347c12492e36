import { TerraformStack, Testing } from "cdktf";
import type { Construct } from "constructs";
import { Compute } from "../modules/compute";
import { Data, DatabaseSettings } from "../modules/data";
import { Elasticache } from "../modules/elasticache";
import { Lambdas } from "../modules/lambdas";
import { Monitoring } from "../modules/monitoring";
import { RedisBackup } from "../modules/redis-backup";
import { PythonideAutoscaling } from "../modules/pythonide-autoscaling";
import { PythonideDatabase } from "../modules/pythonide-database";
import { PythonideEfs } from "../modules/pythonide-efs";
import { PythonideMonitoring } from "../modules/pythonide-monitoring";
import { PythonideService } from "../modules/pythonide-service";
import { integer, modes, oneOf, problemsOf, removed, requiring, section, settingsOf } from "../modules/settings";

const wiring = { name: "t-x", region: "us-east-1", vpcId: "vpc-0a0a0a0a0a0a0a0a0", vpcCidr: "10.0.0.0/16" };
const stack = () => new TerraformStack(Testing.app(), "s");
/** The resources of the stack a construct was built in. */
const resources = (construct: Construct) => JSON.parse(Testing.synth(construct.node.scope as TerraformStack)).resource;

describe("modules validate their own settings (the same schemas the environments are checked with)", () => {
  it("Data lists every bad setting, its proxy's too, and builds with its defaults", () => {
    expect(
      () =>
        new Data(stack(), "data", {
          ...wiring,
          privateSubnetIds: ["subnet-1", "subnet-2"],
          instanceClass: "db.t3.nano",
          masterUsername: "postgres",
          allocatedStorageGb: 50,
          maxAllocatedStorageGb: 40,
        }),
    ).toThrow(
      /^s\/data: instanceClass: "db\.t3\.nano" is not supported \(allowed: db\.t3\.micro, .*\); masterUsername: "postgres" is reserved by RDS \(allowed: any other name\); maxAllocatedStorageGb: must be 0 \(no autoscaling\) or above allocatedStorageGb \(50\)$/,
    );
    expect(() => new Data(stack(), "data", { ...wiring, privateSubnetIds: ["subnet-1", "subnet-2"], proxy: { requireTls: false, maxIdleConnectionsPercent: 101 } })).toThrow(
      "s/data.proxy: maxIdleConnectionsPercent: 101 is out of range (allowed: an integer 0..100); requireTls: must be true: clients reach the proxy only over TLS (allowed: true)",
    );
    const data = new Data(stack(), "data", { ...wiring, privateSubnetIds: ["subnet-1", "subnet-2"] });
    const instance = resources(data).aws_db_instance.main;
    expect(instance).toMatchObject({ identifier: "t-x", instance_class: "db.t3.small", engine_version: "16", db_name: "campaign", allocated_storage: 20 });
  });

  it("Compute refuses the whole internet on SSH and a reversed RTP range", () => {
    expect(() => new Compute(stack(), "compute", { ...wiring, subnetId: "subnet-1", sshCidrs: ["0.0.0.0/0"], rtpPorts: [20000, 10000], redis: { port: 80 } })).toThrow(
      "s/compute: sshCidrs[0]: 0.0.0.0/0 opens the port to the whole internet (allowed: a narrower CIDR); rtpPorts: [20000,10000] is not a port range (allowed: [from, to] with 1024 <= from <= to <= 65535)",
    );
    expect(() => new Compute(stack(), "compute", { ...wiring, subnetId: "subnet-1", redis: { port: 80 } })).toThrow("s/compute.redis: port: 80 is out of range (allowed: an integer 1024..65535)");
  });

  it("Elasticache checks its settings with the schema behind redis.elasticache", () => {
    expect(
      () => new Elasticache(stack(), "cache", { name: "t-x", vpcId: "vpc-1", privateSubnetIds: ["subnet-1"], clients: { securityGroupIds: ["sg-1"] }, numCacheClusters: 7, transitEncryptionMode: "off" as "required" }),
    ).toThrow('s/cache: numCacheClusters: 7 is out of range (allowed: an integer 1..6); transitEncryptionMode: "off" is not supported (allowed: required, preferred)');
  });

  it("Lambdas checks sizes, schedules and function names before it builds anything", () => {
    const wired = {
      name: "t-x",
      privateSubnetIds: ["subnet-1", "subnet-2"],
      securityGroupId: "sg-1",
      database: { endpoint: "proxy", name: "campaign", secretArn: "arn:db", borrowTimeoutSeconds: 5000 },
      redis: { host: "10.0.0.10", port: 6379, passwordSecretArn: "arn:redis" },
      ari: { host: "10.0.0.10", port: 8088, user: "dialer", passwordSecretArn: "arn:ari" },
    };
    expect(
      () =>
        new Lambdas(stack(), "lambdas", {
          ...wired,
          architecture: "mips" as "arm64",
          schedules: { "dialer-worker": "hourly" },
          functions: { dispatcher: { memoryMb: 64 }, ...({ dialer: {} } as object) },
        }),
    ).toThrow(
      's/lambdas: architecture: "mips" is not supported (allowed: arm64, x86_64); schedules.dialer-worker: "hourly" is not valid (allowed: rate(1 minute), rate(5 minutes), cron(...)); ' +
        "functions.dispatcher.memoryMb: 64 is out of range (allowed: an integer 128..10240); functions.dialer: is not a function (allowed: validate-campaign, dispatcher, enrich-dial-task, dialer-worker, status-checker, report-generator)",
    );
    expect(() => new Lambdas(stack(), "lambdas", wired)).toThrow("s/lambdas.database: borrowTimeoutSeconds: 5000 is out of range (allowed: an integer 0..3600)");
  });

  it("Monitoring and RedisBackup check their thresholds and names", () => {
    const monitoring = { name: "t-x", database: { proxyName: "p" }, redisInstanceId: "i-1", functionNames: {} };
    expect(() => new Monitoring(stack(), "monitoring", { ...monitoring, alarmEmail: "ops", redisMemoryPercent: 120 })).toThrow(
      's/monitoring: alarmEmail: "ops" is not valid (allowed: an e-mail address, or leave unset); redisMemoryPercent: 120 is out of range (allowed: an integer 1..100)',
    );
    const alarms = resources(new Monitoring(stack(), "monitoring", monitoring)).aws_cloudwatch_metric_alarm;
    expect(Object.values(alarms as Record<string, { period: number }>).every((a) => a.period === 300)).toBe(true);
    expect(() => new RedisBackup(stack(), "backup", { name: "t-x", hostRole: { name: "r", arn: "arn" }, kmsKeyArn: "alias/x" })).toThrow(
      's/backup: kmsKeyArn: "alias/x" is not valid (allowed: arn:aws:kms:REGION:ACCOUNT:key/ID; an alias cannot scope the host\'s IAM policy)',
    );
  });

  it("PythonideAutoscaling checks its bounds and step rules, and scales 1..4 on 60 % CPU by default", () => {
    const service = { clusterName: "c", serviceName: "svc" };
    expect(
      () =>
        new PythonideAutoscaling(stack(), "autoscaling", {
          ...service,
          minCapacity: 3,
          maxCapacity: 2,
          stepRules: [{ comparison: ">=" as ">", cpuPercent: 100, minutes: 2, adjustment: 1 }, { comparison: ">", cpuPercent: 60, minutes: 2, adjustment: -1 }],
        }),
    ).toThrow(
      's/autoscaling: stepRules[0].comparison: ">=" is not supported (allowed: >, <); stepRules[0].cpuPercent: 100 is out of range (allowed: an integer 1..99); ' +
        'stepRules[1].adjustment: -1 does not match ">" (allowed: a positive number of tasks to add); maxCapacity: 2 is below minCapacity (3) (allowed: 3..100)',
    );
    const scaling = new PythonideAutoscaling(stack(), "autoscaling", service);
    const json = resources(scaling);
    expect(json.aws_appautoscaling_target.service).toMatchObject({ min_capacity: 1, max_capacity: 4 });
    expect(json.aws_appautoscaling_policy.cpu_target.target_tracking_scaling_policy_configuration).toMatchObject({ target_value: 60, scale_out_cooldown: 60, scale_in_cooldown: 300 });
  });

  it("PythonideMonitoring checks its alarm settings, and alarms on 80 % CPU over 300 s by default", () => {
    const wired = {
      region: "us-east-2",
      alarmPrefix: "pythonide",
      clusterName: "c",
      serviceName: "svc",
      albArnSuffix: "app/a/1",
      targetGroupArnSuffix: "targetgroup/t/1",
      dbInstanceIdentifier: "db",
      efsFileSystemId: "fs-1",
    };
    expect(() => new PythonideMonitoring(stack(), "monitoring", { ...wired, highCpuPeriodSeconds: 90, alarmEmails: ["ops"] })).toThrow(
      's/monitoring: alarmEmails[0]: "ops" is not valid (allowed: an e-mail address); highCpuPeriodSeconds: 90 is not a multiple of 60 (allowed: 60, 120, 300, ...)',
    );
    expect(() => new PythonideMonitoring(stack(), "monitoring", { ...wired, highCpuPeriodSeconds: 30, alarmEmails: "ops@example.com" as unknown as string[] })).toThrow(
      "s/monitoring: alarmEmails: must be a list of e-mail addresses; highCpuPeriodSeconds: 30 is out of range (allowed: an integer 60..86400)",
    );
    const monitoring = new PythonideMonitoring(stack(), "monitoring", wired);
    const json = resources(monitoring);
    expect(json.aws_cloudwatch_metric_alarm.high_cpu).toMatchObject({ threshold: 80, period: 300 });
    expect(json.aws_sns_topic.alarms.name).toBe("pythonide-alarms");
    expect(json.aws_cloudwatch_dashboard.production.dashboard_name).toBe("PythonIDE-Production");
  });

  it("PythonideEfs wants provisioned throughput exactly with throughputMode provisioned, and bursts by default", () => {
    const wired = { name: "p-x", vpcId: "vpc-1", subnetIds: ["subnet-1"], clientSecurityGroupIds: ["sg-1"] };
    expect(() => new PythonideEfs(stack(), "efs", { ...wired, throughputMode: "provisioned", uid: -1 })).toThrow(
      "s/efs: uid: -1 is out of range (allowed: an integer 0..2147483647); provisionedThroughputMibps: is required (allowed: an integer 1..3414)",
    );
    expect(() => new PythonideEfs(stack(), "efs", { ...wired, provisionedThroughputMibps: 5 })).toThrow('s/efs: provisionedThroughputMibps: only applies to throughputMode "provisioned" (allowed: unset)');
    const efs = new PythonideEfs(stack(), "efs", wired);
    const json = resources(efs);
    expect(json.aws_efs_file_system.main).toMatchObject({ throughput_mode: "bursting" });
    expect(json.aws_efs_file_system.main.provisioned_throughput_in_mibps).toBeUndefined();
    expect(json.aws_efs_access_point.main).toMatchObject({ posix_user: { uid: 1000, gid: 1000 }, root_directory: { path: "/students" } });
  });

  it("PythonideService checks its task size, image and environment, and keeps 30 days of logs by default", () => {
    const wired = {
      serviceName: "svc",
      family: "svc-task",
      region: "us-east-2",
      clusterArn: "arn:aws:ecs:us-east-2:123456789012:cluster/c",
      image: "repo/pythonide:1.0.0",
      containerPort: 8080,
      hostname: "ide.example.com",
      listenerRulePriority: 10,
      cpu: 512,
      memoryMiB: 1024,
      desiredCount: 1,
      efs: { fileSystemId: "fs-1", fileSystemArn: "arn:fs", accessPointId: "fsap-1", accessPointArn: "arn:ap", containerPath: "/home/students" },
      vpcId: "vpc-1",
      subnetIds: ["subnet-1"],
      assignPublicIp: false,
      securityGroupId: "sg-1",
      listenerArn: "arn:listener",
    };
    expect(() => new PythonideService(stack(), "service", { ...wired, image: "repo/pythonide", memoryMiB: 512, environment: { API_TOKEN: "x" } })).toThrow(
      "s/service: image: \"repo/pythonide\" is not valid (allowed: an image with an explicit tag or digest, e.g. repo/pythonide:1.4.2); " +
        "environment.API_TOKEN: looks like a secret: plain environment values are visible in the task definition (allowed: a Secrets Manager secret); " +
        "memoryMiB: 512 is not a Fargate size for 512 CPU (allowed: 1024-4096 MiB in 1024 MiB steps)",
    );
    expect(() => new PythonideService(stack(), "service", { ...wired, efs: { ...wired.efs, containerPath: "students" } })).toThrow(
      's/service.efs: containerPath: "students" is not valid (allowed: an absolute path such as /home/students)',
    );
    const service = new PythonideService(stack(), "service", wired);
    const json = resources(service);
    expect(json.aws_cloudwatch_log_group.service.retention_in_days).toBe(30);
    expect(json.aws_lb_target_group.service.health_check.path).toBe("/health");
    expect(json.aws_lb_listener_rule.service).toMatchObject({ listener_arn: "arn:listener", priority: 10 });
  });

  it("PythonideDatabase needs its identifier, a small class, and defaults to a db.t4g.micro without backups", () => {
    const wired = { vpcId: "vpc-1", subnetIds: ["subnet-1", "subnet-2"], clientSecurityGroupIds: ["sg-1"] };
    expect(() => new PythonideDatabase(stack(), "db", { ...wired, identifier: undefined as unknown as string, instanceClass: "db.r5.large" })).toThrow(
      /^s\/db: identifier: is required \(allowed: lowercase letters, digits and dashes, starting with a letter\); instanceClass: "db\.r5\.large" is not supported \(allowed: db\.t4g\.micro, /,
    );
    const db = new PythonideDatabase(stack(), "db", { ...wired, identifier: "pythonide-staging" });
    const instance = resources(db).aws_db_instance.main;
    expect(instance).toMatchObject({ instance_class: "db.t4g.micro", engine_version: "16", db_name: "pythonide", username: "pythonide_admin", allocated_storage: 20, backup_retention_period: 0 });
  });

  it("an environment's section requires what the module defaults: one schema, two strictnesses", () => {
    expect(problemsOf("dev.database", DatabaseSettings, {})).toEqual([]);
    const Env = requiring(DatabaseSettings, ["databaseName"]);
    expect(problemsOf("dev.database", Env, {})).toEqual(["dev.database.databaseName: is required (allowed: lowercase letters, digits and underscores)"]);
  });

  it("a section is strict; a construct's wiring beside its settings is not a setting", () => {
    const s = section({ port: integer(1, 9).optional(), kind: oneOf(["a", "b"]).optional(), old: removed("moved", "leave unset") });
    expect(problemsOf("env.x", s, { prot: 1, kind: "a", knd: "b" })).toEqual(["env.x.prot: unknown setting (allowed: port, kind)", "env.x.knd: unknown setting (allowed: port, kind)"]);
    expect(problemsOf("env.x", s.safeExtend({ extra: integer(0, 1).optional() }), { more: 1 })).toEqual(["env.x.more: unknown setting (allowed: port, kind, extra)"]);
    expect(problemsOf("env.x", s, { old: 1 })).toEqual(["env.x.old: moved (allowed: leave unset)"]);
    // settingsOf reads a section's own keys of the props: a construct passes ids and names beside them.
    expect(settingsOf("s/x", s, { port: 3, vpcId: "vpc-1" })).toEqual({ port: 3 });
    expect(() => settingsOf("s/x", s, { port: 30, vpcId: "vpc-1" })).toThrow("s/x: port: 30 is out of range (allowed: an integer 1..9)");
    const data = new Data(stack(), "data", { ...wiring, privateSubnetIds: ["subnet-1", "subnet-2"], proxy: { requireTls: true, ...({ endpointName: "wired" } as object) } });
    expect(resources(data).aws_db_proxy).toBeDefined();
  });

  it("each mode of a section is strict: a key of another mode says which mode it belongs to", () => {
    const m = modes({ a: section({ mode: oneOf(["a"] as const), size: integer(1, 2) }), b: section({ mode: oneOf(["b"] as const), name: oneOf(["x"] as const) }) }, "{ mode }");
    expect(problemsOf("env.m", m, { mode: "a", size: 1, name: "x", nme: "x" })).toEqual([
      'env.m.name: only applies to mode "b" (allowed: mode, size)',
      "env.m.nme: unknown setting (allowed: mode, size)",
    ]);
    expect(problemsOf("env.m", m, { mode: "c" })).toEqual(['env.m.mode: "c" is not supported (allowed: a, b)']);
  });

  it("formats every issue as prefix.path: message (allowed: ...), with list indexes in brackets", () => {
    const s = section({ ports: section({ list: integer(1, 2).array() }), kind: oneOf(["a", "b"]) }, "{ ports, kind }");
    expect(problemsOf("env.x", s, { ports: { list: [1, 5] }, kind: "" })).toEqual([
      "env.x.ports.list[1]: 5 is out of range (allowed: an integer 1..2)",
      "env.x.kind: is required (allowed: a, b)",
    ]);
    expect(problemsOf("env.x", s, undefined)).toEqual(["env.x: is required (allowed: { ports, kind })"]);
    expect(problemsOf("env.x", s, "text")).toEqual(["env.x: must be a map (allowed: { ports, kind })"]);
  });
});
