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
import { OS_LAYOUTS, bootRules } from "../../lambdas/contracts/os";
import { at, nameTag } from "../address";
import { GeneratedSecret, protect } from "../generated-secret";
import { Sources, allEgress, hasSources, ingress } from "../rules";

export interface ComputeProps {
  /** Name prefix of every resource, e.g. `campaign-prod`. */
  readonly name: string;
  readonly region: string;
  readonly vpcId: string;
  /** "Inside the VPC": the default source of Redis 6379. */
  readonly vpcCidr: string;
  /** Subnet of the Asterisk host. */
  readonly subnetId: string;

  /** @default "t3.small" */
  readonly instanceType?: string;
  /** AMI id. @default the latest Amazon Linux 2023 (public SSM parameter) at first deploy */
  readonly amiId?: string;
  /** EC2 key pair for SSH. @default none: SSM Session Manager only */
  readonly keyName?: string;
  /** @default 20 */
  readonly rootVolumeGb?: number;
  /** CIDRs allowed to SSH. @default [] (no SSH rule) */
  readonly sshCidrs?: string[];
  /** CIDRs of SIP trunks allowed to SIP 5060-5061 and RTP. @default [] */
  readonly sipCidrs?: string[];
  /** RTP UDP port range. @default [10000, 20000] */
  readonly rtpPorts?: readonly [number, number];

  /** @default 6379 */
  readonly redisPort?: number;
  /**
   * Who may reach Redis. @default { cidrs: [vpcCidr] }
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
  /** First-boot Redis settings (provisioning owns them afterwards). @default "512mb" */
  readonly redisMaxmemory?: string;
  /** @default "allkeys-lru" */
  readonly redisMaxmemoryPolicy?: string;
  /** @default true */
  readonly redisAppendonly?: boolean;
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
    this.redisPort = props.redisPort ?? 6379;
    const [rtpFrom, rtpTo] = props.rtpPorts ?? [10000, 20000];
    const sip: Sources = { cidrs: props.sipCidrs ?? [] };
    const ssh: Sources = { cidrs: props.sshCidrs ?? [] };
    const redisClients = props.redisClients ?? { cidrs: [props.vpcCidr] };
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
      props.amiId ?? at(new DataAwsSsmParameter(this, "al2023", { name: AL2023_AMI_PARAMETER }), "al2023_ami").insecureValue;

    this.instance = at(
      new Instance(this, "asterisk", {
        ami,
        instanceType: props.instanceType ?? "t3.small",
        subnetId: props.subnetId,
        vpcSecurityGroupIds: [this.securityGroup.id],
        iamInstanceProfile: profile.name,
        keyName: props.keyName,
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
        rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: props.rootVolumeGb ?? 20, deleteOnTermination: true },
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
