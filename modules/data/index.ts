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
import type { z } from "zod";
import { at, nameTag } from "../address";
import { RDS_CLASSES } from "../catalog";
import { protect } from "../generated-secret";
import { Sources, allEgress, egress, hasSources, ingress } from "../rules";
import { across, inRange, bool, cidrList, integer, matching, mustBeTrue, oneOf, section, settingsOf } from "../settings";

/** The fields every PostgreSQL instance this project creates has (campaign, PythonIDE staging), checked against `instanceClasses`. */
export function postgresShape(instanceClasses: readonly string[], defaults: { instanceClass: string; databaseName: string; masterUsername: string }) {
  return {
    /**
     * RDS instance identifier. Changing it renames the instance in place (aws 5.100 plans an update),
     * replaces the proxy target and the parameter group (created beside the old one), and keeps the
     * subnet group under its old name (RDS cannot move an instance between subnet groups of one VPC);
     * `npm run plan` shows it.
     * @default the stack's name, e.g. `campaign-prod`
     */
    identifier: matching(/^[a-z][a-z0-9-]{0,62}$/, "lowercase letters, digits and dashes, starting with a letter").optional(),
    /** RDS instance class (its max_connections bounds the connection budget). @default "db.t3.small" */
    instanceClass: oneOf(instanceClasses).default(defaults.instanceClass),
    /**
     * PostgreSQL engine version: the major ("16"), so RDS creates its current default minor and
     * auto minor version upgrades never make a plan propose a downgrade. A minor ("16.11") only when
     * you must pin one. The parameter group family is `postgres<major>`. @default "16"
     */
    engineVersion: matching(/^(1[3-7])(\.\d+)?$/, 'a PostgreSQL major 13..17 such as "16" (or a minor such as "16.11")').default("16"),
    /** Name of the database created on the instance. @default "campaign" */
    databaseName: matching(/^[a-z][a-z0-9_]{0,62}$/, "lowercase letters, digits and underscores").default(defaults.databaseName),
    /** Master user; its password is generated and rotated by RDS in Secrets Manager. @default "campaign_admin" */
    masterUsername: matching(/^[a-z][a-z0-9_]{0,15}$/, "lowercase letters, digits and underscores, at most 16 chars")
      .refine((name) => !RDS_RESERVED_USERS.includes(name), { error: (issue) => `${JSON.stringify(issue.input)} is reserved by RDS (allowed: any other name)` })
      .default(defaults.masterUsername),
    /** Allocated storage in GB (gp3). @default 20 */
    allocatedStorageGb: integer(20, 65536).default(20),
  };
}

const RDS_RESERVED_USERS = ["admin", "postgres", "rdsadmin"];

/**
 * The lifecycle of an instance's DB subnet group, named after the identifier: RDS cannot move an
 * instance to another subnet group in the same VPC (InvalidVPCNetworkStateFault), and the old
 * group cannot be deleted while the instance uses it, so a changed identifier keeps the group it
 * has (its name is only a label) instead of planning a replacement that fails to apply.
 */
export const KEEP_SUBNET_GROUP = { ignoreChanges: ["name", "description"] };

const maxAllocatedAboveAllocated = across<{ maxAllocatedStorageGb?: number; allocatedStorageGb?: number }>("maxAllocatedStorageGb", (d) =>
  inRange(d.maxAllocatedStorageGb, 1, 65536) && d.maxAllocatedStorageGb <= (d.allocatedStorageGb ?? 20)
    ? `must be 0 (no autoscaling) or above allocatedStorageGb (${d.allocatedStorageGb ?? 20})`
    : undefined,
);

const idleWithinMax = across<{ maxIdleConnectionsPercent?: number; maxConnectionsPercent?: number }>("maxIdleConnectionsPercent", (x) =>
  inRange(x.maxIdleConnectionsPercent, 0, 100) && inRange(x.maxConnectionsPercent, 1, 100) && x.maxIdleConnectionsPercent > x.maxConnectionsPercent
    ? `${x.maxIdleConnectionsPercent} exceeds maxConnectionsPercent (${x.maxConnectionsPercent}) (allowed: 0..${x.maxConnectionsPercent})`
    : undefined,
);

/** The campaign database's settings: an environment's `database` section (the instance). */
export const DatabaseSettings = section({
  ...postgresShape(Object.keys(RDS_CLASSES), { instanceClass: "db.t3.small", databaseName: "campaign", masterUsername: "campaign_admin" }),
  /** Storage autoscaling ceiling in GB, above allocatedStorageGb; 0 turns autoscaling off. @default 0 */
  maxAllocatedStorageGb: integer(0, 65536).default(0),
  /** Standby in a second availability zone. @default false */
  multiAz: bool().default(false),
  /** Days of automated backups, 0..35. @default 7 */
  backupRetentionDays: integer(0, 35).default(7),
  /** Refuses deletion of the instance; also keeps a final snapshot on destroy when true. @default true */
  deletionProtection: bool().default(true),
  /**
   * CIDRs inside the VPC allowed to the instance itself on 5432 (a bastion, a VPN range, the
   * Asterisk subnet for SSM port forwarding): admin tools and `npm run migrate`.
   * @default none, so nothing bypasses the proxy
   */
  adminCidrs: cidrList(1).optional(),
}).refine(...maxAllocatedAboveAllocated);

/** RDS Proxy's settings: an environment's `proxy` section. */
export const ProxySettings = section({
  /** Seconds a client waits for a pooled connection before an error. @default 120 */
  connectionBorrowTimeout: integer(1, 3600).default(120),
  /** Share of the database's max_connections the proxy may open. @default 100 */
  maxConnectionsPercent: integer(1, 100).default(100),
  /** Share of max_connections the proxy keeps idle, at most maxConnectionsPercent. @default 50 */
  maxIdleConnectionsPercent: integer(0, 100).default(50),
  /** Seconds before the proxy closes an idle client connection. @default 1800 */
  idleClientTimeout: integer(1, 28800).default(1800),
  /** TLS between clients and the proxy; guardrails refuse false. @default true */
  requireTls: mustBeTrue("clients reach the proxy only over TLS").default(true),
  /**
   * Whether RDS Proxy stands in front of the instance. With false there is no proxy: clients
   * (the Lambdas) reach the instance on 5432 (TLS against the RDS CA), `endpoint` is its address,
   * and the connection budget is checked against the instance's own max_connections (the stacks
   * then set DATABASE_SSL_CA to the RDS CAs of Lambda's Node runtimes, output the instance as
   * `rds_proxy_endpoint`, and alarm on `rds_database_connections` instead). @default true
   */
  enabled: bool().default(true),
  /** CIDRs inside the VPC allowed to the proxy on 5432 besides `proxyClients` (opt-in). @default none */
  allowedCidrs: cidrList(1).optional(),
}).refine(...idleWithinMax);

export type DatabaseSettings = z.input<typeof DatabaseSettings>;
export type ProxySettings = z.input<typeof ProxySettings>;

export interface DataProps extends DatabaseSettings {
  /** Name prefix of every resource, e.g. `campaign-prod`. */
  readonly name: string;
  /** Region, for the kms:ViaService condition of the proxy's policy. */
  readonly region: string;
  readonly vpcId: string;
  /** "Inside the VPC": the default source of 5432 on the proxy and on the instance. */
  readonly vpcCidr: string;
  /** Private subnets in at least two availability zones. */
  readonly privateSubnetIds: string[];
  /** RDS Proxy (see {@link ProxySettings}). @default every ProxySettings default: a proxy with TLS */
  readonly proxy?: ProxySettings;
  /**
   * Who may reach the database on 5432: the proxy, or the instance itself without a proxy; the
   * proxy's `allowedCidrs` are added. @default { cidrs: [vpcCidr] } (the stacks narrow it to the Lambda security group)
   */
  readonly proxyClients?: Sources;
  /** lifecycle.prevent_destroy on the instance: a plan that destroys or replaces it fails. @default false */
  readonly preventDestroy?: boolean;
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
    const db = settingsOf(this.node.path, DatabaseSettings, props);
    const pool = settingsOf(`${this.node.path}.proxy`, ProxySettings, props.proxy ?? {});
    const identifier = db.identifier ?? props.name;
    const engineVersion = db.engineVersion;
    const family = `postgres${engineVersion.split(".")[0]}`;
    const deletionProtection = db.deletionProtection;
    const vpcOnly: Sources = { cidrs: [props.vpcCidr] };

    const subnets = at(
      new DbSubnetGroup(this, "subnets", {
        name: identifier,
        subnetIds: props.privateSubnetIds,
        description: `Private subnets of ${identifier}`,
        lifecycle: KEEP_SUBNET_GROUP,
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

    const withProxy = pool.enabled;
    const clients: Sources = props.proxyClients
      ? { ...props.proxyClients, cidrs: [...(props.proxyClients.cidrs ?? []), ...(pool.allowedCidrs ?? [])] }
      : { cidrs: [...(vpcOnly.cidrs ?? []), ...(pool.allowedCidrs ?? [])] };
    const admin: Sources = { cidrs: db.adminCidrs ?? [] };

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
        instanceClass: db.instanceClass,
        dbName: db.databaseName,
        username: db.masterUsername,
        manageMasterUserPassword: true,
        allocatedStorage: db.allocatedStorageGb,
        maxAllocatedStorage: db.maxAllocatedStorageGb || undefined,
        storageType: "gp3",
        storageEncrypted: true,
        publiclyAccessible: false,
        multiAz: db.multiAz,
        dbSubnetGroupName: subnets.name,
        parameterGroupName: parameters.name,
        vpcSecurityGroupIds: [instanceSecurityGroup.id],
        backupRetentionPeriod: db.backupRetentionDays,
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
        requireTls: pool.requireTls,
        roleArn: role.arn,
        vpcSubnetIds: props.privateSubnetIds,
        vpcSecurityGroupIds: [proxySecurityGroup.id],
        idleClientTimeout: pool.idleClientTimeout,
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
          connectionBorrowTimeout: pool.connectionBorrowTimeout,
          maxConnectionsPercent: pool.maxConnectionsPercent,
          maxIdleConnectionsPercent: pool.maxIdleConnectionsPercent,
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
