/**
 * The application password: `redis_password` (default: env REDIS_PASSWORD), or the JSON key
 * `password` of the Secrets Manager secret `redis_password_secret_arn`. Every secret that enters the
 * process is registered with the redactor, which all output passes through.
 */
import type { HostSpec } from "./inventory";

const known = new Set<string>();

/** Registers a secret so that `redact` hides it everywhere. */
export function registerSecret(s: string | undefined): void {
  if (s && s.length >= 4) known.add(s);
}

/** Replaces every registered secret (and its base64 form) with ********. */
export function redact(text: string): string {
  let out = text;
  for (const s of known) {
    for (const form of [s, Buffer.from(s).toString("base64")]) out = out.split(form).join("********");
  }
  return out;
}

export type SecretFetcher = (arn: string) => Promise<string>;

/** Reads a SecretString from AWS Secrets Manager (region taken from the ARN). */
export const awsSecretFetcher: SecretFetcher = async (arn) => {
  const { SecretsManagerClient, GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
  const region = arn.split(":")[3];
  const client = new SecretsManagerClient({ region });
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (!out.SecretString) throw new Error("the secret has no SecretString");
    return out.SecretString;
  } finally {
    client.destroy();
  }
};

export class SecretError extends Error {}

/** Resolves the application password of each host; fetches each ARN once. Never puts a secret in a message. */
export async function resolvePasswords(
  hosts: HostSpec[],
  env: NodeJS.ProcessEnv = process.env,
  fetcher: SecretFetcher = awsSecretFetcher,
): Promise<Map<string, string>> {
  const byArn = new Map<string, Promise<string>>();
  const out = new Map<string, string>();
  for (const h of hosts) {
    let pw = h.vars.redis_password;
    const arn = h.vars.redis_password_secret_arn;
    if (pw === undefined && arn) {
      if (!byArn.has(arn)) {
        byArn.set(
          arn,
          fetcher(arn).then(
            (raw) => {
              let parsed: unknown;
              try {
                parsed = JSON.parse(raw);
              } catch {
                throw new SecretError(`${h.origin.redis_password_secret_arn}: redis_password_secret_arn: the secret is not JSON`);
              }
              const p = (parsed as Record<string, unknown> | null)?.password;
              if (typeof p !== "string" || p.length < 8) {
                throw new SecretError(
                  `${h.origin.redis_password_secret_arn}: redis_password_secret_arn: the secret has no JSON key "password" of 8+ characters`,
                );
              }
              return p;
            },
            (e: Error) => {
              if (e instanceof SecretError) throw e;
              throw new SecretError(`${h.origin.redis_password_secret_arn}: redis_password_secret_arn: cannot read the secret: ${e.name}`);
            },
          ),
        );
      }
      pw = await byArn.get(arn)!;
    }
    if (pw === undefined) pw = env.REDIS_PASSWORD || undefined;
    if (pw === undefined) {
      throw new SecretError(`host ${h.name}: redis_password is not set (set REDIS_PASSWORD, redis_password or redis_password_secret_arn)`);
    }
    if (pw.length < 8 || /[\x00-\x1f\x7f]/.test(pw)) {
      throw new SecretError(`host ${h.name}: redis_password: must be at least 8 characters without control characters (value hidden)`);
    }
    registerSecret(pw);
    out.set(h.name, pw);
  }
  return out;
}
