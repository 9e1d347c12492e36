import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

interface SynthesizedStack {
  resource?: Record<string, Record<string, unknown>>;
  data?: Record<string, Record<string, unknown>>;
  output?: Record<string, { sensitive?: boolean }>;
  moved?: unknown[];
}

/** A summary of the synthesized stacks in `outdir`: per stack its resources, moves and outputs. */
export function report(outdir: string): string {
  const dir = join(outdir, "stacks");
  const lines: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name, "cdk.tf.json");
    const stack = JSON.parse(readFileSync(file, "utf8")) as SynthesizedStack;
    const count = (blocks?: Record<string, Record<string, unknown>>) =>
      Object.values(blocks ?? {}).reduce((n, byName) => n + Object.keys(byName).length, 0);
    const outputs = Object.entries(stack.output ?? {}).map(([o, v]) => (v.sensitive ? `${o} (sensitive)` : o));
    lines.push(
      `${name}: ${count(stack.resource)} resources, ${count(stack.data)} data sources, ${stack.moved?.length ?? 0} moved blocks -> ${file}`,
      `  outputs: ${outputs.join(", ")}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
