/**
 * Capacity planning for the PythonIDE production service, from the same config as its stack:
 * `npm run capacity -- --students 240 [--students-per-vcpu 60]`.
 * Prints, per class size, the tasks needed, the autoscaling bounds that cover it, whether the
 * configured maximum suffices, and the pre-scale command for exam day.
 */
import { parseArgs } from "node:util";
import { MAX_TASKS } from "../modules/pythonide-autoscaling";
import { refuseRepeated } from "./command-line";
import type { PythonideConfig } from "./pythonide-config";
import { pythonide } from "./pythonide-environments";

/** Fargate on-demand, Linux/x86 (shared/facts.md): per vCPU-hour and per GB-hour. */
export const FARGATE_PRICE = { vcpuHour: 0.04048, gbHour: 0.004445 } as const;
const HOURS_PER_MONTH = 730;

export interface CapacityParams {
  /** Students one vCPU serves (measured: 60 per 1-vCPU task at ~10 % CPU). */
  studentsPerVcpu: number;
  /** Task size: Fargate CPU units and memory. */
  cpu: number;
  memoryMiB: number;
  /** The autoscaling bounds the stack deploys. */
  minCapacity: number;
  maxCapacity: number;
}

export interface CapacityRow {
  students: number;
  tasks: number;
  /** Bounds that cover this class: pre-scale min to the tasks needed, keep max at least the configured one. */
  minCapacity: number;
  maxCapacity: number;
  /** Whether the configured maximum can reach the tasks needed. */
  maxSuffices: boolean;
  /** On-demand cost of running that many tasks for an hour, USD. */
  dollarsPerHour: number;
}

export function studentsPerTask(p: Pick<CapacityParams, "studentsPerVcpu" | "cpu">): number {
  return Math.max(1, Math.floor((p.studentsPerVcpu * p.cpu) / 1024));
}

/** Hourly on-demand price of one task of the given size. */
export function taskDollarsPerHour(cpu: number, memoryMiB: number): number {
  return (cpu / 1024) * FARGATE_PRICE.vcpuHour + (memoryMiB / 1024) * FARGATE_PRICE.gbHour;
}

/** The plan for one class size. */
export function capacityRow(students: number, p: CapacityParams): CapacityRow {
  const tasks = Math.max(p.minCapacity, Math.ceil(students / studentsPerTask(p)));
  return {
    students,
    tasks,
    minCapacity: tasks,
    maxCapacity: Math.max(p.maxCapacity, tasks),
    maxSuffices: tasks <= p.maxCapacity,
    dollarsPerHour: tasks * taskDollarsPerHour(p.cpu, p.memoryMiB),
  };
}

/** The most rows the table prints: beyond, its steps are several tasks wide. */
export const MAX_TABLE_ROWS = 24;

/**
 * Rows at every multiple of one task's students up to `students` (of several tasks' when that would
 * be more than MAX_TABLE_ROWS rows), and `students` itself.
 */
export function capacityTable(students: number, p: CapacityParams): CapacityRow[] {
  const perTask = studentsPerTask(p);
  const step = perTask * Math.max(1, Math.ceil(Math.ceil(students / perTask) / MAX_TABLE_ROWS));
  const sizes = new Set<number>();
  for (let s = step; s < students; s += step) sizes.add(s);
  sizes.add(students);
  return [...sizes].map((s) => capacityRow(s, p));
}

export function capacityParams(config: PythonideConfig, studentsPerVcpu = config.capacity.studentsPerVcpu): CapacityParams {
  const prod = config.production;
  return {
    studentsPerVcpu,
    cpu: prod.cpu,
    memoryMiB: prod.memoryMiB,
    minCapacity: prod.autoscaling.minCapacity,
    maxCapacity: prod.autoscaling.maxCapacity,
  };
}

/** The printed plan: the table, then the exam-day commands for the requested class size. */
export function formatCapacityPlan(students: number, config: PythonideConfig, p: CapacityParams = capacityParams(config)): string {
  const prod = config.production;
  const rows = capacityTable(students, p);
  const header = ["students", "tasks", "min", "max", `max ${p.maxCapacity} suffices`, "USD/hour"];
  const cells = rows.map((r) => [
    String(r.students),
    String(r.tasks),
    String(r.minCapacity),
    String(r.maxCapacity),
    r.maxSuffices ? "yes" : "NO",
    r.dollarsPerHour.toFixed(4),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => v.padStart(widths[i])).join("  ").trimEnd();
  const plan = rows[rows.length - 1];
  const target = `--service-namespace ecs --scalable-dimension ecs:service:DesiredCount --resource-id service/${config.cluster.name}/${prod.serviceName} --region ${config.region}`;
  const table = [
    `PythonIDE capacity plan: ${prod.serviceName}, ${p.cpu} CPU / ${p.memoryMiB} MiB per task, ${studentsPerTask(p)} students per task (${p.studentsPerVcpu} per vCPU), autoscaling ${p.minCapacity}..${p.maxCapacity}`,
    line(header),
    ...cells.map(line),
    "",
  ];
  if (plan.tasks > MAX_TASKS) {
    // No maxCapacity the config accepts reaches it: no pre-scale command to print.
    const advice = `more than the ${MAX_TASKS} tasks autoscaling.maxCapacity allows: use bigger tasks (production.cpu and memoryMiB) or split the class across services`;
    return [...table, `${students} students: ${plan.tasks} task(s), ${advice}.`, ""].join("\n");
  }
  return [
    ...table,
    `${students} students: ${plan.tasks} task(s)${plan.maxSuffices ? `, within max ${p.maxCapacity}` : `: raise autoscaling.maxCapacity to at least ${plan.tasks} (config) before exam day`}.`,
    `Pre-scale:  aws application-autoscaling register-scalable-target ${target} --min-capacity ${plan.minCapacity} --max-capacity ${plan.maxCapacity}`,
    `Scale back: aws application-autoscaling register-scalable-target ${target} --min-capacity ${p.minCapacity} --max-capacity ${p.maxCapacity}`,
    `Cost while pre-scaled: $${plan.dollarsPerHour.toFixed(4)}/hour (${plan.tasks} x $${taskDollarsPerHour(p.cpu, p.memoryMiB).toFixed(4)}); at min ${p.minCapacity} all month: $${(p.minCapacity * taskDollarsPerHour(p.cpu, p.memoryMiB) * HOURS_PER_MONTH).toFixed(2)}/month.`,
    "",
  ].join("\n");
}

/** Parse `--students N [--students-per-vcpu N]`; throws with a usage line on bad input. */
export const CAPACITY_USAGE = `usage: npm run capacity -- --students N [--students-per-vcpu N]

Prints the PythonIDE production tasks and autoscaling bounds a class of N students needs, and the
exam-day pre-scale and scale-back commands.

  --students N            class size (required)
  --students-per-vcpu N   students one vCPU serves (default: the config's capacity.studentsPerVcpu)
  -h, --help              this text`;

export function parseCapacityArgs(argv: string[]): { help: true } | { students: number; studentsPerVcpu?: number } {
  const usage = CAPACITY_USAGE;
  const config = {
    args: argv,
    options: { students: { type: "string" }, "students-per-vcpu": { type: "string" }, help: { type: "boolean", short: "h" } },
  } as const;
  const { values } = parseArgs(config);
  if (values.help) return { help: true };
  refuseRepeated(config, usage);
  const positive = (name: string, text: string | undefined) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(text)}\n${usage}`);
    return n;
  };
  return {
    students: positive("students", values.students),
    studentsPerVcpu: values["students-per-vcpu"] === undefined ? undefined : positive("students-per-vcpu", values["students-per-vcpu"]),
  };
}

if (require.main === module) {
  try {
    const args = parseCapacityArgs(process.argv.slice(2));
    if ("help" in args) {
      process.stdout.write(`${CAPACITY_USAGE}\n`);
      process.exit(0);
    }
    process.stdout.write(formatCapacityPlan(args.students, pythonide, capacityParams(pythonide, args.studentsPerVcpu)));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}
