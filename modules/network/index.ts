import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { Construct } from "constructs";
import { at, nameTag } from "../address";

export interface NetworkProps {
  /** Prefix of Name tags, e.g. `campaign-dev`. */
  readonly name: string;
  /** CIDR of the VPC. */
  readonly vpcCidr: string;
  /** Availability zones; one private subnet in each. At least two (RDS Proxy, Multi-AZ RDS). */
  readonly availabilityZones: string[];
  /** One private subnet CIDR per availability zone, in the same order. */
  readonly privateSubnetCidrs: string[];
  /** The public subnet of the Asterisk host, in the first availability zone. */
  readonly publicSubnetCidr: string;
}

/**
 * A VPC for the campaign system: private subnets (RDS, RDS Proxy, Lambdas) in each zone and one
 * public subnet with an internet gateway for the Asterisk host, which SIP trunks must reach.
 * Private subnets have no route out: AWS APIs are reached through VPC endpoints.
 *
 * Addresses: aws_vpc.main, aws_subnet.private_<zone letter>, aws_subnet.public,
 * aws_internet_gateway.main, aws_route_table.{private,public} and their associations.
 */
export class Network extends Construct {
  readonly vpcId: string;
  readonly vpcCidr: string;
  readonly privateSubnetIds: string[];
  readonly publicSubnetId: string;
  readonly privateRouteTableId: string;
  /**
   * The public subnet's route table association: the Asterisk host's first boot needs the route
   * out (packages, Secrets Manager), so the host depends on it.
   */
  readonly publicRouteAssociation: RouteTableAssociation;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const vpc = at(
      new Vpc(this, "vpc", {
        cidrBlock: props.vpcCidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: nameTag(props.name),
      }),
      "main",
    );
    const privateRoutes = at(
      new RouteTable(this, "private-routes", { vpcId: vpc.id, tags: nameTag(`${props.name}-private`) }),
      "private",
    );
    this.privateSubnetIds = props.availabilityZones.map((zone, i) => {
      const letter = zone.slice(-1);
      const subnet = at(
        new Subnet(this, `private-${letter}`, {
          vpcId: vpc.id,
          cidrBlock: props.privateSubnetCidrs[i],
          availabilityZone: zone,
          tags: nameTag(`${props.name}-private-${letter}`),
        }),
        `private_${letter}`,
      );
      at(
        new RouteTableAssociation(this, `private-${letter}-routes`, { subnetId: subnet.id, routeTableId: privateRoutes.id }),
        `private_${letter}`,
      );
      return subnet.id;
    });

    const gateway = at(new InternetGateway(this, "igw", { vpcId: vpc.id, tags: nameTag(props.name) }), "main");
    const publicSubnet = at(
      new Subnet(this, "public", {
        vpcId: vpc.id,
        cidrBlock: props.publicSubnetCidr,
        availabilityZone: props.availabilityZones[0],
        mapPublicIpOnLaunch: true,
        tags: nameTag(`${props.name}-public`),
      }),
      "public",
    );
    const publicRoutes = at(
      new RouteTable(this, "public-routes", {
        vpcId: vpc.id,
        route: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }],
        tags: nameTag(`${props.name}-public`),
      }),
      "public",
    );
    this.publicRouteAssociation = at(
      new RouteTableAssociation(this, "public-routes-assoc", { subnetId: publicSubnet.id, routeTableId: publicRoutes.id }),
      "public",
    );

    this.vpcId = vpc.id;
    this.vpcCidr = props.vpcCidr;
    this.publicSubnetId = publicSubnet.id;
    this.privateRouteTableId = privateRoutes.id;
  }
}
