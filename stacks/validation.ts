import { Problems, cidrContains, cidrOverlaps, parseCidr, type Cidr } from "../modules/settings";

/** Each zone must be `<region><letter>`, e.g. us-east-1a. */
export function availabilityZoneNames(p: Problems, azs: readonly unknown[], region: string): void {
  azs.forEach((az, i) => {
    if (typeof az !== "string") return; // its schema names it
    if (!az.startsWith(region) || !/^[a-z]$/.test(az.slice(region.length))) {
      p.add(`availabilityZones[${i}]`, `${JSON.stringify(az)} is not an availability zone of ${region}`, `${region}a, ${region}b, ...`);
    }
  });
}

/**
 * One subnet CIDR of a VPC being created (valid, per its schema): inside the VPC (when its CIDR
 * parsed) and overlapping none of the subnets `seen` so far, to which it is then added.
 */
export function subnetCidr(p: Problems, key: string, value: unknown, vpc: { cidr: Cidr; text: string } | undefined, seen: [string, Cidr][]): void {
  const c = typeof value === "string" ? parseCidr(value) : undefined;
  if (!c) return;
  if (vpc && !cidrContains(vpc.cidr, c)) p.add(key, `${value} is not inside the VPC ${vpc.text}`);
  for (const [other, o] of seen) if (cidrOverlaps(c, o)) p.add(key, `${value} overlaps ${other}`);
  seen.push([key, c]);
}

/** Throw one error listing every problem; do nothing when there are none. */
export function assertNoProblems(title: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  throw new ConfigError(`${title}: ${problems.length} problem(s)\n  ${problems.join("\n  ")}`, problems);
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}
