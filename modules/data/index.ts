import { DbInstance } from "@cdktf/provider-aws/lib/db-instance";
import { DbParameterGroup } from "@cdktf/provider-aws/lib/db-parameter-group";
import { DbProxy } from "@cdktf/provider-aws/lib/db-proxy";
import { DbProxyDefaultTargetGroup } from "@cdktf/provider-aws/lib/db-proxy-default-target-group";
import { DbProxyTarget } from "@cdktf/provider-aws/lib/db-proxy-target";
import { DbSubnetGroup } from "@cdktf/provider-aws/lib/db-subnet-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Construct } from "constructs";
import { at, nameTag } from "../address";
import { protect } from "../generated-secret";
import { Sources, allEgress, egress, hasSources, ingress } from "../rules";

export interface DataProps {
  /** Name prefix of every resource, e.g. `campaign-prod`. */
  readonly name: string;
  /** Region, for the kms:ViaService condition of the proxy's policy. */
  readonly region: string;
  readonly vpcId: string;
  /** "Inside the VPC": the default source of 5432 on the proxy and on the instance. */
  readonly vpcCidr: string;
  /** Private subnets in at least two availability zones. */
  readonly privateSubnetIds: string[];

  /** RDS instance identifier. @default `${name}` */
  readonly identifier?: string;
  /** @default "db.t3.small" */
  readonly instanceClass?: string;
  /**
   * PostgreSQL version: a major ("16": RDS creates its current minor and auto minor upgrades
   * never plan a downgrade) or a minor you must pin. The parameter group family is
   * `postgres<major>`. @default "16"
   */
  readonly engineVersion?: string;
  /** @default "campaign" */
  readonly databaseName?: string;
  /** Master user; its password is generated and rotated by RDS in Secrets Manager. @default "campaign_admin" */
  readonly masterUsername?: string;
  /** @default 20 */
  readonly allocatedStorageGb?: number;
  /** Storage autoscaling ceiling; 0 disables it. @default 0 */
  readonly maxAllocatedStorageGb?: number;
  /** @default false */
  readonly multiAz?: boolean;
  /** Days of automated backups. @default 7 */
  readonly backupRetentionDays?: number;
  /** Also keeps a final snapshot on destroy when true. @default true */
  readonly deletionProtection?: boolean;
  /** lifecycle.prevent_destroy on the instance: a plan that destroys or replaces it fails. @default false */
  readonly preventDestroy?: boolean;

  /** Seconds a client waits for a pooled connection. @default 120 */
  readonly connectionBorrowTimeout?: number;
  /** @default 100 */
  readonly maxConnectionsPercent?: number;
  /** @default 50 */
  readonly maxIdleConnectionsPercent?: number;
  /** Seconds before the proxy drops an idle client. @default 1800 */
  readonly idleClientTimeout?: number;
  /** TLS between clients and the proxy; guardrails refuse false. @default true */
  readonly requireTls?: boolean;
  /**
   * Put RDS Proxy in front of the instance. Without it, clients (proxyClients) reach the
   * instance directly on 5432 and `endpoint` is the instance's address. @default true
   */
  readonly proxy?: boolean;
  /**
   * Who may reach the database on 5432: the proxy, or the instance itself when `proxy` is false.
   * @default { cidrs: [vpcCidr] } (the stacks narrow it to the Lambda security group)
   */
  readonly proxyClients?: Sources;
  /** Who may reach the instance directly on 5432 (admin tools, migrations). @default none: only the proxy (or, without one, proxyClients) */
  readonly adminClients?: Sources;
}

/**
 * The campaign database: RDS PostgreSQL (encrypted, private, TLS forced, master password managed
 * by RDS in Secrets Manager) behind RDS Proxy, so hundreds of concurrent Lambdas share a pool of
 * connections. No ElastiCache: Redis lives on the Asterisk host (see the compute module).
 * With `proxy: false` the proxy's five resources are absent and clients reach the instance.
 *
 * Addresses: aws_db_subnet_group.main, aws_db_parameter_group.main, aws_security_group.rds,
 * aws_db_instance.main, aws_security_group.rds_proxy, aws_iam_role.rds_proxy,
 * aws_iam_role_policy.rds_proxy_secrets, aws_db_proxy.main,
 * aws_db_proxy_default_target_group.main, aws_db_proxy_target.main.
 */
export class Data extends Construct {
  readonly instance: DbInstance;
  /** RDS Proxy; undefined when `proxy` is false. */
  readonly proxy?: DbProxy;
  /** Where applications connect: the proxy's endpoint, or the instance's address without a proxy. */
  readonly endpoint: string;
  /** ARN of the RDS-managed master secret (JSON with username and password). */
  readonly masterSecretArn: string;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    const identifier = props.identifier ?? props.name;
    const engineVersion = props.engineVersion ?? "16";
    const family = `postgres${engineVersion.split(".")[0]}`;
    const deletionProtection = props.deletionProtection ?? true;
    const vpcOnly: Sources = { cidrs: [props.vpcCidr] };

    const subnets = at(
      new DbSubnetGroup(this, "subnets", {
        name: identifier,
        subnetIds: props.privateSubnetIds,
        description: `Private subnets of ${identifier}`,
        tags: nameTag(identifier),
      }),
      "main",
    );
    // Every argument that forces a replacement (name, family, description) derives from the
    // identifier and the major version only, so a replacement always comes with a new name:
    // create_before_destroy creates the new group beside the old one, switches the instance over,
    // then deletes the old group. The name is the one the old HCL module used, so the takeover
    // keeps the existing group.
    const parameters = at(
      new DbParameterGroup(this, "parameters", {
        name: `${identifier}-${family}`,
        family,
        description: `${identifier}: TLS required`,
        parameter: [{ name: "rds.force_ssl", value: "1", applyMethod: "pending-reboot" }],
        lifecycle: { createBeforeDestroy: true },
        tags: nameTag(identifier),
      }),
      "main",
    );

    const withProxy = props.proxy ?? true;
    const clients = props.proxyClients ?? vpcOnly;
    const admin = props.adminClients ?? {};

    const proxySecurityGroup = withProxy
      ? at(
          new SecurityGroup(this, "proxy-sg", {
            name: `${props.name}-rds-proxy`,
            description: "RDS Proxy: PostgreSQL from inside the VPC",
            vpcId: props.vpcId,
            ingress: [ingress("tcp", 5432, clients, "PostgreSQL clients")],
            egress: [egress("tcp", 5432, { cidrs: [props.vpcCidr] }, "PostgreSQL to the RDS instance")],
            tags: nameTag(`${props.name}-rds-proxy`),
          }),
          "rds_proxy",
        )
      : undefined;
    const instanceSecurityGroup = at(
      new SecurityGroup(this, "rds-sg", {
        name: `${props.name}-rds`,
        description: withProxy ? "RDS PostgreSQL: from RDS Proxy and admin clients" : "RDS PostgreSQL: from clients and admin clients",
        vpcId: props.vpcId,
        ingress: [
          proxySecurityGroup
            ? ingress("tcp", 5432, { securityGroupIds: [proxySecurityGroup.id] }, "RDS Proxy")
            : ingress("tcp", 5432, clients, "PostgreSQL clients (no proxy)"),
          ...(hasSources(admin) ? [ingress("tcp", 5432, admin, "Admin tools and migrations")] : []),
        ],
        egress: [allEgress],
        tags: nameTag(`${props.name}-rds`),
      }),
      "rds",
    );

    this.instance = at(
      new DbInstance(this, "postgres", {
        identifier,
        engine: "postgres",
        engineVersion,
        instanceClass: props.instanceClass ?? "db.t3.small",
        dbName: props.databaseName ?? "campaign",
        username: props.masterUsername ?? "campaign_admin",
        manageMasterUserPassword: true,
        allocatedStorage: props.allocatedStorageGb ?? 20,
        maxAllocatedStorage: props.maxAllocatedStorageGb || undefined,
        storageType: "gp3",
        storageEncrypted: true,
        publiclyAccessible: false,
        multiAz: props.multiAz ?? false,
        dbSubnetGroupName: subnets.name,
        parameterGroupName: parameters.name,
        vpcSecurityGroupIds: [instanceSecurityGroup.id],
        backupRetentionPeriod: props.backupRetentionDays ?? 7,
        deletionProtection,
        skipFinalSnapshot: !deletionProtection,
        finalSnapshotIdentifier: deletionProtection ? `${identifier}-final` : undefined,
        copyTagsToSnapshot: true,
        autoMinorVersionUpgrade: true,
        ...protect(props.preventDestroy),
        tags: nameTag(identifier),
      }),
      "main",
    );
    const masterSecret = this.instance.masterUserSecret.get(0);
    this.masterSecretArn = masterSecret.secretArn;
    if (!proxySecurityGroup) {
      this.endpoint = this.instance.address;
      return;
    }

    const role = at(
      new IamRole(this, "proxy-role", {
        name: `${props.name}-rds-proxy`,
        description: "RDS Proxy reads the master secret",
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "rds.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        tags: nameTag(`${props.name}-rds-proxy`),
      }),
      "rds_proxy",
    );
    at(
      new IamRolePolicy(this, "proxy-secrets", {
        name: "rds-proxy-secrets",
        role: role.id,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Sid: "ReadMasterSecret", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: masterSecret.secretArn },
            {
              Sid: "DecryptViaSecretsManager",
              Effect: "Allow",
              Action: "kms:Decrypt",
              Resource: masterSecret.kmsKeyId,
              Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${props.region}.amazonaws.com` } },
            },
          ],
        }),
      }),
      "rds_proxy_secrets",
    );

    const proxy = at(
      new DbProxy(this, "proxy", {
        name: `${props.name}-proxy`,
        engineFamily: "POSTGRESQL",
        requireTls: props.requireTls ?? true,
        roleArn: role.arn,
        vpcSubnetIds: props.privateSubnetIds,
        vpcSecurityGroupIds: [proxySecurityGroup.id],
        idleClientTimeout: props.idleClientTimeout ?? 1800,
        debugLogging: false,
        auth: [
          {
            authScheme: "SECRETS",
            secretArn: masterSecret.secretArn,
            iamAuth: "DISABLED",
            clientPasswordAuthType: "POSTGRES_SCRAM_SHA_256",
            description: "RDS-managed master secret",
          },
        ],
        tags: nameTag(`${props.name}-proxy`),
      }),
      "main",
    );
    const targetGroup = at(
      new DbProxyDefaultTargetGroup(this, "proxy-pool", {
        dbProxyName: proxy.name,
        connectionPoolConfig: {
          connectionBorrowTimeout: props.connectionBorrowTimeout ?? 120,
          maxConnectionsPercent: props.maxConnectionsPercent ?? 100,
          maxIdleConnectionsPercent: props.maxIdleConnectionsPercent ?? 50,
        },
      }),
      "main",
    );
    at(
      new DbProxyTarget(this, "proxy-target", {
        dbProxyName: proxy.name,
        targetGroupName: targetGroup.name,
        dbInstanceIdentifier: this.instance.identifier,
      }),
      "main",
    );
    this.proxy = proxy;
    this.endpoint = proxy.endpoint;
  }
}
