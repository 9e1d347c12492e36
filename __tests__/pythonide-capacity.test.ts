import { capacityParams, capacityRow, capacityTable, formatCapacityPlan, parseCapacityArgs, studentsPerTask } from "../stacks/capacity";
import { pythonide } from "../stacks/pythonide-environments";

const params = capacityParams(pythonide);

describe("pythonide capacity planning", () => {
  it("takes its numbers from the production config: 60 students per 1-vCPU task, bounds 1..4", () => {
    expect(params).toEqual({ studentsPerVcpu: 60, cpu: 1024, memoryMiB: 2048, minCapacity: 1, maxCapacity: 4 });
    expect(studentsPerTask(params)).toBe(60);
  });

  it.each([
    [60, 1],
    [120, 2],
    [180, 3],
    [240, 4],
  ])("%i students need %i task(s), within max 4", (students, tasks) => {
    expect(capacityRow(students, params)).toMatchObject({ students, tasks, minCapacity: tasks, maxCapacity: 4, maxSuffices: true });
  });

  it("rounds up, never plans below the minimum, and says when max 4 does not suffice", () => {
    expect(capacityRow(61, params).tasks).toBe(2);
    expect(capacityRow(10, params)).toMatchObject({ tasks: 1, minCapacity: 1 });
    expect(capacityRow(300, params)).toMatchObject({ tasks: 5, minCapacity: 5, maxCapacity: 5, maxSuffices: false });
  });

  it("is configurable: 30 students per vCPU doubles the tasks", () => {
    expect(capacityRow(240, capacityParams(pythonide, 30))).toMatchObject({ tasks: 8, maxSuffices: false });
  });

  it("tabulates every task step up to the class size, as the plan's table does", () => {
    expect(capacityTable(240, params).map((r) => [r.students, r.tasks, r.maxSuffices])).toEqual([
      [60, 1, true],
      [120, 2, true],
      [180, 3, true],
      [240, 4, true],
    ]);
    expect(capacityTable(200, params).map((r) => r.students)).toEqual([60, 120, 180, 200]);
  });

  it("prices tasks at the Fargate rates: 1 vCPU + 2 GB = $0.04937/hour", () => {
    expect(capacityRow(240, params).dollarsPerHour).toBeCloseTo(4 * (0.04048 + 2 * 0.004445), 6);
  });

  it("prints the table and the exam-day commands", () => {
    expect(formatCapacityPlan(240, pythonide)).toMatchSnapshot();
  });

  it("parses --students and refuses nonsense", () => {
    expect(parseCapacityArgs(["--students", "240"])).toEqual({ students: 240, studentsPerVcpu: undefined });
    expect(parseCapacityArgs(["--students", "90", "--students-per-vcpu", "45"])).toEqual({ students: 90, studentsPerVcpu: 45 });
    expect(() => parseCapacityArgs([])).toThrow("--students must be a positive integer");
    expect(() => parseCapacityArgs(["--students", "2.5"])).toThrow("--students must be a positive integer");
    expect(parseCapacityArgs(["--help"])).toEqual({ help: true });
    expect(parseCapacityArgs(["-h", "--students", "x"])).toEqual({ help: true });
  });
});
