// Test support for the evidence integration tests and benchmark: a private
// PostgreSQL database per test file (other files share the server in
// `make test`) with the evidence migration applied, and an S3 client from the
// harness variables. Not imported by production code.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { S3Client } from "@aws-sdk/client-s3";
import Fastify from "fastify";
import type { EvidenceEntry } from "@tds/wire";
import { EXPORT_FORMAT, type ExportedLeaf } from "./export.ts";
import { exportBody } from "./routes.ts";
import type { EntryFilter, EvidenceStore } from "./store.ts";

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run through the harness (make test, or eval "$(node --import tsx test/harness/cli.ts env)")`,
    );
  return v;
}

export const MIGRATION = new URL("../../migrations/0000000000002_evidence.sql", import.meta.url);

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

/** The benchmarks' entry number i: a data access under one of 997 contracts of 50 consumers. */
export function benchEntry(space: string, i: number): EvidenceEntry {
  return {
    space,
    eventId: `bench-${i}`,
    actor: "system:serviceaccount:tds-system:operator",
    action: "data.accessed",
    time: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(),
    object: {
      kind: "DataContract",
      namespace: `${space}--consumer-${i % 50}`,
      name: `contract-${i % 997}`,
      uid: `uid-${i % 997}`,
      generation: 1,
    },
    payloadHash: "5e".repeat(32),
  };
}

/**
 * The export as the route answered before it streamed: the whole document
 * built in memory, then serialised by fastify with the route's response
 * schema. The export test checks the streamed bytes against it, and the
 * benchmark measures its memory as the baseline.
 */
export async function inMemoryExportBytes(
  store: EvidenceStore,
  space: string,
  filter?: EntryFilter,
): Promise<Buffer> {
  const { treeSize } = await store.head(space);
  const entries: ExportedLeaf[] = [];
  for (let start = 0; start < treeSize; start += 10_000) {
    for (const e of await store.leaves(space, start, Math.min(treeSize, start + 10_000), filter)) {
      const leaf: ExportedLeaf = {
        leafIndex: e.leafIndex,
        leafHash: Buffer.from(e.leafHash).toString("base64"),
      };
      if (e.entry) leaf.entry = JSON.parse(e.entry.toString("utf8")) as EvidenceEntry;
      entries.push(leaf);
    }
  }
  const checkpoints = (await store.checkpoints(space))
    .filter((c) => c.treeSize <= treeSize)
    .map((c) => c.note);
  const document = {
    format: EXPORT_FORMAT,
    space,
    origin: store.origin(space),
    treeSize,
    entries,
    checkpoints,
  };
  const app = Fastify();
  app.get("/", { schema: { response: { 200: exportBody } } }, () => document);
  try {
    return (await app.inject({ url: "/" })).rawPayload;
  } finally {
    await app.close();
  }
}
