import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Every npm command answers --help: usage on stdout, exit 0, and nothing else happens. Each command
 * runs as its own process with
 * - TESTBED_CACHE pointing at an empty directory (a test bed boot would create its image cache and
 *   run/ entries there),
 * - CDKTF_OUTDIR pointing at a directory that must stay absent (a synth would write it),
 * - the external programs the commands drive (systemd-nspawn, ip, ssh, terraform, npm, postgres,
 *   pgbouncer, redis-server, ansible-playbook, ...) replaced on PATH by stubs that record their call.
 * The timeout (much shorter than a host boot, a synth or any benchmark run) kills a command that
 * starts working instead of answering.
 */
const ROOT = join(__dirname, "..");
const TSX = require.resolve("tsx/cli");
const STUBS = ["systemd-nspawn", "machinectl", "ip", "ssh", "ssh-keygen", "scp", "sudo", "terraform", "npm", "npx", "ansible-playbook", "initdb", "pg_ctl", "postgres", "pgbouncer", "redis-server", "redis-cli", "psql"];

const COMMANDS: [script: string, file: string][] = [
  ["synth", "main.ts"],
  ["demo", "provisioning/demo.ts"],
  ["demo:campaign", "lambdas/demo-campaign.ts"],
  ["testbed", "provisioning/testbed/cli.ts"],
  ["bench:provision", "bench/provision.ts"],
  ["bench:pool", "bench/pool.ts"],
  ["bench:synth", "bench/synth.ts"],
  ["build:lambdas", "lambdas/build.ts"],
  ["migrate", "lambdas/migrate.ts"],
  ["capacity", "stacks/capacity.ts"],
  ["inventory", "stacks/inventory.ts"],
  ["validate", "stacks/validate.ts"],
  ["plan", "stacks/plan.ts"],
  ["cost", "stacks/cost-cli.ts"],
];

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  calls: string[];
  testbedCache: string[];
  cdktfOut: boolean;
}

describe("every npm command answers --help without doing anything", () => {
  const scratch = mkdtempSync(join(tmpdir(), "cli-help-"));
  const stubDir = join(scratch, "bin");
  const callLog = join(scratch, "calls.log");

  beforeAll(() => {
    mkdirSync(stubDir);
    for (const name of STUBS) {
      const path = join(stubDir, name);
      writeFileSync(path, `#!/bin/sh\necho "${name} $*" >> "$CLI_HELP_CALLS"\nexit 1\n`);
      chmodSync(path, 0o755);
    }
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  function runHelp(args: string[], name: string, flag = "--help"): Promise<Outcome> {
    const cache = mkdtempSync(join(scratch, `testbed-${name.replace(/\W/g, "-")}-`));
    const cdktfOut = join(scratch, `cdktf-${name.replace(/\W/g, "-")}`);
    const env = { ...process.env, PATH: `${stubDir}:${process.env.PATH}`, TESTBED_CACHE: cache, CDKTF_OUTDIR: cdktfOut, CLI_HELP_CALLS: callLog };
    return new Promise((resolve) => {
      execFile(process.execPath, [...args, flag], { cwd: ROOT, env, timeout: 30_000, encoding: "utf8" }, (error, stdout, stderr) => {
        const calls = existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n").filter(Boolean) : [];
        rmSync(callLog, { force: true });
        resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr, calls, testbedCache: readdirSync(cache), cdktfOut: existsSync(cdktfOut) });
      });
    });
  }

  function expectHelp(o: Outcome, script: string): void {
    expect({ code: o.code, stderr: o.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/\S/) });
    expect(o.stdout).toMatch(new RegExp(`^usage: npm run ${script}\\b`, "m"));
    expect(o.calls).toEqual([]);
    expect(o.testbedCache).toEqual([]);
    expect(o.cdktfOut).toBe(false);
  }

  it.each(COMMANDS)("npm run %s -- --help (%s)", async (script, file) => {
    expectHelp(await runHelp([TSX, file], script), script);
  });

  it("npm run provision -- --help (provisioning/run.cjs)", async () => {
    const o = await runHelp(["provisioning/run.cjs"], "provision");
    // run.cjs may note on stderr that it rebuilt its bundle (build/provision.cjs): that is not the command running.
    o.stderr = o.stderr.replace(/^\(rebuilt build\/provision\.cjs .*\)\n?/m, "");
    expectHelp(o, "provision");
  });

  it("-h is the same as --help", async () => {
    const o = await runHelp([TSX, "lambdas/migrate.ts"], "migrate-h", "-h");
    expectHelp(o, "migrate");
  });

  it.each([
    ["bench:pool", "bench/pool.ts", 1],
    ["plan", "stacks/plan.ts", 2],
    ["demo", "provisioning/demo.ts", 2],
  ] as const)("npm run %s -- --bogus names the option, prints the usage and does nothing", async (script, file, exitCode) => {
    const o = await runHelp([TSX, file], `${script}-bogus`, "--bogus");
    expect(o.code).toBe(exitCode);
    expect(o.stdout).toBe("");
    expect(o.stderr).toContain("'--bogus'");
    expect(o.stderr).toMatch(/^usage: npm run /m);
    expect(o.calls).toEqual([]);
    expect(o.testbedCache).toEqual([]);
  });
});
