// Applies dashboard-api/migrations/*.sql in file-name order with node-pg-migrate.
// Forward only: every file is written to be idempotent (IF NOT EXISTS, OR REPLACE).
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";

export const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));

export interface MigrationLogger {
  info: (msg: string) => void;
  warn: (msg: string) => void;
  error: (msg: string) => void;
}

const quiet: MigrationLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Runs pending migrations; retries while another process holds the migration lock. */
export async function migrate(databaseUrl: string, logger: MigrationLogger = quiet): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      const done = await runner({
        databaseUrl,
        dir: migrationsDir,
        // Only *.sql files, sorted by their numeric prefix then by name.
        ignorePattern: "(?!.*\\.sql$).*",
        migrationsTable: "tds_migrations",
        direction: "up",
        // A colleague's migration may land with a lower number after ours ran; apply it anyway.
        checkOrder: false,
        singleTransaction: false,
        logger,
        verbose: false,
      });
      return done.map((m) => m.name);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (attempt < 50 && message.includes("Another migration is already running")) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw new Error("cannot apply database migrations", { cause: err });
    }
  }
}
