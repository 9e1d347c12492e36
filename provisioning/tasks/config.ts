/**
 * Tasks "prepare persistence" and "write config": the host side is provisioning/scripts/writes.sh
 * (stage_config: checked write of a temp file beside the real one, validated by the real server
 * binary on a throwaway --port 0 instance; install_staged: rollback copy without plaintext
 * password, restart-pending marker, atomic rename) and provisioning/scripts/persistence.sh.
 * Here: the local checks that refuse a change before anything is touched.
 */
import { memoryBytes } from "../../lambdas/contracts/memory";
import type { RoleVars } from "../defaults";
import type { RuntimeFacts } from "./facts";

export const AOF_REWRITE_TIMEOUT_S = Number(process.env.PROVISION_AOF_TIMEOUT ?? 900);

/** Local safety checks before anything is touched: refuse changes that would drop keys. */
export function dataSafetyProblems(vars: RoleVars, rt: RuntimeFacts | undefined): string[] {
  const info = rt?.info;
  if (!info) return [];
  const out: string[] = [];
  const used = Number(info.used_memory ?? 0);
  const max = memoryBytes(vars.redis_maxmemory) ?? 0;
  if (max > 0 && used > max) {
    out.push(
      `redis_maxmemory ${vars.redis_maxmemory} (${max} bytes) is below the ${used} bytes in use: ` +
        `${vars.redis_maxmemory_policy === "noeviction" ? "writes would fail" : "keys would be evicted"}; refusing`,
    );
  }
  return out;
}
