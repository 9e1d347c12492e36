import { performance } from "node:perf_hooks";

/** Median of a list of numbers (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Wall time of `fn` in milliseconds. */
export async function timeMs(fn: () => unknown | Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Nearest-rank percentile (p in 0..100) of an ascending list; NaN for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** min / median / max of the figures of several runs. */
export function spread(values: readonly number[]): Spread {
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

/** "84" when every run printed the same figure, else "min 80 / median 84 / max 84". */
export function formatSpread(s: Spread, digits = 0): string {
  const f = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(digits));
  return s.min === s.max ? f(s.min) : `min ${f(s.min)} / median ${f(s.median)} / max ${f(s.max)}`;
}
