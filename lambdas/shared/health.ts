/**
 * The worker health check: `{status, redis: {connected, endpoint}, database: {connected}}`.
 * Degraded when the database or (for functions that use it) Redis is unreachable. Any handler
 * answers it for the event `{"action": "health"}`.
 */
import type { Cache } from "./cache";
import type { Database } from "./db";
import { echo } from "./validate";

export interface HealthReport {
  status: "healthy" | "degraded";
  redis: { connected: boolean; endpoint: string | null };
  database: { connected: boolean };
}

export async function checkHealth(db: Database, cache: Cache): Promise<HealthReport> {
  const [dbOk, redisOk] = await Promise.all([db.ping(), cache.enabled ? cache.ping() : Promise.resolve(false)]);
  const healthy = dbOk && (redisOk || !cache.enabled);
  return { status: healthy ? "healthy" : "degraded", redis: { connected: redisOk, endpoint: cache.endpoint }, database: { connected: dbOk } };
}

export function isHealthEvent(event: unknown): boolean {
  return typeof event === "object" && event !== null && (event as { action?: unknown }).action === "health";
}

/**
 * `action` is reserved for the health check and matched exactly: an event carrying any other
 * action ("HEALTH", "Health ", "status") is refused, never taken for the function's own work (the
 * dialer would otherwise read `{"action": "HEALTH"}` as "dial every running campaign").
 */
export function actionIssue(event: unknown): { path: string; message: string } | undefined {
  if (typeof event !== "object" || event === null || !("action" in event)) return undefined;
  const action = (event as { action?: unknown }).action;
  if (action === "health") return undefined;
  const got = typeof action === "string" ? echo(action) : typeof action;
  return { path: "action", message: `must be "health" (the only action; other events carry no action), got ${got}` };
}
