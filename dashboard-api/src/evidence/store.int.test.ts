// The evidence log against a real PostgreSQL (a private database per file):
// linear appends under 50 concurrent appenders, idempotent retries, proofs
// served from stored subtrees, and tampering by a database owner caught by the
// verifier against a checkpoint exported to a real S3 store.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { type CheckpointSigner, signerFromPem, verifyCheckpoint } from "./checkpoint.ts";
import { startCheckpointer } from "./checkpoint-loop.ts";
import type { EvidenceEntry } from "@tds/wire";
import { exportLog } from "./export.ts";
import { leafHash, MemoryTree, verifyConsistency, verifyInclusion } from "./merkle.ts";
import { EvidenceError, EvidenceStore } from "./store.ts";
import { type TestDatabase, createTestDatabase } from "@tds/test/database";
import { verifyExport } from "./verifier.ts";

let db: TestDatabase;
let store: EvidenceStore;

before(async () => {
  db = await createTestDatabase("evidence", { migrate: true, maxConnections: 60 });
  store = new EvidenceStore(db.pool);
});
after(async () => {
  await db.drop();
});

function entry(space: string, i: number, extra: Partial<EvidenceEntry> = {}): EvidenceEntry {
  return {
    space,
    eventId: `ev-${i}`,
    actor: `system:serviceaccount:tds-system:operator`,
    action: i % 3 === 0 ? "contract.agreed" : "offer.published",
    time: new Date(Date.UTC(2025, 0, 1, 0, 0, i % 60)).toISOString(),
    object: {
      kind: "DataOffer",
      namespace: `${space}--p${i % 4}`,
      name: `offer-${i}`,
      uid: `uid-${i}`,
      generation: 1,
    },
    payloadHash: "ab".repeat(32),
    ...extra,
  };
}

function newSigner(space: string): CheckpointSigner {
  const { privateKey } = generateKeyPairSync("ed25519");
  return signerFromPem(store.origin(space), privateKey.export({ format: "pem", type: "pkcs8" }).toString());
}

test("50 concurrent appenders produce one gapless log whose root matches the entries", async () => {
  const space = "concurrency";
  const perAppender = 20;
  await Promise.all(
    Array.from({ length: 50 }, async (_, a) => {
      for (let j = 0; j < perAppender; j++) {
        // Mix single appends and small batches.
        const base = a * perAppender + j;
        await store.append(space, [entry(space, base)]);
      }
    }),
  );
  const head = await store.head(space);
  assert.equal(head.treeSize, 50 * perAppender);
  const all = await store.entries(space, 0, head.treeSize);
  assert.deepEqual(
    all.map((e) => e.leafIndex),
    Array.from({ length: head.treeSize }, (_, i) => i),
  );
  const ids = new Set(all.map((e) => (JSON.parse(e.entry.toString()) as EvidenceEntry).eventId));
  assert.equal(ids.size, head.treeSize, "every event recorded exactly once");
  const hex = (h: Uint8Array): string => Buffer.from(h).toString("hex");
  for (const e of all) assert.equal(hex(leafHash(e.entry)), hex(e.leafHash));
  const tree = new MemoryTree(all.map((e) => e.leafHash));
  assert.equal(hex(tree.root()), hex(head.rootHash));
  // Every stored subtree agrees with the recomputed tree, so proofs are right.
  for (const [m, n] of [
    [0, 1000],
    [999, 1000],
    [511, 777],
    [3, 4],
  ] as const) {
    const proof = await store.inclusionProof(space, m, n);
    assert.ok(verifyInclusion(m, n, tree.leaf(m), proof, tree.root(n)), `inclusion ${m} in ${n}`);
    const cons = await store.consistencyProof(space, m + 1, n);
    assert.ok(
      verifyConsistency(m + 1, n, cons, tree.root(m + 1), tree.root(n)),
      `consistency ${m + 1} -> ${n}`,
    );
    assert.equal(hex(await store.rootAt(space, n)), hex(tree.root(n)));
  }
});

test("concurrent batches with overlapping event ids record each event once", async () => {
  const space = "retries";
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, a) =>
      store.append(
        space,
        Array.from({ length: 10 }, (_, j) => entry(space, (a * 7 + j) % 100)),
      ),
    ),
  );
  const head = await store.head(space);
  assert.equal(head.treeSize, 100);
  const byEvent = new Map<string, number>();
  for (const r of results.flat()) {
    const prior = byEvent.get(r.eventId);
    if (prior !== undefined) assert.equal(r.leafIndex, prior, `${r.eventId} has one position`);
    byEvent.set(r.eventId, r.leafIndex);
  }
  assert.equal(results.flat().filter((r) => !r.duplicate).length, 100);
});

test("a known event id with different content is refused, naming the field", async () => {
  const space = "conflict";
  await store.append(space, [entry(space, 1)]);
  await assert.rejects(
    store.append(space, [entry(space, 2), entry(space, 1, { action: "contract.revoked" })]),
    (err: unknown) =>
      err instanceof EvidenceError &&
      err.code === "TDS_ERR_EVIDENCE_EVENT_CONFLICT" &&
      err.field === "entries[1].eventId",
  );
  // The whole batch was rolled back.
  assert.equal((await store.head(space)).treeSize, 1);
  await assert.rejects(store.append(space, [entry("other", 3)]), /belongs to space other/);
});

test("the database refuses to update or delete entries", async () => {
  const space = "immutable";
  await store.append(space, [entry(space, 1)]);
  await assert.rejects(
    db.pool.query("update evidence_entries set entry = 'x' where space = $1", [space]),
    /append-only/,
  );
  await assert.rejects(
    db.pool.query("delete from evidence_entries where space = $1", [space]),
    /append-only/,
  );
});

test("participants see only entries about their own objects", async () => {
  const space = "visibility";
  await store.append(
    space,
    Array.from({ length: 12 }, (_, i) => entry(space, i)),
  );
  await store.append(space, [
    entry(space, 100, { object: { kind: "Participant", name: "p1", uid: "uid-p1" } }),
  ]);
  const mine = await store.entries(space, 0, 100, {
    namespaces: [`${space}--p1`],
    clusterObjects: [{ kind: "Participant", name: "p1" }],
  });
  assert.deepEqual(
    mine.map((e) => e.leafIndex),
    [1, 5, 9, 12],
  );
  const leaves = await store.leaves(space, 0, 100, { namespaces: [`${space}--p1`] });
  assert.equal(leaves.length, 13);
  assert.equal(leaves.filter((l) => l.entry).length, 3);
});

test("checkpoints are signed, produced on demand and on an interval, and wait for the gateway's export", async () => {
  const space = "checkpoints";
  const signer = newSigner(space);

  await store.append(space, [entry(space, 1), entry(space, 2), entry(space, 3)]);
  const cp = await store.checkpoint(space, signer);
  assert.equal(cp.treeSize, 3);
  const verified = verifyCheckpoint(cp.note, signer.keyName, signer.publicKey, store.origin(space));
  assert.equal(
    Buffer.from(verified.rootHash).toString("hex"),
    Buffer.from((await store.head(space)).rootHash).toString("hex"),
  );
  // On demand again without appends: the same checkpoint, not a new one.
  assert.equal((await store.checkpoint(space, signer)).note, cp.note);

  await store.append(space, [entry(space, 4)]);
  const errors: unknown[] = [];
  const checkpointer = startCheckpointer({
    store,
    signerFor: () => Promise.resolve(signer),
    intervalMs: 50,
    spaces: () => Promise.resolve([space]),
    onError: (err) => errors.push(err),
  });
  for (let i = 0; i < 100 && (await store.latestCheckpoint(space))?.treeSize !== 4; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await checkpointer.stop();
  assert.deepEqual(errors, []);
  assert.equal((await store.latestCheckpoint(space))?.treeSize, 4);
  // The S3 copies are the gateway's to write (@tds/gateway, evidence-export.ts): both wait for it.
  assert.deepEqual(
    (await store.unexportedCheckpoints(space)).map((c) => c.treeSize),
    [3, 4],
  );
});

// A database owner who edits tables directly bypasses the append-only triggers.
async function asOwner(sql: string, params: unknown[]): Promise<void> {
  const c = await db.pool.connect();
  try {
    await c.query("begin");
    await c.query("set local session_replication_role = replica");
    await c.query(sql, params);
    await c.query("commit");
  } finally {
    c.release();
  }
}

test("tampering with a 10,000-entry log is caught by the verifier", async () => {
  const space = "tamper";
  const signer = newSigner(space);
  const N = 10_000;
  for (let start = 0; start < N; start += 1000) {
    await store.append(
      space,
      Array.from({ length: 1000 }, (_, i) => entry(space, start + i)),
    );
  }
  const trusted = await store.checkpoint(space, signer);
  assert.equal(trusted.treeSize, N);
  const verify = async (): Promise<{ ok: boolean; failures: string[] }> => {
    const checks = verifyExport({
      export: await exportLog(store, space),
      publicKey: signer.publicKey,
      trustedCheckpoint: trusted.note,
    });
    const failures = checks.filter((c) => !c.ok).map((c) => c.what);
    return { ok: failures.length === 0, failures };
  };
  assert.deepEqual((await verify()).failures, []);

  // One byte changed in an entry, at the edges and at random places, caught every time.
  const positions = [
    0,
    1,
    4095,
    4096,
    N - 1,
    ...Array.from({ length: 5 }, () => Math.floor(Math.random() * N)),
  ];
  for (const leaf of positions) {
    const [row] = await store.entries(space, leaf, leaf + 1);
    assert.ok(row);
    const original = Buffer.from(row.entry);
    const altered = Buffer.from(original);
    const at = original.indexOf("offer-") + 6; // a digit of the object's name
    altered[at] = altered[at] === 0x30 ? 0x31 : 0x30;
    await asOwner("update evidence_entries set entry = $3 where space = $1 and leaf_index = $2", [
      space,
      leaf,
      altered,
    ]);
    const result = await verify();
    assert.equal(result.ok, false, `one-byte change at leaf ${leaf} must be detected`);
    assert.ok(
      result.failures.some((f) => f.includes(`leaf ${leaf}`)),
      result.failures.join("; "),
    );
    // The owner also recomputes the leaf hash: the tree no longer matches the checkpoint.
    await asOwner("update evidence_entries set leaf_hash = $3 where space = $1 and leaf_index = $2", [
      space,
      leaf,
      Buffer.from(leafHash(altered)),
    ]);
    const deeper = await verify();
    assert.equal(deeper.ok, false, `re-hashed change at leaf ${leaf} must be detected`);
    assert.ok(
      deeper.failures.some((f) => /DOES NOT match|rewritten/.test(f)),
      deeper.failures.join("; "),
    );
    await asOwner(
      "update evidence_entries set entry = $3, leaf_hash = $4 where space = $1 and leaf_index = $2",
      [space, leaf, original, Buffer.from(row.leafHash)],
    );
  }
  assert.deepEqual((await verify()).failures, [], "restored log verifies again");
});

test("truncation and a full rewrite with recomputed hashes are caught against an exported checkpoint", async () => {
  const space = "rewrite";
  const signer = newSigner(space);
  await store.append(
    space,
    Array.from({ length: 300 }, (_, i) => entry(space, i)),
  );
  const trusted = await store.checkpoint(space, signer);
  const exportedTrusted = trusted.note; // what an auditor fetched from the bucket

  // Truncation: the owner drops the last 50 leaves, resets the head and deletes the checkpoint.
  const truncated = "rewrite-truncated";
  await store.append(
    truncated,
    Array.from({ length: 250 }, (_, i) => entry(space, i)).map((e) => ({ ...e, space: truncated })),
  );
  const honestExport = await exportLog(store, truncated);
  const t = verifyExport({
    export: { ...honestExport, space, origin: store.origin(space), entries: honestExport.entries },
    publicKey: signer.publicKey,
    trustedCheckpoint: exportedTrusted,
  });
  assert.ok(
    t.some((c) => !c.ok && c.what.includes("truncated")),
    JSON.stringify(t),
  );

  // Truncation in place: delete leaves of the real space.
  await asOwner("delete from evidence_entries where space = $1 and leaf_index >= 250", [space]);
  await asOwner("delete from evidence_checkpoints where space = $1", [space]);
  const inPlace = verifyExport({
    export: await exportLog(store, space),
    publicKey: signer.publicKey,
    trustedCheckpoint: exportedTrusted,
  });
  assert.ok(
    inPlace.some((c) => !c.ok && c.what.includes("truncated")),
    JSON.stringify(inPlace),
  );

  // Full rewrite: every table rebuilt through the real append path with one entry changed,
  // so every hash and subtree is consistent, and a fresh checkpoint signed with the real key.
  await asOwner("delete from evidence_entries where space = $1", [space]);
  await asOwner("delete from evidence_nodes where space = $1", [space]);
  await asOwner("delete from evidence_logs where space = $1", [space]);
  await store.append(
    space,
    Array.from({ length: 300 }, (_, i) => entry(space, i, i === 7 ? { actor: "someone-else" } : {})),
  );
  await store.checkpoint(space, signer);
  const rewritten = verifyExport({
    export: await exportLog(store, space),
    publicKey: signer.publicKey,
    trustedCheckpoint: exportedTrusted,
  });
  // The rewritten log is self-consistent, and only the trusted checkpoint exposes it.
  const failed = rewritten.filter((c) => !c.ok).map((c) => c.what);
  assert.equal(failed.length, 1, failed.join("; "));
  assert.match(failed[0] ?? "", /rewritten/);
});
