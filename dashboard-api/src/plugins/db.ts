// The PostgreSQL dependency: a pg Pool decorated as `app.db`. Tests without a
// database pass `null`, and routes that need one answer 503.
import fp from "fastify-plugin";
import type { Pool, PoolClient } from "pg";
import { TdsError } from "../errors.ts";

declare module "fastify" {
  interface FastifyInstance {
    db: Pool | null;
    /** Runs `fn` in a transaction; retries on deadlock and serialization failures. */
    tx: <T>(fn: (client: PoolClient) => Promise<T>) => Promise<T>;
    pool: () => Pool;
  }
}

const retryable = new Set(["40001", "40P01"]);

export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const result = await fn(client);
      await client.query("commit");
      return result;
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      const code = (err as { code?: unknown }).code;
      if (attempt < 5 && typeof code === "string" && retryable.has(code)) continue;
      throw err;
    } finally {
      client.release();
    }
  }
}

export interface DbPluginOptions {
  readonly pool: Pool | null;
  /** Close the pool when the app closes (the server owns it; tests may share one). */
  readonly closePool?: boolean;
}

export const dbPlugin = fp<DbPluginOptions>(
  (app, opts, done) => {
    app.decorate("db", opts.pool);
    const pool = (): Pool => {
      if (!opts.pool) throw new TdsError("unavailable", "Database is not configured");
      return opts.pool;
    };
    app.decorate("pool", pool);
    app.decorate("tx", <T>(fn: (client: PoolClient) => Promise<T>) => withTransaction(pool(), fn));
    if (opts.closePool && opts.pool) {
      const p = opts.pool;
      app.addHook("onClose", async () => {
        await p.end();
      });
    }
    done();
  },
  { name: "tds-db" },
);
