/**
 * The worker health check: `{status, redis: {connected, endpoint}, database: {connected}}`.
 * Degraded when the database or (for functions that use it) Redis is unreachable. Any handler
 * answers it for the event `{"action": "health"}`.
 */
import type { Cache } from "./cache";
import type { Database } from "./db";

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
