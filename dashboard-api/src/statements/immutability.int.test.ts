// Closed statements on a real PostgreSQL: the database refuses every change to
// closed lines, statements, raw events and the audit trail; a correction is an
// adjustment line on an open period (never on a closed one); a late event
// leaves the closed statement as it was and is billed in the next period.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import { usageEventType } from "@tds/wire";
import { normalizeEvent } from "../metering/events.ts";
import { ingestEvents } from "../metering/ingest.ts";
import { migrate } from "../migrate.ts";
import { withTransaction } from "../plugins/db.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { registerSpace } from "../spaces.ts";
import { upsertPriceSheet } from "./prices.ts";
import { closedLines, closePeriod, draftLines, parsePeriod } from "./statement.ts";

const SPACE = "sealed";
const NOW = new Date("2025-04-10T00:00:00Z");
let db: TestDatabase;
let pool: pg.Pool;

const usage = (id: string, time: string, quantity: number) =>
  normalizeEvent(
    {
      specversion: "1.0",
      id,
      source: "test",
      type: usageEventType,
      time,
      data: {
        space: SPACE,
        participant: "alpha",
        provider: "beta",
        offer: "o1",
        meter: "offer.accesses",
        quantity,
      },
    },
    0,
    NOW,
  );

before(async () => {
  db = await createTestDatabase("tds_immutability");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await withTransaction(pool, async (c) => {
    await registerSpace(c, SPACE);
    await upsertPriceSheet(
      c,
      SPACE,
      {
        effectiveFrom: "2025-01-01T00:00:00Z",
        currency: "EUR",
        platformFeeBps: 1000,
        providerShareBps: 9000,
        prices: [{ meter: "offer.accesses", unitPrice: "0.25" }],
      },
      "test",
      "test",
    );
  });
  await withTransaction(pool, (c) => ingestEvents(c, [usage("m1", "2025-03-05T10:00:00Z", 40)], "test"));
  await withTransaction(pool, (c) => closePeriod(c, SPACE, parsePeriod("2025-03"), "finance@example", NOW));
});
after(async () => {
  await pool.end();
  await db.drop();
});

test("closed lines, statements, events and the audit trail cannot change", async () => {
  for (const sql of [
    "update statement_lines set amount = 0",
    "delete from statement_lines",
    "update statements set closed_by = 'mallory'",
    "delete from statements",
    "update usage_events set quantity = 1",
    "delete from usage_events",
    "update statement_audit set actor = 'mallory'",
  ]) {
    await assert.rejects(pool.query(sql), /immutable/, sql);
  }
  await assert.rejects(
    pool.query(
      `insert into statement_lines (space, period, line_no, kind, participant, provider, offer, meter, unit,
         quantity, amount, platform_fee, provider_share)
       values ($1, '2025-03-01', 99, 'adjustment', 'alpha', '', '', '', '', 1, 100, 0, 0)`,
      [SPACE],
    ),
    /closed; add an adjustment/,
  );
  await assert.rejects(
    pool.query(
      `insert into statement_adjustments (space, period, participant, description, amount, currency, created_by)
       values ($1, '2025-03-01', 'alpha', 'sneaky', -5, 'EUR', 'mallory')`,
      [SPACE],
    ),
    /is closed/,
  );
});

test("a late event leaves the closed statement alone and becomes a late line in the next period", async () => {
  const before = await withTransaction(pool, (c) => closedLines(c, SPACE, parsePeriod("2025-03")));
  const [result] = await withTransaction(pool, (c) =>
    ingestEvents(c, [usage("m2", "2025-03-20T10:00:00Z", 8)], "test"),
  );
  assert.equal(result?.late, true);
  const afterLines = await withTransaction(pool, (c) => closedLines(c, SPACE, parsePeriod("2025-03")));
  assert.deepEqual(afterLines, before);
  assert.deepEqual(
    before.map((l) => [l.kind, l.quantity, l.amount, l.platformFee, l.providerShare]),
    // The platform's own price: the whole amount is the platform's.
    [["usage", "40", "10.000000", "10.000000", "0.000000"]],
  );
  await pool.query(
    `insert into statement_adjustments (space, period, participant, description, amount, currency, created_by)
     values ($1, '2025-04-01', 'alpha', 'Goodwill credit', -1.50, 'EUR', 'finance@example')`,
    [SPACE],
  );
  const april = await withTransaction(pool, (c) => draftLines(c, SPACE, parsePeriod("2025-04")));
  assert.deepEqual(
    april.map((l) => [l.kind, l.quantity, l.amount, l.platformFee, l.providerShare, l.description]),
    [
      // 8 accesses x 0.25, priced with the sheet in force at the event's own hour.
      ["late_usage", "8", "2.000000", "2.000000", "0.000000", "Late usage of closed period 2025-03"],
      // A correction is the platform's: its side is the whole amount.
      ["adjustment", "1", "-1.50", "-1.50", "0.00", "Goodwill credit"],
    ],
  );
});
