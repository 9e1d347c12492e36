import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLifecycleConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { Construct } from "constructs";
import type { z } from "zod";
import { at, nameTag } from "../address";
import { integer, matching, section, settingsOf } from "../settings";
import { protect } from "../generated-secret";

/** The backups' own settings: an environment's `redis.backup` section (with the host timer's `enabled` and `schedule`). */
export const RedisBackupSettings = section({
  /** Days each backup (and each overwritten version) is kept. @default 14 */
  retentionDays: integer(1, 3650).default(14),
  /** Key prefix of the backups (no leading or trailing slash). @default "redis" */
  prefix: matching(/^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/, 'lowercase path segments without leading or trailing slash, e.g. "redis"').default("redis"),
  /** KMS key ARN to encrypt with (SSE-KMS, with an S3 bucket key). @default SSE-S3 (AES256) */
  kmsKeyArn: matching(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, "arn:aws:kms:REGION:ACCOUNT:key/ID; an alias cannot scope the host's IAM policy").optional(),
});

export type RedisBackupSettings = z.input<typeof RedisBackupSettings>;

export interface RedisBackupProps extends RedisBackupSettings {
  /** Name prefix, e.g. `campaign-prod`; the bucket is `<name>-redis-backup-<random suffix>` (names are global). */
  readonly name: string;
  /** The Asterisk host's instance role: the only principal that may write backups. */
  readonly hostRole: { readonly name: string; readonly arn: string };
  /** lifecycle.prevent_destroy on the bucket. @default false */
  readonly preventDestroy?: boolean;
}

/**
 * Where the Asterisk host's Redis snapshots go (provisioning's backup timer, docs/backups.md): an
 * S3 bucket that is encrypted (SSE-S3, or SSE-KMS with a key), versioned, with every public access
 * blocked and ACLs disabled, a policy that refuses plain HTTP and any writer but the host's role,
 * and a lifecycle that expires backups (current and noncurrent versions) after `retentionDays`.
 *
 * The host's role may put objects under the prefix, and list and read them back (the restore); it
 * may not delete: old backups go by the lifecycle only, so a compromised host cannot erase them
 * (an overwrite leaves the previous version, kept for the same retention).
 *
 * Addresses: aws_s3_bucket.redis_backup, aws_s3_bucket_versioning.redis_backup,
 * aws_s3_bucket_server_side_encryption_configuration.redis_backup,
 * aws_s3_bucket_public_access_block.redis_backup, aws_s3_bucket_ownership_controls.redis_backup,
 * aws_s3_bucket_lifecycle_configuration.redis_backup, aws_s3_bucket_policy.redis_backup,
 * aws_iam_role_policy.asterisk_redis_backup.
 */
export class RedisBackup extends Construct {
  readonly bucket: S3Bucket;
  readonly prefix: string;
  readonly retentionDays: number;

  constructor(scope: Construct, id: string, props: RedisBackupProps) {
    super(scope, id);
    const settings = settingsOf(this.node.path, RedisBackupSettings, props);
    this.prefix = settings.prefix;
    this.retentionDays = settings.retentionDays;

    this.bucket = at(
      new S3Bucket(this, "bucket", {
        bucketPrefix: `${props.name}-redis-backup-`,
        tags: nameTag(`${props.name}-redis-backup`),
        ...protect(props.preventDestroy),
      }),
      "redis_backup",
    );
    const bucket = this.bucket.id;
    at(new S3BucketVersioningA(this, "versioning", { bucket, versioningConfiguration: { status: "Enabled" } }), "redis_backup");
    at(
      new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
        bucket,
        rule: [
          settings.kmsKeyArn
            ? { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: settings.kmsKeyArn }, bucketKeyEnabled: true }
            : { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
        ],
      }),
      "redis_backup",
    );
    const publicAccess = at(
      new S3BucketPublicAccessBlock(this, "public-access", {
        bucket,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      }),
      "redis_backup",
    );
    at(new S3BucketOwnershipControls(this, "ownership", { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } }), "redis_backup");
    at(
      new S3BucketLifecycleConfiguration(this, "lifecycle", {
        bucket,
        rule: [
          {
            id: "expire-redis-backups",
            status: "Enabled",
            filter: [{ prefix: `${this.prefix}/` }],
            expiration: [{ days: this.retentionDays }],
            noncurrentVersionExpiration: [{ noncurrentDays: this.retentionDays }],
            abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
          },
          {
            // Delete markers left once every version of a key has expired.
            id: "remove-expired-delete-markers",
            status: "Enabled",
            filter: [{ prefix: "" }],
            expiration: [{ expiredObjectDeleteMarker: true }],
          },
        ],
      }),
      "redis_backup",
    );

    const objects = `${this.bucket.arn}/*`;
    at(
      new S3BucketPolicy(this, "policy", {
        bucket,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: [this.bucket.arn, objects],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
            {
              Sid: "DenyWritesExceptTheAsteriskHost",
              Effect: "Deny",
              Principal: "*",
              Action: ["s3:PutObject", "s3:PutObjectAcl", "s3:RestoreObject"],
              Resource: objects,
              Condition: { ArnNotEquals: { "aws:PrincipalArn": props.hostRole.arn } },
            },
          ],
        }),
        // S3 refuses a policy while the public access block is being changed.
        dependsOn: [publicAccess],
      }),
      "redis_backup",
    );

    const keys = `${this.bucket.arn}/${this.prefix}/*`;
    at(
      new IamRolePolicy(this, "host-policy", {
        name: "redis-backup",
        role: props.hostRole.name,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Sid: "WriteRedisBackups", Effect: "Allow", Action: "s3:PutObject", Resource: keys },
            { Sid: "ReadRedisBackups", Effect: "Allow", Action: ["s3:GetObject", "s3:GetObjectVersion"], Resource: keys },
            {
              Sid: "ListRedisBackups",
              Effect: "Allow",
              Action: "s3:ListBucket",
              Resource: this.bucket.arn,
              Condition: { StringLike: { "s3:prefix": [`${this.prefix}/*`] } },
            },
            ...(settings.kmsKeyArn
              ? [{ Sid: "UseBackupKey", Effect: "Allow", Action: ["kms:GenerateDataKey", "kms:Decrypt"], Resource: settings.kmsKeyArn }]
              : []),
          ],
        }),
      }),
      "asterisk_redis_backup",
    );
  }
}
