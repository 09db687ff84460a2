// Test support for the evidence integration tests and benchmark: a private
// PostgreSQL database per test file (other files share the server in
// `make test`) with the evidence migration applied, and an S3 client from the
// harness variables. Not imported by production code.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { S3Client } from "@aws-sdk/client-s3";

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run through the harness (make test, or eval "$(node --import tsx test/harness/cli.ts env)")`,
    );
  return v;
}

export const MIGRATION = new URL("../../migrations/0002_evidence.sql", import.meta.url);

/** The Up part of the evidence migration. */
export async function evidenceMigrationSql(): Promise<string> {
  const sql = await readFile(MIGRATION, "utf8");
  return sql.split("-- Down Migration")[0] ?? sql;
}

export interface FreshDatabase {
  pool: pg.Pool;
  url: string;
  drop(): Promise<void>;
}

export async function freshDatabase(prefix = "evidence"): Promise<FreshDatabase> {
  const adminUrl = requireEnv("DATABASE_URL");
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 60 });
  // Idle clients are terminated when the database is dropped; that is expected.
  pool.on("error", () => undefined);
  await pool.query(await evidenceMigrationSql());
  return {
    pool,
    url: url.toString(),
    drop: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

export function s3FromEnv(): S3Client {
  return new S3Client({
    endpoint: requireEnv("TDS_S3_ENDPOINT"),
    region: requireEnv("TDS_S3_REGION"),
    forcePathStyle: true,
    credentials: {
      accessKeyId: requireEnv("TDS_S3_ACCESS_KEY_ID"),
      secretAccessKey: requireEnv("TDS_S3_SECRET_ACCESS_KEY"),
    },
  });
}
