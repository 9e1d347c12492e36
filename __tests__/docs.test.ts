import { readFileSync } from "node:fs";
import { join } from "node:path";
import { generatedBlocks, regenerate, settings } from "../stacks/docs";
import { movedBlocks } from "../stacks/campaign-stack";
import { prod } from "../stacks/environments";
import { synthCampaign } from "./helpers/synth";

const ROOT = join(__dirname, "..");

describe("docs generated from the code (npm run docs)", () => {
  it.each(generatedBlocks().map((b) => [`${b.file} <!-- ${b.marker} -->`, b] as const))("%s is current", (_name, { file, marker, content }) => {
    const text = readFileSync(join(ROOT, file), "utf8");
    // Stale: run `npm run docs` and commit the doc.
    expect(regenerate(text, marker, content)).toBe(text);
  });

  it("regenerating replaces only the marked block, and a doc without the markers is an error", () => {
    expect(regenerate("a\n<!-- x -->\nold\n<!-- /x -->\nb", "x", "new")).toBe("a\n<!-- x -->\nnew\n<!-- /x -->\nb");
    expect(() => regenerate("no markers", "x", "new")).toThrow("no <!-- x --> ... <!-- /x --> block");
  });

  it("the address map is the prod stack's moved blocks, row by row", () => {
    const table = generatedBlocks().find((b) => b.marker === "address-map")!.content;
    const rows = table
      .split("\n")
      .slice(2)
      .map((line) => line.split("|").map((cell) => cell.trim().replace(/`/g, "")))
      .map(([, from, to]) => ({ from, to }));
    expect(rows).toEqual(movedBlocks(synthCampaign(prod).stack));
  });

  it("lists every module setting with its default and meaning, and the environments' required ones as required", () => {
    const byKey = new Map(settings().map((s) => [s.key, s]));
    expect(byKey.get("proxy.enabled")).toMatchObject({ default: "true" });
    expect(byKey.get("proxy.requireTls")).toMatchObject({ default: "required", meaning: expect.stringContaining("Module default: true.") });
    expect(byKey.get("asterisk.amiId")?.default).toMatch(/Amazon Linux 2023/);
    expect(byKey.get("redis.elasticache.nodeType")).toMatchObject({ default: '"cache.t3.micro"', meaning: "Node type." });
    expect(byKey.has("redis.maxmemory")).toBe(false);
    // Every setting says what it is.
    expect([...byKey.values()].filter((s) => s.meaning === "").map((s) => s.key)).toEqual([]);
  });
});
