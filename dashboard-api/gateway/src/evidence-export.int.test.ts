// The evidence checkpoints' export, as the gateway process runs it: the API
// signs checkpoints into the database (its checkpointer), and the gateway,
// which holds the object store's credentials, writes each one not yet
// exported to the evidence bucket on the real S3 store, oldest first, and
// marks it exported; a pass while S3 refuses is retried by the next.
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { signerFromPem } from "@tds/dashboard-api/evidence-checkpoint";
import type { EvidenceEntry } from "@tds/wire";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { s3FromEnv } from "@tds/test/evidence";
import { eventually } from "@tds/test/testkit";
import {
  bucketExporter,
  checkpointKey,
  startCheckpointExport,
  type CheckpointExporter,
} from "./evidence-export.ts";

let db: TestDatabase;
let store: EvidenceStore;
const s3 = s3FromEnv();

before(async () => {
  db = await createTestDatabase("tds_gw_evidence", { migrate: true });
  store = new EvidenceStore(db.pool);
});
after(() => db.drop());

const entry = (space: string, i: number): EvidenceEntry => ({
  space,
  eventId: `export-${i}`,
  actor: "system:serviceaccount:tds-system:operator",
  action: "offer.published",
  time: "2025-03-01T12:00:00Z",
  object: { kind: "DataOffer", namespace: `${space}--p`, name: `o${i}`, uid: `u${i}` },
});

test("the gateway exports the checkpoints the API signed, oldest first, and retries what S3 refused", async () => {
  const space = `exp-${randomBytes(3).toString("hex")}`;
  const bucket = `tds-evidence-${randomBytes(3).toString("hex")}`;
  const { privateKey } = generateKeyPairSync("ed25519");
  const signer = signerFromPem(
    store.origin(space),
    privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  );
  await store.append(space, [entry(space, 1), entry(space, 2)]);
  const two = await store.checkpoint(space, signer);
  await store.append(space, [entry(space, 3)]);
  const three = await store.checkpoint(space, signer);

  // S3 refuses the first pass: nothing is marked exported, and the next pass writes both.
  const real = bucketExporter(s3, bucket);
  let refuse = true;
  const exporter: CheckpointExporter = {
    put: (s, cp) => (refuse ? Promise.reject(new Error("S3 is down")) : real.put(s, cp)),
  };
  const errors: string[] = [];
  const loop = startCheckpointExport({
    store,
    exporter,
    intervalMs: 50,
    onError: (err, s) => {
      if (s === space) errors.push((err as Error).message);
    },
  });
  try {
    await eventually("a refused pass is reported", () => errors.length > 0);
    assert.equal((await store.unexportedCheckpoints(space)).length, 2);
    refuse = false;
    await eventually("both exported", async () => (await store.unexportedCheckpoints(space)).length === 0);
  } finally {
    await loop.stop();
  }
  const read = async (key: string) =>
    (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();
  assert.equal(await read(checkpointKey(space, 2)), two.note);
  assert.equal(await read(checkpointKey(space, 3)), three.note);
  assert.equal(await read(`evidence/${space}/checkpoint`), three.note, "the latest is the last exported");
  const { rows } = await db.pool.query<{ tree_size: number; exported_key: string }>(
    "select tree_size::int, exported_key from evidence_checkpoints where space = $1 order by tree_size",
    [space],
  );
  assert.deepEqual(rows, [
    { tree_size: 2, exported_key: `s3://${bucket}/${checkpointKey(space, 2)}` },
    { tree_size: 3, exported_key: `s3://${bucket}/${checkpointKey(space, 3)}` },
  ]);
});
