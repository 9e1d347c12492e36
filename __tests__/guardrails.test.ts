import { DbInstance } from "@cdktf/provider-aws/lib/db-instance";
import { DbProxy } from "@cdktf/provider-aws/lib/db-proxy";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketAcl } from "@cdktf/provider-aws/lib/s3-bucket-acl";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { SecurityGroupRule } from "@cdktf/provider-aws/lib/security-group-rule";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import { Password } from "@cdktf/provider-random/lib/password";
import { RandomProvider } from "@cdktf/provider-random/lib/provider";
import { TerraformOutput, TerraformStack, Testing } from "cdktf";
import { Construct } from "constructs";
import { at } from "../modules/address";
import { applyGuardrails } from "../modules/guardrails";
import { ingress } from "../modules/rules";
import { CampaignStack } from "../stacks/campaign-stack";
import { prod } from "../stacks/environments";

/** A stack with the guardrails and whatever `build` adds; returns the synth error message. */
function synthError(build: (scope: Construct) => void): string {
  const stack = new TerraformStack(Testing.app(), "bad");
  new AwsProvider(stack, "aws", { region: "us-east-1" });
  new RandomProvider(stack, "random");
  applyGuardrails(stack);
  build(new Construct(stack, "module"));
  try {
    Testing.synth(stack, true);
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

const sg = (scope: Construct, ports: number | [number, number], cidrs: string[], protocol: "tcp" | "udp" = "tcp") =>
  at(new SecurityGroup(scope, "sg", { name: "x", ingress: [ingress(protocol, ports, { cidrs }, "test")] }), "bad");

describe("guardrails fail synth, naming the construct path", () => {
  it.each([
    [22, "SSH"],
    [5432, "PostgreSQL"],
    [6379, "Redis"],
  ])("an inline rule opening %i to 0.0.0.0/0", (port, service) => {
    expect(synthError((s) => sg(s, port, ["0.0.0.0/0"]))).toContain(`[bad/module/sg] aws_security_group.bad: opens ${service} (${port}) to 0.0.0.0/0`);
  });

  it("a port range that covers 6379, open to ::/0", () => {
    const message = synthError((s) =>
      at(new SecurityGroup(s, "sg", { name: "x", ingress: [{ protocol: "tcp", fromPort: 6000, toPort: 7000, ipv6CidrBlocks: ["::/0"] }] }), "bad"),
    );
    expect(message).toContain("aws_security_group.bad: opens Redis (6379) to ::/0");
  });

  it("an aws_security_group_rule and an aws_vpc_security_group_ingress_rule for all protocols", () => {
    const message = synthError((s) => {
      at(new SecurityGroupRule(s, "rule", { type: "ingress", protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: ["0.0.0.0/0"], securityGroupId: "sg-1" }), "pg");
      at(new VpcSecurityGroupIngressRule(s, "all", { securityGroupId: "sg-1", ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" }), "all");
    });
    expect(message).toContain("[bad/module/rule] aws_security_group_rule.pg: opens PostgreSQL (5432) to 0.0.0.0/0");
    for (const service of ["SSH (22)", "PostgreSQL (5432)", "Redis (6379)"]) {
      expect(message).toContain(`[bad/module/all] aws_vpc_security_group_ingress_rule.all: opens ${service} to 0.0.0.0/0`);
    }
  });

  it("RDS storage unencrypted or public, and a proxy without TLS", () => {
    const message = synthError((s) => {
      at(new DbInstance(s, "db", { instanceClass: "db.t3.micro", engine: "postgres", storageEncrypted: false, publiclyAccessible: true }), "main");
      at(new DbProxy(s, "proxy", { name: "p", engineFamily: "POSTGRESQL", roleArn: "arn", vpcSubnetIds: ["s"], requireTls: false }), "main");
    });
    expect(message).toContain("[bad/module/db] aws_db_instance.main: storage must be encrypted (storage_encrypted = true)");
    expect(message).toContain("[bad/module/db] aws_db_instance.main: must not be publicly accessible");
    expect(message).toContain("[bad/module/proxy] aws_db_proxy.main: must require TLS (require_tls = true)");
  });

  it("an output carrying a secret that is not sensitive (and accepts it when sensitive)", () => {
    const leak = (sensitive: boolean) =>
      synthError((s) => {
        const password = at(new Password(s, "pw", { length: 32 }), "redis");
        at(new TerraformOutput(s, "redis_password", { value: password.result, sensitive }), "redis_password");
      });
    expect(leak(false)).toContain("output redis_password carries a secret (random_password.redis.result) and must be sensitive = true");
    expect(leak(true)).toBe("");
  });

  it("a resource or output without a stable address", () => {
    const message = synthError((s) => new TerraformOutput(s, "length", { value: new Password(s, "pw", { length: 32 }).length }));
    expect(message).toMatch(/random_password\.module_pw_[0-9A-F]{8} has no stable address/);
    expect(message).toMatch(/output module_length_[0-9A-F]{8} has no stable name/);
  });

  it("an escape-hatch override that opens the real Asterisk group to the world", () => {
    const stack = new CampaignStack(Testing.app(), prod);
    stack.compute.securityGroup.addOverride("ingress.0.cidr_blocks", ["0.0.0.0/0"]);
    expect(() => Testing.synth(stack, true)).toThrow(/\[campaign-prod\/compute\/sg\] aws_security_group\.asterisk: opens SSH \(22\) to 0\.0\.0\.0\/0/);
  });

  it("lets the shipped stacks through", () => {
    expect(() => Testing.synth(new CampaignStack(Testing.app(), prod), true)).not.toThrow();
  });
});

describe("guardrails refuse an unencrypted or public bucket", () => {
  const block = (s: Construct, b: S3Bucket, over: Record<string, boolean> = {}) =>
    at(new S3BucketPublicAccessBlock(s, "pab", { bucket: b.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true, ...over }), "b");
  const encrypt = (s: Construct, b: S3Bucket) =>
    at(new S3BucketServerSideEncryptionConfigurationA(s, "sse", { bucket: b.bucket, rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] }), "b");

  it("a bucket alone: not encrypted, public access not blocked", () => {
    const m = synthError((s) => at(new S3Bucket(s, "b", { bucket: "x" }), "b"));
    expect(m).toContain("aws_s3_bucket.b: must be encrypted (an aws_s3_bucket_server_side_encryption_configuration for it)");
    expect(m).toContain("aws_s3_bucket.b: must block public access (an aws_s3_bucket_public_access_block for it)");
  });

  it("a public access block with a setting off, a public ACL", () => {
    const m = synthError((s) => {
      const b = at(new S3Bucket(s, "b", { bucket: "x" }), "b");
      encrypt(s, b);
      block(s, b, { restrictPublicBuckets: false });
      at(new S3BucketAcl(s, "acl", { bucket: b.id, acl: "public-read" }), "b");
    });
    expect(m).toContain("aws_s3_bucket_public_access_block.b: must block all public access (restrict_public_buckets = true)");
    expect(m).toContain("aws_s3_bucket_acl.b: canned ACL public-read makes the bucket public");
    expect(m).not.toContain("must be encrypted");
  });

  it("an encrypted, blocked bucket passes", () => {
    expect(
      synthError((s) => {
        const b = at(new S3Bucket(s, "b", { bucket: "x" }), "b");
        encrypt(s, b);
        block(s, b);
      }),
    ).toBe("");
  });
});
