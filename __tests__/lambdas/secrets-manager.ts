/**
 * A local Secrets Manager stand-in for the real AWS SDK: GetSecretValue by SecretId over the SDK's
 * JSON protocol (AWS_ENDPOINT_URL_SECRETS_MANAGER points at it, with test credentials). It records
 * each request (`target SecretId`) and counts fetches per secret; `hang` names secrets it accepts and
 * never answers for. `close()` puts the environment back.
 */
import { createServer } from "node:http";

export interface SecretsManagerStandIn {
  readonly secrets: Record<string, string>;
  readonly requests: string[];
  readonly fetches: Record<string, number>;
  readonly hang: Set<string>;
  close(): Promise<void>;
}

export async function startSecretsManager(secrets: Record<string, string> = {}): Promise<SecretsManagerStandIn> {
  const saved = { ...process.env };
  const sm = { secrets, requests: [] as string[], fetches: {} as Record<string, number>, hang: new Set<string>() };
  const server = createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString()));
    req.on("end", () => {
      const { SecretId } = JSON.parse(data) as { SecretId: string };
      sm.requests.push(`${req.headers["x-amz-target"]} ${SecretId}`);
      sm.fetches[SecretId] = (sm.fetches[SecretId] ?? 0) + 1;
      if (sm.hang.has(SecretId)) return; // accepted, never answered
      const value = sm.secrets[SecretId];
      if (value === undefined) return void res.writeHead(400, { "content-type": "application/x-amz-json-1.1" }).end(JSON.stringify({ __type: "ResourceNotFoundException", message: "not found" }));
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" }).end(JSON.stringify({ ARN: SecretId, SecretString: value }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  });
  return {
    ...sm,
    close: async () => {
      process.env = saved;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
