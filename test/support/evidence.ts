// Test support for the evidence integration tests and benchmarks: an S3
// client from the harness variables, the benchmarks' entries, and the export
// as it was built in memory before it streamed. Not imported by production code.
import { S3Client } from "@aws-sdk/client-s3";
import Fastify from "fastify";
import type { EvidenceEntry } from "@tds/wire";
import { EXPORT_FORMAT, type ExportedLeaf } from "@tds/dashboard-api/evidence-export";
import { exportBody } from "@tds/dashboard-api/evidence-routes";
import type { EntryFilter, EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { requireEnv } from "./database.ts";

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
