import { EfsAccessPoint } from "@cdktf/provider-aws/lib/efs-access-point";
import { EfsFileSystem } from "@cdktf/provider-aws/lib/efs-file-system";
import { EfsMountTarget } from "@cdktf/provider-aws/lib/efs-mount-target";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Fn, TerraformCount, Token } from "cdktf";
import { Construct } from "constructs";
import type { z } from "zod";
import { at, nameTag } from "../address";
import { across, integer, matching, oneOf, section, settingsOf } from "../settings";
import { allEgress, ingress } from "../rules";

/** The students' file system: an environment's `efs` section (with the service's containerPath). */
export const PythonideEfsSettings = section({
  /** "provisioned" pays for throughput regardless of use ($6.00 per MiB/s-month); "bursting" and "elastic" pay by use. @default "bursting" */
  throughputMode: oneOf(["provisioned", "bursting", "elastic"] as const).default("bursting"),
  /** MiB/s; required with throughputMode "provisioned", and only with it. @default unset */
  provisionedThroughputMibps: integer(1, 3414).optional(),
  /** Directory the access point exposes (created with uid/gid 1000, mode 750). @default "/students" */
  rootDirectory: matching(/^\/[\w./-]*$/, "an absolute path such as /students").default("/students"),
  /** POSIX user (and group) the tasks act as on the file system. @default 1000 */
  uid: integer(0, 2147483647).default(1000),
}).refine(
  ...across<{ throughputMode?: unknown; provisionedThroughputMibps?: unknown }>("provisionedThroughputMibps", (e) => {
    if (e.throughputMode === "provisioned" && e.provisionedThroughputMibps === undefined) return "is required (allowed: an integer 1..3414)";
    if ((e.throughputMode === "bursting" || e.throughputMode === "elastic") && e.provisionedThroughputMibps !== undefined) {
      return 'only applies to throughputMode "provisioned" (allowed: unset)';
    }
    return undefined;
  }),
);

export type PythonideEfsSettings = z.input<typeof PythonideEfsSettings>;

export interface PythonideEfsProps extends PythonideEfsSettings {
  /** Name tag and creation token, e.g. `pythonide-production`. */
  readonly name: string;
  readonly vpcId: string;
  /** One mount target per subnet (one subnet per availability zone). May be a list token. */
  readonly subnetIds: string[];
  /** Security groups of the tasks: the only NFS (2049) clients. */
  readonly clientSecurityGroupIds: string[];
  /** lifecycle.prevent_destroy on the file system (production: the students' files). @default false */
  readonly preventDestroy?: boolean;
  /**
   * The file system exists and is imported: its creation token (which forces a replacement) is
   * whatever it was created with, so Terraform ignores it. @default false
   */
  readonly adopted?: boolean;
}

/**
 * The students' files: an encrypted EFS file system with mount targets in the private subnets,
 * reachable on 2049 only from the tasks, and an access point that pins the tasks' POSIX user
 * and root directory. Tasks mount it with transit encryption and IAM authorization.
 *
 * Addresses: aws_efs_file_system.main, aws_security_group.efs, aws_efs_mount_target.main[i],
 * aws_efs_access_point.main.
 */
export class PythonideEfs extends Construct {
  readonly fileSystem: EfsFileSystem;
  readonly accessPoint: EfsAccessPoint;

  constructor(scope: Construct, id: string, props: PythonideEfsProps) {
    super(scope, id);
    const settings = settingsOf(this.node.path, PythonideEfsSettings, props);
    const { throughputMode: mode, uid } = settings;
    this.fileSystem = at(
      new EfsFileSystem(this, "fs", {
        creationToken: props.name,
        encrypted: true,
        performanceMode: "generalPurpose",
        throughputMode: mode,
        provisionedThroughputInMibps: mode === "provisioned" ? settings.provisionedThroughputMibps : undefined,
        lifecyclePolicy: [{ transitionToIa: "AFTER_30_DAYS" }],
        ...(props.preventDestroy || props.adopted
          ? { lifecycle: { ...(props.preventDestroy ? { preventDestroy: true } : {}), ...(props.adopted ? { ignoreChanges: ["creation_token"] } : {}) } }
          : {}),
        tags: nameTag(props.name),
      }),
      "main",
    );
    const securityGroup = at(
      new SecurityGroup(this, "sg", {
        name: `${props.name}-efs`,
        description: "EFS: NFS from the PythonIDE tasks",
        vpcId: props.vpcId,
        ingress: [ingress("tcp", 2049, { securityGroupIds: props.clientSecurityGroupIds }, "NFS from the tasks")],
        egress: [allEgress],
        tags: nameTag(`${props.name}-efs`),
      }),
      "efs",
    );
    // count, not a loop: in pythonide-staging the subnet ids are a data source's list.
    const count = TerraformCount.of(Token.asNumber(Fn.lengthOf(props.subnetIds)));
    at(
      new EfsMountTarget(this, "mount-target", {
        count,
        fileSystemId: this.fileSystem.id,
        subnetId: Token.asString(Fn.element(props.subnetIds, count.index)),
        securityGroups: [securityGroup.id],
      }),
      "main",
    );
    this.accessPoint = at(
      new EfsAccessPoint(this, "access-point", {
        fileSystemId: this.fileSystem.id,
        posixUser: { uid, gid: uid },
        rootDirectory: {
          path: settings.rootDirectory,
          creationInfo: { ownerUid: uid, ownerGid: uid, permissions: "750" },
        },
        tags: nameTag(props.name),
      }),
      "main",
    );
  }
}
