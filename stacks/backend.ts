import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { LocalBackend, S3Backend, TerraformStack } from "cdktf";
import type { BackendConfig } from "./config";

/**
 * Terraform runs in cdktf.out/stacks/<stack>/, three levels below the project root. A relative
 * path keeps the synthesized JSON free of this machine's absolute paths (cdktf's default).
 */
const FROM_STACK_DIR_TO_ROOT = "../../..";

/** Configure where a stack keeps its state: a local file in the project, or S3 with native locking. */
export function applyBackend(stack: TerraformStack, backend: BackendConfig): void {
  const stackName = stack.node.id;
  if (backend.type === "local") {
    new LocalBackend(stack, { path: `${FROM_STACK_DIR_TO_ROOT}/${backend.path ?? `terraform.${stackName}.tfstate`}` });
    return;
  }
  const s3 = new S3Backend(stack, { bucket: backend.bucket, key: backend.key, region: backend.region, encrypt: true });
  // Terraform >= 1.10 locks S3 state natively; cdktf 0.21's S3Backend has no such property yet.
  if (backend.useLockfile ?? true) s3.addOverride("use_lockfile", true);
}

/** The AWS provider of a stack: every resource tagged with the extra tags, Project, Environment and ManagedBy. */
export function applyAwsProvider(
  stack: TerraformStack,
  opts: { region: string; project: string; environment: string; tags?: Record<string, string> },
): void {
  new AwsProvider(stack, "aws", {
    region: opts.region,
    defaultTags: [{ tags: { ...opts.tags, Project: opts.project, Environment: opts.environment, ManagedBy: "cdktf" } }],
  });
}
