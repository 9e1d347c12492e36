/**
 * Secrets Manager contracts shared by the stacks (which create the secrets), provisioning (which
 * reads them on the operator's machine) and the Lambdas (which read them at run time).
 * Dependency-free: no npm imports, nothing from stacks/, modules/ or provisioning/.
 *
 * The password-secret format, decided once (docs/lambdas.md "Secrets"):
 * every password secret is a JSON object with a string field `password`, as
 * modules/generated-secret writes it (`{"password": "<32 letters and digits>"}`, for the Redis
 * password, the ARI password and the ElastiCache AUTH token) and as the playbook-era secrets hold it
 * (the old state's secret versions, and the first-boot user data, read it with `jq .password`). Other
 * fields are ignored. A plain-string secret is refused: no writer ever produced one, and the host's
 * user data could not have read it, so accepting it in one reader only (the Lambdas did) let a
 * mistaken secret pass there and fail elsewhere.
 */

/** A Secrets Manager secret ARN (what `npm run inventory` accepts from stack outputs, too). */
export const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;

/** The JSON field of a password secret. */
export const PASSWORD_FIELD = "password";

/** Fewest characters of a password read from a secret (the stack generates 32). */
export const MIN_PASSWORD_LENGTH = 8;

/** The JSON a password secret holds. */
export interface PasswordSecret {
  password: string;
}

/** A parsed secret, or what is wrong with it: the problem never quotes the secret. */
export type SecretReading<T> = { ok: true; value: T } | { ok: false; problem: string };

const CONTROL = /[\x00-\x1f\x7f]/;

/** A password the programs accept, from a secret or an inventory: 8+ characters, no control characters. */
export function isUsablePassword(password: string): boolean {
  return password.length >= MIN_PASSWORD_LENGTH && !CONTROL.test(password);
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The one reader of a password secret's SecretString: `{"password": "..."}` with 8+ characters
 * and no control characters. The problem text names what is wrong, never the value.
 */
export function parsePasswordSecret(text: string): SecretReading<PasswordSecret> {
  const json = jsonObject(text);
  if (!json) return { ok: false, problem: `the secret is not JSON of the form {"${PASSWORD_FIELD}": "..."}` };
  const password = json[PASSWORD_FIELD];
  if (typeof password !== "string" || !isUsablePassword(password)) {
    return { ok: false, problem: `the secret has no JSON key "${PASSWORD_FIELD}" of ${MIN_PASSWORD_LENGTH}+ characters without control characters` };
  }
  return { ok: true, value: { password } };
}

/** The RDS-managed master secret: JSON with string fields `username` and `password` (other fields ignored). */
export interface DatabaseSecret {
  username: string;
  password: string;
}

export function parseDatabaseSecret(text: string): SecretReading<DatabaseSecret> {
  const json = jsonObject(text);
  const username = json?.username;
  const password = json?.password;
  if (typeof username !== "string" || typeof password !== "string") {
    return { ok: false, problem: `must be JSON with string fields "username" and "password"` };
  }
  return { ok: true, value: { username, password } };
}
