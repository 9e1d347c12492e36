/**
 * Task "verify": PING answers PONG with the application password, a probe key round-trips
 * (SET/GET/DEL), and the running server reports the configured port, maxmemory, policy and appendonly.
 * Pure evaluation of facts the host scripts returned.
 */
import { memoryBytes } from "../../lambdas/contracts/memory";
import type { RoleVars } from "../defaults";
import type { RuntimeFacts } from "./facts";

/** Settings where the running server differs from the wanted ones (empty when it matches). */
export function runtimeDrift(vars: RoleVars, rt: RuntimeFacts): string[] {
  const c = rt.config;
  if (!c) return ["running settings unreadable (no admin access)"];
  const want: Record<string, string> = {
    port: String(vars.redis_port),
    maxmemory: String(memoryBytes(vars.redis_maxmemory)),
    "maxmemory-policy": vars.redis_maxmemory_policy,
    appendonly: vars.redis_appendonly ? "yes" : "no",
  };
  return Object.entries(want)
    .filter(([k, v]) => c[k] !== v)
    .map(([k, v]) => `${k}=${c[k] ?? "?"} (want ${v})`);
}

export interface VerifyResult {
  ok: boolean;
  msg: string;
}

export function evaluateVerify(vars: RoleVars, rt: RuntimeFacts, expectProbe: boolean): VerifyResult {
  const problems: string[] = [];
  if (rt.ping !== "PONG") problems.push(`PING with the password answered ${JSON.stringify((rt.ping ?? "nothing").split("\n").pop())}`);
  if (expectProbe && rt.probe !== "ok") problems.push(`probe key did not round-trip (${rt.probe ?? "not run"})`);
  const drift = runtimeDrift(vars, rt);
  if (drift.length) problems.push(`running server reports ${drift.join(", ")}`);
  if (problems.length) return { ok: false, msg: problems.join("; ") };
  const i = rt.info ?? {};
  return {
    ok: true,
    msg:
      `PONG; probe key ${expectProbe ? "round-tripped" : "skipped (check mode)"}; port ${vars.redis_port}, maxmemory ${vars.redis_maxmemory}, ` +
      `${vars.redis_maxmemory_policy}, appendonly ${vars.redis_appendonly ? "yes" : "no"}; pid ${i.process_id ?? "?"}, up ${i.uptime_in_seconds ?? "?"} s`,
  };
}
