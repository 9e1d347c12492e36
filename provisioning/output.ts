/**
 * Ansible-like output: one line per task per host as it finishes, then a recap line per host
 *   HOST : ok=N changed=N failed=N unreachable=N skipped=N
 * (ok counts changed tasks too, as in Ansible). With --json, a single JSON document on stdout at the
 * end instead. Everything printed passes through the secret redactor.
 */
import { maskSecrets } from "./render";
import { redact } from "./secrets";

export type Status = "ok" | "changed" | "failed" | "skipped" | "unreachable";

export interface TaskResult {
  task: string;
  status: Status;
  msg: string;
  handler?: boolean;
  diff?: string;
  /** A line the play goes on after, but that the recap counts (warnings=N). */
  warning?: boolean;
}

export interface Recap {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
  warnings: number;
}

export interface HostReport {
  tasks: TaskResult[];
  recap: Recap;
}

export interface OutputOptions {
  json: boolean;
  diff: boolean;
  check: boolean;
  write?: (s: string) => void;
}

export function recapOf(tasks: TaskResult[]): Recap {
  const r: Recap = { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, warnings: 0 };
  for (const t of tasks) {
    if (t.status === "ok" || t.status === "changed") r.ok++;
    if (t.status === "changed") r.changed++;
    if (t.status === "failed") r.failed++;
    if (t.status === "unreachable") r.unreachable++;
    if (t.status === "skipped") r.skipped++;
    if (t.warning) r.warnings++;
  }
  return r;
}

export class Output {
  readonly hosts = new Map<string, TaskResult[]>();
  private readonly write: (s: string) => void;

  constructor(private readonly opts: OutputOptions) {
    this.write = opts.write ?? ((s) => process.stdout.write(s));
  }

  start(hostNames: string[]): void {
    for (const h of hostNames) this.hosts.set(h, []);
    if (!this.opts.json) this.write(`PLAY [redis on ${hostNames.length} host(s)]${this.opts.check ? " (check mode)" : ""}\n`);
  }

  task(host: string, t: TaskResult): void {
    // Registered secrets are replaced wherever they appear; secret-bearing config values (also ones
    // the tool never knew, e.g. an old requirepass) are masked by their directive.
    const clean: TaskResult = { ...t, msg: redact(maskSecrets(t.msg)), diff: t.diff === undefined ? undefined : redact(maskSecrets(t.diff)) };
    this.hosts.get(host)!.push(clean);
    if (this.opts.json) return;
    const name = clean.handler ? `RUNNING HANDLER [${clean.task}]` : clean.task;
    this.write(`${clean.status}: [${host}] ${name}${clean.msg ? ` => ${clean.msg}` : ""}\n`);
    if (this.opts.diff && clean.diff) this.write(clean.diff);
  }

  failedHosts(): string[] {
    return [...this.hosts].filter(([, ts]) => ts.some((t) => t.status === "failed" || t.status === "unreachable")).map(([h]) => h);
  }

  /**
   * SIGINT/SIGTERM stopped the run: for each host still running, what it had changed (what those tasks
   * notified stays pending on the host, in its marker files, and the next run does it), then the recap.
   */
  interrupted(signal: string, elapsedMs: number): void {
    if (!this.opts.json) {
      for (const [h, ts] of this.hosts) {
        const last = ts[ts.length - 1];
        if (last && (last.task === "verify" || last.status === "failed" || last.status === "unreachable")) continue;
        const changed = ts.filter((t) => t.status === "changed").map((t) => (t.handler ? `handler ${t.task}` : t.task));
        const msg =
          this.opts.check || !changed.length
            ? "stopped before any change"
            : `stopped after these changed: ${changed.join(", ")}; what they notified (a restart, a reload) is still pending on the host, and the next run does it`;
        this.write(`interrupted: [${h}] ${signal} => ${msg}\n`);
      }
    }
    this.finish(elapsedMs);
  }

  finish(elapsedMs: number): void {
    const report: Record<string, HostReport> = {};
    for (const [h, ts] of this.hosts) report[h] = { tasks: ts, recap: recapOf(ts) };
    if (this.opts.json) {
      this.write(
        `${redact(JSON.stringify({ check: this.opts.check, hosts: report, failed: this.failedHosts(), elapsed_ms: elapsedMs }, null, 2))}\n`,
      );
      return;
    }
    const width = Math.max(...[...this.hosts.keys()].map((h) => h.length), 4);
    this.write("\nPLAY RECAP\n");
    for (const [h, { recap: r }] of Object.entries(report)) {
      this.write(`${h.padEnd(width)} : ok=${r.ok} changed=${r.changed} failed=${r.failed} unreachable=${r.unreachable} skipped=${r.skipped}\n`);
    }
    // Warnings under the recap lines (which keep Ansible's format for whatever parses them), as Ansible prints them.
    for (const [h, ts] of this.hosts) {
      const warned = ts.filter((t) => t.warning).map((t) => t.task);
      if (warned.length) this.write(`[WARNING]: ${h}: ${warned.length} warning(s) from ${warned.join(", ")}; the play went on (see the task line above)\n`);
    }
    this.write(`(${(elapsedMs / 1000).toFixed(2)} s)\n`);
  }
}
