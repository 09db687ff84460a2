// A private PostgreSQL database per test file (or benchmark) on the harness's
// shared server (DATABASE_URL), so files that run at once never see each
// other's rows: created empty, or with the dashboard API's migrations applied,
// and dropped at the end. Its pool is lazy (no connection until a query).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate } from "@tds/dashboard-api/migrate";

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** A pool on the database, ended by drop(). */
  readonly pool: pg.Pool;
  drop: () => Promise<void>;
}

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run through the harness (make test, or eval "$(node --import tsx test/harness/cli.ts env)")`,
    );
  return v;
}

export async function createTestDatabase(
  prefix = "tds_test",
  opts: { readonly migrate?: boolean; readonly maxConnections?: number } = {},
): Promise<TestDatabase> {
  const base = requireEnv("DATABASE_URL");
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  if (opts.migrate) await migrate(url.toString());
  const pool = new pg.Pool({ connectionString: url.toString(), max: opts.maxConnections ?? 20 });
  // Idle clients are terminated when the database is dropped; that is expected.
  pool.on("error", () => undefined);
  let ended = false;
  return {
    url: url.toString(),
    name,
    pool,
    drop: async () => {
      if (!ended) {
        ended = true;
        await pool.end();
      }
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        // pg's Pool.end() resolves before its clients' connections have closed: give them up to
        // 5 s to go, so FORCE does not cut a closing client (an uncaught error in the test process).
        for (let i = 0; i < 100; i++) {
          const { rows } = await c.query<{ n: string }>(
            "select count(*)::text as n from pg_stat_activity where datname = $1",
            [name],
          );
          if (rows[0]?.n === "0") break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
