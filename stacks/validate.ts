/**
 * `npm run validate [-- STACK...]`: synthesize, then for every stack (or the named ones)
 * `terraform init -backend=false` against the provider mirror and `terraform validate`, in a
 * scratch copy. One line per stack (valid, or each diagnostic with its address), what the copy
 * changed, and exit 1 on any error. Terraform and the mirror are checked first.
 */
import { commandLine } from "../lambdas/contracts/cli";
import {
  TerraformSetupError,
  createScratch,
  describeDiagnostic,
  findMirror,
  inParallel,
  init,
  prepareWorkspace,
  runCli,
  synthesize,
  synthesizedStacks,
  terraformVersion,
  validate,
  withSynthDir,
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
      let ws: ReturnType<typeof prepareWorkspace>;
      try {
        ws = prepareWorkspace(dir, scratch, { state: "backend" });
        await init(ws, scratch);
      } catch (error) {
        // One broken stack (unreadable JSON, a config init rejects) is that stack's line, not the end of the run.
        if (error instanceof TerraformSetupError) throw error;
        const message = (error as Error).message.replace(new RegExp(`^${name}: `), "");
        return { stack: name, valid: false, lines: [`${name}: INVALID`, ...message.split("\n").filter((l) => l.trim()).map((l) => `  ${l.trim()}`)] };
      }
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

const USAGE = `usage: npm run validate -- [STACK...]

Synthesizes, then runs terraform init -backend=false (provider mirror) and terraform validate for every
stack, or the named ones, in a scratch copy. Exit 1: a stack is invalid (each says why); exit 2: an
unknown stack, or no terraform or provider mirror.

  -h, --help   this text`;

async function main(): Promise<number> {
  const args = commandLine(USAGE, { allowPositionals: true, options: {} });
  if (!args) return 0;
  const only = args.positionals;
  const version = await terraformVersion();
  const mirror = findMirror();
  process.stdout.write(`terraform ${version}; provider mirror ${mirror.path} (${Object.entries(mirror.providers).map(([p, v]) => `${p} ${v.join(", ")}`).join("; ")})\n`);
  return withSynthDir(async (outdir) => {
    await synthesize(outdir);
    const results = await validateStacks(outdir, { only });
    for (const r of results) process.stdout.write(`${r.lines.join("\n")}\n`);
    const invalid = results.filter((r) => !r.valid);
    process.stdout.write(invalid.length ? `${invalid.length} of ${results.length} stacks invalid\n` : `all ${results.length} stacks valid\n`);
    return invalid.length ? 1 : 0;
  });
}

if (require.main === module) runCli(main);
