// Group commit on a real PostgreSQL: concurrent appends to one space become a
// few transactions, each caller gets its own entries' positions, the log is
// gapless and in arrival order within each group, and one conflicting entry
// fails only its own caller.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { EvidenceEntry } from "@tds/wire";
import { GroupedAppender } from "./grouped.ts";
import { EvidenceStore } from "./store.ts";
import { type TestDatabase, createTestDatabase } from "@tds/test/database";

let db: TestDatabase;
let store: EvidenceStore;

before(async () => {
  db = await createTestDatabase("evgroup", { migrate: true, maxConnections: 60 });
  store = new EvidenceStore(db.pool);
});
after(async () => {
  await db.drop();
});

const entry = (space: string, id: string, payload = "ab"): EvidenceEntry => ({
  space,
  eventId: id,
  actor: "system:tds-gateway",
  action: "data.transferred",
  time: "2026-11-27T12:00:00Z",
  object: { kind: "DataContract", namespace: `${space}--c`, name: "c", uid: "uid-c" },
  payloadHash: payload.repeat(32),
});

test("200 concurrent appends to one space take a few transactions, each caller gets its own positions", async (t) => {
  const grouped = new GroupedAppender(store);
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => grouped.append("g1", [entry("g1", `t-${String(i)}`)])),
  );
  const groupedMs = performance.now() - started;
  assert.equal(grouped.stats.appends, 200);
  // For the record (not asserted): the same 200 appends made directly, each its own transaction.
  const direct = performance.now();
  await Promise.all(
    Array.from({ length: 200 }, (_, i) => store.append("g1-direct", [entry("g1-direct", `t-${String(i)}`)])),
  );
  t.diagnostic(
    `200 concurrent appends: grouped ${groupedMs.toFixed(0)} ms in ${String(grouped.stats.transactions)} transactions, ` +
      `direct ${(performance.now() - direct).toFixed(0)} ms in 200`,
  );
  assert.ok(grouped.stats.transactions < 50, `${String(grouped.stats.transactions)} transactions`);
  for (const [i, r] of results.entries()) {
    const [only] = r;
    assert.equal(r.length, 1);
    assert.ok(only);
    assert.equal(only.eventId, `t-${String(i)}`);
    assert.equal(only.duplicate, false);
  }
  // One gapless log: every position once.
  const positions = results.map((r) => r[0]?.leafIndex).sort((a, b) => (a ?? 0) - (b ?? 0));
  assert.deepEqual(
    positions,
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.equal((await store.head("g1")).treeSize, 200);
});

test("a conflicting entry fails only its caller; the rest of its group is appended", async () => {
  await store.append("g2", [entry("g2", "known", "ab")]);
  const grouped = new GroupedAppender(store);
  const calls = [
    grouped.append("g2", [entry("g2", "a")]),
    grouped.append("g2", [entry("g2", "b")]),
    grouped.append("g2", [entry("g2", "known", "cd")]), // same id, other content
    grouped.append("g2", [entry("g2", "c"), entry("g2", "d")]),
  ];
  const settled = await Promise.allSettled(calls);
  assert.deepEqual(
    settled.map((s) => s.status),
    ["fulfilled", "fulfilled", "rejected", "fulfilled"],
  );
  const last = settled[3];
  assert.equal(last?.status === "fulfilled" ? last.value.map((r) => r.eventId).join(",") : "", "c,d");
  assert.equal((await store.head("g2")).treeSize, 5);
});
