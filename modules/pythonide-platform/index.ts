import { AcmCertificate } from "@cdktf/provider-aws/lib/acm-certificate";
import { AcmCertificateValidation } from "@cdktf/provider-aws/lib/acm-certificate-validation";
import { DataAwsEcsCluster } from "@cdktf/provider-aws/lib/data-aws-ecs-cluster";
import { DataAwsLb } from "@cdktf/provider-aws/lib/data-aws-lb";
import { DataAwsLbListener } from "@cdktf/provider-aws/lib/data-aws-lb-listener";
import { DataAwsSecurityGroup } from "@cdktf/provider-aws/lib/data-aws-security-group";
import { DataAwsSubnets } from "@cdktf/provider-aws/lib/data-aws-subnets";
import { DataAwsVpc } from "@cdktf/provider-aws/lib/data-aws-vpc";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { Lb } from "@cdktf/provider-aws/lib/lb";
import { LbListener } from "@cdktf/provider-aws/lib/lb-listener";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { Fn, Token } from "cdktf";
import { Construct } from "constructs";
import { z } from "zod";
import { at, nameTag } from "../address";
import { across, bool, cidrList, createdCidr, matching, modes, oneOf, onePerZone, resourceId, section, settingsOf, subnetIds } from "../settings";
import { allEgress, ingress } from "../rules";

/** Where the VPC comes from: an environment's `network` section. */
export const PythonideNetworkSettings = modes(
  {
    create: section({
      mode: oneOf(["create"] as const),
      /** CIDR of the new VPC (/16 to /28). */
      vpcCidr: createdCidr("a VPC"),
      /** At least two zones: the ALB and RDS need subnets in two availability zones. */
      availabilityZones: z.array(z.string({ error: (issue) => `${JSON.stringify(issue.input)} is not an availability zone name` }), { error: () => "must be a list of availability zones" }),
      /** One per zone: the ALB and the tasks (public IP, no NAT gateway to pay for). */
      publicSubnetCidrs: cidrList(0, createdCidr("a subnet")),
      /** One per zone: RDS and EFS mount targets. */
      privateSubnetCidrs: cidrList(0, createdCidr("a subnet")),
    })
      .refine(...across<{ availabilityZones?: unknown; publicSubnetCidrs?: unknown }>("publicSubnetCidrs", (n) => onePerZone(n.availabilityZones, n.publicSubnetCidrs)))
      .refine(...across<{ availabilityZones?: unknown; privateSubnetCidrs?: unknown }>("privateSubnetCidrs", (n) => onePerZone(n.availabilityZones, n.privateSubnetCidrs))),
    existing: section({
      mode: oneOf(["existing"] as const),
      /** The existing VPC's id. */
      vpcId: resourceId("vpc"),
      /** Public subnets of the ALB (used when the ALB is created). */
      publicSubnetIds: subnetIds("needs subnets in at least two availability zones (ALB, RDS)"),
      /** Private subnets: RDS, EFS mount targets, and the tasks when taskSubnets is "private". */
      privateSubnetIds: subnetIds("needs subnets in at least two availability zones (ALB, RDS)"),
      /** Where tasks run: "public" (with a public IP) or "private" (the VPC needs a NAT gateway or endpoints). */
      taskSubnets: oneOf(["public", "private"] as const),
    }),
  },
  'mode "create" or "existing"',
);
export type PythonideNetworkConfig = z.input<typeof PythonideNetworkSettings>;

const ARN = (service: string) => new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:.+$`);

/** The certificate of the HTTPS listener: requested from ACM (DNS-validated in a Route 53 zone) or existing. */
export const PythonideCertificateSettings = modes(
  {
    create: section({
      mode: oneOf(["create"] as const),
      /** The Route 53 hosted zone the validation records go in. */
      hostedZoneId: matching(/^Z[A-Z0-9]{1,31}$/, "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ"),
    }),
    existing: section({
      mode: oneOf(["existing"] as const),
      /** An ACM certificate ARN in the stack's region. */
      arn: matching(ARN("acm"), "an ACM certificate ARN in the stack's region"),
    }),
  },
  'mode "create" or "existing"',
);
export type PythonideCertificateConfig = z.input<typeof PythonideCertificateSettings>;

/** Where the ALB comes from: an environment's `loadBalancer` section. */
export const PythonideLoadBalancerSettings = modes(
  {
    create: section({
      mode: oneOf(["create"] as const),
      /** ALB name (and prefix of its security group). */
      name: matching(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,26}[a-zA-Z0-9]$/, "letters, digits and dashes, at most 28 chars (the target groups add a suffix)"),
      certificate: PythonideCertificateSettings,
    }),
    existing: section({
      mode: oneOf(["existing"] as const),
      /** ARN of the existing ALB (its arn_suffix names the dashboard's metrics). */
      arn: matching(ARN("elasticloadbalancing"), "an ALB ARN"),
      /** ARN of its HTTPS (443) listener; the services add host-header rules to it. */
      httpsListenerArn: matching(ARN("elasticloadbalancing"), "the ARN of the ALB's 443 listener"),
      /** Security group of the ALB: the only source allowed to the tasks' port. */
      securityGroupId: resourceId("sg"),
    }),
  },
  'mode "create" or "existing"',
);
export type PythonideLoadBalancerConfig = z.input<typeof PythonideLoadBalancerSettings>;

/** The ECS cluster: an environment's `cluster` section. */
export const PythonideClusterSettings = section({
  /** ECS cluster name. */
  name: matching(/^[a-zA-Z0-9_-]{1,255}$/, "letters, digits, dashes and underscores"),
  /** Create the cluster in pythonide-production (true) or use an existing one by name (false). @default true */
  create: bool().default(true),
  /** Container Insights (the dashboard's task count). Costs custom metrics per task/service. @default false */
  containerInsights: bool().default(false),
});
export type PythonideClusterConfig = z.input<typeof PythonideClusterSettings>;

export interface PythonidePlatformProps {
  /** Name prefix and Name tag of the VPC, e.g. `pythonide`. */
  readonly name: string;
  readonly network: PythonideNetworkConfig;
  readonly loadBalancer: PythonideLoadBalancerConfig;
  /** The ECS cluster (see {@link PythonideClusterSettings}). */
  readonly cluster: PythonideClusterConfig;
  /** Apex domain: the certificate covers it and `*.<domain>`. */
  readonly domain: string;
  /** Host names to point at the ALB (Route 53 aliases; only with a created certificate's zone). @default [] */
  readonly hostnames?: string[];
  /**
   * "own": create what the config says to create (pythonide-production).
   * "lookup": find the platform that "own" created by its names (pythonide-staging), so the
   * two stacks share no state and staging can be deployed or destroyed alone.
   * @default "own"
   */
  readonly role?: "own" | "lookup";
}

/**
 * What the services of the PythonIDE system run on: the VPC and its subnets, the ALB with its
 * HTTPS listener (host-header rules are added by each service) and certificate, and the ECS
 * cluster. Created, referenced from config ids, or looked up by name (see `role`).
 *
 * Addresses (created): aws_vpc.pythonide, aws_subnet.{public,private}_<zone letter>,
 * aws_internet_gateway.pythonide, aws_route_table.{public,private} (+ associations),
 * aws_security_group.alb, aws_lb.pythonide, aws_lb_listener.{http,https}, aws_acm_certificate.pythonide,
 * aws_route53_record.certificate_validation, aws_acm_certificate_validation.pythonide,
 * aws_route53_record.alias_<hostname with _>, aws_ecs_cluster.pythonide.
 * Lookups: data.aws_vpc.pythonide, data.aws_subnets.{public,private}, data.aws_lb.pythonide,
 * data.aws_lb_listener.https, data.aws_security_group.alb, data.aws_ecs_cluster.pythonide.
 */
export class PythonidePlatform extends Construct {
  readonly vpcId: string;
  readonly privateSubnetIds: string[];
  /** Where tasks run; with assignPublicIp when these are the public subnets. */
  readonly taskSubnetIds: string[];
  readonly assignPublicIp: boolean;
  readonly httpsListenerArn: string;
  readonly albSecurityGroupId: string;
  /** `app/<name>/<id>`: the LoadBalancer dimension of ALB metrics. */
  readonly albArnSuffix: string;
  readonly clusterArn: string;
  readonly clusterName: string;

  constructor(scope: Construct, id: string, props: PythonidePlatformProps) {
    super(scope, id);
    const network = settingsOf(`${this.node.path}.network`, PythonideNetworkSettings, props.network);
    const loadBalancer = settingsOf(`${this.node.path}.loadBalancer`, PythonideLoadBalancerSettings, props.loadBalancer);
    const cluster = settingsOf(`${this.node.path}.cluster`, PythonideClusterSettings, props.cluster);
    const own = (props.role ?? "own") === "own";
    this.clusterName = cluster.name;

    let publicSubnetIds: string[];
    if (network.mode === "existing") {
      this.vpcId = network.vpcId;
      publicSubnetIds = network.publicSubnetIds;
      this.privateSubnetIds = network.privateSubnetIds;
      this.assignPublicIp = network.taskSubnets === "public";
    } else if (own) {
      ({ vpcId: this.vpcId, publicSubnetIds, privateSubnetIds: this.privateSubnetIds } = this.createNetwork(props.name, network));
      this.assignPublicIp = true;
    } else {
      const vpc = at(new DataAwsVpc(this, "vpc", { filter: [{ name: "tag:Name", values: [props.name] }] }), "pythonide");
      this.vpcId = vpc.id;
      const tier = (name: "public" | "private") =>
        at(
          new DataAwsSubnets(this, `${name}-subnets`, {
            filter: [
              { name: "vpc-id", values: [vpc.id] },
              { name: "tag:Tier", values: [name] },
            ],
          }),
          name,
        ).ids;
      // Sorted: the EFS mount targets and DB subnet group take them by index.
      const sorted = (ids: string[]) => Token.asList(Fn.sort(ids));
      publicSubnetIds = sorted(tier("public"));
      this.privateSubnetIds = sorted(tier("private"));
      this.assignPublicIp = true;
    }
    this.taskSubnetIds = this.assignPublicIp ? publicSubnetIds : this.privateSubnetIds;

    if (loadBalancer.mode === "existing") {
      this.httpsListenerArn = loadBalancer.httpsListenerArn;
      this.albSecurityGroupId = loadBalancer.securityGroupId;
      // The ARN names the ALB: its suffix (app/<name>/<id>) needs no lookup (offline plans).
      this.albArnSuffix = Token.isUnresolved(loadBalancer.arn)
        ? at(new DataAwsLb(this, "lb", { arn: loadBalancer.arn }), "pythonide").arnSuffix
        : loadBalancer.arn.replace(/^.*:loadbalancer\//, "");
    } else if (own) {
      const lb = this.createLoadBalancer(props, loadBalancer, publicSubnetIds);
      ({ httpsListenerArn: this.httpsListenerArn, albSecurityGroupId: this.albSecurityGroupId, albArnSuffix: this.albArnSuffix } = lb);
    } else {
      const lb = at(new DataAwsLb(this, "lb", { name: loadBalancer.name }), "pythonide");
      this.albArnSuffix = lb.arnSuffix;
      this.httpsListenerArn = at(new DataAwsLbListener(this, "https", { loadBalancerArn: lb.arn, port: 443 }), "https").arn;
      this.albSecurityGroupId = at(
        new DataAwsSecurityGroup(this, "alb-sg", { name: `${loadBalancer.name}-alb`, vpcId: this.vpcId }),
        "alb",
      ).id;
    }

    if (own && cluster.create) {
      this.clusterArn = at(
        new EcsCluster(this, "cluster", {
          name: cluster.name,
          setting: [{ name: "containerInsights", value: cluster.containerInsights ? "enabled" : "disabled" }],
          tags: nameTag(cluster.name),
        }),
        "pythonide",
      ).arn;
    } else {
      this.clusterArn = at(new DataAwsEcsCluster(this, "cluster", { clusterName: cluster.name }), "pythonide").arn;
    }
  }

  private createNetwork(name: string, n: Extract<PythonideNetworkConfig, { mode: "create" }>) {
    const vpc = at(
      new Vpc(this, "vpc", { cidrBlock: n.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: nameTag(name) }),
      "pythonide",
    );
    const gateway = at(new InternetGateway(this, "igw", { vpcId: vpc.id, tags: nameTag(name) }), "pythonide");
    const routes = {
      public: at(
        new RouteTable(this, "public-routes", {
          vpcId: vpc.id,
          route: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }],
          tags: nameTag(`${name}-public`),
        }),
        "public",
      ),
      // No route out: RDS and EFS mount targets only.
      private: at(new RouteTable(this, "private-routes", { vpcId: vpc.id, tags: nameTag(`${name}-private`) }), "private"),
    };
    const subnets = (tier: "public" | "private", cidrs: string[]) =>
      n.availabilityZones.map((zone, i) => {
        const address = `${tier}_${zone.slice(-1)}`;
        const subnet = at(
          new Subnet(this, `${tier}-${zone}`, {
            vpcId: vpc.id,
            cidrBlock: cidrs[i],
            availabilityZone: zone,
            mapPublicIpOnLaunch: false,
            tags: { ...nameTag(`${name}-${tier}-${zone.slice(-1)}`), Tier: tier },
          }),
          address,
        );
        at(new RouteTableAssociation(this, `${tier}-${zone}-routes`, { subnetId: subnet.id, routeTableId: routes[tier].id }), address);
        return subnet.id;
      });
    return { vpcId: vpc.id, publicSubnetIds: subnets("public", n.publicSubnetCidrs), privateSubnetIds: subnets("private", n.privateSubnetCidrs) };
  }

  private createLoadBalancer(props: PythonidePlatformProps, lb: Extract<PythonideLoadBalancerConfig, { mode: "create" }>, subnetIds: string[]) {
    const securityGroup = at(
      new SecurityGroup(this, "alb-sg", {
        name: `${lb.name}-alb`,
        description: "PythonIDE ALB: HTTPS (and HTTP, redirected) from anywhere",
        vpcId: this.vpcId,
        ingress: [ingress("tcp", 443, { cidrs: ["0.0.0.0/0"] }, "HTTPS"), ingress("tcp", 80, { cidrs: ["0.0.0.0/0"] }, "HTTP, redirected to HTTPS")],
        egress: [allEgress],
        tags: nameTag(`${lb.name}-alb`),
      }),
      "alb",
    );
    const alb = at(
      new Lb(this, "alb", {
        name: lb.name,
        loadBalancerType: "application",
        internal: false,
        securityGroups: [securityGroup.id],
        subnets: subnetIds,
        dropInvalidHeaderFields: true,
        // Students keep an IDE websocket open; the default 60 s would drop idle sessions.
        idleTimeout: 3600,
        tags: nameTag(lb.name),
      }),
      "pythonide",
    );

    let certificateArn: string;
    if (lb.certificate.mode === "existing") {
      certificateArn = lb.certificate.arn;
    } else {
      const certificate = at(
        new AcmCertificate(this, "certificate", {
          domainName: props.domain,
          subjectAlternativeNames: [`*.${props.domain}`],
          validationMethod: "DNS",
          lifecycle: { createBeforeDestroy: true },
          tags: nameTag(props.domain),
        }),
        "pythonide",
      );
      // The apex and its wildcard share one validation record.
      const option = certificate.domainValidationOptions.get(0);
      const record = at(
        new Route53Record(this, "certificate-validation", {
          zoneId: lb.certificate.hostedZoneId,
          name: option.resourceRecordName,
          type: option.resourceRecordType,
          records: [option.resourceRecordValue],
          ttl: 300,
          allowOverwrite: true,
        }),
        "certificate_validation",
      );
      certificateArn = at(
        new AcmCertificateValidation(this, "certificate-validated", { certificateArn: certificate.arn, validationRecordFqdns: [record.fqdn] }),
        "pythonide",
      ).certificateArn;
      const zoneId = lb.certificate.hostedZoneId;
      for (const hostname of props.hostnames ?? []) {
        const address = `alias_${hostname.replace(/[^a-z0-9]+/g, "_")}`;
        at(
          new Route53Record(this, address, {
            zoneId,
            name: hostname,
            type: "A",
            alias: { name: alb.dnsName, zoneId: alb.zoneId, evaluateTargetHealth: false },
          }),
          address,
        );
      }
    }

    at(
      new LbListener(this, "http", {
        loadBalancerArn: alb.arn,
        port: 80,
        protocol: "HTTP",
        defaultAction: [{ type: "redirect", redirect: { port: "443", protocol: "HTTPS", statusCode: "HTTP_301" } }],
      }),
      "http",
    );
    const https = at(
      new LbListener(this, "https", {
        loadBalancerArn: alb.arn,
        port: 443,
        protocol: "HTTPS",
        sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
        certificateArn,
        // Each service adds a host-header rule; anything else is not ours.
        defaultAction: [{ type: "fixed-response", fixedResponse: { contentType: "text/plain", messageBody: "Not found", statusCode: "404" } }],
      }),
      "https",
    );
    return { httpsListenerArn: https.arn, albSecurityGroupId: securityGroup.id, albArnSuffix: alb.arnSuffix };
  }
}
