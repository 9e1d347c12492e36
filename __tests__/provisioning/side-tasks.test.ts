/**
 * Pure parts of the tasks beside Redis: the ARI task's edits of Asterisk's files and its plan, and
 * the plan that retires the first-boot password unit. (Both run for real in hosts.test.ts.)
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS, RoleVars } from "../../provisioning/defaults";
import { unifiedDiff } from "../../provisioning/diff";
import { scriptParams } from "./params";
import { OS_PROFILES } from "../../provisioning/os";
import { maskSecrets } from "../../provisioning/render";
import {
  ARI_FILES, ARI_HANDLER, ARI_TASK, AriFacts, ariConfProblems, ensureAriInclude, ensureHttpConf, planAri, renderAriUser,
} from "../../provisioning/tasks/ari";
import { LEGACY_SCRIPT, LEGACY_UNIT_PATH, RETIRE_TASK, legacyConfDir, planRetire } from "../../provisioning/tasks/retire";

const FIX = join(__dirname, "fixtures");
const STOCK_HTTP = readFileSync(join(FIX, "http.conf"), "utf8");
const STOCK_ARI = readFileSync(join(FIX, "ari.conf"), "utf8");
const vars = (v: Partial<RoleVars> = {}): RoleVars => ({ ...DEFAULTS, ...v });
const http = { bindaddr: "0.0.0.0", bindport: 8088 };

/** Lines removed (-) and added (+) between two texts, from the role's own unified diff. */
const changedLines = (a: string, b: string): string[] =>
  unifiedDiff(a, b, "a", "b")
    .split("\n")
    .filter((l) => /^[+-]/.test(l) && !/^(\+\+\+|---) /.test(l));

describe("ARI: edits of Asterisk's own files", () => {
  it("http.conf: enables the server on the address and port, right after the stock examples, and changes nothing else", () => {
    const out = ensureHttpConf(STOCK_HTTP, http);
    expect(changedLines(STOCK_HTTP, out)).toEqual(["+enabled=yes", "-bindaddr=127.0.0.1", "+bindaddr=0.0.0.0", "+bindport=8088"]);
    expect(out).toMatch(/^;enabled=yes\nenabled=yes$/m);
    expect(out).toMatch(/^;bindport=8088\nbindport=8088$/m);
    expect(out.split("[post_mappings]")[1]).toBe(STOCK_HTTP.split("[post_mappings]")[1]);
    expect(ensureHttpConf(out, http)).toBe(out); // idempotent
    const moved = ensureHttpConf(out, { bindaddr: "10.0.0.5", bindport: 8090 });
    expect(changedLines(out, moved)).toEqual(["-bindaddr=0.0.0.0", "+bindaddr=10.0.0.5", "-bindport=8088", "+bindport=8090"]);
  });

  it("http.conf: equivalent values stay as written, later duplicates are commented out, a missing section or file is created", () => {
    const text = "[general]\nenabled = true ; on\nbindaddr=0.0.0.0\nbindport => 8088\nbindport=9999\n[other]\nbindport=1\n";
    expect(ensureHttpConf(text, http)).toBe("[general]\nenabled = true ; on\nbindaddr=0.0.0.0\nbindport => 8088\n;bindport=9999\n[other]\nbindport=1\n");
    expect(ensureHttpConf("[post_mappings]\nx = y\n", http)).toBe("[post_mappings]\nx = y\n\n[general]\nenabled=yes\nbindaddr=0.0.0.0\nbindport=8088\n");
    expect(ensureHttpConf(null, http)).toMatch(/\n\[general\]\nenabled=yes\nbindaddr=0\.0\.0\.0\nbindport=8088\n$/);
  });

  it("ari.conf: appends the #include once; a stanza of our user or enabled = no is reported, not rewritten", () => {
    const out = ensureAriInclude(STOCK_ARI);
    expect(out.startsWith(STOCK_ARI)).toBe(true);
    expect(out.slice(STOCK_ARI.length)).toBe("\n; The ARI user of the campaign dialer (npm run provision)\n#include ari_campaign.conf\n");
    expect(ensureAriInclude(out)).toBe(out);
    expect(ensureAriInclude('[general]\n#include "/etc/asterisk/ari_campaign.conf"\n')).toBe('[general]\n#include "/etc/asterisk/ari_campaign.conf"\n');
    expect(ariConfProblems(STOCK_ARI, "campaign_dialer")).toEqual({ errors: [], warnings: [] });
    expect(ariConfProblems(`${STOCK_ARI}\n[campaign_dialer]\ntype = user\npassword = plain\n`, "campaign_dialer").errors[0]).toMatch(/defines \[campaign_dialer\] itself/);
    expect(ariConfProblems("[general]\nenabled = no\n", "campaign_dialer").warnings[0]).toMatch(/enabled = no, so ARI stays off/);
  });

  it("the user stanza uses password_format = crypt and the hash; the output masks it", () => {
    const f = renderAriUser("campaign_dialer", "$6$abc$def");
    expect(f).toMatch(/^\[campaign_dialer\]\ntype = user\nread_only = no\npassword_format = crypt\npassword = \$6\$abc\$def\n$/m);
    expect(maskSecrets("+password = $6$abc$def")).toBe("+password = <hidden>");
  });
});

describe("ARI: plan (pure)", () => {
  const facts = (over: Partial<AriFacts> = {}): AriFacts => ({
    dir: true,
    files: { campaign: null, ari: STOCK_ARI, http: STOCK_HTTP },
    hashOk: false,
    openssl: "/usr/bin/openssl",
    asterisk: "/usr/sbin/asterisk",
    pending: [],
    ...over,
  });
  const PW = "ari-password-never-shown-1";

  it("is skipped without a password, and with a warning without Asterisk", () => {
    expect(planAri(vars(), undefined, facts(), false).results).toEqual([{ task: ARI_TASK, status: "skipped", msg: "asterisk_ari_password_secret_arn is not set", diff: undefined }]);
    const r = planAri(vars(), PW, facts({ dir: false }), false).results[0];
    expect(r.status).toBe("skipped");
    expect(r.msg).toMatch(/^WARNING: Asterisk is not installed \(no \/etc\/asterisk\), so the ARI user campaign_dialer is NOT configured/);
  });

  it("check mode: what would be written and reloaded, with a diff that never holds the password", () => {
    const p = planAri(vars(), PW, facts(), true);
    expect(p.apply).toBeUndefined();
    expect(p.results.map((r) => [r.task, r.status, r.msg])).toEqual([
      [ARI_TASK, "changed", "would write ari_campaign.conf, ari.conf, http.conf (new password hash); campaign_dialer on 0.0.0.0:8088"],
      [ARI_HANDLER, "changed", "would run: module reload res_ari.so; module reload http"],
    ]);
    expect(p.results[0].diff).toMatch(/^\+password = <new hash>$/m);
    expect(p.results[0].diff).toMatch(/^\+#include ari_campaign.conf$/m);
    expect(p.results[0].diff).not.toContain(PW);
  });

  it("a converged host is ok; a changed port rewrites only http.conf and reloads only http; a pending reload is retried", () => {
    const hash = "$6$saltsaltsaltsalt$x";
    const done = facts({
      files: { campaign: renderAriUser("campaign_dialer", hash), ari: ensureAriInclude(STOCK_ARI), http: ensureHttpConf(STOCK_HTTP, http) },
      hashOk: true,
    });
    expect(planAri(vars(), PW, done, false)).toEqual({ results: [{ task: ARI_TASK, status: "ok", msg: "campaign_dialer on 0.0.0.0:8088", diff: undefined }] });
    const port = planAri(vars({ asterisk_ari_port: 8089 }), PW, done, true);
    expect(port.results.map((r) => r.msg)).toEqual(["would write http.conf; campaign_dialer on 0.0.0.0:8089", "would run: module reload http"]);
    const apply = planAri(vars({ asterisk_ari_port: 8089 }), PW, done, false).apply!;
    expect(apply).not.toContain(PW); // the hash in place still verifies: no password needed on this trip
    expect(scriptParams(apply)).toMatchObject({ P_A_PW: "", P_A_FILES: "edit /etc/asterisk/http.conf", P_A_RELOADS: "http", P_A_HASHED_1: "0" });
    expect(planAri(vars(), PW, { ...done, pending: ["http"] }, true).results.map((r) => r.msg)).toEqual([
      "files in place; campaign_dialer on 0.0.0.0:8088",
      "would run: module reload http",
    ]);
    // A wrong password (the hash does not verify) makes a new hash.
    expect(planAri(vars(), PW, { ...done, hashOk: false }, true).results[0].msg).toBe("would write ari_campaign.conf (new password hash); campaign_dialer on 0.0.0.0:8088");
  });

  it("refuses to touch a host whose ari.conf already defines the user, or that has no openssl", () => {
    expect(planAri(vars(), PW, facts({ files: { campaign: null, ari: "[campaign_dialer]\ntype=user\n", http: null } }), false).results[0]).toMatchObject({
      status: "failed",
      msg: expect.stringMatching(/defines \[campaign_dialer\] itself.*nothing changed/),
    });
    expect(planAri(vars(), PW, facts({ openssl: "" }), false).results[0]).toMatchObject({ status: "failed", msg: expect.stringMatching(/^openssl not found/) });
  });

  it("the apply script hashes on the host, the password a parameter (data, on stdin to openssl), never in the script's syntax", () => {
    const apply = planAri(vars(), PW, facts(), false).apply!;
    expect(apply).not.toContain(PW);
    const p = scriptParams(apply);
    expect(p.P_A_PW).toBe(PW);
    expect(p.P_A_FILES.split("\n")[0]).toBe("own /etc/asterisk/ari_campaign.conf");
    expect(p.P_A_HASHED_1).toBe("1");
    // The new hash goes between the two halves of ari_campaign.conf.
    const [head, tail] = [p.P_A_CONTENT_1, p.P_A_TAIL_1].map((b) => Buffer.from(b, "base64").toString());
    expect(`${head}$6$HASH${tail}`).toBe(renderAriUser("campaign_dialer", "$6$HASH"));
    expect(apply).toMatch(/\nari_task\n$/);
    // bash parses it
    execFileSync("bash", ["-n"], { input: apply });
  });
});

describe("retire the first-boot password unit: plan (pure)", () => {
  const debian = OS_PROFILES.debian;
  it("knows where the user data wrote for each package", () => {
    expect(legacyConfDir(debian)).toBe("/etc/redis");
    expect(legacyConfDir(OS_PROFILES["al2023-valkey"])).toBe("/etc/valkey");
    expect(legacyConfDir(OS_PROFILES["al2023-redis6"])).toBe("/etc/redis6");
    expect(legacyConfDir(OS_PROFILES.rhel8)).toBe("/etc/redis");
  });

  it("ok when nothing is there; otherwise the unit before the restart, the files after it; check mode says what it would do", () => {
    expect(planRetire(debian, { paths: [], unitState: "" }, false)).toEqual({
      result: { task: RETIRE_TASK, status: "ok", msg: "no redis-password.service, no password.conf or campaign.conf in /etc/redis" },
    });
    const all = {
      paths: [LEGACY_UNIT_PATH, LEGACY_SCRIPT, "/etc/redis/password.conf", "/etc/redis/campaign.conf", "/etc/valkey/password.conf", "/etc/systemd/system/redis-server.service.requires/redis-password.service"],
      unitState: "enabled",
    };
    expect(planRetire(debian, all, true).result).toEqual({
      task: RETIRE_TASK,
      status: "changed",
      msg: "would disable and remove redis-password.service (was enabled); remove /usr/local/libexec/redis-password; remove /etc/redis/password.conf, /etc/redis/campaign.conf (plaintext requirepass)",
    });
    const p = planRetire(debian, all, false);
    expect(p.result).toBeUndefined();
    // provisioning/scripts/retire.sh runs it: retire_unit before the restart, retire_files after it, parameters as data.
    expect(p.pre).toMatch(/\nretire_unit\n$/);
    expect(p.post).toMatch(/\nretire_files\n$/);
    expect(scriptParams(p.pre!)).toMatchObject({
      P_R_UNIT: "redis-password.service",
      P_R_UNIT_PATHS: [LEGACY_UNIT_PATH, LEGACY_SCRIPT, "/etc/systemd/system/redis-server.service.requires/redis-password.service"].join("\n"),
      P_R_FILES: "/etc/redis/password.conf\n/etc/redis/campaign.conf", // not /etc/valkey: not this host's package
    });
    for (const s of [p.pre!, p.post!]) execFileSync("bash", ["-n"], { input: s });
    // Only the files left (a unit removed by hand): no unit step.
    const files = planRetire(debian, { paths: ["/etc/redis/campaign.conf"], unitState: "" }, false);
    expect(scriptParams(files.pre!)).toMatchObject({ P_R_UNIT_PATHS: "", P_R_FILES: "/etc/redis/campaign.conf" });
  });
});

it("paths in the ARI task are Asterisk's", () => {
  expect(ARI_FILES).toEqual({ campaign: "/etc/asterisk/ari_campaign.conf", ari: "/etc/asterisk/ari.conf", http: "/etc/asterisk/http.conf" });
});
