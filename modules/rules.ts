import type { SecurityGroupEgress, SecurityGroupIngress } from "@cdktf/provider-aws/lib/security-group";

/** Where traffic may come from: CIDRs and/or security groups. */
export interface Sources {
  readonly cidrs?: string[];
  readonly securityGroupIds?: string[];
}

/**
 * One inline ingress rule. Rules stay inline in their aws_security_group so the group and its
 * rules live at one address, as they did in the HCL modules.
 */
export function ingress(
  protocol: "tcp" | "udp",
  ports: number | readonly [number, number],
  sources: Sources,
  description: string,
): SecurityGroupIngress {
  const [fromPort, toPort] = typeof ports === "number" ? [ports, ports] : ports;
  return {
    protocol,
    fromPort,
    toPort,
    cidrBlocks: sources.cidrs ?? [],
    securityGroups: sources.securityGroupIds ?? [],
    description,
  };
}

/** One inline egress rule (same shape as an ingress rule; `sources` are destinations here). */
export const egress: (...args: Parameters<typeof ingress>) => SecurityGroupEgress = ingress;

/** Whether any source is given (an ingress rule without one is an error in AWS). */
export function hasSources(sources: Sources): boolean {
  return (sources.cidrs?.length ?? 0) + (sources.securityGroupIds?.length ?? 0) > 0;
}

/** Egress to anywhere on every protocol (the AWS default, stated explicitly). */
export const allEgress: SecurityGroupEgress = {
  protocol: "-1",
  fromPort: 0,
  toPort: 0,
  cidrBlocks: ["0.0.0.0/0"],
  description: "All outbound",
};
