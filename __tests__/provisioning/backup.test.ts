/**
 * The backup task's variables and plan, and what --restore accepts as a source (pure: no host).
 * The task and the restore run for real in backup-hosts.test.ts.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULTS, RoleVars } from "../../provisioning/defaults";
import { InventoryError } from "../../provisioning/inventory";
import { loadAsteriskVars } from "./inventories";
import { scriptParams } from "./params";
import { OS_PROFILES } from "../../provisioning/os";
import { BackupFacts, backupFacts, checkRdbOf, planBackup, renderBackupFiles } from "../../provisioning/tasks/backup";
import { restoreSource } from "../../provisioning/tasks/restore";
import { main } from "../../provisioning/cli";

const debian = OS_PROFILES.debian;
const BUCKET = "campaign-prod-redis-backup-20261201abcdef";
const vars = (v: Partial<RoleVars> = {}): RoleVars => ({ ...DEFAULTS, redis_backup_bucket: BUCKET, ...v });
const dir = mkdtempSync(join(tmpdir(), "backup-pure-"));

describe("redis backup: variables", () => {
  const load = loadAsteriskVars;
  it("has defaults (no bucket: no backups) and names each bad value with its file", () => {
    expect(load("redis_port: 6379\n").hosts[0].vars).toMatchObject({
      redis_backup_bucket: "", redis_backup_prefix: "redis", redis_backup_schedule: "hourly", redis_backup_region: "", redis_backup_timeout_seconds: 900,
    });
    let problems: string[] = [];
    try {
      load('redis_backup_bucket: "Not_A_Bucket"\nredis_backup_prefix: "/redis/"\nredis_backup_schedule: "hourly; reboot"\nredis_backup_region: "mars"\nredis_backup_timeout_seconds: 5\n');
    } catch (e) {
      problems = (e as InventoryError).problems;
    }
    for (const v of ["redis_backup_bucket", "redis_backup_prefix", "redis_backup_schedule", "redis_backup_region", "redis_backup_timeout_seconds"]) {
      expect(problems.some((p) => p.includes(`group_vars/asterisk.yml: ${v}: `))).toBe(true);
    }
  });
});

describe("redis backup: plan (pure)", () => {
  const files = renderBackupFiles(vars(), debian);
  const facts = (over: Partial<BackupFacts> = {}): BackupFacts => ({
    files: { ...files }, timerEnabled: "enabled", timerActive: "active", aws: "/usr/bin/aws", checkers: ["/usr/bin/redis-check-rdb"], ...over,
  });
  const fresh = { files: { script: null, service: null, timer: null }, timerEnabled: "", timerActive: "inactive" };

  it("renders the unit as the Redis user with the password as a credential, and the timer from the schedule; no secret in them", () => {
    expect(files.service).toMatch(/^User=redis$/m);
    expect(files.service).toMatch(/^LoadCredential=redis-admin:\/var\/lib\/redis-provision\/admin\.secret$/m);
    expect(files.service).toMatch(new RegExp(`^Environment=BACKUP_BUCKET=${BUCKET}$`, "m"));
    expect(files.service).toMatch(/^Environment=CHECK_RDB=redis-check-rdb$/m);
    expect(files.service).toMatch(/^TimeoutStartSec=960$/m);
    expect(renderBackupFiles(vars({ redis_backup_schedule: "*-*-* 02:30:00" }), debian).timer).toMatch(/^OnCalendar=\*-\*-\* 02:30:00$/m);
    expect(checkRdbOf(OS_PROFILES["al2023-valkey"])).toBe("valkey-check-rdb");
    expect(renderBackupFiles(vars(), OS_PROFILES["al2023-valkey"]).service).toMatch(/^User=valkey$/m);
  });

  it("reads the gathered facts", () => {
    expect(backupFacts({ backup_timer_state: "UnitFileState=enabled\nActiveState=active", backup_checkers: "/usr/bin/redis-check-rdb\n", backup_aws: "/usr/bin/aws" })).toEqual({
      files: { script: null, service: null, timer: null }, timerEnabled: "enabled", timerActive: "active", aws: "/usr/bin/aws", checkers: ["/usr/bin/redis-check-rdb"],
    });
  });

  it("ok when converged; installs on a fresh host after checking the schedule with systemd-analyze; --check says so", () => {
    expect(planBackup(vars(), debian, facts(), false).result?.status).toBe("ok");
    const p = planBackup(vars(), debian, facts(fresh), false);
    // provisioning/scripts/units.sh checks P_T_CALENDAR with systemd-analyze before any write.
    expect(scriptParams(p.apply!)).toMatchObject({ P_T_TASK: "redis backup", P_T_CALENDAR: "hourly", P_T_ENABLE: "1", P_T_START: "start", P_T_REMOVE: "0" });
    expect(planBackup(vars(), debian, facts(fresh), true).result?.msg).toBe(`redis-backup.timer: would write script, service, timer, enable, start; hourly to s3://${BUCKET}/redis/`);
  });

  it("without a bucket: skipped, or removes what an earlier run installed; without aws or the checker: a warning, nothing installed", () => {
    expect(planBackup(vars({ redis_backup_bucket: "" }), debian, facts(fresh), false).result).toMatchObject({ status: "skipped", msg: expect.stringMatching(/redis_backup_bucket is not set/) });
    expect(scriptParams(planBackup(vars({ redis_backup_bucket: "" }), debian, facts(), false).apply!)).toMatchObject({ P_T_REMOVE: "1", P_T_TIMER: "redis-backup.timer" });
    const noAws = planBackup(vars(), debian, facts({ ...fresh, aws: "" }), false);
    expect(noAws.apply).toBeUndefined();
    expect(noAws.result?.msg).toMatch(/^WARNING: the AWS CLI \(aws\) not found on the host, so Redis is NOT backed up/);
    expect(planBackup(vars(), debian, facts({ ...fresh, checkers: [] }), false).result?.msg).toMatch(/redis-check-rdb \(package redis-server redis-tools\) not found/);
    // The packages this run installs carry the checker.
    expect(planBackup(vars(), debian, facts({ ...fresh, checkers: [] }), false, true).apply).toBeDefined();
  });
});

describe("--restore SOURCE (before any connection)", () => {
  const rdb = join(dir, "dump.rdb");
  writeFileSync(rdb, Buffer.concat([Buffer.from("REDIS0010"), Buffer.alloc(20)]));
  it("a local RDB, an s3:// URI, a key in the bucket", () => {
    expect(restoreSource(rdb, "")).toMatchObject({ kind: "file", path: rdb, bytes: 29, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(restoreSource("s3://b-ucket/redis/x.rdb", "")).toEqual({ kind: "s3", uri: "s3://b-ucket/redis/x.rdb" });
    expect(restoreSource("redis/ast1/2026/12/01/redis-ast1-20261201T000000Z.rdb", BUCKET)).toEqual({ kind: "s3", uri: `s3://${BUCKET}/redis/ast1/2026/12/01/redis-ast1-20261201T000000Z.rdb` });
  });
  it("refuses what it cannot restore, naming it", () => {
    writeFileSync(join(dir, "a.aof"), "*2\r\n$6\r\nSELECT\r\n");
    expect(() => restoreSource(join(dir, "a.aof"), BUCKET)).toThrow(/not an RDB file \(it does not start with REDIS\)/);
    expect(() => restoreSource(dir, BUCKET)).toThrow(/not a regular file/);
    expect(() => restoreSource("redis/x.rdb", "")).toThrow(/redis_backup_bucket is not set/);
    expect(() => restoreSource("../etc/passwd", BUCKET)).toThrow(/no such local file, and not an s3:\/\/BUCKET\/KEY URI/);
  });
  it("takes exactly one host: refused before any connection otherwise", async () => {
    writeFileSync(join(dir, "hosts"), "[asterisk]\nast1 ansible_host=10.0.0.1\nast2 ansible_host=10.0.0.2\n");
    let err = "";
    const code = await main(["-i", join(dir, "hosts"), "--restore", rdb], { stdout: () => undefined, stderr: (s) => (err += s), env: { REDIS_PASSWORD: "x".repeat(20) } });
    expect(code).toBe(1);
    expect(err).toMatch(/--restore replaces the data of exactly one host; 2 selected \(ast1, ast2\): narrow it with --limit/);
  });
});
