import { RDS_CLASSES } from "../modules/catalog";

/**
 * The connection budget: can every database-using Lambda execution environment that may run at
 * once hold its connections without PostgreSQL refusing one (SQLSTATE 53300)?
 *
 *   demand = Σ reserved concurrency of the functions that use the database × connections per environment
 *   limit  = max_connections of the RDS class × max_connections_percent / 100 − headroom   (through RDS Proxy)
 *   limit  = max_connections of the RDS class − headroom                                    (straight to the instance)
 *
 * The proxy multiplexes transactions, so this is the worst case (every environment inside a
 * transaction at once); it is the bound that keeps the proxy from queueing clients into its
 * borrow timeout and the instance from refusing connections.
 */
export interface BudgetInput {
  readonly instanceClass: string;
  /** Whether the Lambdas reach the database through RDS Proxy (false: straight to the instance). */
  readonly viaProxy: boolean;
  /** The proxy's max_connections_percent (ignored without a proxy). */
  readonly maxConnectionsPercent: number;
  /** Connections kept free for migrations, admin tools and monitoring. */
  readonly headroom: number;
  /** Connections one execution environment opens (the handlers keep one). */
  readonly connectionsPerEnvironment: number;
  readonly functions: readonly { readonly name: string; readonly reservedConcurrency: number; readonly usesDatabase: boolean }[];
}

export interface Budget {
  /** Connections the functions may open at once. */
  readonly demand: number;
  /** Connections available to them. */
  readonly limit: number;
  readonly fits: boolean;
  /** The most execution environments (sum of reserved concurrency) that fit. */
  readonly maxEnvironments: number;
  /** The arithmetic, e.g. `validate-campaign 5 + dispatcher 5 = 10 environments × 1 = 10`. */
  readonly demandText: string;
  readonly limitText: string;
}

/** Compute the budget; undefined when the class is unknown (config validation reports that). */
export function connectionBudget(input: BudgetInput): Budget | undefined {
  const rds = RDS_CLASSES[input.instanceClass];
  if (!rds) return undefined;
  const users = input.functions.filter((f) => f.usesDatabase);
  const environments = users.reduce((sum, f) => sum + f.reservedConcurrency, 0);
  const demand = environments * input.connectionsPerEnvironment;
  const terms = users.map((f) => `${f.name} ${f.reservedConcurrency}`).join(" + ");
  const demandText = `reserved concurrency ${terms} = ${environments} environments × ${input.connectionsPerEnvironment} connection(s) = ${demand}`;
  if (input.viaProxy) {
    const proxyMax = Math.floor((rds.maxConnections * input.maxConnectionsPercent) / 100);
    const limit = proxyMax - input.headroom;
    const limitText = `RDS Proxy may open ${input.instanceClass} max_connections ${rds.maxConnections} × ${input.maxConnectionsPercent} % = ${proxyMax} − ${input.headroom} headroom = ${limit}`;
    return result(limit, limitText);
  }
  const limit = rds.maxConnections - input.headroom;
  return result(limit, `${input.instanceClass} accepts max_connections ${rds.maxConnections} − ${input.headroom} headroom = ${limit} directly (no proxy)`);

  function result(limit: number, limitText: string): Budget {
    const maxEnvironments = Math.max(0, Math.floor(limit / input.connectionsPerEnvironment));
    return { demand, limit, fits: demand <= limit, maxEnvironments, demandText, limitText };
  }
}

/** The budget as a problem line (without the `environment.key: ` prefix), or undefined when it fits. */
export function budgetProblem(budget: Budget | undefined): { message: string; allowed: string } | undefined {
  if (!budget || budget.fits) return undefined;
  return {
    message: `over the connection budget: ${budget.demandText} > ${budget.limitText}`,
    allowed: `reserved concurrency of the database functions totalling at most ${budget.maxEnvironments}, or a larger instance class`,
  };
}
