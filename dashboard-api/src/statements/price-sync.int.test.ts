// Price sheets from DataSpace specs on a real PostgreSQL: one version per
// change (polling and restarts add nothing), a change takes effect from the
// next full hour, a closed period is never repriced, and a statement prices
// each hour with the sheet in force, with the platform fee and the provider's
// share of offer revenue exact to the sixth decimal.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { DataSpace } from "@tds/crds";
import pg from "pg";
import { usageEventType, type UsageEvent } from "@tds/wire";
import { normalizeEvent } from "../metering/events.ts";
import { ingestEvents } from "../metering/ingest.ts";
import { migrate } from "../migrate.ts";
import { withTransaction } from "../plugins/db.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { priceSheetFromDataSpace } from "./prices.ts";
import { syncPriceSheets } from "./price-sync.ts";
import { draftLines, parsePeriod } from "./statement.ts";

let db: TestDatabase;
let pool: pg.Pool;
const SPACE = "priced";
const GB_MONTH = 1_000_000_000n * 730n * 3600n;

before(async () => {
  db = await createTestDatabase("tds_price_sync");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
after(async () => {
  await pool.end();
  await db.drop();
});

function dataSpace(generation: number, storagePrice: string, changedAt: string): DataSpace {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataSpace",
    metadata: {
      name: SPACE,
      generation,
      creationTimestamp: "2025-03-10T09:20:00Z",
      managedFields: [
        { manager: "kubectl", operation: "Apply", time: changedAt },
        { manager: "tds-operator", operation: "Apply", subresource: "status", time: "2025-03-20T00:00:00Z" },
      ],
    },
    spec: {
      metering: {
        currency: "CNY",
        priceSheet: { storagePerGBMonth: storagePrice, perAccess: "0.01" },
        platformFeeBasisPoints: 500,
      },
    },
  } as unknown as DataSpace;
}

async function sheets(): Promise<{ effective_from: Date; storage: string }[]> {
  const { rows } = await pool.query<{ effective_from: Date; storage: string }>(
    `select s.effective_from, p.unit_price::text as storage from price_sheets s
     join price_sheet_prices p on p.sheet_id = s.sheet_id and p.meter = 'storage.byte_seconds'
     where s.space = $1 order by s.effective_from`,
    [SPACE],
  );
  return rows;
}

test("the spec's priceSheet maps to every meter it prices, omitted prices are 0", () => {
  const sheet = priceSheetFromDataSpace(dataSpace(1, "0.12", "2025-03-10T09:20:00Z").spec, new Date(0));
  assert.equal(sheet.currency, "CNY");
  assert.equal(sheet.platformFeeBps, 500);
  assert.equal(sheet.providerShareBps, 9500);
  assert.deepEqual(Object.fromEntries(sheet.prices.map((p) => [p.meter, p.unitPrice])), {
    "storage.byte_seconds": "0.12",
    "transfer.bytes": "0",
    "sandbox.input_bytes": "0",
    "sandbox.output_bytes": "0",
    "sandbox.cpu_milliseconds": "0",
    "sandbox.memory_byte_seconds": "0",
    "offer.accesses": "0.01",
  });
  // transferPerGB prices every byte through the gateway, sandbox reads and writes included.
  const transfer = priceSheetFromDataSpace(
    { metering: { currency: "CNY", priceSheet: { transferPerGB: "0.5" } } },
    new Date(0),
  );
  assert.deepEqual(
    transfer.prices.filter((p) => p.unitPrice === "0.5").map((p) => p.meter),
    ["transfer.bytes", "sandbox.input_bytes", "sandbox.output_bytes"],
  );
});

test("one version per change; the first covers its whole first hour; repeats add nothing", async () => {
  assert.deepEqual(await syncPriceSheets(pool, [dataSpace(1, "0.12", "2025-03-10T09:20:00Z")]), [SPACE]);
  assert.deepEqual(await syncPriceSheets(pool, [dataSpace(1, "0.12", "2025-03-10T09:20:00Z")]), []);
  // A spec change elsewhere (new generation, same prices) adds nothing either.
  assert.deepEqual(await syncPriceSheets(pool, [dataSpace(2, "0.120", "2025-03-10T09:50:00Z")]), []);
  assert.deepEqual(await syncPriceSheets(pool, [dataSpace(3, "0.20", "2025-03-10T10:37:00Z")]), [SPACE]);
  assert.deepEqual(await syncPriceSheets(pool, [dataSpace(3, "0.20", "2025-03-10T10:37:00Z")]), []);
  assert.deepEqual(
    (await sheets()).map((s) => [s.effective_from.toISOString(), s.storage]),
    [
      ["2025-03-10T09:00:00.000Z", "0.12"],
      ["2025-03-10T10:37:00.000Z", "0.20"],
    ],
  );
});

test("a statement prices each hour with the sheet in force at its start; the platform's prices are its own", async () => {
  const now = new Date("2025-03-10T13:00:00Z");
  const raw = (id: string, time: string, data: Record<string, unknown>): UsageEvent => ({
    specversion: "1.0" as const,
    id,
    source: "test",
    type: usageEventType,
    time,
    data: { space: SPACE, ...data } as never,
  });
  const events = [
    raw("s9", "2025-03-10T09:30:00Z", {
      participant: "alpha",
      meter: "storage.byte_seconds",
      quantity: String(GB_MONTH),
    }),
    raw("s10", "2025-03-10T10:59:59Z", {
      participant: "alpha",
      meter: "storage.byte_seconds",
      quantity: String(GB_MONTH),
    }),
    raw("s11", "2025-03-10T11:00:00Z", {
      participant: "alpha",
      meter: "storage.byte_seconds",
      quantity: String(3n * GB_MONTH),
    }),
    raw("a1", "2025-03-10T11:05:00Z", {
      participant: "alpha",
      provider: "beta",
      offer: "o1",
      meter: "offer.accesses",
      quantity: 333,
    }),
  ].map((e, i) => normalizeEvent(e, i, now));
  await withTransaction(pool, (c) => ingestEvents(c, events, "test"));
  const lines = await withTransaction(pool, (c) => draftLines(c, SPACE, parsePeriod("2025-03")));
  const view = lines.map((l) => [l.meter, l.quantity, l.unitPrice, l.amount, l.platformFee, l.providerShare]);
  assert.deepEqual(
    view.sort((a, b) => String(a).localeCompare(String(b))),
    [
      // 333 accesses x 0.01 = 3.33: the platform's own per-access price is the platform's
      // (an offer's own price is what its provider shares; see ground-truth.int.test.ts).
      ["offer.accesses", "333", "0.01", "3.330000", "3.330000", "0.000000"],
      // Hours 09 and 10 start before the 10:37 change: the old price.
      ["storage.byte_seconds", String(2n * GB_MONTH), "0.12", "0.240000", "0.240000", "0.000000"],
      // Hour 11 is the first under the new sheet.
      ["storage.byte_seconds", String(3n * GB_MONTH), "0.20", "0.600000", "0.600000", "0.000000"],
    ].sort((a, b) => String(a).localeCompare(String(b))),
  );
});

test("a change declared for a closed period takes effect when the open period starts", async () => {
  await pool.query("update spaces set closed_through = '2025-04-01T00:00:00Z' where space = $1", [SPACE]);
  assert.deepEqual(await syncPriceSheets(pool, [dataSpace(4, "0.30", "2025-03-20T08:00:00Z")]), [SPACE]);
  const last = (await sheets()).at(-1);
  assert.equal(last?.effective_from.toISOString(), "2025-04-01T00:00:00.000Z");
  assert.equal(last.storage, "0.30");
});
