/**
 * Tiny event validation (no schema library: keeps bundles small). Collects every problem with its
 * field path ("contacts[2].phone"); `$` is the event itself.
 */
export interface Issue {
  path: string;
  message: string;
}

export class InvalidEventError extends Error {
  constructor(
    readonly functionName: string,
    readonly issues: Issue[],
  ) {
    super(`${functionName}: invalid event: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
    this.name = "InvalidEventError";
  }
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
    if (opts.max !== undefined && v.length > opts.max) return this.fail(path, `must be at most ${opts.max} characters`);
    if (opts.pattern && !opts.pattern.test(v)) return this.fail(path, `must be ${opts.expected ?? `like ${opts.pattern}`}, got ${JSON.stringify(v)}`);
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

  /** Throws InvalidEventError when anything was reported; otherwise narrows `value`. */
  done<T>(functionName: string, value: T | undefined): T {
    if (this.issues.length > 0 || value === undefined) throw new InvalidEventError(functionName, this.issues);
    return value;
  }
}
