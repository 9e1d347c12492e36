import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, mkdirSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { RandomProvider } from "@cdktf/provider-random/lib/provider";
import { TerraformStack, Testing } from "cdktf";
import { buildLambdas } from "../lambdas/build";
import { FUNCTION_NAMES } from "../lambdas/manifest";
import { Lambdas } from "../modules/lambdas";
import { zipDirectory } from "../modules/lambdas/zip";
import type { Block } from "./helpers/synth";

/**
 * The code hash must not move unless the code does: two builds of identical sources give
 * byte-identical bundles and zips, so `terraform plan` shows no change to the functions.
 */
describe("lambda assets: stable across rebuilds of identical code", () => {
  const tmp = mkdtempSync(join(tmpdir(), "lambda-assets-"));
  const first = join(tmp, "first");
  const second = join(tmp, "second");
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  beforeAll(async () => {
    buildLambdas({ outDir: first });
    buildLambdas({ outDir: second });
  }, 120_000);

  /** Synthesize the Lambdas module alone (it builds the bundles): function name -> aws_lambda_function. */
  function synthFunctions(): Record<string, Block> {
    const stack = new TerraformStack(Testing.app(), "assets");
    new AwsProvider(stack, "aws", { region: "us-east-1" });
    new RandomProvider(stack, "random");
    new Lambdas(stack, "lambdas", {
      name: "campaign-test",
      privateSubnetIds: ["subnet-0a0a0a0a0a0a0a0a1", "subnet-0b0b0b0b0b0b0b0b2"],
      securityGroupId: "sg-0123456789abcdef0",
      database: { endpoint: "proxy.example", name: "campaign", secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-abc" },
      redis: { host: "10.0.0.10", port: 6379, passwordSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-abc" },
      ari: { host: "10.0.0.10", port: 8088, user: "campaign_dialer", passwordSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:ari-abc" },
    });
    return JSON.parse(Testing.synth(stack)).resource.aws_lambda_function;
  }

  /** The asset hash cdktf gives a zip (md5 of the file, upper case): what source_code_hash is. */
  const zipHash = (bundle: string, zip: string): string => {
    zipDirectory(bundle, zip);
    return createHash("md5").update(readFileSync(zip)).digest("hex").toUpperCase();
  };

  it("builds byte-identical bundles twice", () => {
    for (const name of FUNCTION_NAMES) {
      expect(readFileSync(join(second, name, "index.js")).equals(readFileSync(join(first, name, "index.js")))).toBe(true);
    }
  });

  it("zips them byte-identically, whatever the files' mtimes", () => {
    const name = "dispatcher";
    utimesSync(join(second, name, "index.js"), new Date("2001-02-03T04:05:06Z"), new Date("2001-02-03T04:05:06Z"));
    zipDirectory(join(first, name), join(tmp, "a.zip"));
    zipDirectory(join(second, name), join(tmp, "b.zip"));
    expect(readFileSync(join(tmp, "b.zip")).equals(readFileSync(join(tmp, "a.zip")))).toBe(true);
  });

  it("writes a zip Lambda can read: one deflated index.js with the bundle's bytes", () => {
    const zip = readFileSync(join(tmp, "a.zip"));
    const bundle = readFileSync(join(first, "dispatcher", "index.js"));
    expect(zip.readUInt32LE(0)).toBe(0x04034b50);
    const nameLength = zip.readUInt16LE(26);
    expect(zip.subarray(30, 30 + nameLength).toString()).toBe("index.js");
    const compressed = zip.subarray(30 + nameLength, 30 + nameLength + zip.readUInt32LE(18));
    expect(inflateRawSync(compressed).equals(bundle)).toBe(true);
    expect(zip.readUInt32LE(zip.length - 22)).toBe(0x06054b50);
    expect(zip.readUInt16LE(zip.length - 22 + 10)).toBe(1);
  });

  it("gives each function the hash of its freshly built code, the same in every synth", () => {
    const a = synthFunctions();
    const b = synthFunctions();
    for (const name of FUNCTION_NAMES) {
      const key = name.replace(/-/g, "_");
      expect(a[key].source_code_hash).toBe(zipHash(join(first, name), join(tmp, "zips-first", `${name}.zip`)));
      expect(b[key].source_code_hash).toBe(a[key].source_code_hash);
      expect(b[key].filename).toBe(a[key].filename);
    }
    expect(new Set(FUNCTION_NAMES.map((n) => a[n.replace(/-/g, "_")].source_code_hash)).size).toBe(6);
  });

  it("changes the hash of exactly the function whose code changed", () => {
    const changed = join(tmp, "changed");
    mkdirSync(changed);
    cpSync(first, changed, { recursive: true });
    writeFileSync(join(changed, "dispatcher", "index.js"), `${readFileSync(join(first, "dispatcher", "index.js"), "utf8")}\n// changed\n`);
    const hash = (dir: string, name: string) => zipHash(join(dir, name), join(dir, `${name}.zip`));
    expect(hash(changed, "dispatcher")).not.toBe(hash(first, "dispatcher"));
    expect(hash(changed, "dialer-worker")).toBe(hash(first, "dialer-worker"));
  });
});
