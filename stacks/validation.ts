/**
 * A small collector for configuration problems. Every check records a line
 * `environment.key: what is wrong (allowed: ...)` instead of throwing, so synth can stop
 * once with the whole list (a user fixes everything in one pass, not one error per run).
 */
export class Problems {
  constructor(
    private readonly prefix: string,
    private readonly lines: string[] = [],
  ) {}

  /** Record a problem at `key` (joined to the prefix with a dot). */
  add(key: string, message: string, allowed?: string): void {
    const where = key ? `${this.prefix}.${key}` : this.prefix;
    this.lines.push(`${where}: ${message}${allowed ? ` (allowed: ${allowed})` : ""}`);
  }

  /** A child collector whose keys are nested under `key`. Shares this collector's list. */
  at(key: string): Problems {
    return new Problems(`${this.prefix}.${key}`, this.lines);
  }

  get all(): readonly string[] {
    return this.lines;
  }

  /** Present and not an empty string. Returns whether the value is usable. */
  required(key: string, value: unknown, allowed?: string): boolean {
    if (value === undefined || value === null || value === "") {
      this.add(key, "is required", allowed);
      return false;
    }
    return true;
  }

  oneOf<T>(key: string, value: T, allowed: readonly T[]): boolean {
    if (!this.required(key, value, allowed.join(", "))) return false;
    if (!allowed.includes(value)) {
      this.add(key, `${JSON.stringify(value)} is not supported`, allowed.join(", "));
      return false;
    }
    return true;
  }

  integer(key: string, value: unknown, min: number, max: number): boolean {
    if (!this.required(key, value, `an integer ${min}..${max}`)) return false;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      this.add(key, `${JSON.stringify(value)} is out of range`, `an integer ${min}..${max}`);
      return false;
    }
    return true;
  }

  matches(key: string, value: unknown, pattern: RegExp, allowed: string): boolean {
    if (!this.required(key, value, allowed)) return false;
    if (typeof value !== "string" || !pattern.test(value)) {
      this.add(key, `${JSON.stringify(value)} is not valid`, allowed);
      return false;
    }
    return true;
  }

  cidr(key: string, value: unknown): boolean {
    const allowed = "an IPv4 CIDR such as 10.0.0.0/16";
    if (!this.required(key, value, allowed)) return false;
    if (typeof value !== "string" || parseCidr(value) === undefined) {
      this.add(key, `${JSON.stringify(value)} is not a valid CIDR`, allowed);
      return false;
    }
    return true;
  }

  cidrList(key: string, values: unknown, opts: { minItems?: number } = {}): boolean {
    if (!Array.isArray(values)) {
      this.add(key, "must be a list of CIDRs", "e.g. [\"203.0.113.0/24\"]");
      return false;
    }
    if (values.length < (opts.minItems ?? 0)) {
      this.add(key, `needs at least ${opts.minItems} CIDR(s), got ${values.length}`);
      return false;
    }
    return values.map((v, i) => this.cidr(`${key}[${i}]`, v)).every(Boolean);
  }
}

/** Each zone must be `<region><letter>`, e.g. us-east-1a. */
export function availabilityZoneNames(p: Problems, azs: readonly unknown[], region: string): void {
  azs.forEach((az, i) => {
    if (typeof az !== "string" || !az.startsWith(region) || !/^[a-z]$/.test(az.slice(region.length))) {
      p.add(`availabilityZones[${i}]`, `${JSON.stringify(az)} is not an availability zone of ${region}`, `${region}a, ${region}b, ...`);
    }
  });
}

/**
 * One subnet CIDR of a VPC being created: valid, inside the VPC (when its CIDR parsed) and
 * overlapping none of the subnets `seen` so far, to which it is then added.
 */
export function subnetCidr(p: Problems, key: string, cidr: unknown, vpc: { cidr: Cidr; text: string } | undefined, seen: [string, Cidr][]): void {
  if (!p.cidr(key, cidr)) return;
  const c = parseCidr(cidr as string)!;
  if (vpc && !cidrContains(vpc.cidr, c)) p.add(key, `${cidr} is not inside the VPC ${vpc.text}`);
  for (const [other, o] of seen) if (cidrOverlaps(c, o)) p.add(key, `${cidr} overlaps ${other}`);
  seen.push([key, c]);
}

export interface Cidr {
  /** Network address as a 32-bit unsigned integer. */
  network: number;
  prefix: number;
}

/** Parse an IPv4 CIDR; undefined when it does not parse or has host bits set. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) return undefined; // host bits set: 10.0.0.1/16 is a typo, not a network
  return { network: address, prefix };
}

/** Whether CIDR `inner` lies entirely inside CIDR `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (inner.prefix < outer.prefix) return false;
  const size = 2 ** (32 - outer.prefix);
  return Math.floor(inner.network / size) === Math.floor(outer.network / size);
}

/** Whether two CIDRs share any address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
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
