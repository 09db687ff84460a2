// Evidence log benchmark: append rate against a raw single-row INSERT baseline
// on the same database, and inclusion/consistency proof generation at 1M
// entries (p50, p99). Bounded in count and time; writes
// test/bench/results/evidence.json. Run under the harness (make bench).
import { mkdir, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { verifyConsistency, verifyInclusion } from "../../dashboard-api/src/evidence/merkle.ts";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { benchEntry } from "@tds/test/evidence";
import { createTestDatabase } from "@tds/test/database";

const SINGLE = Number(process.env.TDS_BENCH_EVIDENCE_SINGLE ?? 2000);
const TARGET = Number(process.env.TDS_BENCH_EVIDENCE_ENTRIES ?? 1_000_000);
const LOAD_BUDGET_MS = Number(process.env.TDS_BENCH_EVIDENCE_LOAD_MS ?? 300_000);
const PROOFS = 1000;
const BATCH = 5000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const round = (x: number, d = 3): number => Number(x.toFixed(d));

async function main(): Promise<void> {
  const db = await createTestDatabase("evidence_bench", { migrate: true, maxConnections: 60 });
  try {
    const store = new EvidenceStore(db.pool);

    // Baseline: one autocommitted single-row INSERT per event, same server, same durability.
    await db.pool.query(
      "create table bench_baseline (id bigserial primary key, event_id text unique, payload bytea)",
    );
    // The two alternate in blocks of 100, so both see the same machine (the cores are shared).
    // A third: the locked five-round-trip transaction, which a store takes when it did not write the
    // head last (a fresh store each time).
    let baselineMs = 0;
    let singleMs = 0;
    let lockedMs = 0;
    for (let block = 0; block < SINGLE; block += 100) {
      const end = Math.min(SINGLE, block + 100);
      let t = performance.now();
      for (let i = block; i < end; i++) {
        await db.pool.query("insert into bench_baseline (event_id, payload) values ($1, $2)", [
          `b-${i}`,
          Buffer.from(JSON.stringify(benchEntry("baseline", i))),
        ]);
      }
      baselineMs += performance.now() - t;
      t = performance.now();
      for (let i = block; i < end; i++) await store.append("single", [benchEntry("single", i)]);
      singleMs += performance.now() - t;
      t = performance.now();
      for (let i = block; i < end; i++)
        await new EvidenceStore(db.pool).append("locked", [benchEntry("locked", i)]);
      lockedMs += performance.now() - t;
    }
    const lockedRate = SINGLE / (lockedMs / 1000);
    const baselineRate = SINGLE / (baselineMs / 1000);
    const singleRate = SINGLE / (singleMs / 1000);

    // 16 concurrent appenders on one space: they serialise on the head row.
    let t = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async (_, a) => {
        for (let i = a; i < SINGLE; i += 16) await store.append("concurrent", [benchEntry("concurrent", i)]);
      }),
    );
    const concurrentRate = SINGLE / ((performance.now() - t) / 1000);

    // The big log, through the real append path in batches, bounded by time.
    const space = "big";
    t = performance.now();
    let loaded = 0;
    while (loaded < TARGET && performance.now() - t < LOAD_BUDGET_MS) {
      const n = Math.min(BATCH, TARGET - loaded);
      await store.append(
        space,
        Array.from({ length: n }, (_, i) => benchEntry(space, loaded + i)),
      );
      loaded += n;
    }
    const loadSeconds = (performance.now() - t) / 1000;
    const batchRate = loaded / loadSeconds;
    const head = await store.head(space);

    const inclusionMs: number[] = [];
    const consistencyMs: number[] = [];
    for (let k = 0; k < PROOFS; k++) {
      const leaf = Math.floor(Math.random() * head.treeSize);
      let s = performance.now();
      const proof = await store.inclusionProof(space, leaf, head.treeSize);
      inclusionMs.push(performance.now() - s);
      const [row] = await store.leaves(space, leaf, leaf + 1);
      if (!row || !verifyInclusion(leaf, head.treeSize, row.leafHash, proof, head.rootHash)) {
        throw new Error(`inclusion proof for leaf ${leaf} does not verify`);
      }
      const first = 1 + Math.floor(Math.random() * (head.treeSize - 1));
      s = performance.now();
      const cons = await store.consistencyProof(space, first, head.treeSize);
      consistencyMs.push(performance.now() - s);
      if (
        k < 20 &&
        !verifyConsistency(first, head.treeSize, cons, await store.rootAt(space, first), head.rootHash)
      ) {
        throw new Error(`consistency proof ${first} -> ${head.treeSize} does not verify`);
      }
    }
    inclusionMs.sort((a, b) => a - b);
    consistencyMs.sort((a, b) => a - b);

    const results = {
      benchmark: "evidence",
      date: new Date().toISOString(),
      node: process.version,
      appends: {
        samples: SINGLE,
        baselineInsertPerSecond: round(baselineRate, 1),
        singleAppendPerSecond: round(singleRate, 1),
        singleAppendVsBaseline: round(singleRate / baselineRate),
        lockedAppendPerSecond: round(lockedRate, 1),
        lockedAppendVsBaseline: round(lockedRate / baselineRate),
        concurrent16AppendPerSecond: round(concurrentRate, 1),
        batchedAppendPerSecond: round(batchRate, 1),
        batchSize: BATCH,
      },
      proofs: {
        treeSize: head.treeSize,
        loadSeconds: round(loadSeconds, 1),
        samples: PROOFS,
        inclusionMs: { p50: round(percentile(inclusionMs, 50)), p99: round(percentile(inclusionMs, 99)) },
        consistencyMs: {
          p50: round(percentile(consistencyMs, 50)),
          p99: round(percentile(consistencyMs, 99)),
        },
      },
    };
    await mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await writeFile(
      new URL("./results/evidence.json", import.meta.url),
      `${JSON.stringify(results, null, 2)}\n`,
    );
    console.log(JSON.stringify(results, null, 2));
  } finally {
    await db.drop();
  }
}

await main();
