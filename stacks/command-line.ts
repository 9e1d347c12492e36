/**
 * What the stack commands add to node:util's parseArgs: an option that takes one value, given twice,
 * is refused (parseArgs keeps the last one silently: `--state old.tfstate --state new.tfstate` would
 * plan against one of two files the user named).
 */
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
