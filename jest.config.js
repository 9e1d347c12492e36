/** Jest: SWC transform (no type-check here; `tsc --noEmit` runs once in `npm test`). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.(t|j)sx?$": ["@swc/jest", { jsc: { target: "es2022" }, module: { type: "commonjs" } }] },
  testPathIgnorePatterns: ["/node_modules/", "/cdktf.out/", "/build/"],
  modulePathIgnorePatterns: ["<rootDir>/cdktf.out/", "<rootDir>/build/"],
  testTimeout: 60000,
};
