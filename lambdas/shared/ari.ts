/**
 * Asterisk REST Interface: originate a call with POST {ARI_URL}/ari/channels (basic auth).
 * The channel id is ours, so the status-checker can match the call's outcome to the attempt.
 *
 * A failed origination is one of three kinds (see dialer-worker for what each does to the task):
 * - "transient": the request certainly did not originate a call, and ARI (or the way to it) is
 *   unavailable: DNS failure, refused connection, no connection within ARI_TIMEOUT_MS (the request
 *   was never written), 5xx, 408/425/429 (try again later), and 401/403 (our credentials or ARI's
 *   configuration: every call would fail the same way, so it says nothing about this number);
 * - "rejected": ARI answered and refused this particular call: any other 4xx (400 invalid
 *   endpoint or parameters, 404, 409, 422, ...);
 * - "ambiguous": the request was sent but no answer came back (timeout after the connection was
 *   established, connection reset or closed before a status line). Asterisk may have originated
 *   the call and only its answer was lost, so it must NOT be dialed again as if it had failed.
 *
 * The boundary is the connection: once the TCP connection (TLS: the handshake) is established,
 * Node writes the request at once, so any later failure without a status line counts as
 * "ambiguous". This errs on the safe side (a request that in fact never left the kernel is held
 * as ambiguous, never retried as transient). Each origination uses its own connection (no
 * keep-alive), so a request is never written into an idle socket the server already closed,
 * which would otherwise turn an ordinary keep-alive race into an ambiguous outcome.
 * A status line is the only evidence of the outcome: 2xx = originated, anything else = not.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AriConfig } from "./config";

export interface OriginateRequest {
  channelId: string;
  number: string;
  callerId: string;
  variables?: Record<string, string>;
}

export type FailureKind = "transient" | "rejected" | "ambiguous";
export type OriginateResult = { ok: true; channelId: string } | { ok: false; kind: FailureKind; error: string; status?: number };

const TRANSIENT_4XX = new Set([401, 403, 408, 425, 429]);
const MAX_ERROR_BODY = 200;

/** How a non-2xx ARI answer counts: a 4xx about this call is a rejection; anything else is transient. */
export function failureKind(status: number): Exclude<FailureKind, "ambiguous"> {
  return status >= 400 && status < 500 && !TRANSIENT_4XX.has(status) ? "rejected" : "transient";
}

class AriTimeout extends Error {
  readonly code = "ARI_TIMEOUT";
}

export function originate(cfg: AriConfig, password: string, req: OriginateRequest): Promise<OriginateResult> {
  const params = new URLSearchParams({
    endpoint: cfg.endpointTemplate.replace("{number}", req.number),
    app: cfg.app,
    callerId: req.callerId,
    timeout: String(cfg.ringTimeoutSeconds),
    channelId: req.channelId,
  });
  const url = new URL(`${cfg.url}/ari/channels?${params.toString()}`);
  const tls = url.protocol === "https:";
  const payload = JSON.stringify({ variables: req.variables ?? {} });
  const auth = Buffer.from(`${cfg.user}:${password}`).toString("base64");

  return new Promise<OriginateResult>((resolve) => {
    /** Connection established: from here on the request may have reached Asterisk. */
    let sent = false;
    let status: number | undefined;
    let text = "";
    let settled = false;
    const finish = (r: OriginateResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const byStatus = (code: number): OriginateResult =>
      code >= 200 && code < 300
        ? { ok: true, channelId: req.channelId }
        : { ok: false, kind: failureKind(code), status: code, error: `ARI answered ${code}: ${text.slice(0, MAX_ERROR_BODY)}` };

    const http: ClientRequest = (tls ? httpsRequest : httpRequest)(url, {
      method: "POST",
      agent: false, // a fresh connection per origination (see the top of this file)
      headers: {
        authorization: `Basic ${auth}`,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(payload),
        connection: "close",
      },
    });
    const timer = setTimeout(() => http.destroy(new AriTimeout(`timed out after ${cfg.timeoutMs} ms`)), cfg.timeoutMs);
    http.on("socket", (socket) => {
      const connected = () => void (sent = true);
      // Already connected (never with agent: false, but on the safe side: counts as sent).
      if (!socket.connecting) connected();
      else socket.once(tls ? "secureConnect" : "connect", connected);
    });
    http.on("response", (res: IncomingMessage) => {
      status = res.statusCode ?? 0;
      const code = status;
      if (code >= 200 && code < 300) {
        finish(byStatus(code)); // originated: the body does not matter
        res.on("error", () => undefined).resume();
        return;
      }
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (text.length < MAX_ERROR_BODY) text += chunk;
      });
      res.on("error", () => undefined);
      res.on("close", () => finish(byStatus(code))); // also when the body is cut short: the status decides
    });
    http.on("error", (e: Error & { code?: string }) => {
      if (status !== undefined) return finish(byStatus(status));
      const timedOut = e instanceof AriTimeout;
      if (!sent) {
        return finish({
          ok: false,
          kind: "transient",
          error: timedOut ? `ARI request failed: no connection within ${cfg.timeoutMs} ms (request not sent)` : `ARI request failed: ${e.code ?? e.message} (request not sent)`,
        });
      }
      finish({
        ok: false,
        kind: "ambiguous",
        error: timedOut
          ? `ARI did not answer within ${cfg.timeoutMs} ms after the request was sent; the call may have been placed`
          : `ARI connection lost after the request was sent (${e.code ?? e.message}); the call may have been placed`,
      });
    });
    http.end(payload);
  });
}
