/**
 * What the stack commands add to node:util's parseArgs: an option that takes one value, given twice,
 * is refused (parseArgs keeps the last one silently: `--state old.tfstate --state new.tfstate` would
 * plan against one of two files the user named); an input file that is no file is named before a
 * read that would never end.
 */
import { statSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../lambdas/contracts/cli";

/** Throws a UsageError naming the first single-value option `args` gives more than once (call after a parse of the same config succeeded). */
export function refuseRepeated(config: ParseArgsConfig & { args: string[] }, usage: string): void {
  const { tokens } = parseArgs({ ...config, tokens: true });
  const given = new Map<string, string[]>();
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const option = config.options?.[token.name];
    if (!option || option.type !== "string" || option.multiple) continue;
    const values = [...(given.get(token.name) ?? []), token.value ?? ""];
    if (values.length > 1) throw new UsageError(`--${token.name} given twice (${values.join(", ")}): give it once`, usage);
    given.set(token.name, values);
  }
}

/**
 * Why `path` cannot be read as an input file: a FIFO, device or socket (a read blocks for a writer,
 * or never ends: /dev/zero). Undefined for a regular file or a directory, and when it cannot be
 * stat'ed: the caller's read reports those (EISDIR, ENOENT).
 */
export function notAFile(path: string): string | undefined {
  let kind: "file" | "other";
  try {
    const stat = statSync(path);
    kind = stat.isFile() || stat.isDirectory() ? "file" : "other";
  } catch {
    return undefined;
  }
  return kind === "file" ? undefined : "not a regular file (a FIFO or device: its read would wait or never end); save it to a file first";
}
