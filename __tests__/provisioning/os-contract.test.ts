/**
 * Issue 12.2: per-OS package layouts are written once, in lambdas/contracts/os.ts, and both writers
 * of the host read it: the stack's first-boot user data (rendered by modules/compute) and provisioning.
 * The rendered user data's own bash applies the contract's rules; here it runs against real
 * /etc/os-release texts and must pick what provisioning picks. It also passes shellcheck.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OS_LAYOUTS, OS_RULES, bootRules, OsRelease, candidateLayouts, pickLayout } from "../../lambdas/contracts/os";
import { OS_PROFILES, selectProfile } from "../../provisioning/os";
import { legacyConfDir } from "../../provisioning/tasks/retire";
import { prod } from "../../stacks/environments";
import { synthCampaign } from "../helpers/synth";

/** The user data as the host receives it: Terraform fills in the secret's ARN and turns `$${` back into `${`. */
const userDataOf = (config: typeof prod) =>
  (synthCampaign(config).json.resource.aws_instance.asterisk.user_data as string)
    .replace("${aws_secretsmanager_secret.redis_password.arn}", "arn:aws:secretsmanager:us-east-1:123456789012:secret:campaign-prod/redis-password-AbCdEf")
    .replace(/\$\$\{/g, "${");

/** /etc/os-release of real images (the fields that matter). */
const RELEASES: Record<string, string> = {
  "debian-12": 'ID=debian\nVERSION_ID="12"\n',
  "ubuntu-24.04": 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
  "al2023": 'ID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n',
  "al2": 'ID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n',
  "rocky-9.4": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
  "rocky-8.10": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n',
  "rhel-8": 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="8.9"\n',
  "fedora-40": "ID=fedora\nVERSION_ID=40\n",
  "centos-stream-9": 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\n',
  "alpine": "ID=alpine\nVERSION_ID=3.20.0\n",
};
const osRelease = (text: string): OsRelease => {
  const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, "m").exec(text)?.[1] ?? "";
  return { id: get("ID"), idLike: get("ID_LIKE"), versionId: get("VERSION_ID") };
};

/** Runs the user data's selection (everything before the install) on a given os-release; prints what it chose. */
function bootChoice(userData: string, releaseText: string): { code: number; vars: Record<string, string>; err: string } {
  const dir = mkdtempSync(join(tmpdir(), "ud-"));
  try {
    writeFileSync(join(dir, "os-release"), releaseText);
    const head = userData.slice(0, userData.indexOf("# Word splitting of PKGS"));
    const script = head
      .replace("exec > >(logger -t campaign-user-data) 2>&1\n", "")
      .replace(". /etc/os-release", `. ${join(dir, "os-release")}`);
    expect(script).not.toContain("/etc/os-release\n");
    const r = spawnSync("bash", ["-c", `${script}\nprintf '%s\\n' "LAYOUT=$LAYOUT" "PM=$PM" "PKGS=$PKGS" "AWSCLI=$AWSCLI" "SERVICE=$SERVICE" "CONF=$CONF" "PASSWORD_CONF=$PASSWORD_CONF" "OWNER=$OWNER"`], { encoding: "utf8" });
    const vars = Object.fromEntries(r.stdout.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    return { code: r.status ?? -1, vars, err: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("lambdas/contracts/os.ts: one table of per-OS layouts", () => {
  it("is dependency-free: no import at all", () => {
    const src = readFileSync(join(__dirname, "../../lambdas/contracts/os.ts"), "utf8");
    expect(src).not.toMatch(/^\s*import\s/m);
    expect(src).not.toMatch(/require\(/);
  });

  it("is provisioning's table (not a copy of it), and the retire task's directories come from it", () => {
    expect(OS_PROFILES).toBe(OS_LAYOUTS);
    expect(Object.values(OS_LAYOUTS).map(legacyConfDir)).toEqual(["/etc/redis", "/etc/valkey", "/etc/redis6", "/etc/redis", "/etc/redis"]);
    // RHEL 8 keeps redis.conf in /etc; its password include stays in a directory of its own.
    expect(OS_LAYOUTS.rhel8.configPath).toBe("/etc/redis.conf");
    expect(OS_LAYOUTS.rhel8.passwordInclude).toBe("/etc/redis/password.conf");
  });

  it("selects by /etc/os-release: the same answers as before the move", () => {
    const pick = (name: string, pkg: "valkey" | "redis6" = "valkey") => pickLayout(candidateLayouts(osRelease(RELEASES[name])), pkg)?.key;
    expect(Object.fromEntries(Object.keys(RELEASES).map((n) => [n, pick(n) ?? null]))).toEqual({
      "debian-12": "debian",
      "ubuntu-24.04": "debian",
      al2023: "al2023-valkey",
      al2: null,
      "rocky-9.4": "rhel",
      "rocky-8.10": "rhel8",
      "rhel-8": "rhel8",
      "fedora-40": "rhel",
      "centos-stream-9": "rhel",
      alpine: null,
    });
    expect(pick("al2023", "redis6")).toBe("al2023-redis6");
    expect(() => selectProfile(osRelease(RELEASES.al2), "valkey")).toThrow("Amazon Linux 2 is not supported (Amazon Linux 2023 is)");
    expect(() => selectProfile(osRelease(RELEASES.alpine), "valkey")).toThrow("unsupported OS: ID=alpine");
    expect(OS_RULES.every((r) => r.layouts.every((k) => OS_LAYOUTS[k]))).toBe(true);
  });
});

describe("first-boot user data rendered from the contract", () => {
  const userData = userDataOf(prod);

  it("writes no layout of its own: every row of the contract, nothing else", () => {
    for (const l of Object.values(OS_LAYOUTS)) {
      expect(userData).toContain(
        `  ${l.key}) PM=${l.pm}; PKGS="${l.packages.join(" ")}"; AWSCLI=${l.awsCliPackage}; SERVICE=${l.service}; CONF=${l.configPath}; PASSWORD_CONF=${l.passwordInclude}; OWNER=${l.group} ;;\n`,
      );
    }
    expect(userData.match(/^ {2}[a-z0-9-]+\) PM=/gm)).toHaveLength(Object.keys(OS_LAYOUTS).length);
    const template = readFileSync(join(__dirname, "../../templates/asterisk-user-data.sh.hbs"), "utf8");
    for (const path of ["/etc/redis", "/etc/valkey", "redis-server", "valkey-cli", "redis6"]) expect(template).not.toContain(path);
  });

  it("its bash picks, on every OS, the layout provisioning picks (and refuses the OSes provisioning refuses)", () => {
    for (const [name, text] of Object.entries(RELEASES)) {
      const want = pickLayout(candidateLayouts(osRelease(text)), "valkey");
      const got = bootChoice(userData, text);
      if (!want) {
        expect({ name, code: got.code }).toEqual({ name, code: 1 });
        expect(got.err).toMatch(/^unsupported OS for Redis: ID=/);
        continue;
      }
      expect({ name, ...got.vars }).toEqual({
        name,
        LAYOUT: want.key,
        PM: want.pm,
        PKGS: want.packages.join(" "),
        AWSCLI: want.awsCliPackage,
        SERVICE: want.service,
        CONF: want.configPath,
        PASSWORD_CONF: want.passwordInclude,
        OWNER: want.group,
      });
    }
    expect(userData).toContain("\nid amzn 2023 al2023-valkey\n");
    // ComputeProps.amazonLinuxRedisPackage picks the Amazon Linux row of the rules.
    expect(bootRules("redis6").filter((r) => r.word === "amzn")).toEqual([
      { field: "id", word: "amzn", version: "2023", layout: "al2023-redis6" },
      { field: "id", word: "amzn", version: "*", layout: "unsupported" },
    ]);
  });

  it("passes shellcheck", () => {
    if (spawnSync("shellcheck", ["--version"]).status !== 0 && !process.env.CI) {
      console.warn("!! shellcheck not installed (apt-get install shellcheck): the user data was NOT checked");
      return;
    }
    const r = spawnSync("shellcheck", ["-s", "bash", "-"], { input: userData, encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
