// Applies dashboard-api/migrations/*.sql in file-name order with node-pg-migrate.
// Forward only: every file is written to be idempotent (IF NOT EXISTS, OR REPLACE).
// Files are named <sequence>_<what>.sql with the sequence zero-padded to 13
// digits: node-pg-migrate reads the prefix as its millisecond timestamp and logs
// an error for any prefix that is not 13 or 17 digits.
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";

export const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));

export interface MigrationLogger {
  info: (msg: string) => void;
  warn: (msg: string) => void;
  error: (msg: string) => void;
}

const quiet: MigrationLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The processes' migration log: JSON lines, one per migration applied, and every warning and error. */
export const jsonLinesMigrationLog: MigrationLogger = {
  info: (m) => {
    if (m.includes("Migrating") || m.includes("- "))
      console.log(JSON.stringify({ level: 30, time: Date.now(), msg: `migrations ${m.trim()}` }));
  },
  warn: (m) => {
    console.warn(JSON.stringify({ level: 40, time: Date.now(), msg: m }));
  },
  error: (m) => {
    console.error(JSON.stringify({ level: 50, time: Date.now(), msg: m }));
  },
};

/**
 * Databases migrated when the files had 4-digit prefixes (0002_evidence)
 * recorded those names: give them the 13-digit ones, so the same migrations
 * are not applied twice. Idempotent, and harmless when several processes start at once.
 */
async function renameRecordedMigrations(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `update tds_migrations set name = lpad(split_part(name, '_', 1), 13, '0') || substr(name, strpos(name, '_'))
        where name ~ '^[0-9]{1,12}_'`,
    );
  } catch (err) {
    // A new database has no tds_migrations table yet: nothing was recorded.
    if ((err as { code?: string }).code !== "42P01") throw err;
  } finally {
    await client.end();
  }
}

/** Runs pending migrations; retries while another process holds the migration lock. */
export async function migrate(databaseUrl: string, logger: MigrationLogger = quiet): Promise<string[]> {
  await renameRecordedMigrations(databaseUrl);
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
