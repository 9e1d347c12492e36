import { isAbsolute, relative, resolve } from "node:path";

/**
 * How a path appears in messages: relative to the working directory when it is inside it, as
 * Ansible prints it, else absolute. Every inventory message goes through this, whatever form -i had.
 */
export function displayPath(p: string, cwd: string = process.cwd()): string {
  const abs = resolve(cwd, p);
  const r = relative(cwd, abs);
  if (r === "") return ".";
  return r.startsWith("..") || isAbsolute(r) ? abs : r;
}

