// Migrations on the real PostgreSQL: a new database gets every file with no
// error from node-pg-migrate; a database migrated when the files had 4-digit
// prefixes keeps its record (nothing applied twice); and a normal server start
// logs no error-level line.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { migrate, migrationsDir, type MigrationLogger } from "./migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { startServer, stopServer } from "@tds/test/server";

const files = readdirSync(migrationsDir)
  .filter((f) => f.endsWith(".sql"))
  .map((f) => f.replace(/\.sql$/, ""))
  .sort();

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase("tds_migrate");
});
after(async () => {
  await db.drop();
});

function recording(): MigrationLogger & { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  return {
    errors,
    warnings,
    info: () => undefined,
    warn: (m) => warnings.push(m),
    error: (m) => errors.push(m),
  };
}

async function recorded(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ name: string }>("select name from tds_migrations order by name");
    return rows.map((r) => r.name);
  } finally {
    await c.end();
  }
}

test("every migration file has a 13-digit sequence prefix", () => {
  assert.ok(files.length >= 7);
  for (const f of files) assert.match(f, /^\d{13}_[a-z0-9_]+$/, f);
});

test("a new database gets every migration, and node-pg-migrate logs no error or warning", async () => {
  const log = recording();
  assert.deepEqual(await migrate(db.url, log), files);
  assert.deepEqual(log.errors, []);
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(await recorded(db.url), files);
});

test("a database recorded under the old 4-digit names keeps its record: nothing is applied twice", async () => {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    // As a database migrated before the rename recorded them: 0002_evidence.
    await c.query(
      "update tds_migrations set name = lpad(ltrim(split_part(name, '_', 1), '0'), 4, '0') || substr(name, strpos(name, '_'))",
    );
  } finally {
    await c.end();
  }
  assert.ok((await recorded(db.url)).includes("0002_evidence"));
  const log = recording();
  assert.deepEqual(await migrate(db.url, log), [], "no migration applied again");
  assert.deepEqual(log.errors, []);
  assert.deepEqual(await recorded(db.url), files);
});

test("a normal server start logs no error-level line", async () => {
  const work = mkdtempSync(join(tmpdir(), "tds-migrate-"));
  const fresh = await createTestDatabase("tds_migrate_start");
  const server = await startServer({
    DATABASE_URL: fresh.url,
    TDS_AUTH_DEV_KEY_FILE: join(work, "key.json"),
    LOG_LEVEL: "info",
  });
  try {
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  } finally {
    await stopServer(server);
    await fresh.drop();
    rmSync(work, { recursive: true, force: true });
  }
  const lines = server
    .output()
    .split("\n")
    .filter((l) => l.trim() !== "");
  assert.ok(
    lines.some((l) => l.includes("Server listening")),
    `the server logged at info level:\n${lines.join("\n")}`,
  );
  // pino levels: 50 error, 60 fatal. Anything that is not JSON is a stray print.
  const bad = lines.filter((l) => {
    try {
      return ((JSON.parse(l) as { level?: number }).level ?? 60) >= 50;
    } catch {
      return true;
    }
  });
  assert.deepEqual(bad, []);
});
