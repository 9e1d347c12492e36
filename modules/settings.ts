import { z } from "zod";

/**
 * The vocabulary the modules declare their settings with (zod schemas), and the one message format
 * every problem is reported in: `environment.key: what is wrong (allowed: ...)`. A module declares
 * each setting once, in its `...Settings` schema; its Props type and the environment configs'
 * types are inferred from it, the construct validates its props with it, and the stacks validate
 * a whole environment with the same schemas before synth (listing every problem at once).
 */

type Issue = { input?: unknown };

/** Absent: undefined, null or "" (what "is required" means). */
export const missing = (input: unknown): boolean => input === undefined || input === null || input === "";
export const withAllowed = (message: string, allowed?: string): string => `${message}${allowed ? ` (allowed: ${allowed})` : ""}`;

/** The error of a leaf: "is required" when absent (or ""), else `wrong(input)`. */
function leafError(allowed: string | undefined, wrong: (input: unknown) => string) {
  return (issue: Issue) => withAllowed(missing(issue.input) ? "is required" : wrong(issue.input), allowed);
}

/**
 * A value of type T that `test` accepts. A refinement, not z.custom: a failed z.custom aborts its
 * object, which would skip the cross-field checks that must still be listed with it.
 */
export function accepting<T>(test: (v: unknown) => boolean, error: (issue: Issue) => string): z.ZodType<T, T> {
  return z.unknown().refine(test, { error }) as unknown as z.ZodType<T, T>;
}

/**
 * A check across the fields of a section, run even when some field is wrong (so every problem is
 * listed), but only on a map: a section left out or null is its own problem ("is required").
 */
export function across<T>(
  key: string,
  problem: (value: T) => string | undefined,
): [(value: T) => boolean, { path: PropertyKey[]; error: (issue: Issue) => string; when: () => boolean }] {
  const check = (value: unknown) => (isMap(value) ? problem(value as T) : undefined);
  return [(value) => check(value) === undefined, { path: [key], error: (issue) => check(issue.input) ?? "", when: () => true }];
}

/** Whether `v` is an integer in min..max: cross-field checks compare only values their leaves accept. */
export const inRange = (v: unknown, min: number, max: number): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** A value `test` accepts; `wrong(input)` says what is wrong with another (default: "... is not valid"). */
export function satisfying<T>(test: (v: unknown) => boolean, allowed: string, wrong = (input: unknown) => `${JSON.stringify(input)} is not valid`) {
  return accepting<T>(test, leafError(allowed, wrong));
}

/** The id of an AWS resource: `prefix-` and 8 or 17 hex digits (vpc-, subnet-, sg-, fs-, ...). */
export function resourceId(prefix: string) {
  return matching(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `${prefix}- followed by 8 or 17 hex digits`);
}

/** Any value but absent (undefined, null or ""). */
export function present(allowed?: string) {
  return accepting<unknown>((v) => !missing(v), () => withAllowed("is required", allowed));
}

/** A string matching `pattern`; `allowed` says what is expected. */
export function matching(pattern: RegExp, allowed: string) {
  const error = leafError(allowed, (input) => `${JSON.stringify(input)} is not valid`);
  return z.string({ error }).regex(pattern, { error });
}

/** One of `values`. */
export function oneOf<const T extends readonly (string | number)[]>(values: T) {
  const allowed = values.join(", ");
  const error = leafError(allowed, (input) => `${JSON.stringify(input)} is not supported`);
  return accepting<T[number]>((v) => (values as readonly unknown[]).includes(v), error);
}

/** An integer in min..max. */
export function integer(min: number, max: number) {
  const error = leafError(`an integer ${min}..${max}`, (input) => `${JSON.stringify(input)} is out of range`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** true or false. */
export function bool() {
  return z.boolean({ error: () => "must be true or false" });
}

/** A switch that must be on (e.g. TLS), with `why` in the message: typed boolean, so a config may say false and be told why not. */
export function mustBeTrue(why: string) {
  return accepting<boolean>((v) => v === true, () => withAllowed(`must be true: ${why}`, "true"));
}

/** An IPv4 network in CIDR notation (host bits clear). */
export function cidr() {
  const allowed = "an IPv4 CIDR such as 10.0.0.0/16";
  const error = leafError(allowed, (input) => `${JSON.stringify(input)} is not a valid CIDR`);
  return z.string({ error }).refine((v) => parseCidr(v) !== undefined, { error });
}

/** The block sizes AWS creates a VPC or a subnet with: /16 (65,536 addresses) to /28 (16). */
export const AWS_BLOCK_PREFIXES = { min: 16, max: 28 } as const;

/** The CIDR of a VPC or subnet the stack creates (`what`): valid, and of a size AWS accepts (a /8 fails only at apply). */
export function createdCidr(what: string) {
  const { min, max } = AWS_BLOCK_PREFIXES;
  return cidr().refine(
    (v) => {
      const c = parseCidr(v);
      return !c || (c.prefix >= min && c.prefix <= max);
    },
    { error: (issue) => withAllowed(`${issue.input} is /${parseCidr(String(issue.input))?.prefix}: AWS creates ${what} of /${min} to /${max} only`, `an IPv4 CIDR /${min}../${max} such as 10.0.0.0/16`) },
  );
}

/** A list of CIDRs (each checked by `item`), with at least `minItems`. */
export function cidrList(minItems = 0, item: z.ZodType<string, string> = cidr()) {
  return z
    .array(item, { error: () => withAllowed("must be a list of CIDRs", 'e.g. ["203.0.113.0/24"]') })
    .min(minItems, { error: (issue) => `needs at least ${minItems} CIDR(s), got ${(issue.input as unknown[]).length}` });
}

/** Subnet ids in at least two availability zones; `why` says who needs two. */
export function subnetIds(why: string) {
  const error = () => withAllowed(why, "two or more subnet ids");
  return z.array(resourceId("subnet"), { error }).min(2, { error });
}

/** One subnet CIDR per availability zone (compared when both are lists: their schemas name one that is not). */
export function onePerZone(azs: unknown, cidrs: unknown): string | undefined {
  if (!Array.isArray(azs) || !Array.isArray(cidrs) || azs.length === cidrs.length) return undefined;
  return `needs one CIDR per availability zone (${azs.length}), got ${cidrs.length}`;
}

/** What an unknown key of a section is told: the keys the section has. */
function unknownSetting(inst: unknown): string {
  const shape: Record<string, z.ZodType> = (inst as { _zod?: { def?: { shape?: Record<string, z.ZodType> } } } | undefined)?._zod?.def?.shape ?? {};
  return withAllowed(UNKNOWN, Object.keys(shape).filter((key) => !REMOVED.has(shape[key])).join(", "));
}
const UNKNOWN = "unknown setting";

/**
 * A settings section (a map); `allowed` describes it when it is missing. Strict: a key it does
 * not declare is a problem (`unknown setting`, listing the ones it has), so a misspelt setting is
 * not silently ignored. A section extended with more keys (`safeExtend`) stays strict, and its
 * message lists the extended keys. Constructs pass their wiring beside the settings: `settingsOf`
 * reads only the section's own keys of their props.
 */
export function section<S extends z.core.$ZodLooseShape>(shape: S, allowed?: string) {
  return z.strictObject(shape, {
    error: (issue: Issue & { code?: string; inst?: unknown }) =>
      issue.code === "unrecognized_keys" ? unknownSetting(issue.inst) : withAllowed(missing(issue.input) ? "is required" : "must be a map", allowed),
  });
}

/** A setting that was removed or moved elsewhere: setting it is a problem saying where it went. */
export function removed(message: string, allowed: string) {
  const schema = accepting<undefined>((v) => v === undefined, () => withAllowed(message, allowed)).optional();
  REMOVED.add(schema);
  return schema;
}
/** The removed settings: not listed among the ones a section allows. */
const REMOVED = new WeakSet<z.ZodType>();

type Flat = { path: PropertyKey[]; message: string; unknown?: true };

/** zod's issues, one per problem: an `unrecognized_keys` issue becomes one per unknown key, at that key. */
function flat(issues: readonly z.core.$ZodIssue[]): Flat[] {
  return issues.flatMap((issue) =>
    issue.code === "unrecognized_keys" ? issue.keys.map((key) => ({ path: [...issue.path, key], message: issue.message, unknown: true as const })) : [{ path: [...issue.path], message: issue.message }],
  );
}

/**
 * A section in one of several modes: the key `by` (default `mode`) picks the schema the rest is
 * checked with, so a bad or missing mode is its one problem (unless a `fallback` mode applies when
 * the key is left out); `allowed` describes the section when it is missing. Each variant is a
 * strict section: a key of another mode is an unknown setting that says which mode it belongs to.
 */
export function modes<const V extends Record<string, z.ZodObject>>(
  variants: V,
  allowed: string,
  { by = "mode", fallback }: { by?: string; fallback?: keyof V & string } = {},
): z.ZodType<z.output<V[keyof V]>, z.input<V[keyof V]>> {
  const mode = oneOf(Object.keys(variants));
  const modeOf = (value: unknown) => (value as Record<string, unknown>)[by] ?? fallback;
  return z
    .unknown()
    .superRefine((value, ctx) => {
      if (missing(value) || typeof value !== "object" || Array.isArray(value)) {
        ctx.addIssue({ code: "custom", message: withAllowed(missing(value) ? "is required" : "must be a map", allowed) });
        return;
      }
      const m = modeOf(value);
      const chosen = mode.safeParse(m);
      const problems = chosen.success ? flat(variants[m as string].safeParse(value).error?.issues ?? []) : flat(chosen.error.issues).map((i) => ({ ...i, path: [by] }));
      for (const issue of problems) ctx.addIssue({ code: "custom", path: issue.path, message: issue.unknown && issue.path.length === 1 ? ofOtherMode(issue.path[0], issue.message) : issue.message });
    })
    .transform((value) => variants[modeOf(value) as string].parse(value)) as never;

  /** A key of another mode says which (e.g. `bucket: only applies to type "s3"`), not just "unknown setting". */
  function ofOtherMode(key: PropertyKey, message: string): string {
    const others = Object.keys(variants).filter((name) => (key as string) in variants[name].shape && !REMOVED.has(variants[name].shape[key as string]));
    return others.length === 0 ? message : message.replace(UNKNOWN, `only applies to ${by} ${others.map((name) => JSON.stringify(name)).join(" or ")}`);
  }
}

/** The same section with `keys` required: a module's optional setting an environment must set. */
export function requiring<S extends z.ZodRawShape, K extends keyof S & string>(schema: z.ZodObject<S>, keys: readonly K[]) {
  const unwrapped = Object.fromEntries(keys.map((k) => [k, (schema.shape[k] as unknown as z.ZodOptional | z.ZodDefault).unwrap()]));
  return schema.safeExtend(unwrapped as never) as unknown as z.ZodObject<
    Omit<S, K> & { [k in K]: S[k] extends z.ZodOptional<infer I> ? I : S[k] extends z.ZodDefault<infer I> ? I : S[k] }
  >;
}

/** The problems of `value` against `schema`, each as `prefix.path: message`. */
export function problemsOf(prefix: string, schema: z.ZodType, value: unknown): string[] {
  const result = schema.safeParse(value);
  if (result.success) return [];
  return flat(result.error.issues).map((issue) => `${at(prefix, issue.path)}: ${issue.message}`);
}

/** `prefix.key[0].other`: where an issue is. */
function at(prefix: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>((where, k) => (typeof k === "number" ? `${where}[${k}]` : where ? `${where}.${String(k)}` : String(k)), prefix);
}

/**
 * A construct's settings, validated, with their defaults: throws every problem of its props at
 * once (the stacks check an environment with the same schemas first, listing them all). Of a
 * section's props only its own keys are read: the wiring beside them (ids, names) is not a setting.
 */
export function settingsOf<T extends z.ZodType>(path: string, schema: T, props: unknown): z.output<T> {
  const settings = schema instanceof z.ZodObject && isMap(props) ? Object.fromEntries(Object.entries(props).filter(([key]) => key in schema.shape)) : props;
  const result = schema.safeParse(settings);
  if (!result.success) throw new Error(`${path}: ${problemsOf("", schema, settings).join("; ")}`);
  return result.data;
}

/** Whether `v` is a map (an object, not a list). */
export const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Only the unknown keys of a map, against the keys of `schema` (its sections are checked one by one, each with its own checks). */
export function knownKeys(schema: z.ZodObject) {
  return section(Object.fromEntries(Object.keys(schema.shape).map((key) => [key, z.unknown().optional()])));
}

/**
 * A collector for the checks no schema can say (CIDR containment, the connection budget): lines
 * `prefix.key: message (allowed: ...)`, gathered into one list with the schemas' problems.
 */
export class Problems {
  constructor(
    private readonly prefix: string,
    private readonly lines: string[] = [],
  ) {}

  add(key: string, message: string, allowed?: string): void {
    const where = key ? `${this.prefix}.${key}` : this.prefix;
    this.lines.push(`${where}: ${withAllowed(message, allowed)}`);
  }

  /** A child collector whose keys are nested under `key`. Shares this collector's list. */
  at(key: string): Problems {
    return new Problems(key ? `${this.prefix}.${key}` : this.prefix, this.lines);
  }

  /** Checks `value` at `key` against `schema`; returns whether it passed. */
  check(key: string, schema: z.ZodType, value: unknown): boolean {
    const problems = problemsOf(key ? `${this.prefix}.${key}` : this.prefix, schema, value);
    this.lines.push(...problems);
    return problems.length === 0;
  }

  get all(): readonly string[] {
    return this.lines;
  }
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
