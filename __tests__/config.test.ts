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

  describe("a misspelt or unknown setting is a problem, never silently ignored", () => {
    /** A variant of `config` with keys set where the config types have none. */
    const loose = (config: CampaignConfig, edit: (c: Record<string, any>) => void) => variant(config, (c) => edit(c as unknown as Record<string, any>));

    type Case = [string, CampaignConfig, (c: Record<string, any>) => void, string[]];
    it.each<Case>([
      [
        "at the top of an environment and in a section, listing the keys the section has",
        dev,
        (c) => {
          c.netwrok = c.network;
          c.database.instanceClas = "db.t3.small";
          c.protection.preventDestory = true;
        },
        [
          "dev.netwrok: unknown setting (allowed: project, environment, region, network, database, proxy, asterisk, redis, lambdas, monitoring, backend, protection, tags)",
          "dev.database.instanceClas: unknown setting (allowed: identifier, instanceClass, engineVersion, databaseName, masterUsername, allocatedStorageGb, maxAllocatedStorageGb, multiAz, backupRetentionDays, deletionProtection, adminCidrs)",
          "dev.protection.preventDestory: unknown setting (allowed: preventDestroy, secretRecoveryWindowDays)",
        ],
      ],
      [
        "in a stack section composed of a module's settings and the stack's own keys, and deeper (the removed keys are not offered)",
        prod,
        (c) => {
          c.redis.maxmemmory = "1gb";
          c.redis.backup.retention = 7;
          c.lambdas.ari.usr = "dialer";
          c.lambdas.functions.dispatcher.memory = 512;
          c.proxy.requireTLS = true;
          c.monitoring.alarmMail = "ops@example.com";
        },
        [
          "prod.proxy.requireTLS: unknown setting (allowed: connectionBorrowTimeout, maxConnectionsPercent, maxIdleConnectionsPercent, idleClientTimeout, requireTls, enabled, allowedCidrs)",
          "prod.redis.backup.retention: unknown setting (allowed: enabled, schedule, retentionDays, kmsKeyArn)",
          "prod.redis.maxmemmory: unknown setting (allowed: port, allowedCidrs, backup, mode, elasticache)",
          "prod.lambdas.functions.dispatcher.memory: unknown setting (allowed: memoryMb, timeoutSeconds, reservedConcurrency)",
          "prod.lambdas.ari.usr: unknown setting (allowed: port, user)",
          "prod.monitoring.alarmMail: unknown setting (allowed: alarmEmail)",
        ],
      ],
      [
        "in a mode's section: a key of another mode says which mode it belongs to",
        dev,
        (c) => {
          c.network.vpcid = "vpc-0c0ffee0c0ffee000";
          c.network.vpcId = "vpc-0c0ffee0c0ffee000";
          c.network.secretsManagerEndpoint = { mode: "create", securityGroupId: "sg-0e0e0e0e0e0e0e0e4" };
          c.backend.bucket = "campaign-terraform-state";
        },
        [
          'dev.network.secretsManagerEndpoint.securityGroupId: only applies to mode "existing" (allowed: mode, clientCidrs)',
          "dev.network.vpcid: unknown setting (allowed: mode, vpcCidr, availabilityZones, privateSubnetCidrs, publicSubnetCidr, egress, secretsManagerEndpoint)",
          'dev.network.vpcId: only applies to mode "existing" (allowed: mode, vpcCidr, availabilityZones, privateSubnetCidrs, publicSubnetCidr, egress, secretsManagerEndpoint)',
          'dev.backend.bucket: only applies to type "s3" (allowed: type, path)',
        ],
      ],
      [
        "in the existing network's mode",
        prod,
        (c) => (c.network.availabilityZones = ["us-east-1a", "us-east-1b"]),
        ['prod.network.availabilityZones: only applies to mode "create" (allowed: mode, vpcId, vpcCidr, privateSubnetIds, asteriskSubnetId, egress, secretsManagerEndpoint)'],
      ],
    ])("%s", (_name, config, edit, expected) => {
      expect(validateCampaignConfig(loose(config, edit))).toEqual(expected);
    });

    it("keeps the dedicated message of a removed setting", () => {
      const bad = loose(dev, (c) => (c.redis.maxmemory = "1gb"));
      expect(validateCampaignConfig(bad)).toEqual([expect.stringMatching(/^dev\.redis\.maxmemory: moved to the inventory: .* \(allowed: leave unset; set redis_maxmemory in inventory/)]);
    });
  });

  describe("the network, protection, backend and tags sections are schemas", () => {
    it("network: egress, the Secrets Manager endpoint by its mode, zones and subnets", () => {
      const nat = variant(prod, (c) => (c.network.egress = "nat"));
      expect(validateCampaignConfig(nat)).toEqual(['prod.network.secretsManagerEndpoint: only applies to egress "endpoint" (egress is "nat") (allowed: unset)']);
      const bad = variant(dev, (c) => {
        if (c.network.mode !== "create") return;
        (c.network as { egress: string }).egress = "vpn";
        c.network.secretsManagerEndpoint = { mode: "create", clientCidrs: ["10.20.0.0/33"] };
        c.network.availabilityZones = ["us-east-1a", "us-east-1a"];
      });
      expect(validateCampaignConfig(bad)).toEqual([
        "dev.network.availabilityZones: lists an availability zone twice",
        'dev.network.egress: "vpn" is not supported (allowed: endpoint, nat)',
        'dev.network.secretsManagerEndpoint.clientCidrs[0]: "10.20.0.0/33" is not a valid CIDR (allowed: an IPv4 CIDR such as 10.0.0.0/16)',
        'dev.network.secretsManagerEndpoint: only applies to egress "endpoint" (egress is "vpn") (allowed: unset)',
      ]);
      const endpoint = (secretsManagerEndpoint: unknown) => validateCampaignConfig(variant(prod, (c) => ((c.network as { secretsManagerEndpoint: unknown }).secretsManagerEndpoint = secretsManagerEndpoint)));
      expect(endpoint({ mode: "shared" })).toEqual(['prod.network.secretsManagerEndpoint.mode: "shared" is not supported (allowed: create, existing)']);
      expect(endpoint({ mode: "existing", securityGroupId: "sg-1" })).toEqual(['prod.network.secretsManagerEndpoint.securityGroupId: "sg-1" is not valid (allowed: sg- followed by 8 or 17 hex digits)']);
      expect(validateCampaignConfig(variant(dev, (c) => ((c as { network: unknown }).network = undefined)))).toEqual(['dev.network: is required (allowed: mode "create" or "existing")']);
      expect(validateCampaignConfig(variant(dev, (c) => ((c.network as { mode: string }).mode = "shared")))).toEqual(['dev.network.mode: "shared" is not supported (allowed: create, existing)']);
      const ids = variant(prod, (c) => {
        if (c.network.mode !== "existing") return;
        c.network.privateSubnetIds = ["subnet-0a0a0a0a0a0a0a0a1", "subnet-x"];
        (c.network as { asteriskSubnetId?: string }).asteriskSubnetId = undefined;
      });
      expect(validateCampaignConfig(ids)).toEqual([
        'prod.network.privateSubnetIds[1]: "subnet-x" is not valid (allowed: subnet- followed by 8 or 17 hex digits)',
        "prod.network.asteriskSubnetId: is required (allowed: subnet- followed by 8 or 17 hex digits)",
      ]);
    });

    it("protection, backend and tags", () => {
      const bad = variant(prod, (c) => {
        c.protection = { preventDestroy: "yes" } as unknown as typeof c.protection;
        c.backend = { type: "s3", bucket: "campaign-terraform-state", key: "campaign/prod/terraform.tfstate", region: "us-east-1", useLockfile: "on" as unknown as boolean };
        c.tags = { Team: 7 as unknown as string };
      });
      expect(validateCampaignConfig(bad)).toEqual([
        "prod.backend.useLockfile: must be true or false",
        "prod.protection.preventDestroy: must be true or false",
        "prod.protection.secretRecoveryWindowDays: is required (allowed: 0 (delete at once) or 7..30 days)",
        "prod.tags.Team: must be a string of at most 256 characters",
      ]);
      const backend = (b: unknown) => validateCampaignConfig(variant(dev, (c) => ((c as { backend: unknown }).backend = b)));
      expect(backend(undefined)).toEqual(['dev.backend: is required (allowed: type "local" or "s3")']);
      expect(backend({ type: "consul" })).toEqual(['dev.backend.type: "consul" is not supported (allowed: local, s3)']);
      expect(backend({ type: "local", path: "/tmp/state.tfstate" })).toEqual(['dev.backend.path: "/tmp/state.tfstate" must be relative to the project root (allowed: a relative path such as terraform.<stack>.tfstate)']);
      expect(validateCampaignConfig(variant(dev, (c) => ((c as { tags: unknown }).tags = ["Team=voice"])))).toEqual(["dev.tags: must be a map of strings"]);
    });
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
