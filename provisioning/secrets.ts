/**
 * The application password: `redis_password` (default: env REDIS_PASSWORD), or the JSON key
 * `password` of the Secrets Manager secret `redis_password_secret_arn`. Every secret that enters the
 * process is registered with the redactor, which all output passes through.
 */
import { MIN_PASSWORD_LENGTH, isUsablePassword, parsePasswordSecret } from "../lambdas/contracts/secrets";
import type { HostSpec } from "./inventory";

const known = new Set<string>();

/** Registers a secret so that `redact` hides it everywhere. */
export function registerSecret(s: string | undefined): void {
  if (s && s.length >= 4) known.add(s);
}

/** Whether `s` is a registered secret (the host scripts never carry one as itself). */
export const isRegisteredSecret = (s: string): boolean => known.has(s);

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

/** `Name: message` of a failed fetch on one line (the SDK's errors never carry the secret value). */
export function describeFetchError(e: unknown): string {
  const err = e instanceof Error ? e : new Error(String(e));
  const name = err.name || "Error";
  let msg = (err.message ?? "").replace(/[\x00-\x1f\x7f]+/g, " ").replace(/\s+/g, " ").trim();
  if (msg.length > 300) msg = `${msg.slice(0, 300)}...`;
  return msg && msg !== name ? `${name}: ${msg}` : name;
}

/** The secrets one host needs: the Redis application password, and the ARI password when configured. */
export interface HostSecrets {
  redis: string;
  ari?: string;
}

/**
 * Resolves each host's secrets; fetches each ARN once (for both variables). Never puts a secret in
 * a message. Redis: redis_password, else redis_password_secret_arn, else env REDIS_PASSWORD.
 * ARI (optional): asterisk_ari_password, else asterisk_ari_password_secret_arn.
 */
export async function resolveSecrets(
  hosts: HostSpec[],
  env: NodeJS.ProcessEnv = process.env,
  fetcher: SecretFetcher = awsSecretFetcher,
): Promise<Map<string, HostSecrets>> {
  const byArn = new Map<string, Promise<string>>();
  const fetchJson = (arn: string): Promise<string> => {
    if (!byArn.has(arn)) byArn.set(arn, fetcher(arn));
    return byArn.get(arn)!;
  };
  /** The JSON key `password` of the secret in variable `varName` of host h. */
  const fromSecret = async (h: HostSpec, varName: string, arn: string): Promise<string> => {
    const where = `${h.origin[varName] ?? `host ${h.name}`}: ${varName}`;
    let raw: string;
    try {
      raw = await fetchJson(arn);
    } catch (e) {
      throw new SecretError(`${where}: cannot read the secret ${arn}: ${describeFetchError(e)}`);
    }
    const read = parsePasswordSecret(raw);
    if (!read.ok) throw new SecretError(`${where}: ${read.problem}`);
    return read.value.password;
  };
  const out = new Map<string, HostSecrets>();
  for (const h of hosts) {
    let pw = h.vars.redis_password;
    const arn = h.vars.redis_password_secret_arn;
    if (pw === undefined && arn) pw = await fromSecret(h, "redis_password_secret_arn", arn);
    if (pw === undefined) pw = env.REDIS_PASSWORD || undefined;
    if (pw === undefined) {
      throw new SecretError(`host ${h.name}: redis_password is not set (set REDIS_PASSWORD, redis_password or redis_password_secret_arn)`);
    }
    if (!isUsablePassword(pw)) {
      throw new SecretError(`host ${h.name}: redis_password: must be at least ${MIN_PASSWORD_LENGTH} characters without control characters (value hidden)`);
    }
    registerSecret(pw);
    let ari = h.vars.asterisk_ari_password;
    const ariArn = h.vars.asterisk_ari_password_secret_arn;
    if (ari === undefined && ariArn) ari = await fromSecret(h, "asterisk_ari_password_secret_arn", ariArn);
    if (ari !== undefined) {
      if (!isUsablePassword(ari)) {
        throw new SecretError(`host ${h.name}: asterisk_ari_password: must be at least ${MIN_PASSWORD_LENGTH} characters without control characters (value hidden)`);
      }
      registerSecret(ari);
    }
    out.set(h.name, { redis: pw, ari });
  }
  return out;
}
