/**
 * The suite's own harness: a failed run must exit non-zero with the project's globalTeardown
 * (__tests__/helpers/open-handles.js). An unref'd wait in the teardown once let the process end
 * before Jest set its exit code, so a run with failing tests exited 0.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..");

function jestIn(testSource: string): number | null {
  const dir = mkdtempSync(join(tmpdir(), "jest-exit-"));
  try {
    writeFileSync(join(dir, "one.test.js"), testSource);
    const config = { rootDir: dir, testEnvironment: "node", globalTeardown: join(ROOT, "__tests__/helpers/open-handles.js") };
    const r = spawnSync(process.execPath, [join(ROOT, "node_modules/jest/bin/jest.js"), "--config", JSON.stringify(config), "--runInBand"], {
      cwd: dir,
      encoding: "utf8",
      timeout: 120_000,
    });
    return r.status;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("jest harness", () => {
  it("a failing test makes the run exit 1, with or without handles left open; a passing one exits 0", () => {
    expect(jestIn('it("fails", () => { expect(1).toBe(2); });')).toBe(1);
    expect(jestIn('it("fails, leaving a timer", () => { setTimeout(() => undefined, 1500); expect(1).toBe(2); });')).toBe(1);
    expect(jestIn('it("passes", () => { expect(1).toBe(1); });')).toBe(0);
  }, 180_000);
});
