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

/** ssh(1)'s options that take a value, and its flags; the ones the tool's own session needs as they are are refused. */
const SSH_VALUE_OPTIONS = "BbcDEeFIiJLlmOoPpQRSWw";
const SSH_FLAGS = "46AaCfGgKkMNnqsTtVvXxYy";
const SSH_REFUSED: Record<string, string> = {
  n: "reads stdin from /dev/null (the script travels on stdin)",
  N: "runs no command",
  f: "goes to the background",
  G: "only prints its configuration",
  V: "only prints its version",
  O: "sends a control command instead of connecting",
  W: "forwards stdio instead of running a command",
  s: "asks for a subsystem instead of running a command",
  M: "changes the ControlMaster the tool manages",
  S: "changes the ControlPath the tool manages",
};

/**
 * ansible_ssh_common_args / ansible_ssh_extra_args: a string split like Ansible's shlex, each word an
 * ssh option or the value of the option before it. A stray word would be taken by ssh for the host
 * to connect to (the script would run THERE, with the host's address as its command).
 */
const sshOptions = (v: unknown): string[] => {
  if (typeof v !== "string") fail("must be a string of ssh options like '-o ProxyJump=bastion'", v);
  const words = shlex(v as string);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (!/^-[^-]/.test(w)) fail(`${JSON.stringify(w)} is not an ssh option (ssh would take it for the host to connect to)`, v);
    for (let j = 1; j < w.length; j++) {
      const c = w[j];
      if (SSH_REFUSED[c]) fail(`ssh option -${c} ${SSH_REFUSED[c]}: not supported`, v);
      if (SSH_VALUE_OPTIONS.includes(c)) {
        if (j === w.length - 1 && ++i >= words.length) fail(`ssh option -${c} needs a value`, v);
        break;
      }
      if (!SSH_FLAGS.includes(c)) fail(`-${c} is not an ssh option`, v);
    }
  }
  return words;
};

export const CONNECTION_VALIDATORS: Record<(typeof CONNECTION_VARS)[number], (v: unknown) => unknown> = {
  ansible_host: word("a host name or address"),
  ansible_port: intIn(1, 65535, "an SSH port"),
  ansible_user: word("a login name"),
  ansible_ssh_private_key_file: word("a path to a private key"),
  ansible_become: (v) => valueOf(boolean, v),
  ansible_ssh_common_args: sshOptions,
  ansible_ssh_extra_args: sshOptions,
  ansible_timeout: intIn(1, 3600, "the SSH connect timeout in seconds"),
};
