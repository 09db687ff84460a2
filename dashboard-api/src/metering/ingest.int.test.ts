// Exact totals against a generated ground truth on real PostgreSQL, while the API
// process is SIGKILLed and restarted twice: 10% duplicates, 5% out of order, 1% late
// (sent after their period closed). TDS_INGEST_EVENTS sets the count (default 100000).
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { loadOrCreateDevKey, mintToken } from "../auth/keys.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { startServer, stopServer, type ServerProcess } from "@tds/test/server";
import { meterNames, usageEventType, type UsageEvent } from "@tds/wire";

const total = Number(process.env.TDS_INGEST_EVENTS ?? 100_000);
const batchSize = 1000;
let db: TestDatabase;
let server: ServerProcess;
let env: Record<string, string>;
let token: string;

before(async () => {
  db = await createTestDatabase();
  const keyFile = join(mkdtempSync(join(tmpdir(), "tds-api-")), "key.json");
  token = await mintToken(await loadOrCreateDevKey(keyFile), {
    role: "platform-admin",
    subject: "ingest-test",
  });
  env = { DATABASE_URL: db.url, TDS_AUTH_DEV_KEY_FILE: keyFile, TDS_RATE_LIMIT_PER_MINUTE: "1000000" };
  server = await startServer(env);
});
after(async () => {
  await stopServer(server);
  await db.drop();
});

/** Deterministic pseudo-random numbers, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function post(
  events: UsageEvent[],
): Promise<{ results: { id: string; status: string; late: boolean }[] }> {
  // Retried while the server restarts, for as long as startServer may take to start it.
  const deadline = Date.now() + 150_000;
  for (;;) {
    try {
      const res = await fetch(`${server.url}/v1/usage`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/cloudevents-batch+json" },
        body: JSON.stringify(events),
      });
      if (res.ok) return (await res.json()) as { results: { id: string; status: string; late: boolean }[] };
      throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
    } catch (err) {
      // The server is being killed or restarted: retry the whole batch, which is idempotent.
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test(`exact totals for ${total} events through two SIGKILLs`, { timeout: 300_000 }, async () => {
  const rand = rng(42);
  const now = new Date();
  const prev = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  const thisMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const spaces = ["alpha", "beta"];
  const participants = ["p1", "p2", "p3", "p4", "p5"];
  const truth = new Map<string, bigint>();
  const unique: UsageEvent[] = [];
  const late: UsageEvent[] = [];
  for (let i = 0; i < total; i++) {
    const inPrev = rand() < 0.5;
    const start = inPrev ? prev.getTime() : thisMonth.getTime();
    const span = (inPrev ? thisMonth.getTime() : now.getTime() - 60_000) - start;
    const time = new Date(start + Math.floor(rand() * span));
    const space = spaces[i % 2] ?? "alpha";
    const participant = participants[Math.floor(rand() * participants.length)] ?? "p1";
    const meter = meterNames[Math.floor(rand() * meterNames.length)] ?? "api.calls";
    // Some quantities beyond 2^53, sent as strings.
    const quantity = rand() < 0.01 ? (2n ** 60n + BigInt(i)).toString() : Math.floor(rand() * 1_000_000);
    const withOffer = rand() < 0.3;
    const ev: UsageEvent = {
      specversion: "1.0",
      id: `ev-${i}`,
      source: `test/${space}`,
      type: usageEventType,
      time: time.toISOString(),
      data: {
        space,
        participant,
        meter,
        quantity,
        ...(withOffer ? { provider: "p9", offer: `offer-${i % 7}` } : {}),
      },
    };
    const k = `${space}/${participant}/${meter}`;
    truth.set(k, (truth.get(k) ?? 0n) + BigInt(quantity));
    if (inPrev && rand() < 0.02) late.push(ev);
    else unique.push(ev);
  }
  // 10% duplicates, then 5% of positions swapped out of order.
  const stream = [...unique];
  for (let i = 0; i < Math.floor(total * 0.1); i++) {
    const dup = unique[Math.floor(rand() * unique.length)];
    if (dup) stream.splice(Math.floor(rand() * stream.length), 0, { ...dup, data: { ...dup.data } });
  }
  for (let i = 0; i < Math.floor(total * 0.05); i++) {
    const a = Math.floor(rand() * stream.length);
    const b = Math.floor(rand() * stream.length);
    const tmp = stream[a];
    const other = stream[b];
    if (tmp && other) {
      stream[a] = other;
      stream[b] = tmp;
    }
  }

  const acked = new Set<string>();
  const batches: UsageEvent[][] = [];
  for (let i = 0; i < stream.length; i += batchSize) batches.push(stream.slice(i, i + batchSize));
  const killAt = new Set([Math.floor(batches.length / 3), Math.floor((2 * batches.length) / 3)]);
  let next = 0;
  let kills = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      const batch = batches[n];
      if (!batch) return;
      if (killAt.has(n)) {
        killAt.delete(n);
        kills++;
        await stopServer(server, "SIGKILL");
        server = await startServer(env);
      }
      const res = await post(batch);
      for (const r of res.results) if (r.status === "accepted") acked.add(r.id);
      assert.ok(res.results.every((r) => r.status === "accepted"));
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  assert.equal(kills, 2);

  const auth = { authorization: `Bearer ${token}` };
  const prevId = prev.toISOString().slice(0, 7);
  for (const space of spaces) {
    const close = await fetch(`${server.url}/v1/spaces/${space}/statements/${prevId}/close`, {
      method: "POST",
      headers: auth,
    });
    assert.equal(close.status, 200, await close.text());
  }
  const closedBefore = await (
    await fetch(`${server.url}/v1/spaces/alpha/statements/${prevId}`, { headers: auth })
  ).json();

  for (let i = 0; i < late.length; i += batchSize) {
    const res = await post(late.slice(i, i + batchSize));
    for (const r of res.results) {
      assert.equal(r.late, true, `event ${r.id} should be late`);
      acked.add(r.id);
    }
  }
  const closedAfter = await (
    await fetch(`${server.url}/v1/spaces/alpha/statements/${prevId}`, { headers: auth })
  ).json();
  assert.deepEqual(closedAfter, closedBefore, "a closed statement never changes");

  // Every acknowledged event is stored; nothing else is.
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const stored = await client.query<{ id: string }>("select id from usage_events");
    assert.equal(stored.rowCount, unique.length + late.length);
    const ids = new Set(stored.rows.map((r) => r.id));
    for (const id of acked) assert.ok(ids.has(id), `acknowledged ${id} is stored`);
    assert.equal(acked.size, unique.length + late.length);

    // Each closed statement is in its space's evidence log, once.
    const closes = await client.query<{ space: string }>(
      "select space from evidence_entries where convert_from(entry, 'UTF8')::jsonb ->> 'action' = 'statement.closed' order by space",
    );
    assert.deepEqual(
      closes.rows.map((r) => r.space),
      [...spaces].sort(),
    );

    // Full recompute from raw events equals the incremental rollups, row for row.
    const diff = async (recompute: string, table: string): Promise<number> => {
      const r = await client.query<{ n: string }>(
        `select count(*)::text as n from ((${recompute} except select * from ${table}) union all (select * from ${table} except ${recompute})) d`,
      );
      return Number(r.rows[0]?.n);
    };
    // In the tables' column order: contract came last (migration 0007).
    const cols =
      "participant, provider, offer, meter, sum(quantity)::numeric(38,0), count(*)::bigint, contract";
    assert.equal(
      await diff(
        `select space, date_trunc('hour', event_time, 'UTC') as hour, ${cols} from usage_events group by space, 2, participant, provider, offer, meter, contract`,
        "usage_hourly",
      ),
      0,
    );
    assert.equal(
      await diff(
        `select space, (event_time at time zone 'UTC')::date, ${cols} from usage_events group by space, 2, participant, provider, offer, meter, contract`,
        "usage_daily",
      ),
      0,
    );
    assert.equal(
      await diff(
        `select space, settle_period, date_trunc('hour', event_time, 'UTC'), ${cols} from usage_events where settle_period is not null group by space, 2, 3, participant, provider, offer, meter, contract`,
        "usage_late_hourly",
      ),
      0,
    );
  } finally {
    await client.end();
  }

  // The report from the rollups equals the ground truth exactly.
  const got = new Map<string, bigint>();
  for (const space of spaces) {
    const from = prev.toISOString();
    const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString();
    const res = await fetch(
      `${server.url}/v1/spaces/${space}/usage?from=${from}&to=${to}&step=month&groupBy=participant`,
      {
        headers: auth,
      },
    );
    const body = (await res.json()) as { rows: { participant: string; meter: string; quantity: string }[] };
    for (const r of body.rows) {
      const k = `${space}/${r.participant}/${r.meter}`;
      got.set(k, (got.get(k) ?? 0n) + BigInt(r.quantity));
    }
  }
  assert.deepEqual(got, truth);
});
