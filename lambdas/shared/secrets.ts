/**
 * Secrets Manager by ARN, fetched once per execution environment and cached (per ARN, including
 * the in-flight promise so concurrent first uses share one request). The SDK is loaded lazily: it
 * is provided by the Lambda runtime and kept out of the bundle.
 *
 * - A fetch gets SECRET_FETCH_TIMEOUT_MS in all (SDK retries included): Secrets Manager that
 *   accepts the connection and never answers (no VPC endpoint, a hung proxy) fails the fetch with
 *   a message naming the variable, instead of holding the invocation until Lambda kills it.
 * - A failed fetch and a malformed secret are not cached: the next use fetches again (the secret
 *   may have been fixed meanwhile).
 * - A credential refused by its server (rotated secret) is re-read once with `refetchPassword`:
 *   every value read carries the generation of the cached entry it came from, so many refusals of
 *   the same value (concurrent originations, one connect) share one re-fetch, and a value that is
 *   still refused is not fetched again until it has been read and refused once more (no loop).
 *   The database layer does the same with `invalidateSecret` on an authentication failure.
 */
import { parseDatabaseSecret, parsePasswordSecret } from "../contracts/secrets";
import type { CredentialSource, DatabaseClientConfig } from "./config";

/** Longest wait for one secret (all of the SDK's attempts). */
export const SECRET_FETCH_TIMEOUT_MS = 3000;

let client: { send(cmd: unknown, opts?: { abortSignal?: AbortSignal }): Promise<{ SecretString?: string }> } | undefined;

async function fetchSecret(arn: string): Promise<string> {
  // require, not import(): plain CommonJS resolution finds the runtime's SDK (NODE_PATH) for sure.
  const sdk = require("@aws-sdk/client-secrets-manager") as typeof import("@aws-sdk/client-secrets-manager");
  client ??= new sdk.SecretsManagerClient({}) as unknown as typeof client;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), SECRET_FETCH_TIMEOUT_MS);
  try {
    const out = await client!.send(new sdk.GetSecretValueCommand({ SecretId: arn }), { abortSignal: abort.signal });
    if (out.SecretString === undefined) throw new Error("the secret has no SecretString");
    return out.SecretString;
  } catch (e) {
    if (abort.signal.aborted) throw new Error(`Secrets Manager did not answer within ${SECRET_FETCH_TIMEOUT_MS} ms`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

interface Entry {
  text: Promise<string>;
  generation: number;
}

const cache = new Map<string, Entry>();
let generations = 0;

function entry(arn: string): Entry {
  let e = cache.get(arn);
  if (!e) {
    const created: Entry = { text: fetchSecret(arn), generation: ++generations };
    cache.set(arn, created);
    // A failed fetch is retried on the next use (unless the entry was replaced meanwhile).
    created.text.catch(() => forget(arn, created));
    e = created;
  }
  return e;
}

function forget(arn: string, e: Entry): void {
  if (cache.get(arn) === e) cache.delete(arn);
}

export function invalidateSecret(arn: string): void {
  cache.delete(arn);
}

/** The SecretString, or an error naming the variable (never the value). */
async function read(arn: string, variable: string): Promise<{ text: string; entry: Entry }> {
  const e = entry(arn);
  try {
    return { text: await e.text, entry: e };
  } catch (error) {
    throw new Error(`secret ${variable} (${arn}): ${(error as Error).message}`);
  }
}

export async function getSecretString(arn: string): Promise<string> {
  return entry(arn).text;
}

/** The RDS-managed master secret: JSON with `username` and `password`. */
export async function getDatabaseCredentials(arn: string): Promise<{ user: string; password: string }> {
  const { text, entry: e } = await read(arn, "RDS_SECRET_ARN");
  const parsed = parseDatabaseSecret(text);
  if (!parsed.ok) {
    forget(arn, e);
    throw new Error(`secret RDS_SECRET_ARN (${arn}) ${parsed.problem}`);
  }
  return { user: parsed.value.username, password: parsed.value.password };
}

/** The database user and password: from the RDS secret, or the local DATABASE_USER / DATABASE_PASSWORD. */
export async function resolveDatabaseCredentials(source: DatabaseClientConfig["credentials"]): Promise<{ user: string; password: string }> {
  return source.kind === "secret" ? getDatabaseCredentials(source.arn) : { user: source.user, password: source.password };
}

/** A password and the cache generation it was read from (0: a local override, never re-read). */
export interface PasswordReading {
  password: string;
  generation: number;
}

/** A password secret, `{"password": "..."}` (lambdas/contracts/secrets.ts), or the local override. */
export async function readPassword(source: CredentialSource): Promise<PasswordReading> {
  if (source.kind === "local") return { password: source.value, generation: 0 };
  const { text, entry: e } = await read(source.arn, source.variable);
  const parsed = parsePasswordSecret(text);
  if (!parsed.ok) {
    forget(source.arn, e);
    throw new Error(`secret ${source.variable} (${source.arn}): ${parsed.problem}`);
  }
  return { password: parsed.value.password, generation: e.generation };
}

export async function resolvePassword(source: CredentialSource): Promise<string> {
  return (await readPassword(source)).password;
}

/**
 * After the server refused `used`: the secret read again, once per refused generation (a refusal
 * of a value already re-read shares that re-read). Undefined when there is nothing new to try
 * (a local override, or Secrets Manager still holds the refused value).
 */
export async function refetchPassword(source: CredentialSource, used: PasswordReading): Promise<string | undefined> {
  if (source.kind === "local") return undefined;
  if (cache.get(source.arn)?.generation === used.generation) invalidateSecret(source.arn);
  const fresh = await readPassword(source);
  return fresh.password === used.password ? undefined : fresh.password;
}
