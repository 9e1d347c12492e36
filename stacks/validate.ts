/**
 * `npm run validate [-- STACK...]`: synthesize, then for every stack (or the named ones)
 * `terraform init -backend=false` against the provider mirror and `terraform validate`, in a
 * scratch copy. One line per stack (valid, or each diagnostic with its address), what the copy
 * changed, and exit 1 on any error. Terraform and the mirror are checked first.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  TerraformSetupError,
  createScratch,
  describeDiagnostic,
  findMirror,
  inParallel,
  init,
  prepareWorkspace,
  synthesize,
  synthesizedStacks,
  terraformVersion,
  validate,
} from "./terraform";

export interface StackValidation {
  stack: string;
  valid: boolean;
  lines: string[];
}

/** Validate synthesized stacks (from `outdir`); lines ready to print. */
export async function validateStacks(outdir: string, opts: { only?: string[]; concurrency?: number } = {}): Promise<StackValidation[]> {
  const mirror = findMirror();
  const scratch = createScratch(mirror);
  try {
    const stacks = synthesizedStacks(outdir).filter((s) => !opts.only?.length || opts.only.includes(s.name));
    const missing = (opts.only ?? []).filter((name) => !stacks.some((s) => s.name === name));
    if (missing.length > 0) throw new TerraformSetupError(`no such stack: ${missing.join(", ")} (stacks: ${synthesizedStacks(outdir).map((s) => s.name).join(", ")})`);
    return await inParallel(stacks, opts.concurrency ?? 2, async ({ name, dir }) => {
      const ws = prepareWorkspace(dir, scratch, { state: "backend" });
      await init(ws, scratch);
      const { valid, diagnostics } = await validate(ws, scratch);
      const lines = [
        `${name}: ${valid ? "valid" : "INVALID"}${diagnostics.length && valid ? ` (${diagnostics.length} warning${diagnostics.length > 1 ? "s" : ""})` : ""}`,
        ...diagnostics.map((d) => `  ${describeDiagnostic(d)}`),
        ...ws.notes.map((n) => `  note: ${n}`),
      ];
      return { stack: name, valid, lines };
    });
  } finally {
    scratch.cleanup();
  }
}

async function main(): Promise<number> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const version = await terraformVersion();
  const mirror = findMirror();
  process.stdout.write(`terraform ${version}; provider mirror ${mirror.path} (${Object.entries(mirror.providers).map(([p, v]) => `${p} ${v.join(", ")}`).join("; ")})\n`);
  const outdir = mkdtempSync(join(tmpdir(), "campaign-infra-synth-"));
  try {
    await synthesize(outdir);
    const results = await validateStacks(outdir, { only });
    for (const r of results) process.stdout.write(`${r.lines.join("\n")}\n`);
    const invalid = results.filter((r) => !r.valid);
    process.stdout.write(invalid.length ? `${invalid.length} of ${results.length} stacks invalid\n` : `all ${results.length} stacks valid\n`);
    return invalid.length ? 1 : 0;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof TerraformSetupError ? error.message : error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
