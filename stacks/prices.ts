/**
 * The one price table `npm run cost` uses: AWS on-demand list prices in USD, per region, each
 * entry with its unit and source. Monthly figures are hourly × HOURS_PER_MONTH, as AWS's own
 * calculator and Infracost do. Free tiers (first 3 dashboards, 10 alarms, 10 custom metrics,
 * 1M Lambda requests, 1M SNS publishes per account) are NOT deducted: they are per account, not
 * per stack.
 */

export const HOURS_PER_MONTH = 730;

export interface Price {
  readonly usd: number;
  /** What one unit is: "hour", "GB-month", "vCPU-hour", "1M requests", ... */
  readonly unit: string;
  /** Where the figure comes from; for a region not checked, why it is assumed. */
  readonly source: string;
}

/** Every priced dimension. Instance-sized ones are keyed by size below. */
export interface RegionPrices {
  readonly region: string;
  /** When the table was checked (ISO date). */
  readonly checked: string;
  /** Single-AZ hourly price per RDS PostgreSQL class (Multi-AZ is twice). */
  readonly rdsInstance: Readonly<Record<string, Price>>;
  readonly rdsStorageGp3: Price;
  readonly rdsStorageGp2: Price;
  /** gp3 IOPS above the 3,000 included. */
  readonly rdsIopsGp3: Price;
  /** Per vCPU of the target instance, minimum 2 vCPUs. */
  readonly rdsProxyVcpu: Price;
  readonly ec2Instance: Readonly<Record<string, Price>>;
  readonly ebsGp3: Price;
  readonly ebsGp2: Price;
  readonly publicIpv4: Price;
  readonly natGateway: Price;
  /** Interface VPC endpoint, per AZ (one ENI per subnet). */
  readonly interfaceEndpointAz: Price;
  readonly secret: Price;
  readonly alarmStandard: Price;
  readonly alarmHighResolution: Price;
  readonly dashboard: Price;
  readonly customMetric: Price;
  readonly snsRequests: Price;
  readonly lambdaRequests: Price;
  readonly lambdaGbSecondX86: Price;
  readonly lambdaGbSecondArm: Price;
  readonly fargateVcpuX86: Price;
  readonly fargateGbX86: Price;
  readonly fargateVcpuArm: Price;
  readonly fargateGbArm: Price;
  readonly alb: Price;
  readonly albLcu: Price;
  readonly efsStorageStandard: Price;
  readonly efsProvisionedThroughput: Price;
  readonly elasticacheNode: Readonly<Record<string, Price>>;
  readonly logsIngestion: Price;
  readonly logsStorage: Price;
}

const CHECKED = "2026-12-01";
const FACTS = "/work/shared/facts.md (checked 2026-12-01)";
const url = (service: string) => `https://aws.amazon.com/${service}/pricing/`;
/** A us-east-1 figure checked on this machine (facts.md). */
const checked = (service: string) => `${FACTS}; ${url(service)}`;
/** A us-east-1 list price from the AWS pricing page, NOT re-checked on this machine. */
const listed = (service: string) => `${url(service)} (us-east-1 list price, not re-checked here)`;

const hourly = (usd: number, source: string): Price => ({ usd, unit: "hour", source });
/** Hourly prices of several sizes from one source. */
const bySize = (source: string, rates: Record<string, number>): Record<string, Price> =>
  Object.fromEntries(Object.entries(rates).map(([size, usd]) => [size, hourly(usd, source)]));

const US_EAST_1: RegionPrices = {
  region: "us-east-1",
  checked: CHECKED,
  rdsInstance: {
    ...bySize(checked("rds/postgresql"), { "db.t3.micro": 0.018, "db.t3.small": 0.036, "db.t3.medium": 0.072, "db.t4g.micro": 0.016 }),
    // A new account's PythonIDE production database (stacks/pythonide-environments.ts pythonideNewAccount).
    ...bySize(listed("rds/postgresql"), { "db.t4g.small": 0.032 }),
  },
  rdsStorageGp3: { usd: 0.115, unit: "GB-month", source: checked("rds/postgresql") },
  rdsStorageGp2: { usd: 0.115, unit: "GB-month", source: checked("rds/postgresql") },
  rdsIopsGp3: { usd: 0.02, unit: "IOPS-month", source: listed("rds/postgresql") },
  rdsProxyVcpu: { usd: 0.015, unit: "vCPU-hour", source: checked("rds/proxy") },
  ec2Instance: { ...bySize(checked("ec2"), { "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416 }), ...bySize(listed("ec2"), { "t3.large": 0.0832 }) },
  ebsGp3: { usd: 0.08, unit: "GB-month", source: listed("ebs") },
  ebsGp2: { usd: 0.1, unit: "GB-month", source: listed("ebs") },
  publicIpv4: hourly(0.005, `${FACTS}; https://aws.amazon.com/vpc/pricing/ (public IPv4, every region)`),
  natGateway: hourly(0.045, `${FACTS}; https://aws.amazon.com/vpc/pricing/`),
  interfaceEndpointAz: { usd: 0.01, unit: "AZ-hour", source: `${FACTS}; https://aws.amazon.com/privatelink/pricing/` },
  secret: { usd: 0.4, unit: "secret-month", source: checked("secrets-manager") },
  alarmStandard: { usd: 0.1, unit: "alarm-month", source: checked("cloudwatch") },
  alarmHighResolution: { usd: 0.3, unit: "alarm-month", source: listed("cloudwatch") },
  dashboard: { usd: 3, unit: "dashboard-month", source: checked("cloudwatch") },
  customMetric: { usd: 0.3, unit: "metric-month", source: checked("cloudwatch") },
  snsRequests: { usd: 0.5, unit: "1M requests", source: listed("sns") },
  lambdaRequests: { usd: 0.2, unit: "1M requests", source: listed("lambda") },
  lambdaGbSecondX86: { usd: 0.0000166667, unit: "GB-second", source: listed("lambda") },
  lambdaGbSecondArm: { usd: 0.0000133334, unit: "GB-second", source: listed("lambda") },
  fargateVcpuX86: { usd: 0.04048, unit: "vCPU-hour", source: checked("fargate") },
  fargateGbX86: { usd: 0.004445, unit: "GB-hour", source: checked("fargate") },
  fargateVcpuArm: { usd: 0.03238, unit: "vCPU-hour", source: `${listed("fargate")}; https://www.vantage.sh/blog/fargate-pricing (Linux/ARM)` },
  fargateGbArm: { usd: 0.00356, unit: "GB-hour", source: `${listed("fargate")}; https://www.vantage.sh/blog/fargate-pricing (Linux/ARM)` },
  alb: hourly(0.0225, checked("elasticloadbalancing")),
  albLcu: { usd: 0.008, unit: "LCU-hour", source: listed("elasticloadbalancing") },
  efsStorageStandard: { usd: 0.3, unit: "GB-month", source: listed("efs") },
  efsProvisionedThroughput: { usd: 6, unit: "MiBps-month", source: checked("efs") },
  elasticacheNode: { ...bySize(checked("elasticache"), { "cache.t3.micro": 0.017 }), ...bySize(listed("elasticache"), { "cache.t3.small": 0.034, "cache.t3.medium": 0.068 }) },
  logsIngestion: { usd: 0.5, unit: "GB", source: listed("cloudwatch") },
  logsStorage: { usd: 0.03, unit: "GB-month", source: listed("cloudwatch") },
};

/**
 * us-east-2 (Ohio): NOT checked entry by entry. AWS lists the same on-demand rates for US East
 * (Ohio) as for US East (N. Virginia) for these services; the PythonIDE stacks live there. Each
 * entry says so, so a `--json` consumer can tell checked figures from assumed ones.
 */
function assumedLike(base: RegionPrices, region: string): RegionPrices {
  const why = (p: Price): Price => ({ ...p, source: `assumed equal to ${base.region} (US East regions share list prices; not checked for ${region}): ${p.source}` });
  const map = (prices: Readonly<Record<string, Price>>) => Object.fromEntries(Object.entries(prices).map(([k, p]) => [k, why(p)]));
  const entries = Object.entries(base).map(([key, value]) => {
    if (key === "region") return [key, region];
    if (key === "checked") return [key, value];
    const v = value as Price | Record<string, Price>;
    return [key, "usd" in v ? why(v as Price) : map(v as Record<string, Price>)];
  });
  return Object.fromEntries(entries) as RegionPrices;
}

export const PRICES: Readonly<Record<string, RegionPrices>> = {
  "us-east-1": US_EAST_1,
  "us-east-2": assumedLike(US_EAST_1, "us-east-2"),
};

/** The table of a region, or a clear error naming the regions there are. */
export function pricesFor(region: string): RegionPrices {
  const table = PRICES[region];
  if (!table) throw new Error(`no price table for region ${region} (stacks/prices.ts has ${Object.keys(PRICES).join(", ")})`);
  return table;
}
