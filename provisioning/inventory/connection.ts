/**
 * Connection variables (Ansible's names) and their own validators: how the tool reaches a host.
 * Unrelated role variables' validators are not borrowed.
 */
import { CONNECTION_VARS, boolean, valueOf } from "../defaults";
import { shlex } from "./ini";

const fail = (msg: string, v: unknown): never => {
  throw new Error(`${msg} (got ${JSON.stringify(v)})`);
};
const intIn = (min: number, max: number, what: string) => (v: unknown): number => {
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) fail(`must be ${what} (an integer ${min}-${max})`, v);
  return n as number;
};
const word = (what: string) => (v: unknown): string => {
  if (typeof v !== "string" || !v || /\s/.test(v)) fail(`must be ${what}: a non-empty string without spaces`, v);
  return v as string;
};

export const CONNECTION_VALIDATORS: Record<(typeof CONNECTION_VARS)[number], (v: unknown) => unknown> = {
  ansible_host: word("a host name or address"),
  ansible_port: intIn(1, 65535, "an SSH port"),
  ansible_user: word("a login name"),
  ansible_ssh_private_key_file: word("a path to a private key"),
  ansible_become: (v) => valueOf(boolean, v),
  ansible_ssh_common_args: (v) => shlex(String(v)),
  ansible_ssh_extra_args: (v) => shlex(String(v)),
  ansible_timeout: intIn(1, 3600, "the SSH connect timeout in seconds"),
};
