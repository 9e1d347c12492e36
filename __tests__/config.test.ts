import { buildApp } from "../stacks/app";
import type { CampaignConfig } from "../stacks/config";
import { validateCampaignConfig } from "../stacks/config";
import { dev, prod } from "../stacks/environments";
import { parseCidr } from "../modules/settings";
import { ConfigError } from "../stacks/validation";
import { synthCampaign, variant } from "./helpers/synth";

describe("campaign configuration", () => {
  it.each([["dev", dev], ["prod", prod]])("%s as shipped is valid", (_name, config) => {
    expect(validateCampaignConfig(config)).toEqual([]);
  });

  it("reports every problem at once, each as environment.key: what is wrong (allowed: ...)", () => {
    const bad = variant(dev, (c) => {
      if (c.network.mode !== "create") throw new Error("dev creates its VPC");
      c.network.vpcCidr = "10.20.0.0/33";
      c.network.availabilityZones = ["us-east-1a"];
      c.network.privateSubnetCidrs = ["10.20.1.0/24"];
      c.database.instanceClass = "db.t3.nano";
      (c.database as Partial<CampaignConfig["database"]>).databaseName = undefined;
    });
    const problems = validateCampaignConfig(bad);
    expect(problems).toEqual([
      'dev.network.vpcCidr: "10.20.0.0/33" is not a valid CIDR (allowed: an IPv4 CIDR such as 10.0.0.0/16)',
      "dev.network.availabilityZones: RDS Proxy needs at least two availability zones, got 1 (allowed: two or more of us-east-1a, us-east-1b, ...)",
      expect.stringMatching(/^dev\.database\.instanceClass: "db\.t3\.nano" is not supported \(allowed: db\.t3\.micro, db\.t3\.small, .*\)$/),
      "dev.database.databaseName: is required (allowed: lowercase letters, digits and underscores)",
    ]);
  });

  it("refuses redis.maxmemory, maxmemoryPolicy and appendonly: provisioning owns them (inventory redis_maxmemory, redis_maxmemory_policy, redis_appendonly)", () => {
    const bad = variant(dev, (c) => Object.assign(c.redis, { maxmemory: "1gb", maxmemoryPolicy: "allkeys-lru", appendonly: true }));
    expect(validateCampaignConfig(bad)).toEqual([
      "dev.redis.maxmemory: moved to the inventory: provisioning owns Redis's running config (and checks maxmemory against the host's memory) (allowed: leave unset; set redis_maxmemory in inventory/<environment>/group_vars/asterisk.yml)",
      "dev.redis.maxmemoryPolicy: moved to the inventory: provisioning owns Redis's running config (and checks maxmemory against the host's memory) (allowed: leave unset; set redis_maxmemory_policy in inventory/<environment>/group_vars/asterisk.yml)",
      "dev.redis.appendonly: moved to the inventory: provisioning owns Redis's running config (and checks maxmemory against the host's memory) (allowed: leave unset; set redis_appendonly in inventory/<environment>/group_vars/asterisk.yml)",
    ]);
    // The host's memory no longer limits the stack config: t3.micro is valid (provisioning checks the inventory's maxmemory).
    expect(validateCampaignConfig(variant(dev, (c) => (c.asterisk.instanceType = "t3.micro")))).toEqual([]);
  });

  it("checks subnets against the VPC and each other", () => {
    const bad = variant(dev, (c) => {
      if (c.network.mode !== "create") return;
      c.network.privateSubnetCidrs = ["10.20.1.0/24", "10.99.0.0/24"];
      c.network.publicSubnetCidr = "10.20.1.128/25";
    });
    expect(validateCampaignConfig(bad)).toEqual([
      "dev.network.privateSubnetCidrs[1]: 10.99.0.0/24 is not inside the VPC 10.20.0.0/16",
      "dev.network.publicSubnetCidr: 10.20.1.128/25 overlaps privateSubnetCidrs[0]",
    ]);
  });

  it("refuses the whole internet on SSH or SIP, a proxy without TLS and Redis outside the VPC", () => {
    const bad = variant(prod, (c) => {
      c.asterisk.sshCidrs = ["0.0.0.0/0"];
      c.proxy.requireTls = false;
      c.redis.allowedCidrs = ["192.0.2.0/24"];
      c.proxy.maxIdleConnectionsPercent = 120;
    });
    expect(validateCampaignConfig(bad)).toEqual([
      "prod.proxy.maxIdleConnectionsPercent: 120 is out of range (allowed: an integer 0..100)",
      "prod.proxy.requireTls: must be true: clients reach the proxy only over TLS (allowed: true)",
      "prod.asterisk.sshCidrs[0]: 0.0.0.0/0 opens the port to the whole internet (allowed: a narrower CIDR)",
      "prod.redis.allowedCidrs[0]: 192.0.2.0/24 is outside the VPC 10.0.0.0/16: Redis is VPC-only (allowed: CIDRs inside 10.0.0.0/16)",
    ]);
  });

  it("refuses tags that would override the stack's own or break AWS's limits, and keeps the stack's", () => {
    const bad = variant(dev, (c) => (c.tags = { Environment: "prod", "aws:owner": "x", Team: "voice" }));
    expect(validateCampaignConfig(bad)).toEqual([
      "dev.tags.Environment: is set by the stack itself (allowed: any key but Project, Environment, ManagedBy)",
      "dev.tags.aws:owner: is not a valid tag key (allowed: 1..128 characters, not starting with aws:)",
    ]);
    const { json } = synthCampaign({ ...dev, tags: { Team: "voice", Environment: "prod" } as Record<string, string> });
    expect(json.provider.aws[0].default_tags[0].tags).toEqual({ Team: "voice", Project: "campaign", Environment: "dev", ManagedBy: "cdktf" });
  });

  it("validates existing-network ids and the S3 backend", () => {
    const bad = variant(prod, (c) => {
      if (c.network.mode !== "existing" || c.backend.type !== "s3") return;
      c.network.vpcId = "vpc-xyz";
      c.network.privateSubnetIds = ["subnet-0a0a0a0a0a0a0a0a1"];
      c.backend.key = "/prod.tfstate";
    });
    expect(validateCampaignConfig(bad)).toEqual([
      'prod.network.vpcId: "vpc-xyz" is not valid (allowed: vpc- followed by 8 or 17 hex digits)',
      "prod.network.privateSubnetIds: RDS Proxy needs private subnets in at least two availability zones (allowed: two or more subnet ids)",
      'prod.backend.key: "/prod.tfstate" is not valid (allowed: an object key ending in .tfstate, e.g. campaign/prod/terraform.tfstate)',
    ]);
  });

  it("stops synth with ONE error listing the problems of every environment, before any stack exists", () => {
    const badDev = variant(dev, (c) => (c.database.instanceClass = "db.x9.huge"));
    const badProd = variant(prod, (c) => (c.region = "mars-1"));
    let error: unknown;
    try {
      buildApp({ campaign: [badDev, badProd] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/^Invalid configuration: 2 problem\(s\)\n/);
    expect(message).toContain('dev.database.instanceClass: "db.x9.huge" is not supported');
    expect(message).toContain('prod.region: "mars-1" is not valid (allowed: an AWS region such as us-east-1)');
  });
});

describe("CIDR parsing", () => {
  it.each(["10.0.0.0/16", "0.0.0.0/0", "192.168.1.128/25"])("accepts %s", (c) => expect(parseCidr(c)).toBeDefined());
  it.each(["10.0.0.0", "10.0.0.1/16", "300.0.0.0/8", "10.0.0.0/33", "a.b.c.d/8", ""])("rejects %p", (c) => expect(parseCidr(c)).toBeUndefined());
});
