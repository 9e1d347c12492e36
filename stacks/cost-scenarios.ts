/**
 * Named configurations for `npm run cost -- --from NAME` and `--compare A B`: the seeds' cost
 * decisions rebuilt from the real configs, so their tables come from synthesized stacks instead
 * of hand arithmetic. Each scenario is the app's own config with a few documented edits, plus
 * usage overrides (task-hours of an exam week).
 */
import type { CampaignConfig } from "./config";
import type { Usage } from "./cost";
import { prod } from "./environments";
import type { PythonideConfig } from "./pythonide-config";
import { pythonide, pythonideNewAccount } from "./pythonide-environments";

export interface CostScenario {
  readonly description: string;
  /** Campaign environments to synthesize (none: no campaign stack). */
  readonly campaign: readonly CampaignConfig[];
  /** The PythonIDE system (undefined: no PythonIDE stacks). */
  readonly pythonide?: PythonideConfig;
  /** Usage figures over the usage file's. */
  readonly usage?: Usage;
}

const edit = <T>(config: T, change: (copy: T) => void): T => {
  const copy = structuredClone(config);
  change(copy);
  return copy;
};

/** Exam week: 5 exam days × 8 hours at 4 production tasks, 1 task the rest of the month. */
export const EXAM_WEEK_TASK_HOURS = 5 * 8 * 4 + (730 - 5 * 8) * 1;

export const COST_SCENARIOS: Readonly<Record<string, CostScenario>> = {
  "campaign-before": {
    description: "campaign-prod as the seeds found it: ElastiCache (redis.mode elasticache), db.t3.medium, no RDS Proxy",
    campaign: [
      edit(prod, (c) => {
        c.redis.mode = "elasticache";
        c.database.instanceClass = "db.t3.medium";
        c.proxy.enabled = false;
      }),
    ],
  },
  "campaign-after": {
    description: "campaign-prod as configured: Redis on the Asterisk host, RDS Proxy, db.t3.small",
    campaign: [prod],
  },
  "campaign-rollback": {
    description: "campaign-prod with redis.mode elasticache and nothing else changed (what the rollback costs)",
    campaign: [edit(prod, (c) => void (c.redis.mode = "elasticache"))],
  },
  "pythonide-before": {
    description: "PythonIDE as the seeds found it: production 2 tasks × 2 vCPU / 8 GB; staging running 1 task all month (assumed)",
    campaign: [],
    pythonide: edit(pythonide, (p) => {
      p.production.cpu = 2048;
      p.production.memoryMiB = 8192;
      p.production.desiredCount = 2;
      p.staging.desiredCount = 1;
    }),
  },
  "pythonide-after": {
    description: "PythonIDE as configured: production 1 task × 1 vCPU / 2 GB, staging at 0",
    campaign: [],
    pythonide,
  },
  "pythonide-new-account": {
    description: "PythonIDE in a new account (pythonideNewAccount): production builds its VPC, ALB and PostgreSQL (db.t4g.small, 20 GB, 7-day backups); staging at 0",
    campaign: [],
    pythonide: pythonideNewAccount,
  },
  "pythonide-exam-week": {
    description: `PythonIDE as configured in a month with an exam week: 5 days × 8 h at 4 tasks (${EXAM_WEEK_TASK_HOURS} task-hours), staging at 0`,
    campaign: [],
    pythonide,
    usage: { stacks: { "pythonide-production": { resource_usage: { "aws_ecs_service.service": { monthly_task_hours: EXAM_WEEK_TASK_HOURS } } } } },
  },
};
