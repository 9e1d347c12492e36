import { buildApp } from "../stacks/app";
import { PythonideConfig, validatePythonideConfig } from "../stacks/pythonide-config";
import { FARGATE_MEMORY_MIB, FargateSize, describeFargateMemory } from "../modules/pythonide-service";
import { pythonide, pythonideNewAccount } from "../stacks/pythonide-environments";
import { problemsOf } from "../modules/settings";
import { ConfigError } from "../stacks/validation";
import { variant as variantOf } from "./helpers/synth";

/** A deep copy of the real config with changes applied by `edit`. */
const variant = (edit: (c: PythonideConfig) => void): PythonideConfig => variantOf(pythonide, edit);

function fargate(cpu: number, memoryMiB: number): string[] {
  return problemsOf("t", FargateSize, { cpu, memoryMiB });
}

describe("pythonide configuration", () => {
  it("accepts the real values: us-east-2, pythonide-cluster, production 1 vCPU / 2 GB, staging 0.5 vCPU / 1 GB stopped", () => {
    expect(validatePythonideConfig(pythonide)).toEqual([]);
    expect(pythonide.region).toBe("us-east-2");
    expect(pythonide.cluster.name).toBe("pythonide-cluster");
    expect(pythonide.domain).toBe("pythonide-classroom.tech");
    expect(pythonide.production).toMatchObject({ family: "pythonide-task", cpu: 1024, memoryMiB: 2048, desiredCount: 1, healthCheckPath: "/health" });
    expect(pythonide.staging).toMatchObject({ family: "pythonide-staging-task", cpu: 512, memoryMiB: 1024, desiredCount: 0, hostname: "staging.pythonide-classroom.tech" });
  });

  describe("Fargate task sizes", () => {
    it.each([
      [256, 512], [256, 2048], [512, 1024], [512, 4096], [1024, 2048], [1024, 8192],
      [2048, 4096], [2048, 16384], [4096, 8192], [4096, 30720], [8192, 16384], [8192, 61440], [16384, 32768], [16384, 122880],
    ])("%i CPU with %i MiB is valid", (cpu, memory) => {
      expect(fargate(cpu, memory)).toEqual([]);
    });

    it.each([
      [256, 4096, "256 CPU", "512, 1024, 2048 MiB"],
      [1024, 1024, "1024 CPU", "2048-8192 MiB in 1024 MiB steps"],
      [1024, 9216, "1024 CPU", "2048-8192 MiB in 1024 MiB steps"],
      [2048, 4608, "2048 CPU", "4096-16384 MiB in 1024 MiB steps"],
      [4096, 31744, "4096 CPU", "8192-30720 MiB in 1024 MiB steps"],
      [8192, 18432, "8192 CPU", "16384-61440 MiB in 4096 MiB steps"],
    ])("%i CPU with %i MiB is refused with the allowed range", (cpu, memory, what, allowed) => {
      expect(fargate(cpu, memory)).toEqual([`t.memoryMiB: ${memory} is not a Fargate size for ${what} (allowed: ${allowed})`]);
    });

    it("refuses a CPU size Fargate does not have", () => {
      expect(fargate(1536, 3072)).toEqual(["t.cpu: 1536 is not supported (allowed: 256, 512, 1024, 2048, 4096, 8192, 16384)"]);
    });

    it("1 vCPU allows 2-8 GB in 1 GB steps, as AWS documents", () => {
      expect(FARGATE_MEMORY_MIB[1024]).toEqual([2048, 3072, 4096, 5120, 6144, 7168, 8192]);
      expect(describeFargateMemory(512)).toBe("1024-4096 MiB in 1024 MiB steps");
    });
  });

  it("lists every problem at its path, with what is allowed", () => {
    const bad = variant((c) => {
      c.production.cpu = 1024;
      c.production.memoryMiB = 16384;
      c.production.autoscaling.minCapacity = 3;
      c.production.autoscaling.maxCapacity = 2;
      c.production.autoscaling.stepRules[2].adjustment = 1;
      c.production.environment = { DB_PASSWORD: "hunter2" };
      c.staging.hostname = "staging.example.com";
      c.staging.desiredCount = 5;
      c.staging.database.instanceClass = "db.r5.large";
      c.staging.listenerRulePriority = 100;
      c.production.efs.provisionedThroughputMibps = undefined;
    });
    expect(validatePythonideConfig(bad)).toEqual([
      "pythonide.production.environment.DB_PASSWORD: looks like a secret: plain environment values are visible in the task definition (allowed: a Secrets Manager secret)",
      "pythonide.production.efs.provisionedThroughputMibps: is required (allowed: an integer 1..3414)",
      'pythonide.production.autoscaling.stepRules[2].adjustment: 1 does not match "<" (allowed: a negative number of tasks to remove)',
      "pythonide.production.autoscaling.maxCapacity: 2 is below minCapacity (3) (allowed: 3..100)",
      "pythonide.production.memoryMiB: 16384 is not a Fargate size for 1024 CPU (allowed: 2048-8192 MiB in 1024 MiB steps)",
      "pythonide.staging.hostname: staging.example.com is not under the domain pythonide-classroom.tech (allowed: pythonide-classroom.tech or a name under it)",
      "pythonide.staging.desiredCount: 5 is out of range (allowed: an integer 0..2)",
      'pythonide.staging.database.instanceClass: "db.r5.large" is not supported (allowed: db.t4g.micro, db.t4g.small, db.t4g.medium, db.t3.micro, db.t3.small, db.t3.medium)',
      'pythonide.staging.listenerRulePriority: 100 is production\'s too (allowed: a value of its own)',
    ]);
  });

  it("refuses missing step rules, and says min > max once without an impossible range", () => {
    const bad = variant((c) => {
      (c.production.autoscaling as { stepRules: unknown }).stepRules = null;
      c.production.autoscaling.minCapacity = 5;
      c.production.autoscaling.maxCapacity = 4;
    });
    expect(validatePythonideConfig(bad)).toEqual([
      "pythonide.production.autoscaling.stepRules: must be a list of step rules (allowed: e.g. the documented three; [] for target tracking alone)",
      "pythonide.production.autoscaling.maxCapacity: 4 is below minCapacity (5) (allowed: 5..100)",
    ]);
  });

  it("checks autoscaling and monitoring with the modules' schemas, every field set by the environment", () => {
    const bad = variant((c) => {
      delete (c.production.monitoring as { responseTimeMs?: number }).responseTimeMs;
      c.production.monitoring.highCpuPeriodSeconds = 90;
      delete (c.production.autoscaling as { targetCpuPercent?: number }).targetCpuPercent;
      c.production.autoscaling.stepRules[0].comparison = ">=" as ">";
    });
    expect(validatePythonideConfig(bad)).toEqual([
      "pythonide.production.autoscaling.targetCpuPercent: is required (allowed: an integer 10..90)",
      'pythonide.production.autoscaling.stepRules[0].comparison: ">=" is not supported (allowed: >, <)',
      "pythonide.production.monitoring.highCpuPeriodSeconds: 90 is not a multiple of 60 (allowed: 60, 120, 300, ...)",
      "pythonide.production.monitoring.responseTimeMs: is required (allowed: an integer 1..60000)",
    ]);
  });

  it("leaves ENVIRONMENT and DATABASE_* to the stack", () => {
    const bad = variant((c) => (c.staging.environment = { DATABASE_HOST: "db", ENVIRONMENT: "x", FEATURE: "on" }));
    expect(validatePythonideConfig(bad)).toEqual([
      "pythonide.staging.environment.DATABASE_HOST: is set by the stack (allowed: other names)",
      "pythonide.staging.environment.ENVIRONMENT: is set by the stack (allowed: other names)",
    ]);
  });

  it("checks the load balancer by its mode, and its certificate by its own", () => {
    const lb = (loadBalancer: unknown) => validatePythonideConfig(variant((c) => ((c as { loadBalancer: unknown }).loadBalancer = loadBalancer)));
    expect(lb(undefined)).toContain('pythonide.loadBalancer: is required (allowed: mode "create" or "existing")');
    expect(lb({ mode: "shared" })).toContain('pythonide.loadBalancer.mode: "shared" is not supported (allowed: create, existing)');
    const create = (certificate: unknown) => validatePythonideConfig(variant((c) => ((c as { production: { mode: string } }).production.mode = "create", ((c as { network: unknown }).network = { mode: "create", vpcCidr: "10.40.0.0/16", availabilityZones: ["us-east-2a", "us-east-2b"], publicSubnetCidrs: ["10.40.0.0/24", "10.40.1.0/24"], privateSubnetCidrs: ["10.40.2.0/24", "10.40.3.0/24"] }), ((c as { loadBalancer: unknown }).loadBalancer = { mode: "create", name: "pythonide-alb", certificate }), (c.production.database = pythonideNewAccount.production.database))));
    expect(create(undefined)).toEqual(['pythonide.loadBalancer.certificate: is required (allowed: mode "create" or "existing")']);
    expect(create({ mode: "create", hostedZoneId: "zone" })).toEqual(['pythonide.loadBalancer.certificate.hostedZoneId: "zone" is not valid (allowed: a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ)']);
    expect(create({ mode: "create", hostedZoneId: "Z0123456789ABCDEFGHIJ" })).toEqual([]);
  });

  it("checks the cluster with the platform module's schema", () => {
    const bad = variant((c) => {
      c.cluster.name = "bad name";
      delete (c.cluster as { containerInsights?: boolean }).containerInsights;
    });
    expect(validatePythonideConfig(bad)).toEqual([
      'pythonide.cluster.name: "bad name" is not valid (allowed: letters, digits, dashes and underscores)',
      "pythonide.cluster.containerInsights: must be true or false",
    ]);
  });

  it("checks each stack's state backend", () => {
    const bad = variant((c) => {
      c.production.backend = { type: "s3", bucket: "Bad_Bucket", key: "pythonide/production/terraform.tfstate", region: "us-east-2" };
      c.staging.backend = { type: "local", path: "/var/state.tfstate" };
    });
    expect(validatePythonideConfig(bad)).toEqual([
      'pythonide.production.backend.bucket: "Bad_Bucket" is not valid (allowed: an S3 bucket name)',
      'pythonide.staging.backend.path: "/var/state.tfstate" must be relative to the project root (allowed: a relative path such as terraform.<stack>.tfstate)',
    ]);
  });

  it("checks the network and load balancer switches", () => {
    const bad = variant((c) => {
      c.production.mode = "create";
      c.network = { mode: "create", vpcCidr: "10.40.0.0/16", availabilityZones: ["us-east-2a", "us-east-1b"], publicSubnetCidrs: ["10.40.0.0/24", "10.41.0.0/24"], privateSubnetCidrs: ["10.40.0.0/25"] };
      c.loadBalancer = { mode: "existing", arn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/app/x/1", httpsListenerArn: "listener", securityGroupId: "sg-1" };
    });
    expect(validatePythonideConfig(bad)).toEqual([
      "pythonide.network.privateSubnetCidrs: needs one CIDR per availability zone (2), got 1",
      'pythonide.network.availabilityZones[1]: "us-east-1b" is not an availability zone of us-east-2 (allowed: us-east-2a, us-east-2b, ...)',
      "pythonide.network.publicSubnetCidrs[1]: 10.41.0.0/24 is not inside the VPC 10.40.0.0/16",
      "pythonide.network.privateSubnetCidrs[0]: 10.40.0.0/25 overlaps publicSubnetCidrs[0]",
      'pythonide.loadBalancer.mode: an existing ALB cannot serve a VPC this stack creates (allowed: "create", or network.mode "existing")',
      'pythonide.loadBalancer.httpsListenerArn: "listener" is not valid (allowed: the ARN of the ALB\'s 443 listener)',
      'pythonide.loadBalancer.securityGroupId: "sg-1" is not valid (allowed: sg- followed by 8 or 17 hex digits)',
      'pythonide.production.database.mode: "existing" with network.mode "create": the VPC this stack creates has no route to an existing database and no 5432 rule on it, so the tasks could not reach it (allowed: "create" (the stack builds the database in its VPC), or network.mode "existing" (the database\'s VPC))',
    ]);
  });

  describe("a misspelt or unknown setting is a problem, never silently ignored", () => {
    /** A variant with keys set where the config types have none. */
    const loose = (edit: (c: Record<string, any>) => void) => variant((c) => edit(c as unknown as Record<string, any>));

    it("at the top, in a section, in a section composed of a module's settings and the stack's keys, and deeper", () => {
      const bad = loose((c) => {
        c.domian = c.domain;
        c.capacity.students = 60;
        c.cluster.insights = true;
        c.production.autoscale = {};
        c.production.adopt.efs.accesPointId = "fsap-0a1b2c3d4e5f60761";
        c.staging.database.instanceClas = "db.t4g.micro";
        c.staging.efs.throughput = "bursting";
      });
      expect(validatePythonideConfig(bad)).toEqual([
        "pythonide.domian: unknown setting (allowed: project, region, domain, network, loadBalancer, cluster, capacity, production, staging, tags)",
        "pythonide.cluster.insights: unknown setting (allowed: name, create, containerInsights)",
        "pythonide.capacity.students: unknown setting (allowed: studentsPerVcpu)",
        "pythonide.production.adopt.efs.accesPointId: unknown setting (allowed: fileSystemId, mountTargetIds, accessPointId)",
        "pythonide.production.autoscale: unknown setting (allowed: serviceName, family, image, containerPort, healthCheckPath, hostname, listenerRulePriority, cpu, memoryMiB, desiredCount, logRetentionDays, environment, efs, mode, adopt, autoscaling, monitoring, database, backend)",
        "pythonide.staging.efs.throughput: unknown setting (allowed: throughputMode, provisionedThroughputMibps, rootDirectory, uid, containerPath)",
        "pythonide.staging.database.instanceClas: unknown setting (allowed: identifier, instanceClass, engineVersion, databaseName, masterUsername, allocatedStorageGb, backupRetentionDays, deletionProtection, finalSnapshot)",
      ]);
    });

    it("in a mode's section (network, loadBalancer and its certificate): a key of another mode says which", () => {
      const bad = loose((c) => {
        c.network.vpcCidr = "10.40.0.0/16";
        c.network.subnets = "private";
        c.loadBalancer.name = "pythonide-alb";
      });
      expect(validatePythonideConfig(bad)).toEqual([
        'pythonide.network.vpcCidr: only applies to mode "create" (allowed: mode, vpcId, publicSubnetIds, privateSubnetIds, taskSubnets)',
        "pythonide.network.subnets: unknown setting (allowed: mode, vpcId, publicSubnetIds, privateSubnetIds, taskSubnets)",
        'pythonide.loadBalancer.name: only applies to mode "create" (allowed: mode, arn, httpsListenerArn, securityGroupId)',
      ]);
      const certificate = validatePythonideConfig(
        variantOf(pythonideNewAccount, (c) => ((c.loadBalancer as { certificate: unknown }).certificate = { mode: "create", hostedZoneId: "Z0123456789ABCDEFGHIJ", arn: "arn:aws:acm:us-east-2:123456789012:certificate/x" })),
      );
      expect(certificate).toEqual(['pythonide.loadBalancer.certificate.arn: only applies to mode "existing" (allowed: mode, hostedZoneId)']);
    });
  });

  it("checks production's database by its mode, strictly: a key of the other mode says which", () => {
    const existing = variant((c) => {
      const d = c.production.database as Record<string, unknown>;
      d.identifer = d.identifier;
      d.instanceClass = "db.t4g.micro";
      d.address = "pythonide-db.example.internal";
    });
    expect(validatePythonideConfig(existing)).toEqual([
      "pythonide.production.database.identifer: unknown setting (allowed: mode, identifier, databaseName, secretArn, securityGroupId, address, port)",
      'pythonide.production.database.instanceClass: only applies to mode "create" (allowed: mode, identifier, databaseName, secretArn, securityGroupId, address, port)',
      "pythonide.production.database.port: address and port go together (allowed: both, or neither (looked up))",
    ]);
    const created = variantOf(pythonideNewAccount, (c) => ((c.production.database as Record<string, unknown>).secretArn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:x"));
    expect(validatePythonideConfig(created)).toEqual([expect.stringMatching(/^pythonide\.production\.database\.secretArn: only applies to mode "existing" \(allowed: identifier, .*, mode\)$/)]);
    expect(validatePythonideConfig(variant((c) => ((c.production as { database: unknown }).database = undefined)))).toEqual([
      'pythonide.production.database: is required (allowed: { identifier, databaseName, secretArn, ... } (mode "existing"), or mode "create" with the instance settings)',
    ]);
  });

  it("checks an existing network's ids and the adopted system's ids with their schemas", () => {
    const bad = variant((c) => {
      if (c.network.mode !== "existing") return;
      c.network.publicSubnetIds = ["subnet-0a1b2c3d4e5f60711"];
      c.network.privateSubnetIds[1] = "subnet-2";
      (c.network as { taskSubnets: string }).taskSubnets = "isolated";
      const adopt = c.production.adopt!;
      (adopt.efs as { mountTargetIds: unknown }).mountTargetIds = "fsmt-0a1b2c3d4e5f60741";
      adopt.efs.accessPointId = "fsap-1";
      (adopt as { logGroupExists: unknown }).logGroupExists = "yes";
    });
    expect(validatePythonideConfig(bad)).toEqual([
      "pythonide.network.publicSubnetIds: needs subnets in at least two availability zones (ALB, RDS) (allowed: two or more subnet ids)",
      'pythonide.network.privateSubnetIds[1]: "subnet-2" is not valid (allowed: subnet- followed by 8 or 17 hex digits)',
      'pythonide.network.taskSubnets: "isolated" is not supported (allowed: public, private)',
      "pythonide.production.adopt.efs.mountTargetIds: must be a list (allowed: one fsmt-... per private subnet)",
      'pythonide.production.adopt.efs.accessPointId: "fsap-1" is not valid (allowed: fsap- followed by 8 or 17 hex digits)',
      "pythonide.production.adopt.logGroupExists: must be true or false",
    ]);
    const missing = variant((c) => (c.production.adopt = undefined));
    expect(validatePythonideConfig(missing)).toEqual(['pythonide.production.adopt: is required with mode "adopt" (allowed: { taskDefinitionArn, targetGroupArn, listenerRuleArn, efs, logGroupExists })']);
    const capacity = variant((c) => ((c as { capacity: unknown }).capacity = undefined));
    expect(validatePythonideConfig(capacity)).toEqual(["pythonide.capacity: is required"]);
  });

  it("stops synth with one ConfigError before any stack exists", () => {
    const bad = variant((c) => {
      c.production.memoryMiB = 1024;
      c.staging.cpu = 300;
    });
    let error: unknown;
    try {
      buildApp({ campaign: [], pythonide: bad, outdir: "unused" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      "pythonide.production.memoryMiB: 1024 is not a Fargate size for 1024 CPU (allowed: 2048-8192 MiB in 1024 MiB steps)",
      "pythonide.staging.cpu: 300 is not supported (allowed: 256, 512, 1024, 2048, 4096, 8192, 16384)",
    ]);
  });
});
