import { capacityParams, capacityTable, formatCapacityPlan, parseCapacityArgs } from "../stacks/capacity";
import { pythonide } from "../stacks/pythonide-environments";

const params = capacityParams(pythonide);

describe("npm run capacity with a class far beyond one service", () => {
  it("keeps the table short (was one row per task: 16 million rows, out of memory after a minute)", () => {
    const rows = capacityTable(1_000_000_000, params);
    expect(rows.length).toBeLessThanOrEqual(25);
    expect(rows[rows.length - 1]).toMatchObject({ students: 1_000_000_000 });
    expect(rows.map((r) => r.students)).toEqual([...rows.map((r) => r.students)].sort((a, b) => a - b));
  });

  it("does not tell to raise maxCapacity beyond what the config accepts (100)", () => {
    const text = formatCapacityPlan(1_000_000, pythonide, params);
    expect(text).not.toMatch(/raise autoscaling\.maxCapacity to at least \d{4,}/);
    expect(text).toMatch(/more than the 100 tasks autoscaling\.maxCapacity allows/);
    expect(text).not.toMatch(/Pre-scale:/);
  });

  it("refuses --students given twice (the first was silently dropped)", () => {
    expect(() => parseCapacityArgs(["--students", "30", "--students", "40"])).toThrow(/^--students given twice \(30, 40\): give it once\nusage: npm run capacity/);
  });

  it("refuses a number beyond what it can count exactly", () => {
    expect(() => parseCapacityArgs(["--students", "1e300"])).toThrow(/--students must be a positive integer/);
  });
});
