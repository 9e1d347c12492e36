/**
 * modules/redis-backup in the campaign stack: the bucket of the host's Redis snapshots (encrypted,
 * versioned, public access blocked, TLS only, lifecycle expiry, only the host's role writes), its
 * config validation (the guardrails' bucket checks are in guardrails.test.ts).
 */
import { TerraformStack, Testing } from "cdktf";
import { RedisBackup } from "../modules/redis-backup";
import { validateCampaignConfig } from "../stacks/config";
import { dev, prod } from "../stacks/environments";
import { addresses, synthCampaign, variant } from "./helpers/synth";

const { json } = synthCampaign(prod);
const r = json.resource;
const policyOf = (p: Record<string, any>) => JSON.parse(p.policy as string) as { Statement: Record<string, any>[] };

describe("redis backup bucket (prod)", () => {
  it("is one bucket with a readable address, its own name prefix, and prevent_destroy in prod", () => {
    expect(addresses(json).filter((a) => /redis_backup/.test(a)).sort()).toEqual([
      "aws_iam_role_policy.asterisk_redis_backup",
      "aws_s3_bucket.redis_backup",
      "aws_s3_bucket_lifecycle_configuration.redis_backup",
      "aws_s3_bucket_ownership_controls.redis_backup",
      "aws_s3_bucket_policy.redis_backup",
      "aws_s3_bucket_public_access_block.redis_backup",
      "aws_s3_bucket_server_side_encryption_configuration.redis_backup",
      "aws_s3_bucket_versioning.redis_backup",
    ]);
    expect(r.aws_s3_bucket.redis_backup).toMatchObject({ bucket_prefix: "campaign-prod-redis-backup-", lifecycle: { prevent_destroy: true } });
    expect(r.aws_s3_bucket.redis_backup.bucket_prefix.length).toBeLessThanOrEqual(37); // S3's limit for bucket_prefix
    expect(json.output.redis_backup_bucket.value).toBe("${aws_s3_bucket.redis_backup.bucket}");
    expect(json.output.redis_backup_schedule.value).toBe("hourly");
  });

  it("is encrypted (SSE-S3 by default, SSE-KMS with a bucket key when a key is given) and versioned", () => {
    const bucket = "${aws_s3_bucket.redis_backup.id}";
    expect(r.aws_s3_bucket_server_side_encryption_configuration.redis_backup).toEqual({
      bucket,
      rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: "AES256" } }],
    });
    expect(r.aws_s3_bucket_versioning.redis_backup).toEqual({ bucket, versioning_configuration: { status: "Enabled" } });
    const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const { json: kms } = synthCampaign(variant(prod, (c) => (c.redis.backup!.kmsKeyArn = key)));
    expect(kms.resource.aws_s3_bucket_server_side_encryption_configuration.redis_backup.rule).toEqual([
      { apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: key }, bucket_key_enabled: true },
    ]);
    expect(policyOf(kms.resource.aws_iam_role_policy.asterisk_redis_backup).Statement).toContainEqual({
      Sid: "UseBackupKey", Effect: "Allow", Action: ["kms:GenerateDataKey", "kms:Decrypt"], Resource: key,
    });
  });

  it("blocks every public access and disables ACLs", () => {
    expect(r.aws_s3_bucket_public_access_block.redis_backup).toEqual({
      bucket: "${aws_s3_bucket.redis_backup.id}",
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(r.aws_s3_bucket_ownership_controls.redis_backup.rule).toEqual({ object_ownership: "BucketOwnerEnforced" });
  });

  it("refuses plain HTTP, and writes from any principal but the Asterisk host's role", () => {
    const p = policyOf(r.aws_s3_bucket_policy.redis_backup);
    expect(p.Statement).toEqual([
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: ["${aws_s3_bucket.redis_backup.arn}", "${aws_s3_bucket.redis_backup.arn}/*"],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
      {
        Sid: "DenyWritesExceptTheAsteriskHost",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:PutObject", "s3:PutObjectAcl", "s3:RestoreObject"],
        Resource: "${aws_s3_bucket.redis_backup.arn}/*",
        Condition: { ArnNotEquals: { "aws:PrincipalArn": "${aws_iam_role.asterisk.arn}" } },
      },
    ]);
    expect(r.aws_s3_bucket_policy.redis_backup.depends_on).toEqual(["aws_s3_bucket_public_access_block.redis_backup"]);
  });

  it("lets the host's role put, list and read backups under redis/ only, never delete them", () => {
    const pol = r.aws_iam_role_policy.asterisk_redis_backup;
    expect(pol.role).toBe("${aws_iam_role.asterisk.name}");
    const keys = "${aws_s3_bucket.redis_backup.arn}/redis/*";
    expect(policyOf(pol).Statement).toEqual([
      { Sid: "WriteRedisBackups", Effect: "Allow", Action: "s3:PutObject", Resource: keys },
      { Sid: "ReadRedisBackups", Effect: "Allow", Action: ["s3:GetObject", "s3:GetObjectVersion"], Resource: keys },
      {
        Sid: "ListRedisBackups",
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: "${aws_s3_bucket.redis_backup.arn}",
        Condition: { StringLike: { "s3:prefix": ["redis/*"] } },
      },
    ]);
    // No other policy in the stack grants S3 writes.
    const others = Object.entries(r.aws_iam_role_policy).filter(([n]) => n !== "asterisk_redis_backup").map(([, p]) => p.policy as string);
    expect(others.join("\n")).not.toMatch(/s3:/);
    expect(JSON.stringify(pol)).not.toMatch(/Delete/);
  });

  it("expires backups and noncurrent versions after retentionDays (14 in prod, 7 in dev)", () => {
    const rule = (j: typeof json) => j.resource.aws_s3_bucket_lifecycle_configuration.redis_backup.rule;
    expect(rule(json)[0]).toEqual({
      id: "expire-redis-backups",
      status: "Enabled",
      filter: [{ prefix: "redis/" }],
      expiration: [{ days: 14 }],
      noncurrent_version_expiration: [{ noncurrent_days: 14 }],
      abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
    });
    expect(rule(json)[1]).toMatchObject({ expiration: [{ expired_object_delete_marker: true }] });
    const { json: d } = synthCampaign(dev);
    expect(rule(d)[0]).toMatchObject({ expiration: [{ days: 7 }], noncurrent_version_expiration: [{ noncurrent_days: 7 }] });
    expect(d.resource.aws_s3_bucket.redis_backup.lifecycle).toBeUndefined(); // dev: protection.preventDestroy false
  });

  it("is absent when disabled, and kept in either redis.mode (a rollback does not drop the backups)", () => {
    const { json: off } = synthCampaign(variant(prod, (c) => (c.redis.backup!.enabled = false)));
    expect(addresses(off).filter((a) => /redis_backup|aws_s3/.test(a))).toEqual([]);
    expect(off.output.redis_backup_bucket).toBeUndefined();
    const { json: ec } = synthCampaign(variant(prod, (c) => (c.redis.mode = "elasticache")));
    expect(ec.resource.aws_s3_bucket.redis_backup).toEqual(r.aws_s3_bucket.redis_backup);
    expect(ec.moved.filter((m) => /s3|redis_backup/.test(m.to))).toEqual([]);
  });
});

describe("redis.backup configuration", () => {
  it("names each bad value", () => {
    const bad = variant(prod, (c) => {
      c.redis.backup = { enabled: "yes" as unknown as boolean, retentionDays: 0, schedule: "hourly; rm -rf /", kmsKeyArn: "alias/x" };
    });
    const problems = validateCampaignConfig(bad);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^prod\.redis\.backup\.enabled: must be true or false/),
        expect.stringMatching(/^prod\.redis\.backup\.schedule: .*OnCalendar/),
        expect.stringMatching(/^prod\.redis\.backup\.retentionDays: 0 is out of range \(allowed: an integer 1\.\.3650\)/),
        expect.stringMatching(/^prod\.redis\.backup\.kmsKeyArn: "alias\/x" is not valid \(allowed: arn:aws:kms:REGION:ACCOUNT:key\/ID; an alias cannot scope/),
      ]),
    );
    expect(validateCampaignConfig(prod)).toEqual([]);
    expect(validateCampaignConfig(dev)).toEqual([]);
  });

  it("the construct validates its own props", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    expect(() => new RedisBackup(stack, "b", { name: "x-y", hostRole: { name: "r", arn: "arn" }, retentionDays: 1.5, prefix: "/bad/" })).toThrow(
      /^s\/b: retentionDays: 1\.5 is out of range \(allowed: an integer 1\.\.3650\); prefix: "\/bad\/" is not valid \(allowed: lowercase path segments/,
    );
  });
});
