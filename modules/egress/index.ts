import { Eip } from "@cdktf/provider-aws/lib/eip";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import { Route } from "@cdktf/provider-aws/lib/route";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { at, nameTag } from "../address";
import { ingress } from "../rules";

export type EgressProps =
  | {
      /** A Secrets Manager interface endpoint with private DNS in the private subnets. */
      readonly mode: "endpoint";
      /** Name prefix, e.g. `campaign-prod`. */
      readonly name: string;
      readonly region: string;
      readonly vpcId: string;
      /** One endpoint network interface per subnet (each costs $0.01/h). */
      readonly privateSubnetIds: string[];
      /**
       * CIDRs allowed to the endpoint on 443. Private DNS sends every Secrets Manager call in the
       * VPC here, so this must cover every workload of the VPC that calls it: the VPC's CIDR.
       */
      readonly clientCidrs: string[];
    }
  | {
      /** The VPC's existing Secrets Manager endpoint: nothing is created but, with its security group, 443 rules from the clients. */
      readonly mode: "existing-endpoint";
      /** The existing endpoint's security group. @default none: it admits the clients already */
      readonly endpointSecurityGroupId?: string;
      /** Client security groups by rule address suffix, e.g. { lambdas: sg } -> aws_vpc_security_group_ingress_rule.secretsmanager_from_lambdas. */
      readonly clientSecurityGroups: Record<string, string>;
    }
  | {
      /** A NAT gateway (with an Elastic IP) in the public subnet and a default route for the private ones. */
      readonly mode: "nat";
      readonly name: string;
      readonly publicSubnetId: string;
      readonly privateRouteTableId: string;
    };

/**
 * How the private subnets reach Secrets Manager, the one AWS API the Lambdas call (the Network
 * module gives private subnets no route out). Monthly cost in us-east-1 (730 h):
 * - endpoint (default): $0.01/h per subnet's AZ: 2 AZs = $14.60, plus $0.01/GB;
 * - nat: $0.045/h = $32.85 plus the Elastic IP's $3.65 = $36.50, plus $0.045/GB, in one AZ.
 *
 * - existing-endpoint: $0 here (the endpoint is paid for already).
 *
 * Addresses: endpoint: aws_security_group.vpc_endpoints, aws_vpc_endpoint.secretsmanager;
 * existing-endpoint: aws_vpc_security_group_ingress_rule.secretsmanager_from_<client>;
 * nat: aws_eip.nat, aws_nat_gateway.main, aws_route.private_nat.
 */
export class Egress extends Construct {
  /** What a client's first boot must wait for: the endpoint, the route out or the 443 rules. */
  readonly ready: ITerraformDependable[] = [];

  constructor(scope: Construct, id: string, props: EgressProps) {
    super(scope, id);
    if (props.mode === "existing-endpoint") {
      if (!props.endpointSecurityGroupId) return;
      for (const [client, securityGroupId] of Object.entries(props.clientSecurityGroups)) {
        const rule = at(
          new VpcSecurityGroupIngressRule(this, `from-${client}`, {
            securityGroupId: props.endpointSecurityGroupId,
            referencedSecurityGroupId: securityGroupId,
            ipProtocol: "tcp",
            fromPort: 443,
            toPort: 443,
            description: `Secrets Manager (HTTPS) from ${client}`,
          }),
          `secretsmanager_from_${client}`,
        );
        this.ready.push(rule);
      }
      return;
    }
    if (props.mode === "nat") {
      const eip = at(new Eip(this, "nat-ip", { domain: "vpc", tags: nameTag(`${props.name}-nat`) }), "nat");
      const nat = at(
        new NatGateway(this, "nat", { allocationId: eip.allocationId, subnetId: props.publicSubnetId, tags: nameTag(props.name) }),
        "main",
      );
      this.ready.push(
        at(
          new Route(this, "private-nat", { routeTableId: props.privateRouteTableId, destinationCidrBlock: "0.0.0.0/0", natGatewayId: nat.id }),
          "private_nat",
        ),
      );
      return;
    }
    const group = at(
      new SecurityGroup(this, "endpoints-sg", {
        name: `${props.name}-vpc-endpoints`,
        description: "VPC interface endpoints: HTTPS from every client in the VPC (private DNS)",
        vpcId: props.vpcId,
        ingress: [ingress("tcp", 443, { cidrs: props.clientCidrs }, "HTTPS from the VPC's clients of AWS APIs")],
        egress: [],
        tags: nameTag(`${props.name}-vpc-endpoints`),
      }),
      "vpc_endpoints",
    );
    const endpoint = at(
      new VpcEndpoint(this, "secretsmanager", {
        vpcId: props.vpcId,
        serviceName: `com.amazonaws.${props.region}.secretsmanager`,
        vpcEndpointType: "Interface",
        privateDnsEnabled: true,
        subnetIds: props.privateSubnetIds,
        securityGroupIds: [group.id],
        tags: nameTag(`${props.name}-secretsmanager`),
      }),
      "secretsmanager",
    );
    this.ready.push(endpoint);
  }
}
