/** Jest: esbuild transform (no type-check here; `tsc --noEmit` runs once in `npm test`). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.tsx?$": "<rootDir>/__tests__/helpers/esbuild-transform.js" },
  testPathIgnorePatterns: ["/node_modules/", "/cdktf.out/", "/build/"],
  modulePathIgnorePatterns: ["<rootDir>/cdktf.out/", "<rootDir>/build/"],
  testTimeout: 60000,
  globalSetup: "<rootDir>/__tests__/helpers/trace-timers.js",
  globalTeardown: "<rootDir>/__tests__/helpers/open-handles.js",
};
