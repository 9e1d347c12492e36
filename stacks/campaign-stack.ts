import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { RandomProvider } from "@cdktf/provider-random/lib/provider";
import { TerraformOutput, TerraformResource, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { Compute } from "../modules/compute";
import { Data } from "../modules/data";
import { applyGuardrails } from "../modules/guardrails";
import { Network } from "../modules/network";
import { applyBackend } from "./backend";
import type { CampaignConfig } from "./config";

/** The module of the old HCL code each of this stack's constructs replaces. */
const OLD_MODULES = { data: "module.data", compute: "module.compute" } as const;

/**
 * One environment of the campaign system: network, data (RDS + RDS Proxy) and compute (the
 * Asterisk host with Redis). Stack name `campaign-<environment>`.
 */
export class CampaignStack extends TerraformStack {
  readonly network: { vpcId: string; vpcCidr: string; privateSubnetIds: string[] };
  readonly data: Data;
  readonly compute: Compute;

  constructor(scope: Construct, readonly config: CampaignConfig) {
    super(scope, `${config.project}-${config.environment}`);
    const name = `${config.project}-${config.environment}`;
    new AwsProvider(this, "aws", {
      region: config.region,
      defaultTags: [{ tags: { Project: config.project, Environment: config.environment, ManagedBy: "cdktf", ...config.tags } }],
    });
    new RandomProvider(this, "random");
    applyBackend(this, config.backend);

    const net = config.network;
    let asteriskSubnetId: string;
    if (net.mode === "create") {
      const created = new Network(this, "network", { name, ...net });
      this.network = created;
      asteriskSubnetId = created.publicSubnetId;
    } else {
      this.network = { vpcId: net.vpcId, vpcCidr: net.vpcCidr, privateSubnetIds: net.privateSubnetIds };
      asteriskSubnetId = net.asteriskSubnetId;
    }

    const db = config.database;
    this.data = new Data(this, "data", {
      name,
      region: config.region,
      vpcId: this.network.vpcId,
      vpcCidr: this.network.vpcCidr,
      privateSubnetIds: this.network.privateSubnetIds,
      identifier: db.identifier,
      instanceClass: db.instanceClass,
      engineVersion: db.engineVersion,
      databaseName: db.databaseName,
      masterUsername: db.masterUsername,
      allocatedStorageGb: db.allocatedStorageGb,
      maxAllocatedStorageGb: db.maxAllocatedStorageGb,
      multiAz: db.multiAz,
      backupRetentionDays: db.backupRetentionDays,
      deletionProtection: db.deletionProtection,
      ...config.proxy,
    });

    const { asterisk, redis } = config;
    this.compute = new Compute(this, "compute", {
      name,
      region: config.region,
      vpcId: this.network.vpcId,
      vpcCidr: this.network.vpcCidr,
      subnetId: asteriskSubnetId,
      instanceType: asterisk.instanceType,
      amiId: asterisk.amiId,
      keyName: asterisk.keyName,
      rootVolumeGb: asterisk.rootVolumeGb,
      sshCidrs: asterisk.sshCidrs,
      sipCidrs: asterisk.sipCidrs,
      rtpPorts: asterisk.rtpPorts,
      redisPort: redis.port,
      redisClients: redis.allowedCidrs ? { cidrs: redis.allowedCidrs } : undefined,
      redisMaxmemory: redis.maxmemory,
      redisMaxmemoryPolicy: redis.maxmemoryPolicy,
      redisAppendonly: redis.appendonly,
    });

    this.outputs({
      redis_endpoint: { value: this.compute.instance.privateIp, description: "Redis host: the Asterisk host's private IP" },
      redis_port: { value: this.compute.redisPort, description: "Redis port" },
      redis_password_secret_arn: { value: this.compute.redisPasswordSecretArn, description: "Secrets Manager ARN of {\"password\": ...}" },
      rds_proxy_endpoint: { value: this.data.proxy.endpoint, description: "RDS Proxy endpoint (applications)" },
      rds_master_secret_arn: { value: this.data.masterSecretArn, description: "RDS-managed master secret ARN" },
      rds_endpoint: { value: this.data.instance.address, description: "Direct RDS endpoint (admin tools, migrations)" },
      asterisk_private_ip: { value: this.compute.instance.privateIp, description: "Private IP of the Asterisk host" },
    });
    this.addMoves();
    applyGuardrails(this);
  }

  /** Stack outputs at exactly the given names (tooling runs `terraform output -raw NAME`). */
  protected outputs(outputs: Record<string, { value: unknown; description: string; sensitive?: boolean }>): void {
    for (const [name, props] of Object.entries(outputs)) new TerraformOutput(this, name, props);
  }

  /**
   * `moved` blocks from the HCL modules' addresses (module.data.X, module.compute.X) to this
   * stack's, so a plan against state written by the old code shows moves, not replacements.
   * Terraform skips a move whose source is not in state, so fresh environments are unaffected.
   * Written as a raw override: cdktf's moveFromId() would make synth need the terraform binary.
   */
  private addMoves(): void {
    this.addOverride("moved", movedBlocks(this));
  }
}

export interface MovedBlock {
  from: string;
  to: string;
}

/** The moves of a stack: each resource of its data and compute constructs from its old module. */
export function movedBlocks(stack: CampaignStack): MovedBlock[] {
  const moves: MovedBlock[] = [];
  for (const [key, oldModule] of Object.entries(OLD_MODULES)) {
    for (const node of stack[key as keyof typeof OLD_MODULES].node.findAll()) {
      if (!TerraformResource.isTerraformResource(node)) continue;
      const resource = node as TerraformResource;
      const address = `${resource.terraformResourceType}.${resource.friendlyUniqueId}`;
      moves.push({ from: `${oldModule}.${address}`, to: address });
    }
  }
  return moves;
}
