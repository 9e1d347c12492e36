import { dev, prod } from "../stacks/environments";
import { addresses, synthCampaign } from "./helpers/synth";

const prodStack = synthCampaign(prod);
const devStack = synthCampaign(dev);

/** The addresses the issue documents, module by module. */
const DOCUMENTED = {
  data: [
    "aws_security_group.rds_proxy",
    "aws_iam_role.rds_proxy",
    "aws_iam_role_policy.rds_proxy_secrets",
    "aws_db_proxy.main",
    "aws_db_proxy_default_target_group.main",
    "aws_db_proxy_target.main",
  ],
  compute: ["aws_instance.asterisk", "aws_security_group.asterisk", "random_password.redis", "aws_secretsmanager_secret.redis_password"],
};

describe("taking over state written by the HCL modules", () => {
  it.each([["prod", prodStack.json], ["dev", devStack.json]])("%s: every resource has a readable address without a hash", (_env, json) => {
    for (const address of addresses(json)) expect(address).toMatch(/^[a-z0-9_]+\.[a-z][a-z0-9_]*$/);
  });

  it("keeps the documented addresses", () => {
    const all = addresses(prodStack.json);
    for (const address of [...DOCUMENTED.data, ...DOCUMENTED.compute]) expect(all).toContain(address);
  });

  it("moves every data and compute resource from its old module address", () => {
    const moved = prodStack.json.moved;
    for (const [module, list] of Object.entries(DOCUMENTED)) {
      for (const address of list) expect(moved).toContainEqual({ from: `module.${module}.${address}`, to: address });
    }
    const all = addresses(prodStack.json);
    for (const { from, to } of moved) {
      expect(all).toContain(to);
      expect(from).toBe(`module.${from.split(".")[1]}.${to}`);
    }
    expect(new Set(moved.map((m) => m.from)).size).toBe(moved.length);
  });

  it("does not move what the HCL modules never had (the network created for dev)", () => {
    expect(devStack.json.moved.map((m) => m.to)).not.toContain("aws_vpc.main");
    expect(addresses(devStack.json)).toEqual(expect.arrayContaining(["aws_vpc.main", "aws_subnet.private_a", "aws_subnet.private_b", "aws_subnet.public"]));
  });
});

describe("state backends", () => {
  it("dev keeps local state at a path relative to the project (no machine paths)", () => {
    expect(devStack.json.terraform.backend).toEqual({ local: { path: "../../../terraform.campaign-dev.tfstate" } });
  });

  it("prod keeps shared state in S3, encrypted, with native locking", () => {
    expect(prodStack.json.terraform.backend).toEqual({
      s3: { bucket: "campaign-terraform-state", key: "campaign/prod/terraform.tfstate", region: "us-east-1", encrypt: true, use_lockfile: true },
    });
  });

  it("pins hashicorp/aws 6.25 and tags everything", () => {
    expect(prodStack.json.terraform.required_providers.aws.version).toBe("6.25.0");
    expect(prodStack.json.provider.aws[0].default_tags).toEqual([{ tags: { Project: "campaign", Environment: "prod", ManagedBy: "cdktf" } }]);
  });
});
