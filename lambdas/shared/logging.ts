/**
 * Structured JSON logs, one object per line on stdout (CloudWatch keeps them as-is).
 * Secrets never reach the logger by design; as a second line of defence any field whose
 * name looks like a credential is replaced by "[redacted]", and every string logged (the
 * message, field values, error messages) has URL credentials (`scheme://user:pass@`) and
 * `password=...`-style pairs masked.
 */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SENSITIVE = /pass(word)?|secret|token|authorization|credential|cookie|connection_?string|dsn|(api|access|private)_?key/i;
const MAX_DEPTH = 4;

const SECRET_PAIR = /(password|passwd|pwd|secret|token)(\s*=\s*)[^\s&;,'"]+/gi;

/**
 * Mask credentials in free text: `postgres://u:p@host` → `postgres://***@host`, `password=x` →
 * `password=***`. In a run of non-blank characters, everything between the first "://" and the
 * last "@" is masked: a password may itself contain "@" or "/" (unencoded), so over-masking is
 * preferred to leaking its tail. Linear in the length of the text (no backtracking regex).
 */
export function maskCredentials(text: string): string {
  const masked = text.includes("://")
    ? text.replace(/[^\s"'<>]+/g, (run) => {
        const start = run.indexOf("://");
        const at = run.lastIndexOf("@");
        return start >= 0 && at > start + 3 ? `${run.slice(0, start + 3)}***${run.slice(at)}` : run;
      })
    : text;
  return masked.replace(SECRET_PAIR, "$1$2***");
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const v = (value ?? "").toLowerCase();
  return v in ORDER ? (v as LogLevel) : undefined;
}

function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return maskCredentials(value);
  // Errors (also from another realm, where instanceof fails): name, message and code only.
  if (value instanceof Error || (typeof value === "object" && value !== null && typeof (value as Error).stack === "string" && "message" in value)) {
    const { name, message, code } = value as Error & { code?: unknown };
    return { name: redact(name, depth + 1), message: redact(String(message), depth + 1), ...(code !== undefined ? { code: redact(code, depth + 1) } : {}) };
  }
  if (value === null || typeof value !== "object") return value;
  // Deeper than this is not inspected, so it is not written either (it could hold anything).
  if (depth > MAX_DEPTH) return "[truncated]";
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SENSITIVE.test(k) ? "[redacted]" : redact(v, depth + 1);
  return out;
}

export function createLogger(
  level: LogLevel = parseLogLevel(process.env.LOG_LEVEL) ?? "info",
  base: Record<string, unknown> = {},
  write: (line: string) => void = (line) => process.stdout.write(line + "\n"),
): Logger {
  const emit = (lvl: Exclude<LogLevel, "silent">, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const record = redact({ ...base, ...fields }) as Record<string, unknown>;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg: maskCredentials(msg), ...record }));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}
