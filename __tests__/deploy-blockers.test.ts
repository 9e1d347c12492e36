/**
 * What blocked the first deploy (issue 10, 4a-4g), checked on the synthesized JSON and the
 * config validation. Terraform's own plans of the same are in terraform-plan.test.ts.
 */
import { Testing } from "cdktf";
import { validateCampaignConfig } from "../stacks/config";
import { dev, prod } from "../stacks/environments";
import { validatePythonideConfig, type PythonideConfig, type PythonideCreatedDatabaseConfig } from "../stacks/pythonide-config";
import { pythonide, pythonideNewAccount } from "../stacks/pythonide-environments";
import { addPythonideStacks } from "../stacks/pythonide-stack";
import { synthCampaign, variant } from "./helpers/synth";

const prodJson = synthCampaign(prod).json;
const devJson = synthCampaign(dev).json;
const synthPythonide = (config = pythonide) => addPythonideStacks(Testing.app(), config).map((s) => JSON.parse(Testing.synth(s, true)));
const [production, staging] = synthPythonide();

describe("4a: RDS engine versions pin the major", () => {
  it("dev, prod and pythonide staging ask for PostgreSQL 16, not a minor RDS may have closed", () => {
    expect(devJson.resource.aws_db_instance.main.engine_version).toBe("16");
    expect(prodJson.resource.aws_db_instance.main.engine_version).toBe("16");
    expect(staging.resource.aws_db_instance.main.engine_version).toBe("16");
    expect(prodJson.resource.aws_db_parameter_group.main.family).toBe("postgres16");
  });

  it("still accepts a minor when the config asks for one", () => {
    const pinned = synthCampaign(variant(dev, (c) => (c.database.engineVersion = "16.11"))).json;
    expect(pinned.resource.aws_db_instance.main.engine_version).toBe("16.11");
    expect(validateCampaignConfig(variant(dev, (c) => (c.database.engineVersion = "16.x")))).toEqual([
      'dev.database.engineVersion: "16.x" is not valid (allowed: a PostgreSQL major 13..17 such as "16" (or a minor such as "16.11"))',
    ]);
  });
});

describe("4b: the Secrets Manager endpoint", () => {
  it("a created endpoint admits the whole VPC on 443 (private DNS serves every workload in it)", () => {
    const sg = devJson.resource.aws_security_group.vpc_endpoints;
    expect(sg.ingress).toEqual([expect.objectContaining({ from_port: 443, to_port: 443, protocol: "tcp", cidr_blocks: ["10.20.0.0/16"], security_groups: [] })]);
    expect(devJson.resource.aws_vpc_endpoint.secretsmanager.private_dns_enabled).toBe(true);
  });

  it("on prod's existing VPC the existing endpoint is reused: nothing created, 443 rules from the Lambdas and the host on its group", () => {
    expect(prodJson.resource.aws_vpc_endpoint).toBeUndefined();
    expect(prodJson.resource.aws_security_group.vpc_endpoints).toBeUndefined();
    const rules = prodJson.resource.aws_vpc_security_group_ingress_rule;
    expect(rules.secretsmanager_from_lambdas).toMatchObject({ security_group_id: "sg-0e0e0e0e0e0e0e0e4", referenced_security_group_id: "${aws_security_group.lambda.id}", from_port: 443, to_port: 443 });
    expect(rules.secretsmanager_from_asterisk).toMatchObject({ referenced_security_group_id: "${aws_security_group.asterisk.id}", from_port: 443 });
  });

  it("an existing VPC must say which: a second endpoint with private DNS would fail to apply", () => {
    expect(validateCampaignConfig(variant(prod, (c) => delete (c.network as { secretsManagerEndpoint?: unknown }).secretsManagerEndpoint))).toEqual([
      'prod.network.secretsManagerEndpoint: is required on an existing VPC: it may already have a Secrets Manager endpoint with private DNS (a second one fails to apply) (allowed: { mode: "existing", securityGroupId?: "sg-..." } to reuse it, or { mode: "create" } if the VPC has none)',
    ]);
    const outside = variant(dev, (c) => (c.network.secretsManagerEndpoint = { mode: "create", clientCidrs: ["192.168.0.0/16"] }));
    expect(validateCampaignConfig(outside)).toEqual([
      "dev.network.secretsManagerEndpoint.clientCidrs[0]: 192.168.0.0/16 is outside the VPC 10.20.0.0/16: the endpoint is VPC-only (allowed: CIDRs inside 10.20.0.0/16)",
    ]);
  });
});

describe("4c: the Asterisk host boots only when what its user data needs exists", () => {
  it("waits for both secret values, its IAM policy, the public route and the endpoint (dev)", () => {
    expect(devJson.resource.aws_instance.asterisk.depends_on).toEqual([
      "aws_secretsmanager_secret_version.redis_password",
      "aws_secretsmanager_secret_version.ari_password",
      "aws_iam_role_policy.asterisk_redis_secret",
      "aws_iam_role_policy_attachment.asterisk_ssm",
      "aws_route_table_association.public",
      "aws_vpc_endpoint.secretsmanager",
    ]);
  });

  it("on prod: the 443 rules on the existing endpoint", () => {
    expect(prodJson.resource.aws_instance.asterisk.depends_on).toEqual(
      expect.arrayContaining(["aws_vpc_security_group_ingress_rule.secretsmanager_from_lambdas", "aws_vpc_security_group_ingress_rule.secretsmanager_from_asterisk"]),
    );
  });
});

describe("4d: the parameter group can be replaced beside itself", () => {
  it("every argument that forces a replacement derives from the identifier and the major: a replacement always has a new name", () => {
    const group = prodJson.resource.aws_db_parameter_group.main;
    expect(group).toMatchObject({ name: "campaign-prod-postgres16", family: "postgres16", description: "campaign-prod: TLS required", lifecycle: { create_before_destroy: true } });
    const next = synthCampaign(variant(prod, (c) => (c.database.engineVersion = "17"))).json.resource.aws_db_parameter_group.main;
    expect(next.name).toBe("campaign-prod-postgres17");
  });
});

describe("4e, 4g: prod protected, dev disposable", () => {
  const protectedAddresses = ["aws_db_instance.main", "aws_instance.asterisk", "aws_secretsmanager_secret.redis_password", "aws_secretsmanager_secret.ari_password", "aws_secretsmanager_secret_version.redis_password", "aws_secretsmanager_secret_version.ari_password"];
  const at = (json: any, address: string) => json.resource[address.split(".")[0]][address.split(".")[1]];

  it("prod: prevent_destroy on the stateful resources, termination protection on the host, 7-day secret recovery", () => {
    for (const address of protectedAddresses) expect(at(prodJson, address).lifecycle).toMatchObject({ prevent_destroy: true });
    expect(prodJson.resource.aws_instance.asterisk.disable_api_termination).toBe(true);
    expect(prodJson.resource.aws_secretsmanager_secret.redis_password.recovery_window_in_days).toBe(7);
  });

  it("dev: none of it, and secrets are deleted at once (rebuild the same day)", () => {
    for (const address of protectedAddresses) expect(at(devJson, address).lifecycle?.prevent_destroy).toBeUndefined();
    expect(devJson.resource.aws_instance.asterisk.disable_api_termination).toBeUndefined();
    expect(devJson.resource.aws_secretsmanager_secret.redis_password.recovery_window_in_days).toBe(0);
    expect(devJson.resource.aws_secretsmanager_secret.ari_password.recovery_window_in_days).toBe(0);
  });

  it("pythonide: production's EFS survives any plan, staging's is disposable", () => {
    expect(production.resource.aws_efs_file_system.main.lifecycle).toMatchObject({ prevent_destroy: true });
    expect(staging.resource.aws_efs_file_system.main.lifecycle).toBeUndefined();
  });

  it("pythonide: a new account's production database survives any plan (and a destroy leaves a snapshot), staging's is disposable", () => {
    const [newProduction, newStaging] = synthPythonide(pythonideNewAccount);
    expect(newProduction.resource.aws_db_instance.main).toMatchObject({
      lifecycle: { prevent_destroy: true },
      deletion_protection: true,
      skip_final_snapshot: false,
      final_snapshot_identifier: "pythonide-db-final",
      backup_retention_period: 7,
    });
    for (const db of [staging.resource.aws_db_instance.main, newStaging.resource.aws_db_instance.main]) {
      expect(db).toMatchObject({ deletion_protection: false, skip_final_snapshot: true, backup_retention_period: 0 });
      expect(db.lifecycle).toBeUndefined();
      expect(db.final_snapshot_identifier).toBeUndefined();
    }
  });

  it("rejects a recovery window AWS does not allow", () => {
    expect(validateCampaignConfig(variant(dev, (c) => (c.protection = { preventDestroy: false, secretRecoveryWindowDays: 3 })))).toEqual([
      "dev.protection.secretRecoveryWindowDays: 3 is not a recovery window (allowed: 0 (delete at once) or 7..30 days)",
    ]);
  });
});

describe("4f: pythonide-production adopts the running system", () => {
  it("in the existing VPC and ALB, with import blocks for what it manages", () => {
    expect(production.import).toEqual([
      { to: "aws_ecs_cluster.pythonide", id: "pythonide-cluster" },
      { to: "aws_ecs_service.service", id: "pythonide-cluster/pythonide-service" },
      { to: "aws_ecs_task_definition.service", id: "arn:aws:ecs:us-east-2:123456789012:task-definition/pythonide-task:7" },
      { to: "aws_lb_target_group.service", id: pythonide.production.adopt!.targetGroupArn },
      { to: "aws_lb_listener_rule.service", id: pythonide.production.adopt!.listenerRuleArn },
      { to: "aws_efs_file_system.main", id: "fs-0a1b2c3d4e5f60731" },
      { to: "aws_efs_mount_target.main[0]", id: "fsmt-0a1b2c3d4e5f60741" },
      { to: "aws_efs_mount_target.main[1]", id: "fsmt-0a1b2c3d4e5f60742" },
      { to: "aws_cloudwatch_log_group.service", id: "/ecs/pythonide-service" },
    ]);
    for (const type of ["aws_vpc", "aws_subnet", "aws_lb", "aws_lb_listener", "aws_acm_certificate"]) expect(production.resource[type]).toBeUndefined();
    expect(production.resource.aws_ecs_service.service.network_configuration.subnets).toEqual(["subnet-0a1b2c3d4e5f60701", "subnet-0a1b2c3d4e5f60702"]);
    // The tasks reach pythonide-db: same VPC, and its security group admits them on 5432.
    expect(production.resource.aws_vpc_security_group_ingress_rule.database_from_tasks).toMatchObject({ security_group_id: "sg-0a1b2c3d4e5f60751", from_port: 5432 });
    // The adopted file system keeps the creation token it was made with.
    expect(production.resource.aws_efs_file_system.main.lifecycle.ignore_changes).toEqual(["creation_token"]);
  });

  it("create stays the option for a new account: no import blocks", () => {
    expect(synthPythonide(pythonideNewAccount)[0].import).toBeUndefined();
  });

  it("a new account's tasks reach their database: the stack builds it in its new VPC, 5432 from the tasks", () => {
    const [created] = synthPythonide(pythonideNewAccount);
    expect(created.data?.aws_db_instance).toBeUndefined();
    expect(created.resource.aws_security_group.rds).toMatchObject({ vpc_id: "${aws_vpc.pythonide.id}", ingress: [expect.objectContaining({ from_port: 5432, security_groups: ["${aws_security_group.tasks.id}"] })] });
    expect(created.resource.aws_db_subnet_group.main.subnet_ids).toEqual(["${aws_subnet.private_a.id}", "${aws_subnet.private_b.id}"]);
    expect(created.resource.aws_ecs_task_definition.service.container_definitions).toContain('{"name":"DATABASE_HOST","value":"${aws_db_instance.main.address}"}');
  });

  it("a new VPC with an existing database is refused: one line naming both keys and why", () => {
    const unreachable = structuredClone(pythonideNewAccount);
    unreachable.production.database = { mode: "existing", identifier: "pythonide-db", databaseName: "pythonide", secretArn: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pythonide/production/db-AbCdEf" };
    expect(validatePythonideConfig(unreachable)).toEqual([
      'pythonide.production.database.mode: "existing" with network.mode "create": the VPC this stack creates has no route to an existing database and no 5432 rule on it, so the tasks could not reach it (allowed: "create" (the stack builds the database in its VPC), or network.mode "existing" (the database\'s VPC))',
    ]);
    // The same without a mode: "existing" is the default.
    delete (unreachable.production.database as { mode?: string }).mode;
    expect(validatePythonideConfig(unreachable)).toHaveLength(1);
  });

  it("an adopted service keeps the database its data is in; a created database is checked with the module's schema", () => {
    const adoptCreate = structuredClone(pythonide);
    adoptCreate.production.database = structuredClone(pythonideNewAccount.production.database);
    expect(validatePythonideConfig(adoptCreate)).toEqual([
      'pythonide.production.database.mode: "create" with production.mode "adopt": the running service would switch to a new, empty database (allowed: "existing" (the database it runs on), or production.mode "create")',
    ]);
    const created = pythonideNewAccount.production.database as PythonideCreatedDatabaseConfig;
    const bad = structuredClone(pythonideNewAccount);
    bad.production.database = { ...created, instanceClass: "db.r5.large", finalSnapshot: undefined as unknown as boolean };
    expect(validatePythonideConfig(bad)).toEqual([
      'pythonide.production.database.instanceClass: "db.r5.large" is not supported (allowed: db.t4g.micro, db.t4g.small, db.t4g.medium, db.t3.micro, db.t3.small, db.t3.medium)',
      "pythonide.production.database.finalSnapshot: must be true or false",
    ]);
    // The module checks its own settings too (a stack built without the config check).
    const unchecked = structuredClone(pythonideNewAccount);
    unchecked.production.database = { ...created, deletionProtection: "yes" as unknown as boolean };
    expect(() => synthPythonide(unchecked)).toThrow("pythonide-production/database: deletionProtection: must be true or false");
    const sameName = structuredClone(pythonide);
    sameName.staging.database.identifier = "pythonide-db";
    expect(validatePythonideConfig(sameName)).toEqual(['pythonide.staging.database.identifier: "pythonide-db" is production\'s database too (allowed: a value of its own)']);
    const shared = { ...pythonide, production: { ...pythonide.production, database: { ...pythonide.production.database, mode: "shared" } } } as unknown as PythonideConfig;
    expect(validatePythonideConfig(shared)).toEqual([
      'pythonide.production.database.mode: "shared" is not supported (allowed: existing, create)',
    ]);
  });

  it("the adopt config is the same with database.mode left to its default", () => {
    const implicit = structuredClone(pythonide);
    delete (implicit.production.database as { mode?: string }).mode;
    expect(validatePythonideConfig(implicit)).toEqual([]);
    expect(synthPythonide(implicit)).toEqual([production, staging]);
  });

  it("adopting needs the existing network, ALB, the database's security group and every id", () => {
    const broken = structuredClone(pythonide);
    broken.network = pythonideNewAccount.network;
    if (broken.production.database.mode !== "create") broken.production.database.securityGroupId = undefined;
    broken.production.adopt!.efs.mountTargetIds = ["fsmt-0a1b2c3d4e5f60741"];
    broken.production.adopt!.taskDefinitionArn = "arn:aws:ecs:us-east-2:123456789012:task-definition/other:1";
    expect(validatePythonideConfig(broken)).toEqual(
      expect.arrayContaining([
        'pythonide.network.mode: must be "existing" with production.mode "adopt": the running system is adopted where it runs (allowed: "existing" (or production.mode "create"))',
        'pythonide.loadBalancer.mode: an existing ALB cannot serve a VPC this stack creates (allowed: "create", or network.mode "existing")',
        'pythonide.production.database.securityGroupId: is required with mode "adopt": the tasks get a new security group the database must admit on 5432 (allowed: the database\'s sg-... id)',
        "pythonide.production.adopt.taskDefinitionArn: is not a revision of the family pythonide-task (allowed: a revision of pythonide-task)",
      ]),
    );
  });
});
