import { validateCampaignConfig } from "../stacks/config";
import { dev, prod } from "../stacks/environments";
import { synthCampaign } from "./helpers/synth";

const { json } = synthCampaign(prod);
const { json: devJson } = synthCampaign(dev);
const r = json.resource;

describe("data module: RDS PostgreSQL", () => {
  const db = r.aws_db_instance.main;

  it("is encrypted, private, in the private subnets and TLS-only", () => {
    expect(db).toMatchObject({
      engine: "postgres",
      storage_encrypted: true,
      publicly_accessible: false,
      db_subnet_group_name: "${aws_db_subnet_group.main.name}",
      parameter_group_name: "${aws_db_parameter_group.main.name}",
    });
    expect(r.aws_db_subnet_group.main.subnet_ids).toEqual(prod.network.mode === "existing" && prod.network.privateSubnetIds);
    expect(r.aws_db_parameter_group.main.parameter).toEqual([{ name: "rds.force_ssl", value: "1", apply_method: "pending-reboot" }]);
    expect(r.aws_db_parameter_group.main.family).toBe("postgres16");
  });

  it("lets RDS manage the master password in Secrets Manager (no password in the configuration)", () => {
    expect(db.manage_master_user_password).toBe(true);
    expect(db).not.toHaveProperty("password");
  });

  it("takes class, backups, Multi-AZ and deletion protection from the environment", () => {
    expect(db).toMatchObject({ instance_class: "db.t3.small", backup_retention_period: 14, multi_az: true, deletion_protection: true });
    expect(db.skip_final_snapshot).toBe(false);
    expect(db.final_snapshot_identifier).toBe("campaign-prod-final");
    expect(devJson.resource.aws_db_instance.main).toMatchObject({ instance_class: "db.t3.micro", deletion_protection: false, skip_final_snapshot: true });
  });
});

describe("data module: who reaches the instance itself", () => {
  it("only the proxy, by default: nothing in the VPC bypasses it", () => {
    expect(r.aws_security_group.rds.ingress).toEqual([
      expect.objectContaining({ from_port: 5432, to_port: 5432, cidr_blocks: [], security_groups: ["${aws_security_group.rds_proxy.id}"] }),
    ]);
  });

  it("plus database.adminCidrs when configured (migrations, admin tools)", () => {
    const { json: admin } = synthCampaign({ ...prod, database: { ...prod.database, adminCidrs: ["10.0.250.0/24"] } });
    expect(admin.resource.aws_security_group.rds.ingress).toContainEqual(
      expect.objectContaining({ from_port: 5432, cidr_blocks: ["10.0.250.0/24"], description: "Admin tools and migrations" }),
    );
    const outside = validateCampaignConfig({ ...prod, database: { ...prod.database, adminCidrs: ["192.0.2.0/24"] } });
    expect(outside).toEqual([
      "prod.database.adminCidrs[0]: 192.0.2.0/24 is outside the VPC 10.0.0.0/16: the database instance is VPC-only (allowed: CIDRs inside 10.0.0.0/16)",
    ]);
  });
});

describe("data module: RDS Proxy as documented", () => {
  it("is POSTGRESQL, TLS required, SECRETS auth with the master secret, in the private subnets", () => {
    expect(r.aws_db_proxy.main).toMatchObject({
      engine_family: "POSTGRESQL",
      require_tls: true,
      role_arn: "${aws_iam_role.rds_proxy.arn}",
      vpc_security_group_ids: ["${aws_security_group.rds_proxy.id}"],
      vpc_subnet_ids: r.aws_db_subnet_group.main.subnet_ids,
      auth: [expect.objectContaining({ auth_scheme: "SECRETS", iam_auth: "DISABLED", secret_arn: "${aws_db_instance.main.master_user_secret[0].secret_arn}" })],
    });
  });

  it("pools with borrow timeout 120 s, max 100 %, idle 50 %", () => {
    expect(r.aws_db_proxy_default_target_group.main).toEqual({
      db_proxy_name: "${aws_db_proxy.main.name}",
      connection_pool_config: { connection_borrow_timeout: 120, max_connections_percent: 100, max_idle_connections_percent: 50 },
    });
    expect(r.aws_db_proxy_target.main).toEqual({
      db_proxy_name: "${aws_db_proxy.main.name}",
      target_group_name: "${aws_db_proxy_default_target_group.main.name}",
      db_instance_identifier: "${aws_db_instance.main.identifier}",
    });
  });

  it("may read only the master secret, and decrypt only through Secrets Manager", () => {
    const policy = JSON.parse(r.aws_iam_role_policy.rds_proxy_secrets.policy);
    expect(r.aws_iam_role_policy.rds_proxy_secrets.role).toBe("${aws_iam_role.rds_proxy.id}");
    expect(policy.Statement).toEqual([
      { Sid: "ReadMasterSecret", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: "${aws_db_instance.main.master_user_secret[0].secret_arn}" },
      {
        Sid: "DecryptViaSecretsManager",
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: "${aws_db_instance.main.master_user_secret[0].kms_key_id}",
        Condition: { StringEquals: { "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com" } },
      },
    ]);
    const trust = JSON.parse(r.aws_iam_role.rds_proxy.assume_role_policy);
    expect(trust.Statement[0].Principal).toEqual({ Service: "rds.amazonaws.com" });
  });

  it("accepts PostgreSQL only on 5432 and never from outside the VPC", () => {
    const rules = r.aws_security_group.rds_proxy.ingress as Record<string, any>[];
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect([rule.protocol, rule.from_port, rule.to_port]).toEqual(["tcp", 5432, 5432]);
      for (const cidr of rule.cidr_blocks) expect(cidr).toBe("10.0.0.0/16");
    }
  });
});

describe("no ElastiCache", () => {
  it.each([["prod", json], ["dev", devJson]])("%s has no ElastiCache resource of any kind", (_env, stack) => {
    const types = [...Object.keys(stack.resource), ...Object.keys(stack.data ?? {})];
    expect(types.filter((t) => t.includes("elasticache"))).toEqual([]);
  });
});

describe("data module without RDS Proxy (proxy.enabled = false)", () => {
  const { json: direct } = synthCampaign({ ...dev, proxy: { ...dev.proxy, enabled: false } });
  const d = direct.resource;

  it("creates no proxy resource, and the Lambda group reaches the instance itself", () => {
    const types = Object.keys(d);
    expect(types.filter((t) => t.startsWith("aws_db_proxy"))).toEqual([]);
    expect(Object.keys(d.aws_security_group)).not.toContain("rds_proxy");
    expect(Object.keys(d.aws_iam_role)).not.toContain("rds_proxy");
    const pg = (d.aws_security_group.rds.ingress as Record<string, any>[]).find((rule) => rule.description === "PostgreSQL clients (no proxy)");
    expect(pg).toMatchObject({ from_port: 5432, to_port: 5432, security_groups: ["${aws_security_group.lambda.id}"] });
  });

  it("points the functions and the rds_proxy_endpoint output at the instance, trusting the RDS CA", () => {
    for (const fn of Object.values(d.aws_lambda_function)) {
      expect(fn.environment.variables).toMatchObject({ RDS_PROXY_ENDPOINT: "${aws_db_instance.main.address}", DATABASE_SSL_CA: "/var/runtime/ca-cert.pem" });
    }
    expect(direct.output.rds_proxy_endpoint.value).toBe("${aws_db_instance.main.address}");
    const { json: proxied } = synthCampaign(dev);
    for (const fn of Object.values(proxied.resource.aws_lambda_function)) expect(fn.environment.variables).not.toHaveProperty("DATABASE_SSL_CA");
  });

  it("watches the instance's connections instead of the proxy's", () => {
    const alarms = d.aws_cloudwatch_metric_alarm;
    expect(Object.keys(alarms).filter((a) => a.startsWith("rds_"))).toEqual(["rds_database_connections"]);
    expect(alarms.rds_database_connections).toMatchObject({
      metric_name: "DatabaseConnections",
      dimensions: { DBInstanceIdentifier: "${aws_db_instance.main.identifier}" },
      threshold: 69, // 80 % of db.t3.micro's 87
    });
  });
});
