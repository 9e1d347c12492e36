/**
 * Task "gather facts": ONE ssh round trip that returns everything the run decides on — the OS, which
 * candidate Redis packages are installed (version, config file, service state), the provisioner's
 * host state (admin secret, restart-pending marker) and the running server's state (auth, PING,
 * probe key, CONFIG GET, INFO), the metrics publisher's files and timer, the first-boot password unit
 * and files to retire, and (when configured) the ARI files. A no-op run needs nothing more.
 */
import { OS_PROFILES, OsProfile, OsRelease } from "../os";
import { AriFacts, ariFacts } from "./ari";
import { METRICS_GATHER, MetricsFacts, metricsFacts } from "./metrics";
import { RETIRE_GATHER, RetireFacts, retireFacts } from "./retire";
import { INSTALLED_CHECK, ScriptOutput, prelude, profileVars } from "./shell";

export interface ProfileFacts {
  installed: boolean;
  versionOutput: string;
  config: string | null;
  active: string;
  enabled: string;
  mainPid: number;
  runtime: RuntimeFacts;
}

export interface RuntimeFacts {
  auth?: string;
  ping?: string;
  probe?: string;
  config?: Record<string, string>;
  info?: Record<string, string>;
}

export interface HostFacts {
  os: OsRelease;
  hostname: string;
  adminSecret: string | null;
  restartPending: boolean;
  profiles: Record<string, ProfileFacts>;
  metrics: MetricsFacts;
  retire: RetireFacts;
  ari: AriFacts;
}

/** The gather script: inspects every profile of the table whose package manager exists on the host. */
export function gatherScript(appPassword: string, adminUser: string, probeWrites: boolean, extra = ""): string {
  const perProfile = Object.values(OS_PROFILES)
    .map(
      (p) => `(
${profileVars(p)}
command -v ${p.pm === "apt" ? "dpkg-query" : "rpm"} >/dev/null 2>&1 || exit 0
pkgs_installed || exit 0
P=${p.key.replace(/-/g, "_")}
fact \${P}_installed 1
fact \${P}_version "$("$SERVER" --version 2>&1 | head -n 1)"
fact_file \${P}_config "$CONF"
ACTIVE=$(systemctl is-active "$SERVICE" 2>/dev/null)
fact \${P}_active "$ACTIVE"
fact \${P}_enabled "$(systemctl is-enabled "$SERVICE" 2>/dev/null)"
fact \${P}_mainpid "$(systemctl show -p MainPID --value "$SERVICE" 2>/dev/null)"
if [ "$ACTIVE" = active ]; then
  rc_target "$CONF"; rc_auth "$ADMIN_PW"
  probe ${probeWrites ? 1 : 0} | sed "s/^@@fact|rt_/@@fact|\${P}_rt_/"
fi
)`,
    )
    .join("\n");
  return `${prelude(appPassword, adminUser)}
${INSTALLED_CHECK}
. /etc/os-release
fact os_id "\${ID:-}"; fact os_like "\${ID_LIKE:-}"; fact os_version "\${VERSION_ID:-}"
fact hostname "$(hostname)"
ADMIN_PW=$(cat "$STATE/admin.secret" 2>/dev/null || true)
[ -n "$ADMIN_PW" ] && fact admin_secret "$ADMIN_PW"
[ -e "$STATE/restart-pending" ] && fact restart_pending 1
${METRICS_GATHER}
${RETIRE_GATHER}
${extra}
${perProfile}
exit 0
`;
}

/** `CONFIG GET a\nCONFIG GET b` raw output (name, value lines) -> map. */
export function parsePairs(text: string): Record<string, string> {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]] = lines[i + 1];
  return out;
}

/** INFO output -> map of field: value. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split("\n")) {
    const i = l.indexOf(":");
    if (i > 0 && !l.startsWith("#")) out[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return out;
}

export function runtimeFrom(facts: Record<string, string>, prefix = "rt_"): RuntimeFacts {
  const f = (k: string) => facts[prefix + k];
  return {
    auth: f("auth"),
    ping: f("ping"),
    probe: f("probe"),
    config: f("config") !== undefined ? parsePairs(f("config")) : undefined,
    info: f("info") !== undefined ? parseInfo(f("info")) : undefined,
  };
}

export function parseFacts(out: ScriptOutput): HostFacts {
  const f = out.facts;
  const profiles: Record<string, ProfileFacts> = {};
  for (const p of Object.values(OS_PROFILES) as OsProfile[]) {
    const k = p.key.replace(/-/g, "_");
    if (f[`${k}_installed`] !== "1") continue;
    profiles[p.key] = {
      installed: true,
      versionOutput: f[`${k}_version`] ?? "",
      config: f[`${k}_config`] ?? null,
      active: f[`${k}_active`] ?? "unknown",
      enabled: f[`${k}_enabled`] ?? "unknown",
      mainPid: Number(f[`${k}_mainpid`] ?? 0),
      runtime: runtimeFrom(f, `${k}_rt_`),
    };
  }
  return {
    os: { id: f.os_id ?? "", idLike: f.os_like ?? "", versionId: f.os_version ?? "" },
    hostname: f.hostname ?? "",
    adminSecret: f.admin_secret ?? null,
    restartPending: f.restart_pending === "1",
    profiles,
    metrics: metricsFacts(f),
    retire: retireFacts(f),
    ari: ariFacts(f),
  };
}
