import { Eip } from "@cdktf/provider-aws/lib/eip";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import { Route } from "@cdktf/provider-aws/lib/route";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
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
      /** Security groups allowed to the endpoint on 443: every VPC client of the AWS APIs (Lambdas, Asterisk host). */
      readonly clientSecurityGroupIds: string[];
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
 * Addresses: endpoint: aws_security_group.vpc_endpoints, aws_vpc_endpoint.secretsmanager;
 * nat: aws_eip.nat, aws_nat_gateway.main, aws_route.private_nat.
 */
export class Egress extends Construct {
  constructor(scope: Construct, id: string, props: EgressProps) {
    super(scope, id);
    if (props.mode === "nat") {
      const eip = at(new Eip(this, "nat-ip", { domain: "vpc", tags: nameTag(`${props.name}-nat`) }), "nat");
      const nat = at(
        new NatGateway(this, "nat", { allocationId: eip.allocationId, subnetId: props.publicSubnetId, tags: nameTag(props.name) }),
        "main",
      );
      at(
        new Route(this, "private-nat", { routeTableId: props.privateRouteTableId, destinationCidrBlock: "0.0.0.0/0", natGatewayId: nat.id }),
        "private_nat",
      );
      return;
    }
    const group = at(
      new SecurityGroup(this, "endpoints-sg", {
        name: `${props.name}-vpc-endpoints`,
        description: "VPC interface endpoints: HTTPS from the Lambdas and the Asterisk host",
        vpcId: props.vpcId,
        ingress: [ingress("tcp", 443, { securityGroupIds: props.clientSecurityGroupIds }, "HTTPS from the VPC clients of AWS APIs")],
        egress: [],
        tags: nameTag(`${props.name}-vpc-endpoints`),
      }),
      "vpc_endpoints",
    );
    at(
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
  }
}
