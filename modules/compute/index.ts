import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DataAwsSsmParameter } from "@cdktf/provider-aws/lib/data-aws-ssm-parameter";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { Instance } from "@cdktf/provider-aws/lib/instance";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import type { ITerraformDependable } from "cdktf";
import { dependable } from "cdktf/lib/tfExpression";
import { Construct } from "constructs";
import { ARI } from "../../lambdas/contracts/ari";
import { REDIS_METRICS } from "../../lambdas/contracts/metrics";
import Handlebars from "handlebars";
import { z } from "zod";
import { OS_LAYOUTS, bootRules } from "../../lambdas/contracts/os";
import { at, nameTag } from "../address";
import { EC2_MEMORY_MIB } from "../catalog";
import { GeneratedSecret, protect } from "../generated-secret";
import { Sources, allEgress, hasSources, ingress } from "../rules";
import { accepting, cidr, cidrList, integer, matching, oneOf, parseCidr, section, settingsOf } from "../settings";

/** A list of CIDRs open to the internet, so never 0.0.0.0/0. */
const publicCidrList = () =>
  z.array(
    cidr().refine((c) => parseCidr(c)?.prefix !== 0, { error: (issue) => `${issue.input} opens the port to the whole internet (allowed: a narrower CIDR)` }),
    { error: () => 'must be a list of CIDRs (allowed: e.g. ["203.0.113.0/24"])' },
  );

/** The Asterisk host's settings: an environment's `asterisk` section. */
export const AsteriskSettings = section({
  /** EC2 instance type (it must hold Redis's maxmemory twice + 512 MiB; provisioning checks the inventory's). @default "t3.small" */
  instanceType: oneOf(Object.keys(EC2_MEMORY_MIB)).default("t3.small"),
  /** AMI id. @default the latest Amazon Linux 2023 (public SSM parameter) at first deploy */
  amiId: matching(/^ami-[0-9a-f]{8,17}$/, "ami- followed by 8 or 17 hex digits, or leave unset for Amazon Linux 2023").optional(),
  /** EC2 key pair for SSH. @default none: SSM Session Manager only */
  keyName: matching(/^[\x20-\x7e]{1,255}$/, "an EC2 key pair name").optional(),
  /** Root volume size in GB (gp3, encrypted). @default 20 */
  rootVolumeGb: integer(8, 16384).default(20),
  /** CIDRs allowed to SSH (22); never 0.0.0.0/0. @default [] (no SSH rule) */
  sshCidrs: publicCidrList().default([]),
  /** CIDRs of the SIP trunks / carrier allowed to SIP 5060-5061 and RTP; never 0.0.0.0/0. @default [] */
  sipCidrs: publicCidrList().default([]),
  /** RTP UDP port range [from, to]. @default [10000, 20000] */
  rtpPorts: accepting<readonly [number, number]>(
    (v) => Array.isArray(v) && v.length === 2 && v.every(Number.isInteger) && v[0] >= 1024 && v[1] <= 65535 && v[0] <= v[1],
    (issue) => `${JSON.stringify(issue.input)} is not a port range (allowed: [from, to] with 1024 <= from <= to <= 65535)`,
  ).default([10000, 20000]),
});

/** Redis on the Asterisk host: the first-boot settings an environment's `redis` section gives (provisioning owns the running config). */
export const RedisSettings = section({
  /** Port of Redis (and of ElastiCache in mode "elasticache"). @default 6379 */
  port: integer(1024, 65535).default(6379),
  /** CIDRs inside the VPC allowed to 6379 besides `redisClients` (opt-in). @default none */
  allowedCidrs: cidrList(1).optional(),
});

export type AsteriskSettings = z.input<typeof AsteriskSettings>;
export type RedisSettings = z.input<typeof RedisSettings>;

export interface ComputeProps extends AsteriskSettings {
  /** Name prefix of every resource, e.g. `campaign-prod`. */
  readonly name: string;
  readonly region: string;
  readonly vpcId: string;
  /** "Inside the VPC": the default source of Redis 6379. */
  readonly vpcCidr: string;
  /** Subnet of the Asterisk host. */
  readonly subnetId: string;
  /** Redis on the host (see {@link RedisSettings}). @default every RedisSettings default */
  readonly redis?: RedisSettings;
  /**
   * Who may reach Redis; the redis `allowedCidrs` are added. @default { cidrs: [vpcCidr] }
   * Narrow it to the Lambda security group with { securityGroupIds: [...] }.
   */
  readonly redisClients?: Sources;
  /** Port of Asterisk's REST interface (ARI). @default 8088 */
  readonly ariPort?: number;
  /** Who may reach ARI, e.g. { securityGroupIds: [lambdaSg] }. @default none (no ARI rule) */
  readonly ariClients?: Sources;
  /**
   * CloudWatch namespace the host may publish custom metrics to (the Redis INFO timer that
   * provisioning installs). @default "Campaign/Redis"
   */
  readonly metricsNamespace?: string;
  /** Package on Amazon Linux 2023, which has no Redis 7: "valkey" or "redis6". @default "valkey" */
  readonly amazonLinuxRedisPackage?: "valkey" | "redis6";
  /**
   * lifecycle.prevent_destroy on the host and both secrets, and EC2 termination protection
   * (disable_api_termination) on the host. @default false
   */
  readonly preventDestroy?: boolean;
  /** Recovery window of both secrets; 0 deletes them at once. @default 7 */
  readonly secretRecoveryWindowDays?: number;
  /**
   * What else the host's first boot needs besides its own role, policy and secrets (the route
   * out of its subnet, the Secrets Manager endpoint): its user data runs once, under `set -e`.
   * @default []
   */
  readonly bootDependsOn?: ITerraformDependable[];
}

const AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
// Shell `${VAR}` must reach the host as is: Terraform reads `$${` as a literal `${`.
const userDataTemplate = Handlebars.compile(
  readFileSync(join(__dirname, "..", "..", "templates", "asterisk-user-data.sh.hbs"), "utf8").replace(/\$\{/g, () => "$${"),
  { strict: true, noEscape: true },
);

/**
 * The Asterisk host, which also runs Redis (replacing ElastiCache): EC2 with IMDSv2 only, an
 * encrypted root volume, an instance role that may read only its own Redis password secret (and
 * use SSM Session Manager and publish Redis metrics to one CloudWatch namespace), and a security
 * group that keeps 6379 inside the VPC.
 *
 * The Redis password is a random_password kept in Secrets Manager as {"password": "..."}; it is
 * in Terraform state but never in the synthesized JSON, the user data or a non-sensitive output.
 *
 * Asterisk's ARI password is generated the same way (the dialer-worker reads it to call ARI).
 *
 * Addresses: aws_security_group.asterisk, aws_iam_role.asterisk,
 * aws_iam_role_policy.asterisk_redis_secret, aws_iam_role_policy_attachment.asterisk_ssm,
 * aws_iam_instance_profile.asterisk, random_password.redis,
 * aws_secretsmanager_secret.redis_password, aws_secretsmanager_secret_version.redis_password,
 * random_password.ari, aws_secretsmanager_secret.ari_password,
 * aws_secretsmanager_secret_version.ari_password,
 * aws_instance.asterisk.
 */
export class Compute extends Construct {
  readonly instance: Instance;
  readonly securityGroup: SecurityGroup;
  readonly redisPasswordSecretArn: string;
  readonly ariPasswordSecretArn: string;
  readonly redisPort: number;
  /** The host's instance role (other modules grant it access, e.g. modules/redis-backup). */
  readonly role: IamRole;

  /** The host boots only after these too (created after the host's construct, e.g. the Secrets Manager endpoint). */
  bootAfter(...dependencies: ITerraformDependable[]): void {
    this.instance.dependsOn = [...(this.instance.dependsOn ?? []), ...dependencies.map(dependable)];
  }

  constructor(scope: Construct, id: string, props: ComputeProps) {
    super(scope, id);
    const host = settingsOf(this.node.path, AsteriskSettings, props);
    const redis = settingsOf(`${this.node.path}.redis`, RedisSettings, props.redis ?? {});
    this.redisPort = redis.port;
    const [rtpFrom, rtpTo] = host.rtpPorts;
    const sip: Sources = { cidrs: host.sipCidrs };
    const ssh: Sources = { cidrs: host.sshCidrs };
    const redisClients: Sources = props.redisClients
      ? { ...props.redisClients, cidrs: [...(props.redisClients.cidrs ?? []), ...(redis.allowedCidrs ?? [])] }
      : { cidrs: [props.vpcCidr, ...(redis.allowedCidrs ?? [])] };
    const ariClients = props.ariClients ?? {};

    const secretProtection = { recoveryWindowInDays: props.secretRecoveryWindowDays, preventDestroy: props.preventDestroy };
    const secret = new GeneratedSecret(this, "redis-password", {
      secretName: `${props.name}/redis-password`,
      description: "Password of Redis on the Asterisk host, as {\"password\": \"...\"}",
      passwordAddress: "redis",
      secretAddress: "redis_password",
      ...secretProtection,
    });
    this.redisPasswordSecretArn = secret.arn;
    // Asterisk's ARI password: the host reads it to configure ARI (provisioning), the dialer-worker to call it.
    const ari = new GeneratedSecret(this, "ari-password", {
      secretName: `${props.name}/ari-password`,
      description: "Password of the Asterisk ARI user the dialer-worker calls, as {\"password\": \"...\"}",
      passwordAddress: "ari",
      secretAddress: "ari_password",
      ...secretProtection,
    });
    this.ariPasswordSecretArn = ari.arn;

    this.securityGroup = at(
      new SecurityGroup(this, "sg", {
        name: `${props.name}-asterisk`,
        description: "Asterisk host: SIP/RTP from trunks, SSH from admins, Redis from the VPC",
        vpcId: props.vpcId,
        ingress: [
          ...(hasSources(ssh) ? [ingress("tcp", 22, ssh, "SSH from admins")] : []),
          ...(hasSources(sip)
            ? [
                ingress("udp", [5060, 5061], sip, "SIP (UDP)"),
                ingress("tcp", [5060, 5061], sip, "SIP (TCP/TLS)"),
                ingress("udp", [rtpFrom, rtpTo], sip, "RTP media"),
              ]
            : []),
          ingress("tcp", this.redisPort, redisClients, "Redis clients (VPC only)"),
          ...(hasSources(ariClients) ? [ingress("tcp", props.ariPort ?? ARI.port, ariClients, "Asterisk ARI")] : []),
        ],
        egress: [allEgress],
        tags: nameTag(`${props.name}-asterisk`),
      }),
      "asterisk",
    );

    const role = at(
      new IamRole(this, "role", {
        name: `${props.name}-asterisk`,
        description: "Asterisk host: reads its Redis password, SSM Session Manager",
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        tags: nameTag(`${props.name}-asterisk`),
      }),
      "asterisk",
    );
    this.role = role;
    const secretPolicy = at(
      new IamRolePolicy(this, "redis-secret-policy", {
        name: "redis-password-secret",
        role: role.id,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Sid: "ReadOwnSecrets", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: [secret.arn, this.ariPasswordSecretArn] },
            {
              // PutMetricData has no resource-level permissions: the namespace condition scopes it.
              Sid: "PublishRedisMetrics",
              Effect: "Allow",
              Action: "cloudwatch:PutMetricData",
              Resource: "*",
              Condition: { StringEquals: { "cloudwatch:namespace": props.metricsNamespace ?? REDIS_METRICS.namespace } },
            },
          ],
        }),
      }),
      "asterisk_redis_secret",
    );
    const ssm = at(
      new IamRolePolicyAttachment(this, "ssm", {
        role: role.name,
        policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
      }),
      "asterisk_ssm",
    );
    const profile = at(new IamInstanceProfile(this, "profile", { name: `${props.name}-asterisk`, role: role.name }), "asterisk");

    const ami =
      host.amiId ?? at(new DataAwsSsmParameter(this, "al2023", { name: AL2023_AMI_PARAMETER }), "al2023_ami").insecureValue;

    this.instance = at(
      new Instance(this, "asterisk", {
        ami,
        instanceType: host.instanceType,
        subnetId: props.subnetId,
        vpcSecurityGroupIds: [this.securityGroup.id],
        iamInstanceProfile: profile.name,
        keyName: host.keyName,
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
        rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: host.rootVolumeGb, deleteOnTermination: true },
        userData: userDataTemplate({
          region: props.region,
          secretArn: secret.arn,
          // The per-OS layouts and the rules that pick one: the contract provisioning reads too.
          rules: bootRules(props.amazonLinuxRedisPackage ?? "valkey"),
          layouts: Object.values(OS_LAYOUTS).map((l) => ({ ...l, packages: l.packages.join(" ") })),
        }),
        // The host holds Redis data and live calls: a newer AMI or edited first-boot script must
        // not replace or stop it. Running hosts are changed by `npm run provision`.
        lifecycle: { ignoreChanges: ["ami", "user_data"], ...protect(props.preventDestroy).lifecycle },
        ...(props.preventDestroy ? { disableApiTermination: true } : {}),
        // The user data runs once under `set -e` and reads the Redis secret with the instance
        // role: boot only once the secret has a value, the role may read it, and (bootDependsOn)
        // the subnet routes out. The instance profile is a reference already.
        dependsOn: [secret.version, ari.version, secretPolicy, ssm, ...(props.bootDependsOn ?? [])],
        tags: nameTag(`${props.name}-asterisk`),
      }),
      "asterisk",
    );
  }
}
