import { join } from "node:path";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { SecurityGroup, type SecurityGroupEgress } from "@cdktf/provider-aws/lib/security-group";
import { AssetType, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { BUNDLE_DIR, buildLambdas } from "../../lambdas/build";
import { FUNCTION_NAMES, LAMBDA_FUNCTIONS, type EnvVarName, type FunctionName, type LambdaFunctionSpec } from "../../lambdas/manifest";
import { z } from "zod";
import { at, nameTag } from "../address";
import { LOG_RETENTION_DAYS } from "../catalog";
import { accepting, integer, matching, oneOf, section, settingsOf } from "../settings";
import { egress as rule } from "../rules";
import { zipDirectory } from "./zip";

/** The functions EventBridge invokes on a schedule; the others are invoked directly. */
export const SCHEDULED_FUNCTIONS = ["dialer-worker", "status-checker"] as const satisfies readonly FunctionName[];
export type ScheduledFunction = (typeof SCHEDULED_FUNCTIONS)[number];

/** Every scheduled function once a minute. */
export const DEFAULT_SCHEDULES: Readonly<Record<ScheduledFunction, string>> = {
  "dialer-worker": "rate(1 minute)",
  "status-checker": "rate(1 minute)",
};

/** An EventBridge schedule expression: `rate(...)` or `cron(...)`. */
const SCHEDULE = /^(rate\((1 (minute|hour|day)|[1-9]\d* (minutes|hours|days))\)|cron\([^()]+\))$/;

/** A map with one optional `leaf` per name. */
function byName<const N extends readonly string[], T extends z.ZodType>(names: N, leaf: T) {
  return Object.fromEntries(names.map((n) => [n, leaf])) as { [K in N[number]]: T };
}

/** A function name the manifest does not have. */
const notAFunction = accepting<never>(() => false, () => `is not a function (allowed: ${FUNCTION_NAMES.join(", ")})`);

/** A map of `leaf` per function of the manifest; any other key is refused (typed as the six names alone). */
export function perFunction<T extends z.ZodType>(leaf: T) {
  const known = section(byName(FUNCTION_NAMES, leaf));
  return known.catchall(notAFunction) as unknown as typeof known;
}

/** Size and limits of one function: `lambdas.functions.<name>`. */
export const FunctionSettings = section(
  {
    /** Memory in MB, 128..10240 (CPU scales with it). @default the manifest's memorySizeMb (256) */
    memoryMb: integer(128, 10240).optional(),
    /** Timeout in seconds, 1..900. @default the manifest's timeoutSeconds */
    timeoutSeconds: integer(1, 900).optional(),
    /** Reserved concurrency; it bounds the function's database connections (the connection budget). @default unreserved */
    reservedConcurrency: integer(1, 1000).optional(),
  },
  "{ memoryMb, timeoutSeconds, reservedConcurrency }",
);

/** The functions' settings: an environment's `lambdas` section. */
export const LambdasSettings = section({
  /** CPU architecture of every function: "arm64" (Graviton, cheaper) or "x86_64". @default "arm64" */
  architecture: oneOf(["arm64", "x86_64"] as const).default("arm64"),
  /** CloudWatch Logs retention of each function's log group, in days. @default 30 */
  logRetentionDays: oneOf(LOG_RETENTION_DAYS).default(30),
  /** EventBridge schedule of each scheduled function (`rate(...)` or `cron(...)`); the ones left out keep theirs. @default every scheduled function at rate(1 minute) (DEFAULT_SCHEDULES) */
  schedules: section(byName(SCHEDULED_FUNCTIONS, matching(SCHEDULE, "rate(1 minute), rate(5 minutes), cron(...)").optional())).optional(),
  /** Size and limits of each of the six functions (lambdas/manifest.ts), see `lambdas.functions.<name>`. @default the manifest's memory and timeout, no reserved concurrency */
  functions: perFunction(FunctionSettings.optional()).optional(),
  /** LOG_LEVEL of every function. @default unset (the functions' own default, info) */
  logLevel: oneOf(["debug", "info", "warn", "error"] as const).optional(),
});

export type FunctionSettings = z.input<typeof FunctionSettings>;
export type LambdasSettings = z.input<typeof LambdasSettings>;

/** The wiring's database settings: how long the proxy may queue a statement (0 without a proxy). */
const DatabaseWait = section({ borrowTimeoutSeconds: integer(0, 3600).default(120) });

export interface LambdasProps extends LambdasSettings {
  /** Name prefix of every resource, e.g. `campaign-prod`; functions are `<name>-<function>`. */
  readonly name: string;
  /** Private subnets the functions run in. */
  readonly privateSubnetIds: string[];
  /** The Lambda security group (see {@link lambdaSecurityGroup}): the source the proxy and Redis allow. */
  readonly securityGroupId: string;
  /**
   * The database: RDS Proxy's endpoint, or the instance's without a proxy. `caBundlePath` is a
   * PEM file on the Lambda runtime to trust besides the system CAs (the instance presents the RDS
   * CA, which the proxy's ACM certificate does not need). @default caBundlePath: none
   * `borrowTimeoutSeconds` is how long the proxy may queue a statement for a database connection
   * (its connection_borrow_timeout; 0 when `endpoint` is the instance itself): the functions wait
   * for it on top of a statement's own time, within their remaining time. @default 120 (RDS Proxy's)
   */
  readonly database: {
    readonly endpoint: string;
    readonly name: string;
    readonly secretArn: string;
    readonly caBundlePath?: string;
    readonly borrowTimeoutSeconds?: number;
  };
  /**
   * The active Redis: on the Asterisk host, or ElastiCache. `tls`: the functions connect with TLS and
   * check the host name (REDIS_TLS=verify-full), as ElastiCache's in-transit encryption requires. @default tls false
   */
  readonly redis: { readonly host: string; readonly port: number; readonly passwordSecretArn: string; readonly tls?: boolean };
  /** Asterisk ARI on the Asterisk host; its password secret belongs to the compute module. */
  readonly ari: { readonly host: string; readonly port: number; readonly user: string; readonly passwordSecretArn: string };

}

/** Where the functions' deterministic zips are written (beside the bundles): `<repo>/build/lambda-zips`. */
export const ZIP_DIR = join(BUNDLE_DIR, "..", "lambda-zips");

/** AWS's managed policy for functions in a VPC: ENI management and CloudWatch Logs, no wildcard actions. */
export const VPC_ACCESS_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";

/** The Terraform name of a function's resources: `dialer-worker` -> `dialer_worker`. */
export const snake = (name: string): string => name.replace(/-/g, "_");

/** One deployed function. */
export interface DeployedFunction {
  readonly spec: LambdaFunctionSpec;
  readonly function: LambdaFunction;
  readonly role: IamRole;
  readonly logGroup: CloudwatchLogGroup;
  readonly asset: TerraformAsset;
}

/**
 * The six campaign functions, each from its bundle (built here from lambdas/ by lambdas/build.ts,
 * into BUNDLE_DIR; a deterministic zip of it in ZIP_DIR is the TerraformAsset whose
 * hash is the function's source_code_hash), nodejs22.x, in the private subnets with the Lambda
 * security group, a log group with retention, its own role (VPC access + GetSecretValue on exactly
 * the secrets its manifest names) and the environment its manifest requires (ARNs, never values).
 * dialer-worker and status-checker run on EventBridge schedules.
 *
 * Addresses per function F (dashes as underscores): aws_lambda_function.F,
 * aws_cloudwatch_log_group.F, aws_iam_role.lambda_F, aws_iam_role_policy.lambda_F_secrets,
 * aws_iam_role_policy_attachment.lambda_F_vpc; scheduled ones also aws_cloudwatch_event_rule.F,
 * aws_cloudwatch_event_target.F, aws_lambda_permission.F_schedule.
 */
export class Lambdas extends Construct {
  readonly functions: Readonly<Record<FunctionName, DeployedFunction>>;

  constructor(scope: Construct, id: string, props: LambdasProps) {
    super(scope, id);
    const settings = settingsOf(this.node.path, LambdasSettings, props);
    const borrow = settingsOf(`${this.node.path}.database`, DatabaseWait, props.database).borrowTimeoutSeconds;
    const schedules: Partial<Record<FunctionName, string>> = { ...DEFAULT_SCHEDULES, ...settings.schedules };
    // The one build of the bundles (lambdas/build.ts, a function rebuilt when its sources changed):
    // whichever command synthesizes the stack zips the current code.
    const bundles = new Map(buildLambdas({ functions: LAMBDA_FUNCTIONS.map((f) => f.name) }).map((b) => [b.name, b.dir]));


    const env: Partial<Record<EnvVarName, string>> = {
      RDS_PROXY_ENDPOINT: props.database.endpoint,
      DATABASE_NAME: props.database.name,
      RDS_SECRET_ARN: props.database.secretArn,
      REDIS_HOST: props.redis.host,
      REDIS_PORT: String(props.redis.port),
      REDIS_PASSWORD_SECRET_ARN: props.redis.passwordSecretArn,
      REDIS_TLS: props.redis.tls ? "verify-full" : undefined,
      ARI_URL: `http://${props.ari.host}:${props.ari.port}`,
      ARI_USER: props.ari.user,
      ARI_PASSWORD_SECRET_ARN: props.ari.passwordSecretArn,
      LOG_LEVEL: settings.logLevel,
      DATABASE_SSL_CA: props.database.caBundlePath,
      // The functions' default is RDS Proxy's 120 s: set only when it differs.
      DATABASE_BORROW_TIMEOUT_SECONDS: borrow === 120 ? undefined : String(borrow),
    };

    const deployed = {} as Record<FunctionName, DeployedFunction>;
    for (const spec of LAMBDA_FUNCTIONS) {
      deployed[spec.name] = this.deploy(spec, props, settings, { bundle: bundles.get(spec.name)!, env, schedule: schedules[spec.name] });
    }
    this.functions = deployed;
  }

  private deploy(
    spec: LambdaFunctionSpec,
    props: LambdasProps,
    settings: z.output<typeof LambdasSettings>,
    opts: { bundle: string; env: Partial<Record<EnvVarName, string>>; schedule?: string },
  ): DeployedFunction {
    const key = snake(spec.name);
    const functionName = `${props.name}-${spec.name}`;
    const size = settings.functions?.[spec.name] ?? {};

    const zip = join(ZIP_DIR, `${spec.name}.zip`);
    zipDirectory(opts.bundle, zip);
    const asset = new TerraformAsset(this, `${spec.name}-code`, { path: zip, type: AssetType.FILE });

    const logGroup = at(
      new CloudwatchLogGroup(this, `${spec.name}-logs`, {
        name: `/aws/lambda/${functionName}`,
        retentionInDays: settings.logRetentionDays,
        tags: nameTag(functionName),
      }),
      key,
    );
    const role = at(
      new IamRole(this, `${spec.name}-role`, {
        name: `${functionName}-lambda`,
        description: `${spec.name}: VPC access and its own secrets only`,
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        tags: nameTag(`${functionName}-lambda`),
      }),
      `lambda_${key}`,
    );
    const vpcAccess = at(
      new IamRolePolicyAttachment(this, `${spec.name}-vpc`, { role: role.name, policyArn: VPC_ACCESS_POLICY_ARN }),
      `lambda_${key}_vpc`,
    );
    const secrets = spec.secretArnEnv.map((variable) => required(opts.env, variable, spec.name));
    const secretsPolicy = at(
      new IamRolePolicy(this, `${spec.name}-secrets`, {
        name: "read-secrets",
        role: role.id,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Sid: "ReadOwnSecrets", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secrets }],
        }),
      }),
      `lambda_${key}_secrets`,
    );

    const variables: Record<string, string> = {};
    for (const variable of spec.env.required) variables[variable] = required(opts.env, variable, spec.name);
    if (spec.uses.redis) variables.REDIS_PORT = required(opts.env, "REDIS_PORT", spec.name);
    if (spec.uses.redis && opts.env.REDIS_TLS) variables.REDIS_TLS = opts.env.REDIS_TLS;
    if (opts.env.LOG_LEVEL) variables.LOG_LEVEL = opts.env.LOG_LEVEL;
    if (spec.uses.database && opts.env.DATABASE_SSL_CA) variables.DATABASE_SSL_CA = opts.env.DATABASE_SSL_CA;
    if (spec.uses.database && opts.env.DATABASE_BORROW_TIMEOUT_SECONDS) variables.DATABASE_BORROW_TIMEOUT_SECONDS = opts.env.DATABASE_BORROW_TIMEOUT_SECONDS;

    const fn = at(
      new LambdaFunction(this, spec.name, {
        functionName,
        description: spec.description,
        role: role.arn,
        runtime: spec.runtime,
        handler: spec.handler,
        architectures: [settings.architecture],
        filename: asset.path,
        // The asset hash is the md5 of the deterministic zip: stable across identical rebuilds.
        sourceCodeHash: asset.assetHash,
        memorySize: size.memoryMb ?? spec.memorySizeMb,
        timeout: size.timeoutSeconds ?? spec.timeoutSeconds,
        reservedConcurrentExecutions: size.reservedConcurrency,
        vpcConfig: { subnetIds: props.privateSubnetIds, securityGroupIds: [props.securityGroupId] },
        environment: { variables },
        loggingConfig: { logFormat: "Text", logGroup: logGroup.name },
        // Creating a function in a VPC checks the role's ENI permissions; logs need their group.
        dependsOn: [vpcAccess, secretsPolicy, logGroup],
        tags: nameTag(functionName),
      }),
      key,
    );

    if (opts.schedule) {
      const rule = at(
        new CloudwatchEventRule(this, `${spec.name}-schedule`, {
          name: functionName,
          description: `Runs ${spec.name} ${opts.schedule}`,
          scheduleExpression: opts.schedule,
          tags: nameTag(functionName),
        }),
        key,
      );
      at(new CloudwatchEventTarget(this, `${spec.name}-target`, { rule: rule.name, targetId: spec.name, arn: fn.arn }), key);
      at(
        new LambdaPermission(this, `${spec.name}-invoke`, {
          statementId: "AllowEventBridgeSchedule",
          action: "lambda:InvokeFunction",
          functionName: fn.functionName,
          principal: "events.amazonaws.com",
          sourceArn: rule.arn,
        }),
        `${key}_schedule`,
      );
    }
    return { spec, function: fn, role, logGroup, asset };
  }
}

function required(env: Partial<Record<EnvVarName, string>>, variable: EnvVarName, fn: string): string {
  const value = env[variable];
  if (value === undefined) throw new Error(`${fn} needs ${variable} (lambdas/manifest.ts), which the stack does not provide`);
  return value;
}

export interface LambdaSecurityGroupProps {
  readonly name: string;
  readonly vpcId: string;
  /** Destinations inside the VPC: the proxy (5432), Redis, ARI and the Secrets Manager endpoint (443). */
  readonly vpcCidr: string;
  /** Ports the functions open inside the VPC besides 5432 and 443 (Redis, ARI on the Asterisk host). */
  readonly vpcPorts: readonly { readonly port: number; readonly description: string }[];
  /** HTTPS (Secrets Manager) to the VPC endpoint only, or to anywhere through a NAT gateway. @default "endpoint" */
  readonly egress?: "endpoint" | "nat";
}

/**
 * The Lambda security group (aws_security_group.lambda): no ingress; egress only to PostgreSQL,
 * Redis and ARI inside the VPC and HTTPS for Secrets Manager. It is created before the data and
 * compute modules because it is the source their 5432 and 6379 rules allow. Egress is by CIDR,
 * not by security group: a group-to-group reference both ways would be a dependency cycle.
 */
export function lambdaSecurityGroup(scope: Construct, props: LambdaSecurityGroupProps): SecurityGroup {
  const inVpc = { cidrs: [props.vpcCidr] };
  const egress: SecurityGroupEgress[] = [
    rule("tcp", 5432, inVpc, "PostgreSQL to RDS Proxy"),
    ...props.vpcPorts.map(({ port, description }) => rule("tcp", port, inVpc, description)),
    rule("tcp", 443, props.egress === "nat" ? { cidrs: ["0.0.0.0/0"] } : inVpc, "HTTPS to Secrets Manager"),
  ];
  return at(
    new SecurityGroup(scope, "lambda-sg", {
      name: `${props.name}-lambda`,
      description: "Campaign Lambdas: to the proxy, Redis, ARI and Secrets Manager",
      vpcId: props.vpcId,
      ingress: [],
      egress,
      tags: nameTag(`${props.name}-lambda`),
    }),
    "lambda",
  );
}
