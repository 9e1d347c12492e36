/**
 * Asterisk REST Interface: originate a call with POST {ARI_URL}/ari/channels (basic auth).
 * The channel id is ours, so the status-checker can match the call's outcome to the attempt.
 *
 * A failed origination is one of two kinds (see dialer-worker for what each does to the task):
 * - "transient": ARI (or the way to it) is unavailable: no answer, timeout, refused or reset
 *   connection, 5xx, 408/425/429 (try again later), and 401/403 (our credentials or ARI's
 *   configuration: every call would fail the same way, so it says nothing about this number);
 * - "rejected": ARI answered and refused this particular call: any other 4xx (400 invalid
 *   endpoint or parameters, 404, 409, 422, ...).
 */
import type { AriConfig } from "./config";

export interface OriginateRequest {
  channelId: string;
  number: string;
  callerId: string;
  variables?: Record<string, string>;
}

export type FailureKind = "transient" | "rejected";
export type OriginateResult = { ok: true; channelId: string } | { ok: false; kind: FailureKind; error: string; status?: number };

const TRANSIENT_4XX = new Set([401, 403, 408, 425, 429]);

/** How a non-2xx ARI answer counts: a 4xx about this call is a rejection; anything else is transient. */
export function failureKind(status: number): FailureKind {
  return status >= 400 && status < 500 && !TRANSIENT_4XX.has(status) ? "rejected" : "transient";
}

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
    if (!res.ok) return { ok: false, kind: failureKind(res.status), status: res.status, error: `ARI answered ${res.status}: ${text.slice(0, 200)}` };
    return { ok: true, channelId: req.channelId };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { ok: false, kind: "transient", error: `ARI request failed: ${err.name === "TimeoutError" ? `timed out after ${cfg.timeoutMs} ms` : (err.cause?.code ?? err.message)}` };
  }
}
