import { LAMBDA_FUNCTIONS } from "../lambdas/manifest";
import { VPC_ACCESS_POLICY_ARN, snake } from "../modules/lambdas";
import { dev, prod } from "../stacks/environments";
import { type Block, addresses, synthCampaign, variant } from "./helpers/synth";

const { json } = synthCampaign(prod);
const { json: devJson } = synthCampaign(dev);
const r = json.resource;
const fn = (name: string, stack = r) => stack.aws_lambda_function[snake(name)];
const policyOf = (name: string) => JSON.parse(r.aws_iam_role_policy[`lambda_${snake(name)}_secrets`].policy);
const MASTER_SECRET = "${aws_db_instance.main.master_user_secret[0].secret_arn}";
const REDIS_SECRET = "${aws_secretsmanager_secret.redis_password.arn}";
const ARI_SECRET = "${aws_secretsmanager_secret.ari_password.arn}";

describe("lambdas module: the six functions", () => {
  it("deploys each function of the manifest at a readable address", () => {
    expect(Object.keys(r.aws_lambda_function).sort()).toEqual(LAMBDA_FUNCTIONS.map((f) => snake(f.name)).sort());
    expect(Object.keys(r.aws_lambda_function)).toHaveLength(6);
  });

  it.each(LAMBDA_FUNCTIONS.map((f) => [f.name]))("%s: nodejs22.x, index.handler, arm64, in the private subnets with the Lambda SG", (name) => {
    const settings = prod.lambdas.functions[name as keyof typeof prod.lambdas.functions];
    expect(fn(name)).toMatchObject({
      function_name: `campaign-prod-${name}`,
      runtime: "nodejs22.x",
      handler: "index.handler",
      architectures: ["arm64"],
      memory_size: settings.memoryMb,
      timeout: settings.timeoutSeconds,
      reserved_concurrent_executions: settings.reservedConcurrency,
      role: `\${aws_iam_role.lambda_${snake(name)}.arn}`,
      vpc_config: {
        subnet_ids: prod.network.mode === "existing" && prod.network.privateSubnetIds,
        security_group_ids: ["${aws_security_group.lambda.id}"],
      },
      logging_config: { log_format: "Text", log_group: `\${aws_cloudwatch_log_group.${snake(name)}.name}` },
    });
    expect(fn(name).filename).toMatch(new RegExp(`^assets/lambdas_${name}-code_[0-9A-F]{8}/[0-9A-F]{32}/${name}\\.zip$`));
    expect(fn(name).filename).toContain(fn(name).source_code_hash);
  });

  it("takes architecture, sizes and reserved concurrency from the environment", () => {
    expect(fn("dialer-worker", devJson.resource)).toMatchObject({ reserved_concurrent_executions: 5, timeout: 60, memory_size: 256 });
    expect(fn("report-generator")).toMatchObject({ reserved_concurrent_executions: 10, memory_size: 512 });
    const x86 = synthCampaign(variant(dev, (c) => (c.lambdas.architecture = "x86_64"))).json;
    expect(fn("dispatcher", x86.resource).architectures).toEqual(["x86_64"]);
  });

  it("gives each function a log group with the environment's retention", () => {
    for (const f of LAMBDA_FUNCTIONS) {
      expect(r.aws_cloudwatch_log_group[snake(f.name)]).toMatchObject({ name: `/aws/lambda/campaign-prod-${f.name}`, retention_in_days: 90 });
      expect(devJson.resource.aws_cloudwatch_log_group[snake(f.name)].retention_in_days).toBe(14);
    }
  });
});

describe("lambdas module: environment wiring", () => {
  const env = (name: string) => fn(name).environment.variables as Record<string, string>;
  const database = { RDS_PROXY_ENDPOINT: "${aws_db_proxy.main.endpoint}", DATABASE_NAME: "campaign", RDS_SECRET_ARN: MASTER_SECRET };
  const redis = { REDIS_HOST: "${aws_instance.asterisk.private_ip}", REDIS_PORT: "6379", REDIS_PASSWORD_SECRET_ARN: REDIS_SECRET };

  it("points every function at the proxy and the RDS master secret", () => {
    for (const f of LAMBDA_FUNCTIONS) expect(env(f.name)).toMatchObject(database);
  });

  it("gives Redis to the functions that cache or read the worker's outcome stream, and only to them", () => {
    expect(env("enrich-dial-task")).toEqual({ ...database, ...redis });
    expect(env("report-generator")).toEqual({ ...database, ...redis });
    expect(env("status-checker")).toEqual({ ...database, ...redis });
    for (const name of ["validate-campaign", "dispatcher"]) expect(env(name)).toEqual(database);
  });

  it("gives ARI on the Asterisk host to the dialer-worker", () => {
    expect(env("dialer-worker")).toEqual({
      ...database,
      ARI_URL: "http://${aws_instance.asterisk.private_ip}:8088",
      ARI_USER: "campaign_dialer",
      ARI_PASSWORD_SECRET_ARN: ARI_SECRET,
    });
  });

  it("sets every variable the manifest requires, and never a secret value", () => {
    for (const f of LAMBDA_FUNCTIONS) {
      expect(Object.keys(env(f.name))).toEqual(expect.arrayContaining([...f.env.required]));
      for (const value of Object.values(env(f.name))) expect(value).not.toMatch(/random_password|secret_string/);
    }
    expect(JSON.stringify(json)).not.toMatch(/"(REDIS|ARI|DATABASE)_PASSWORD"/);
  });

  it("keeps the ARI password in its own generated secret", () => {
    expect(r.random_password.ari).toMatchObject({ length: 32, special: false });
    expect(r.aws_secretsmanager_secret_version.ari_password.secret_string).toBe('${jsonencode({"password" = random_password.ari.result})}');
  });

  it("passes LOG_LEVEL only when configured", () => {
    const debug = synthCampaign(variant(dev, (c) => (c.lambdas.logLevel = "debug"))).json;
    expect(fn("dispatcher", debug.resource).environment.variables.LOG_LEVEL).toBe("debug");
    expect(env("dispatcher")).not.toHaveProperty("LOG_LEVEL");
  });
});

describe("lambdas module: least privilege", () => {
  it("has one role per function, assumable by Lambda only", () => {
    for (const f of LAMBDA_FUNCTIONS) {
      const role = r.aws_iam_role[`lambda_${snake(f.name)}`];
      expect(role.name).toBe(`campaign-prod-${f.name}-lambda`);
      expect(JSON.parse(role.assume_role_policy).Statement).toEqual([
        { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
      ]);
      expect(r.aws_iam_role_policy_attachment[`lambda_${snake(f.name)}_vpc`]).toMatchObject({
        role: `\${aws_iam_role.lambda_${snake(f.name)}.name}`,
        policy_arn: VPC_ACCESS_POLICY_ARN,
      });
    }
  });

  it("allows GetSecretValue on exactly the secrets each function reads", () => {
    const expected: Record<string, string[]> = {
      "validate-campaign": [MASTER_SECRET],
      dispatcher: [MASTER_SECRET],
      "status-checker": [MASTER_SECRET, REDIS_SECRET],
      "enrich-dial-task": [MASTER_SECRET, REDIS_SECRET],
      "report-generator": [MASTER_SECRET, REDIS_SECRET],
      "dialer-worker": [MASTER_SECRET, ARI_SECRET],
    };
    for (const [name, secrets] of Object.entries(expected)) {
      expect(policyOf(name).Statement).toEqual([
        { Sid: "ReadOwnSecrets", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secrets },
      ]);
    }
  });

  it("has no wildcard action in any inline policy of the stack, and a wildcard resource only under a condition", () => {
    const policies = [...Object.values(r.aws_iam_role_policy), ...Object.values(r.aws_iam_role)].flatMap((p: Block) =>
      [p.policy, p.assume_role_policy].filter(Boolean).map((text: string) => JSON.parse(text)),
    );
    const statements = policies.flatMap((p) => p.Statement);
    expect(statements.length).toBeGreaterThan(10);
    for (const s of statements) {
      for (const action of [s.Action].flat()) expect(action).not.toContain("*");
      // Only actions without resource-level permissions (cloudwatch:PutMetricData) may name "*",
      // and then a condition must scope them.
      if ([s.Resource ?? []].flat().includes("*")) expect([s.Action, Object.keys(s.Condition ?? {}).length > 0]).toEqual(["cloudwatch:PutMetricData", true]);
    }
  });
});

describe("network: the Lambda security group is the source of 5432 and 6379", () => {
  const ingressOn = (stack: typeof r, sg: string, port: number) =>
    (stack.aws_security_group[sg].ingress as Block[]).filter((x) => x.from_port <= port && port <= x.to_port);

  it("lets the Lambdas reach the proxy and Redis, and nothing else by default", () => {
    expect(ingressOn(r, "rds_proxy", 5432)).toEqual([
      expect.objectContaining({ security_groups: ["${aws_security_group.lambda.id}"], cidr_blocks: [] }),
    ]);
    expect(ingressOn(r, "asterisk", 6379)).toEqual([
      expect.objectContaining({ security_groups: ["${aws_security_group.lambda.id}"], cidr_blocks: [] }),
    ]);
  });

  it("adds VPC CIDRs only when configured", () => {
    const opened = synthCampaign(
      variant(prod, (c) => {
        c.proxy.allowedCidrs = ["10.0.50.0/24"];
        c.redis.allowedCidrs = ["10.0.60.0/24"];
      }),
    ).json.resource;
    expect(ingressOn(opened, "rds_proxy", 5432)[0]).toMatchObject({ security_groups: ["${aws_security_group.lambda.id}"], cidr_blocks: ["10.0.50.0/24"] });
    expect(ingressOn(opened, "asterisk", 6379)[0]).toMatchObject({ security_groups: ["${aws_security_group.lambda.id}"], cidr_blocks: ["10.0.60.0/24"] });
  });

  it("gives the Lambda SG no ingress and egress only to the VPC on 5432, Redis, ARI and 443", () => {
    const sg = r.aws_security_group.lambda;
    expect(sg.ingress).toEqual([]);
    expect((sg.egress as Block[]).map((e) => [e.protocol, e.from_port, e.to_port, e.cidr_blocks])).toEqual([
      ["tcp", 5432, 5432, ["10.0.0.0/16"]],
      ["tcp", 6379, 6379, ["10.0.0.0/16"]],
      ["tcp", 8088, 8088, ["10.0.0.0/16"]],
      ["tcp", 443, 443, ["10.0.0.0/16"]],
    ]);
  });

  it("reaches Secrets Manager through an interface endpoint by default (dev), admitting the whole VPC on 443", () => {
    const d = devJson.resource;
    expect(d.aws_vpc_endpoint.secretsmanager).toMatchObject({
      service_name: "com.amazonaws.us-east-1.secretsmanager",
      vpc_endpoint_type: "Interface",
      private_dns_enabled: true,
      subnet_ids: d.aws_db_subnet_group.main.subnet_ids,
      security_group_ids: ["${aws_security_group.vpc_endpoints.id}"],
    });
    expect(d.aws_security_group.vpc_endpoints.ingress).toEqual([
      // Private DNS resolves Secrets Manager to the endpoint for the whole VPC: every workload in it
      // (the Lambdas, the host's boot-time password fetch, anything else) must be admitted.
      expect.objectContaining({ protocol: "tcp", from_port: 443, to_port: 443, security_groups: [], cidr_blocks: ["10.20.0.0/16"] }),
    ]);
    expect(d).not.toHaveProperty("aws_nat_gateway");
  });

  it("on prod's existing VPC reuses its endpoint and opens 443 on it to the Lambdas and the Asterisk host", () => {
    expect(r).not.toHaveProperty("aws_vpc_endpoint");
    expect(Object.keys(r.aws_vpc_security_group_ingress_rule)).toEqual(expect.arrayContaining(["secretsmanager_from_lambdas", "secretsmanager_from_asterisk"]));
  });

  it("uses a NAT gateway instead when configured on a created VPC", () => {
    const nat = synthCampaign(variant(dev, (c) => (c.network.egress = "nat"))).json;
    expect(addresses(nat)).toEqual(expect.arrayContaining(["aws_eip.nat", "aws_nat_gateway.main", "aws_route.private_nat"]));
    expect(nat.resource.aws_nat_gateway.main).toMatchObject({ subnet_id: "${aws_subnet.public.id}", allocation_id: "${aws_eip.nat.allocation_id}" });
    expect(nat.resource.aws_route.private_nat).toMatchObject({
      route_table_id: "${aws_route_table.private.id}",
      destination_cidr_block: "0.0.0.0/0",
      nat_gateway_id: "${aws_nat_gateway.main.id}",
    });
    expect(nat.resource).not.toHaveProperty("aws_vpc_endpoint");
    expect((nat.resource.aws_security_group.lambda.egress as Block[]).find((e) => e.from_port === 443)?.cidr_blocks).toEqual(["0.0.0.0/0"]);
  });

  it("creates neither on an existing VPC set to nat (its own NAT routes the private subnets)", () => {
    const existing = synthCampaign(variant(prod, (c) => (c.network.egress = "nat"))).json.resource;
    expect(existing).not.toHaveProperty("aws_vpc_endpoint");
    expect(existing).not.toHaveProperty("aws_nat_gateway");
  });
});

describe("scheduling and outputs", () => {
  it.each([["dialer-worker"], ["status-checker"]])("runs %s on an EventBridge schedule from config", (name) => {
    const key = snake(name);
    expect(r.aws_cloudwatch_event_rule[key]).toMatchObject({ name: `campaign-prod-${name}`, schedule_expression: "rate(1 minute)" });
    expect(r.aws_cloudwatch_event_target[key]).toMatchObject({ rule: `\${aws_cloudwatch_event_rule.${key}.name}`, arn: `\${aws_lambda_function.${key}.arn}` });
    expect(r.aws_lambda_permission[`${key}_schedule`]).toMatchObject({
      action: "lambda:InvokeFunction",
      principal: "events.amazonaws.com",
      function_name: `\${aws_lambda_function.${key}.function_name}`,
      source_arn: `\${aws_cloudwatch_event_rule.${key}.arn}`,
    });
    const slower = synthCampaign(variant(dev, (c) => (c.lambdas.schedules = { "status-checker": "rate(5 minutes)" }))).json;
    expect(slower.resource.aws_cloudwatch_event_rule.status_checker.schedule_expression).toBe("rate(5 minutes)");
  });

  it("schedules nothing else", () => {
    expect(Object.keys(r.aws_cloudwatch_event_rule).sort()).toEqual(["dialer_worker", "status_checker"]);
    expect(Object.keys(r.aws_lambda_permission).sort()).toEqual(["dialer_worker_schedule", "status_checker_schedule"]);
  });

  it("outputs the names of the directly invoked functions", () => {
    for (const name of ["validate-campaign", "dispatcher", "enrich-dial-task", "report-generator"]) {
      expect(json.output[`${snake(name)}_function_name`]).toMatchObject({ value: `\${aws_lambda_function.${snake(name)}.function_name}` });
    }
    expect(json.output).not.toHaveProperty("dialer_worker_function_name");
    expect(json.output.ari_password_secret_arn.value).toBe(ARI_SECRET);
    expect(json.output.lambda_security_group_id.value).toBe("${aws_security_group.lambda.id}");
  });
});
