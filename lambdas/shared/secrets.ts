/**
 * Secrets Manager by ARN, fetched once per execution environment and cached (per ARN, including
 * the in-flight promise so concurrent first uses share one request). `invalidate` lets the
 * database layer refetch once after an authentication failure (rotated secret).
 * The SDK is loaded lazily: it is provided by the Lambda runtime and kept out of the bundle.
 */
import { parseDatabaseSecret, parsePasswordSecret } from "../contracts/secrets";
import type { CredentialSource, DatabaseClientConfig } from "./config";

let client: { send(cmd: unknown): Promise<{ SecretString?: string }> } | undefined;

async function fetchSecret(arn: string): Promise<string> {
  // require, not import(): plain CommonJS resolution finds the runtime's SDK (NODE_PATH) for sure.
  const sdk = require("@aws-sdk/client-secrets-manager") as typeof import("@aws-sdk/client-secrets-manager");
  client ??= new sdk.SecretsManagerClient({}) as unknown as typeof client;
  const out = await client!.send(new sdk.GetSecretValueCommand({ SecretId: arn }));
  if (out.SecretString === undefined) throw new Error(`secret ${arn} has no SecretString`);
  return out.SecretString;
}

const cache = new Map<string, Promise<string>>();

export function invalidateSecret(arn: string): void {
  cache.delete(arn);
}

export function getSecretString(arn: string): Promise<string> {
  let p = cache.get(arn);
  if (!p) {
    p = fetchSecret(arn);
    cache.set(arn, p);
    p.catch(() => cache.delete(arn)); // a failed fetch is retried on the next use
  }
  return p;
}

/** The RDS-managed master secret: JSON with `username` and `password`. */
export async function getDatabaseCredentials(arn: string): Promise<{ user: string; password: string }> {
  const read = parseDatabaseSecret(await getSecretString(arn));
  if (!read.ok) throw new Error(`secret RDS_SECRET_ARN (${arn}) ${read.problem}`);
  return { user: read.value.username, password: read.value.password };
}

/** The database user and password: from the RDS secret, or the local DATABASE_USER / DATABASE_PASSWORD. */
export async function resolveDatabaseCredentials(source: DatabaseClientConfig["credentials"]): Promise<{ user: string; password: string }> {
  return source.kind === "secret" ? getDatabaseCredentials(source.arn) : { user: source.user, password: source.password };
}

/** A password secret, `{"password": "..."}` (lambdas/contracts/secrets.ts), or the local override. */
export async function resolvePassword(source: CredentialSource): Promise<string> {
  if (source.kind === "local") return source.value;
  const read = parsePasswordSecret(await getSecretString(source.arn));
  if (!read.ok) throw new Error(`secret ${source.variable} (${source.arn}): ${read.problem}`);
  return read.value.password;
}
