/**
 * `npm run migrate`: applies lambdas/migrations/*.sql in name order, each in its own transaction,
 * recording them in schema_migrations (with a checksum: an applied file that changed is an error).
 *
 * Admin path, run by an operator or CI, never by a handler: it connects to the DIRECT instance
 * endpoint (DATABASE_DIRECT_ENDPOINT), not the proxy, because it takes a session advisory lock
 * (which would pin a proxy connection) to keep two migrators apart.
 *
 * Credentials: RDS_SECRET_ARN (the master secret) or, locally, DATABASE_USER / DATABASE_PASSWORD.
 * TLS: DATABASE_SSL / DATABASE_SSL_CA as for the functions; the instance endpoint presents the RDS
 * CA, so pass DATABASE_SSL_CA=<path of the RDS global bundle PEM> with verify-full.
 * Flags: --status (list applied and pending, change nothing).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Client, type ClientConfig } from "pg";
import { commandLine } from "./contracts/cli";
import { readDatabaseConfig, type Env } from "./shared/config";
import { maskCredentials } from "./shared/logging";
import { resolveDatabaseCredentials } from "./shared/secrets";

export const MIGRATIONS_DIR = join(__dirname, "migrations");
const LOCK_KEY = 7_340_001; // arbitrary, constant: pg_advisory_lock key for migrations

export interface Migration {
  version: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(join(dir, f), "utf8");
      return { version: f.replace(/\.sql$/, ""), sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

export async function migrationClientConfig(env: Env = process.env): Promise<ClientConfig> {
  const cfg = readDatabaseConfig(env, "campaign-migrate", "DATABASE_DIRECT_ENDPOINT");
  const creds = await resolveDatabaseCredentials(cfg.credentials);
  return {
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    user: creds.user,
    password: creds.password,
    ssl: cfg.ssl,
    application_name: cfg.applicationName,
    connectionTimeoutMillis: cfg.connectTimeoutMs,
  };
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  pending: string[];
}

export async function migrate(client: Client, opts: { dir?: string; dryRun?: boolean } = {}): Promise<MigrateResult> {
  const migrations = readMigrations(opts.dir);
  await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
  try {
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const { rows } = await client.query<{ version: string; checksum: string }>("SELECT version, checksum FROM schema_migrations");
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    const result: MigrateResult = { applied: [], alreadyApplied: [], pending: [] };
    for (const m of migrations) {
      const checksum = done.get(m.version);
      if (checksum !== undefined) {
        if (checksum !== m.checksum) throw new Error(`migration ${m.version} was changed after it was applied (checksum mismatch)`);
        result.alreadyApplied.push(m.version);
        continue;
      }
      if (opts.dryRun) {
        result.pending.push(m.version);
        continue;
      }
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", [m.version, m.checksum]);
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.version} failed: ${(e as Error).message}`);
      }
      result.applied.push(m.version);
    }
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]);
  }
}

const USAGE = `usage: npm run migrate [-- --status]

Applies lambdas/migrations/*.sql in name order on the direct instance endpoint
(DATABASE_DIRECT_ENDPOINT; credentials from RDS_SECRET_ARN or DATABASE_USER / DATABASE_PASSWORD).

  --status     list applied and pending migrations, change nothing
  -h, --help   this text`;

async function main(): Promise<void> {
  const args = commandLine(USAGE, { options: { status: { type: "boolean" } } });
  if (!args) return;
  const dryRun = args.values.status ?? false;
  const client = new Client(await migrationClientConfig());
  await client.connect();
  try {
    const r = await migrate(client, { dryRun });
    for (const v of r.alreadyApplied) console.log(`applied  ${v}`);
    for (const v of r.applied) console.log(`APPLIED  ${v} (now)`);
    for (const v of r.pending) console.log(`pending  ${v}`);
  } finally {
    await client.end();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`migrate: ${maskCredentials(String((e as Error)?.message ?? e))}`);
    process.exit(1);
  });
}
