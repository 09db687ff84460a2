// Metering benchmark on the local environment's PostgreSQL, in a fresh database:
// 1. deduplicated ingest (ingestEvents: idempotency on (source, id), payload
//    hashes, hourly/daily rollups, all in the transaction) against a raw
//    multi-row INSERT of the same events into a copy of the table with no keys,
//    rollups or triggers; batches of 1000, one transaction each;
// 2. a month's usage report (daily, by participant) from the rollups against a
//    raw GROUP BY over the events.
// TDS_BENCH_METERING_EVENTS sets the event count (default 1,000,000: the issue's
// 10M would take about ten times as long; the report from rollups does not
// depend on it, the raw GROUP BY grows linearly). Writes
// test/bench/results/metering.json.
import { mkdir, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { usageEventType } from "@tds/wire";
import { normalizeEvent, type IngestEvent } from "../../dashboard-api/src/metering/events.ts";
import { ingestEvents } from "../../dashboard-api/src/metering/ingest.ts";
import { migrate } from "@tds/dashboard-api/migrate";
import { withTransaction } from "../../dashboard-api/src/plugins/db.ts";
import { usageSql } from "../../dashboard-api/src/reports/usage.ts";
import { createTestDatabase } from "@tds/test/database";

const N = Number(process.env.TDS_BENCH_METERING_EVENTS ?? 1_000_000);
const BATCH = 1000;
const SPACE = "bench";
const MONTH_START = Date.UTC(2025, 2, 1);
const MONTH_MS = 31 * 86_400_000;
const NOW = new Date(Date.UTC(2025, 3, 1));
const meters = ["storage.byte_seconds", "transfer.bytes", "api.calls", "offer.accesses"] as const;

function event(i: number): IngestEvent {
  return normalizeEvent(
    {
      specversion: "1.0",
      id: `e-${i}`,
      source: "bench",
      type: usageEventType,
      time: new Date(MONTH_START + Math.floor((i * MONTH_MS) / N)).toISOString(),
      data: {
        space: SPACE,
        participant: `p-${i % 50}`,
        meter: meters[i % meters.length] ?? "api.calls",
        quantity: 1000 + (i % 997),
      },
    },
    i,
    NOW,
  );
}

const round = (x: number, d = 3): number => Number(x.toFixed(d));
const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const db = await createTestDatabase("tds_metering_bench");
  await migrate(db.url);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  try {
    await pool.query("create table bench_raw (like usage_events including defaults)");
    // The space is registered once, as the API's spaces are before their first event.
    await pool.query("insert into spaces (space) values ($1)", [SPACE]);
    let ingestMs = 0;
    let rawMs = 0;
    // Interleave the two by batch, so both see the same cache and checkpoint weather.
    for (let start = 0; start < N; start += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, N - start) }, (_, k) => event(start + k));
      let t = performance.now();
      await withTransaction(pool, (c) => ingestEvents(c, batch, "bench"));
      ingestMs += performance.now() - t;
      t = performance.now();
      await withTransaction(pool, (c) =>
        c.query(
          `insert into bench_raw (source, id, space, participant, provider, offer, meter, quantity, event_time, payload_sha256)
           select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::numeric[], $9::timestamptz[], $10::bytea[])`,
          [
            batch.map((e) => e.source),
            batch.map((e) => e.id),
            batch.map((e) => e.space),
            batch.map((e) => e.participant),
            batch.map((e) => e.provider),
            batch.map((e) => e.offer),
            batch.map((e) => e.meter),
            batch.map((e) => e.quantity.toString()),
            batch.map((e) => e.time.toISOString()),
            batch.map((e) => e.sha256),
          ],
        ),
      );
      rawMs += performance.now() - t;
    }
    // Replays: the same first 10% again, answered from what is stored.
    const replayN = Math.floor(N / 10);
    const t0 = performance.now();
    for (let start = 0; start < replayN; start += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, replayN - start) }, (_, k) => event(start + k));
      await withTransaction(pool, (c) => ingestEvents(c, batch, "bench"));
    }
    const replayMs = performance.now() - t0;
    await pool.query("analyze");

    const from = new Date(MONTH_START);
    const to = new Date(MONTH_START + MONTH_MS);
    const rollupSql = usageSql({ space: SPACE, from, to, groupBy: "participant", step: "day" });
    const rawSql = {
      text: `select date_trunc('day', event_time, 'UTC') as bucket, participant, meter, sum(quantity)::text as quantity,
                    count(*) as events
             from usage_events where space = $1 and event_time >= $2 and event_time < $3
             group by 1, 2, 3 order by 1, 2, 3`,
      values: [SPACE, from.toISOString(), to.toISOString()],
    };
    const time = async (q: { text: string; values: unknown[] }): Promise<{ ms: number; rows: number }> => {
      const runs: number[] = [];
      let rows = 0;
      for (let i = 0; i < 7; i++) {
        const t = performance.now();
        rows = (await pool.query(q.text, q.values)).rowCount ?? 0;
        runs.push(performance.now() - t);
      }
      return { ms: median(runs), rows };
    };
    const rollup = await time(rollupSql);
    const raw = await time(rawSql);

    const result = {
      date: new Date().toISOString(),
      node: process.version,
      events: N,
      batch: BATCH,
      ingest: {
        dedupEventsPerSecond: Math.round(N / (ingestMs / 1000)),
        rawInsertEventsPerSecond: Math.round(N / (rawMs / 1000)),
        ratio: round(rawMs / ingestMs),
        replayEventsPerSecond: Math.round(replayN / (replayMs / 1000)),
      },
      monthReport: {
        fromRollupsMs: round(rollup.ms),
        rawGroupByMs: round(raw.ms),
        speedup: round(raw.ms / rollup.ms, 1),
        rollupRows: rollup.rows,
        rawRows: raw.rows,
      },
    };
    await mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await writeFile(
      new URL("./results/metering.json", import.meta.url),
      JSON.stringify(result, null, 2) + "\n",
    );
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await pool.end();
    await db.drop();
  }
}

await main();
