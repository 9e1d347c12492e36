/**
 * Event validation declared with valibot (small and tree-shaken: bundle size matters in Lambdas).
 * Each event's schema is built from the field schemas below, its type inferred from it; parsing
 * collects every problem with its field path ("contacts[2].phone"; `$` is the event itself), one
 * problem per field (the first rule it breaks), in the order the schema declares the fields.
 */
import * as v from "valibot";

export interface Issue {
  path: string;
  message: string;
}

export class InvalidEventError extends Error {
  readonly issues: Issue[];
  constructor(
    readonly functionName: string,
    issues: Issue[],
  ) {
    const capped = capIssues(issues);
    super(`${functionName}: invalid event: ${capped.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
    this.issues = capped;
    this.name = "InvalidEventError";
  }
}

/** Most problems reported (in errors, error messages and logs); the rest are counted in one last entry. */
export const MAX_ISSUES = 100;
/** Most characters of a caller's value quoted back in a message. */
export const MAX_ECHO = 64;

/** At most MAX_ISSUES problems, then `{path: "$", message: "... and N more problems"}`. */
export function capIssues(issues: Issue[]): Issue[] {
  if (issues.length <= MAX_ISSUES) return issues;
  const more = issues.length - MAX_ISSUES;
  return [...issues.slice(0, MAX_ISSUES), { path: "$", message: `... and ${more} more problem${more === 1 ? "" : "s"} not listed (${issues.length} in all)` }];
}

/** A caller's string quoted for a message: JSON-escaped, cut to MAX_ECHO characters with the full length said. */
export function echo(v: string): string {
  if (v.length <= MAX_ECHO) return JSON.stringify(v);
  return `${JSON.stringify(v.slice(0, MAX_ECHO))}... (${v.length} characters)`;
}

/** C0 controls (NUL, tab, newline, ...), DEL and C1 controls: never valid in a name, number or id. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** With the u flag a well-formed pair is one code point, so only an unpaired half matches. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

function describeControl(v: string): string {
  const i = v.search(CONTROL);
  return `must not contain control characters (U+${v.charCodeAt(i).toString(16).toUpperCase().padStart(4, "0")} at position ${i})`;
}

export const E164 = /^\+[1-9]\d{1,14}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "$" ? key : `${path}.${key}`;
}

/** A schema from unknown input to T (what every field and event schema here is). */
export type Schema<T> = v.GenericSchema<unknown, T>;

type Step<T> = v.PipeItem<T, T, v.BaseIssue<unknown>>;

/**
 * `base` then each check in turn, each only while the field has no problem yet: a schema between
 * two steps ends a pipe that has an issue (valibot runs a pipe's validations on, otherwise).
 */
function firstProblem<T>(base: Schema<T>, ...checks: Step<T>[]): Schema<T> {
  const items: unknown[] = [base];
  for (const c of checks) items.push(c, v.unknown());
  items.pop();
  if (checks.length === 0) return base;
  return (v.pipe as unknown as (...i: unknown[]) => Schema<T>)(base, ...items.slice(1));
}

const isRecord = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === "object" && !Array.isArray(x);

/**
 * What a non-object was, for the message: a string holding JSON is the usual mistake (an event
 * passed as its JSON text, e.g. a CLI payload quoted twice or an API body not parsed).
 */
function notAnObject(x: unknown): string {
  if (typeof x === "string") return /^\s*\{/.test(x) ? ", got a string holding JSON (pass the object itself, not its text)" : ", got a string";
  if (typeof x === "number" || typeof x === "boolean") return `, got a ${typeof x}`;
  return "";
}

/**
 * An object with these fields (others are ignored). A missing field is checked as undefined, so it
 * gets its own schema's message ("must be a string (a UUID)"), not a generic "key missing".
 */
export function struct<E extends v.ObjectEntries>(entries: E): Schema<v.InferOutput<v.ObjectSchema<E, undefined>>> {
  const keys = Object.keys(entries);
  return v.pipe(
    v.custom<Record<string, unknown>>(isRecord, (i) => `must be an object${notAnObject(i.input)}`),
    v.transform((o) => ({ ...Object.fromEntries(keys.map((k) => [k, undefined])), ...o })),
    v.object(entries),
  ) as unknown as Schema<v.InferOutput<v.ObjectSchema<E, undefined>>>;
}

/** A non-empty string without control characters or lone surrogates, at most `max` characters, matching `pattern`. */
export function text(opts: { max?: number; pattern?: RegExp; expected?: string } = {}, ...more: Step<string>[]): Schema<string> {
  const { max, pattern, expected } = opts;
  return firstProblem<string>(
    v.string(`must be a string${expected ? ` (${expected})` : ""}`),
    v.check((s) => s.trim() !== "", "must not be empty"),
    ...(max === undefined ? [] : [v.check<string, (i: v.CheckIssue<string>) => string>((s) => s.length <= max, (i) => `must be at most ${max} characters, has ${i.input.length}`)]),
    v.check<string, (i: v.CheckIssue<string>) => string>((s) => !CONTROL.test(s), (i) => describeControl(i.input)),
    v.check((s) => !LONE_SURROGATE.test(s), "must be well-formed Unicode (it holds a lone surrogate)"),
    ...(pattern ? [v.check<string, (i: v.CheckIssue<string>) => string>((s) => pattern.test(s), (i) => `must be ${expected ?? `like ${pattern}`}, got ${echo(i.input)}`)] : []),
    ...more,
  );
}

/** An integer in [min, max]. */
export function int(min: number, max: number): Schema<number> {
  return firstProblem<number>(
    v.number("must be an integer"),
    v.integer("must be an integer"),
    v.check<number, (i: v.CheckIssue<number>) => string>((n) => n >= min && n <= max, (i) => `must be between ${min} and ${max}, got ${i.input}`),
  );
}

/** A UUID, lower-cased. */
export const uuid: Schema<string> = v.pipe(
  text({ pattern: UUID, expected: "a UUID" }),
  v.transform((s) => s.toLowerCase()),
);

export const e164: Schema<string> = text({ pattern: E164, expected: "an E.164 number such as +15551234567" });

export const bool: Schema<boolean> = v.boolean("must be a boolean");

/** An array of `min`..`max` items; the items are checked only when the count is right. */
export function list<T>(item: Schema<T>, min: number, max: number): Schema<T[]> {
  return v.pipe(
    v.array(v.unknown(), "must be an array"),
    v.check<unknown[], (i: v.CheckIssue<unknown[]>) => string>((a) => a.length >= min && a.length <= max, (i) => `must have between ${min} and ${max} items, has ${i.input.length}`),
    v.array(item),
  );
}

/**
 * An array of `min`..`max` items, each checked with `item`, then, for the items without a problem,
 * in order, a cross-item rule (duplicates): `rule()` makes a fresh one per parse, called as
 * `(value, index, fail)`; `fail(field, message)` reports on that item's field, in line with the
 * items' own problems. The output holds the items the rule returns true for.
 */
export function listWith<T>(
  item: Schema<T>,
  min: number,
  max: number,
  rule: () => (value: T, index: number, fail: (field: string, message: string) => void) => boolean,
): Schema<T[]> {
  return v.pipe(
    v.array(v.unknown(), "must be an array"),
    v.check<unknown[], (i: v.CheckIssue<unknown[]>) => string>((a) => a.length >= min && a.length <= max, (i) => `must have between ${min} and ${max} items, has ${i.input.length}`),
    v.rawTransform<unknown[], T[]>(({ dataset, addIssue }) => {
      const out: T[] = [];
      const each = rule();
      dataset.value.forEach((input, index) => {
        const at = (rest: v.IssuePathItem[] = []): [v.IssuePathItem, ...v.IssuePathItem[]] => [{ type: "array", origin: "value", input: dataset.value, key: index, value: input }, ...rest];
        const r = v.safeParse(item, input);
        if (!r.success) {
          for (const issue of r.issues) addIssue({ message: issue.message, path: at(issue.path ?? []) });
          return;
        }
        const fail = (field: string, message: string) =>
          addIssue({ message, path: at([{ type: "object", origin: "value", input: r.output as Record<string, unknown>, key: field, value: (r.output as Record<string, unknown>)[field] }]) });
        if (each(r.output, index, fail)) out.push(r.output);
      });
      return out;
    }),
  ) as unknown as Schema<T[]>;
}

/** The path of an issue in this module's notation: `$`, `name`, `contacts[2].phone`. */
function pathOf(root: string, issue: v.BaseIssue<unknown>): string {
  return (issue.path ?? []).reduce<string>((p, item) => join(p, item.key as string | number), root);
}

/** Every problem of `input` (capped, see capIssues), and the output when there is none. */
export function check<T>(schema: Schema<T>, input: unknown, root = "$"): { output?: T; issues: Issue[] } {
  const r = v.safeParse(schema, input);
  if (r.success) return { output: r.output, issues: [] };
  return { issues: capIssues(r.issues.map((i) => ({ path: pathOf(root, i), message: i.message }))) };
}

/** The parsed event, or InvalidEventError listing every problem. */
export function parseEvent<T>(functionName: string, schema: Schema<T>, event: unknown): T {
  const r = v.safeParse(schema, event);
  if (!r.success) throw new InvalidEventError(functionName, r.issues.map((i) => ({ path: pathOf("$", i), message: i.message })));
  return r.output;
}
