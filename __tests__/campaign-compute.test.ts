import { dev, prod } from "../stacks/environments";
import { synthCampaign } from "./helpers/synth";

const { json } = synthCampaign(prod);
const r = json.resource;
const text = JSON.stringify(json);

describe("compute module: the Asterisk host", () => {
  const host = r.aws_instance.asterisk;

  it("requires IMDSv2, encrypts its root volume and runs with its own instance profile", () => {
    expect(host.metadata_options).toMatchObject({ http_tokens: "required", http_endpoint: "enabled" });
    expect(host.root_block_device).toMatchObject({ encrypted: true, volume_type: "gp3", volume_size: 30 });
    expect(host.iam_instance_profile).toBe("${aws_iam_instance_profile.asterisk.name}");
    expect(host).toMatchObject({ instance_type: "t3.medium", key_name: "campaign-prod", subnet_id: "subnet-0c0c0c0c0c0c0c0c3" });
    expect(host.tags).toEqual({ Name: "campaign-prod-asterisk" });
  });

  it("is not replaced or stopped by a newer AMI or an edited first-boot script", () => {
    // prod: prevent_destroy too (dev stays disposable: see __tests__/protection.test.ts).
    expect(host.lifecycle).toEqual({ ignore_changes: ["ami", "user_data"], prevent_destroy: true });
  });

  it("uses the configured AMI, or the latest Amazon Linux 2023 from SSM", () => {
    const { json: devJson } = synthCampaign(dev);
    expect(devJson.resource.aws_instance.asterisk.ami).toBe("${data.aws_ssm_parameter.al2023_ami.insecure_value}");
    const { json: pinned } = synthCampaign({ ...prod, asterisk: { ...prod.asterisk, amiId: "ami-0123456789abcdef0" } });
    expect(pinned.resource.aws_instance.asterisk.ami).toBe("ami-0123456789abcdef0");
    expect(pinned.data).toBeUndefined();
  });

  it("may read only its own Redis and ARI password secrets, publish only Redis metrics, and use SSM Session Manager", () => {
    const policy = JSON.parse(r.aws_iam_role_policy.asterisk_redis_secret.policy);
    expect(policy.Statement).toEqual([
      {
        Sid: "ReadOwnSecrets",
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: ["${aws_secretsmanager_secret.redis_password.arn}", "${aws_secretsmanager_secret.ari_password.arn}"],
      },
      {
        Sid: "PublishRedisMetrics",
        Effect: "Allow",
        Action: "cloudwatch:PutMetricData",
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": "Campaign/Redis" } },
      },
    ]);
    expect(r.aws_iam_role_policy_attachment.asterisk_ssm.policy_arn).toBe("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
    expect(JSON.parse(r.aws_iam_role.asterisk.assume_role_policy).Statement[0].Principal).toEqual({ Service: "ec2.amazonaws.com" });
  });
});

describe("compute module: security group", () => {
  const rules = r.aws_security_group.asterisk.ingress as Record<string, any>[];
  const on = (port: number) => rules.filter((x) => x.from_port <= port && port <= x.to_port);

  it("lets only the Lambdas reach Redis, and VPC CIDRs only when configured", () => {
    expect(on(6379)).toEqual([expect.objectContaining({ protocol: "tcp", cidr_blocks: [], security_groups: ["${aws_security_group.lambda.id}"] })]);
    const { json: wider } = synthCampaign({ ...prod, redis: { ...prod.redis, allowedCidrs: ["10.0.8.0/24"] } });
    const redisRules = (wider.resource.aws_security_group.asterisk.ingress as Record<string, any>[]).filter((x) => x.from_port === 6379);
    expect(redisRules).toEqual([expect.objectContaining({ cidr_blocks: ["10.0.8.0/24"], security_groups: ["${aws_security_group.lambda.id}"] })]);
  });

  it("lets only the Lambdas reach Asterisk's ARI", () => {
    expect(on(8088)).toEqual([expect.objectContaining({ protocol: "tcp", cidr_blocks: [], security_groups: ["${aws_security_group.lambda.id}"] })]);
  });

  it("allows SSH only from the configured CIDRs and SIP/RTP only from the trunks", () => {
    expect(on(22).map((x) => x.cidr_blocks)).toEqual([["203.0.113.0/24"]]);
    expect(on(5060).map((x) => [x.protocol, x.cidr_blocks])).toEqual([["udp", ["198.51.100.0/24"]], ["tcp", ["198.51.100.0/24"]]]);
    expect(on(15000)).toEqual([expect.objectContaining({ protocol: "udp", from_port: 10000, to_port: 20000, cidr_blocks: ["198.51.100.0/24"] })]);
  });

  it("has no SSH rule at all when no SSH CIDR is configured (SSM only)", () => {
    const { json: noSsh } = synthCampaign({ ...prod, asterisk: { ...prod.asterisk, sshCidrs: [] } });
    const ports = (noSsh.resource.aws_security_group.asterisk.ingress as Record<string, any>[]).map((x) => x.from_port);
    expect(ports).not.toContain(22);
  });
});

describe("compute module: the Redis password", () => {
  it("is a 32-character alphanumeric random_password", () => {
    expect(r.random_password.redis).toEqual({ length: 32, special: false });
  });

  it("is stored in Secrets Manager as {\"password\": ...}", () => {
    expect(r.aws_secretsmanager_secret_version.redis_password).toEqual({
      secret_id: "${aws_secretsmanager_secret.redis_password.id}",
      secret_string: '${jsonencode({"password" = random_password.redis.result})}',
      lifecycle: { prevent_destroy: true },
    });
  });

  it("is referenced only by the secret version: not in user data, outputs or anywhere else", () => {
    expect(text.split("random_password.redis.result").length - 1).toBe(1);
    const userData = r.aws_instance.asterisk.user_data as string;
    expect(userData).not.toContain("random_password");
    // The only requirepass written is the one jq builds from the fetched secret.
    expect(userData.match(/requirepass.*/g)).toEqual(["requirepass from Secrets Manager; the value goes from aws to jq to the file, never argv.", 'requirepass " + .password\' > "$${PASSWORD_CONF}.new"']);
    expect(userData).toContain('SECRET_ARN="${aws_secretsmanager_secret.redis_password.arn}"');
  });

  it("user data installs Redis and fetches the password at every boot through the instance role", () => {
    const userData = r.aws_instance.asterisk.user_data as string;
    expect(userData).toContain("aws secretsmanager get-secret-value");
    expect(userData).toContain("Before=$${SERVICE}.service");
    expect(userData).toContain('echo "include $${PASSWORD_CONF}" >> "$${CONF}"');
  });

  it("user data writes no Redis running config: provisioning is its one owner", () => {
    const userData = r.aws_instance.asterisk.user_data as string;
    // No directive of redis.conf besides the password include (bind, port, maxmemory, persistence...).
    for (const directive of ["maxmemory", "maxmemory-policy", "appendonly", "appendfsync", "save", "bind", "port", "protected-mode"]) {
      expect(userData).not.toMatch(new RegExp(`^${directive} `, "m"));
    }
    expect(userData).not.toContain("campaign.conf");
    // Every shell expansion is escaped for Terraform: a bare ${ is an interpolation of a resource.
    const interpolations = userData.match(/(?<!\$)\$\{[^}]*\}/g) ?? [];
    expect(interpolations).toEqual(["${aws_secretsmanager_secret.redis_password.arn}"]);
  });
});

describe("outputs", () => {
  it("has the documented names, and the Lambda deployment's", () => {
    expect(Object.keys(json.output).sort()).toEqual(
      [
        ...["asterisk_private_ip", "rds_endpoint", "rds_master_secret_arn", "rds_proxy_endpoint", "redis_endpoint", "redis_password_secret_arn", "redis_port"],
        ...["validate_campaign_function_name", "dispatcher_function_name", "enrich_dial_task_function_name", "report_generator_function_name"],
        ...["lambda_security_group_id", "ari_password_secret_arn", "alarm_topic_arn", "asterisk_instance_id"],
        ...["redis_backup_bucket", "redis_backup_schedule"],
      ].sort(),
    );
    expect(Object.values(json.output).filter((o) => o.sensitive)).toEqual([]);
  });

  it("points each at the right attribute", () => {
    const value = (name: string) => json.output[name].value;
    expect(value("redis_endpoint")).toBe("${aws_instance.asterisk.private_ip}");
    expect(value("asterisk_private_ip")).toBe("${aws_instance.asterisk.private_ip}");
    expect(value("redis_port")).toBe(6379);
    expect(value("redis_password_secret_arn")).toBe("${aws_secretsmanager_secret.redis_password.arn}");
    expect(value("rds_proxy_endpoint")).toBe("${aws_db_proxy.main.endpoint}");
    expect(value("rds_master_secret_arn")).toBe("${aws_db_instance.main.master_user_secret[0].secret_arn}");
    expect(value("rds_endpoint")).toBe("${aws_db_instance.main.address}");
  });
});
