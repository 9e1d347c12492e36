/**
 * Command line parsing shared by the npm commands: node:util's parseArgs (strict: an unknown option
 * or a missing value is an error) plus `-h, --help`, which prints the command's usage on stdout.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A bad command line: the message says what is wrong and ends with the command's usage. */
export class UsageError extends Error {
  constructor(problem: string, usage: string) {
    super(`${problem}\n${usage}`);
  }
}

/**
 * Parses `config.args` (default: this process's arguments). With -h or --help: prints `usage` on
 * stdout and returns undefined, so the command ends (exit 0) before doing anything.
 * @throws UsageError naming the bad option, with the usage.
 */
export function commandLine<T extends ParseArgsConfig>(usage: string, config: T): ReturnType<typeof parseArgs<T>> | undefined {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs({
      ...config,
      args: config.args ?? process.argv.slice(2),
      options: { ...config.options, help: { type: "boolean", short: "h" } },
    }) as ReturnType<typeof parseArgs<T>>;
  } catch (error) {
    throw new UsageError((error as Error).message, usage);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    return undefined;
  }
  return parsed;
}
