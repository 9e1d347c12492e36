/**
 * Tiny event validation (no schema library: keeps bundles small). Collects every problem with its
 * field path ("contacts[2].phone"); `$` is the event itself.
 */
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

export class Checker {
  readonly issues: Issue[] = [];

  fail(path: string, message: string): undefined {
    this.issues.push({ path, message });
    return undefined;
  }

  object(v: unknown, path: string): Record<string, unknown> | undefined {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return this.fail(path, "must be an object");
    return v as Record<string, unknown>;
  }

  array(v: unknown, path: string, min: number, max: number): unknown[] | undefined {
    if (!Array.isArray(v)) return this.fail(path, "must be an array");
    if (v.length < min || v.length > max) return this.fail(path, `must have between ${min} and ${max} items, has ${v.length}`);
    return v;
  }

  string(v: unknown, path: string, opts: { max?: number; pattern?: RegExp; expected?: string } = {}): string | undefined {
    if (typeof v !== "string") return this.fail(path, `must be a string${opts.expected ? ` (${opts.expected})` : ""}`);
    if (v.trim() === "") return this.fail(path, "must not be empty");
    if (opts.max !== undefined && v.length > opts.max) return this.fail(path, `must be at most ${opts.max} characters, has ${v.length}`);
    if (CONTROL.test(v)) return this.fail(path, describeControl(v));
    if (LONE_SURROGATE.test(v)) return this.fail(path, "must be well-formed Unicode (it holds a lone surrogate)");
    if (opts.pattern && !opts.pattern.test(v)) return this.fail(path, `must be ${opts.expected ?? `like ${opts.pattern}`}, got ${echo(v)}`);
    return v;
  }

  int(v: unknown, path: string, min: number, max: number): number | undefined {
    if (typeof v !== "number" || !Number.isInteger(v)) return this.fail(path, "must be an integer");
    if (v < min || v > max) return this.fail(path, `must be between ${min} and ${max}, got ${v}`);
    return v;
  }

  uuid(v: unknown, path: string): string | undefined {
    return this.string(v, path, { pattern: UUID, expected: "a UUID" })?.toLowerCase();
  }

  e164(v: unknown, path: string): string | undefined {
    return this.string(v, path, { pattern: E164, expected: "an E.164 number such as +15551234567" });
  }

  optional<T>(v: unknown, check: (v: unknown) => T | undefined): T | undefined {
    return v === undefined ? undefined : check(v);
  }

  /** The problems found, capped (see capIssues). */
  report(): Issue[] {
    return capIssues(this.issues);
  }

  /** Throws InvalidEventError when anything was reported; otherwise narrows `value`. */
  done<T>(functionName: string, value: T | undefined): T {
    if (this.issues.length > 0 || value === undefined) throw new InvalidEventError(functionName, this.issues);
    return value;
  }
}
