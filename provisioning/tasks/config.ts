/**
 * Tasks "prepare persistence" and "write config": the host side is provisioning/scripts/writes.sh
 * (stage_config: checked write of a temp file beside the real one, validated by the real server
 * binary on a throwaway --port 0 instance; install_staged: rollback copy without plaintext
 * password, restart-pending marker, atomic rename) and provisioning/scripts/persistence.sh.
 * Here: the local checks that refuse a change before anything is touched.
 */
import { memoryBytes } from "../../lambdas/contracts/memory";
import type { RoleVars } from "../defaults";
import { DATA_LOCATION, type RuntimeFacts } from "./facts";

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

/** `directive value` lines of a redis.conf text: the last value of each DATA_LOCATION setting, its line, and the include lines. */
function locationInText(text: string): { settings: Record<string, { value: string; line: number }>; includes: number[] } {
  const settings: Record<string, { value: string; line: number }> = {};
  const includes: number[] = [];
  text.split("\n").forEach((raw, i) => {
    const m = /^\s*([A-Za-z-]+)\s+(.*?)\s*$/.exec(raw);
    if (!m) return;
    const key = m[1].toLowerCase();
    if (key === "include") includes.push(i + 1);
    if ((DATA_LOCATION as readonly string[]).includes(key)) settings[key] = { value: m[2].replace(/^"(.*)"$|^'(.*)'$/, "$1$2"), line: i + 1 };
  });
  return { settings, includes };
}

const keysIn = (info: Record<string, string> | undefined): number =>
  Object.entries(info ?? {})
    .filter(([k]) => /^db\d+$/.test(k))
    .reduce((n, [, v]) => n + Number(/keys=(\d+)/.exec(v)?.[1] ?? 0), 0);

/**
 * Why restarting the running server into `desired` would leave its data behind (a server the old
 * playbook set up with its own `dir` or file names: it would come back EMPTY), or null. Where the server
 * keeps its data comes from CONFIG GET; when the server refuses that (a renamed CONFIG), from its config
 * file `current`, unless that includes other files (then it cannot be told, and that is the problem).
 */
export function dataLocationProblem(desired: string, current: string | null, configPath: string, service: string, rt: RuntimeFacts | undefined): string | null {
  if (!rt) return null;
  // A server that answers INFO and holds no key loses nothing; one that does not answer it (a renamed INFO) may.
  const counted = rt.info?.redis_version !== undefined || rt.info?.valkey_version !== undefined;
  if (counted && keysIn(rt.info) === 0) return null;
  const keys = counted ? `${keysIn(rt.info)} keys` : "data (INFO did not answer: how much is unknown)";
  const want = locationInText(desired).settings;
  const file = current === null ? { settings: {}, includes: [] } : locationInText(current);
  const at = (k: string) => (file.settings[k] ? ` (${configPath}:${file.settings[k].line})` : "");
  let have: Record<string, string> = rt.files?.settings ?? {};
  if (have.dir === undefined) {
    if (file.includes.length || !file.settings.dir) {
      const why = rt.files?.refused ? `CONFIG GET dir answered ${JSON.stringify(rt.files.refused)}` : "the server did not say (CONFIG GET dir)";
      const where = file.includes.length ? `${configPath}:${file.includes[0]} includes other files` : `${configPath} has no dir line`;
      return `cannot tell where the running ${service} keeps its ${keys}: ${why} and ${where}; restarting it into dir ${want.dir.value} could start it EMPTY, refusing (let it answer CONFIG GET dir: no rename-command CONFIG)`;
    }
    have = Object.fromEntries(Object.entries(file.settings).map(([k, v]) => [k, v.value]));
  }
  const norm = (k: string, v: string) => (k === "dir" ? v.replace(/(.)\/+$/, "$1") : v);
  const moved = DATA_LOCATION.filter((k) => have[k] !== undefined && want[k] !== undefined && norm(k, have[k]) !== norm(k, want[k].value));
  if (!moved.length) return null;
  const list = (side: (k: string) => string) => moved.map((k) => `${k} ${side(k)}`).join(", ");
  return (
    `the running ${service} keeps its ${keys} at ${list((k) => `${have[k]}${at(k)}`)}, but the new config reads ${list((k) => want[k].value)}: ` +
    `restarting into it would start EMPTY. Move the data first (stop ${service}, move its files to those names, set them in ${configPath}, start it), then run again; refusing`
  );
}
