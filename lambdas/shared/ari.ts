/**
 * Asterisk REST Interface: originate a call with POST {ARI_URL}/ari/channels (basic auth).
 * The channel id is ours, so the status-checker can match the call's outcome to the attempt.
 */
import type { AriConfig } from "./config";

export interface OriginateRequest {
  channelId: string;
  number: string;
  callerId: string;
  variables?: Record<string, string>;
}

export type OriginateResult = { ok: true; channelId: string } | { ok: false; error: string; status?: number };

export async function originate(cfg: AriConfig, password: string, req: OriginateRequest): Promise<OriginateResult> {
  const params = new URLSearchParams({
    endpoint: cfg.endpointTemplate.replace("{number}", req.number),
    app: cfg.app,
    callerId: req.callerId,
    timeout: String(cfg.ringTimeoutSeconds),
    channelId: req.channelId,
  });
  const auth = Buffer.from(`${cfg.user}:${password}`).toString("base64");
  try {
    const res = await fetch(`${cfg.url}/ari/channels?${params.toString()}`, {
      method: "POST",
      headers: { authorization: `Basic ${auth}`, "content-type": "application/json" },
      body: JSON.stringify({ variables: req.variables ?? {} }),
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) return { ok: false, status: res.status, error: `ARI answered ${res.status}: ${text.slice(0, 200)}` };
    return { ok: true, channelId: req.channelId };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { ok: false, error: `ARI request failed: ${err.name === "TimeoutError" ? `timed out after ${cfg.timeoutMs} ms` : (err.cause?.code ?? err.message)}` };
  }
}
