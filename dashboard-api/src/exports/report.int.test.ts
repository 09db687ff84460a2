// The export report over a real PostgreSQL, from the ledger's own calls: an
// allowed export is recorded by the claim of its transfer's access and a retry
// adds nothing and keeps its first time; concurrent first requests of one
// transfer record it once; its bytes are the transfer's distinct bytes; an
// access refused at the agreed maximum records no export; a refusal is
// recorded; periods are UTC months.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import type { ContractGrant } from "../ledger/grant.ts";
import { Ledger, type TransferExport } from "../ledger/ledger.ts";
import { migrate } from "../migrate.ts";
import { parsePeriod } from "../statements/statement.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { exportReport } from "./report.ts";

let db: TestDatabase;
let pool: pg.Pool;
let ledger: Ledger;

before(async () => {
  db = await createTestDatabase("tds_exports");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  ledger = new Ledger(pool, undefined);
});
after(async () => {
  await pool.end();
  await db.drop();
});

const grant: ContractGrant = {
  agreementId: "agr-1",
  space: "acme",
  consumer: "beta",
  provider: "alpha",
  contract: { namespace: "acme--beta", name: "c-1", uid: "u-c1", state: "Active" },
  offer: { namespace: "acme--alpha", name: "telemetry", uid: "u-o1", prefix: "t/", accessMode: "download" },
  maxAccesses: 2,
  bucket: "b",
  tokenDigest: Buffer.alloc(32),
};
const allowed = (transferId: string, decidedAt: string): TransferExport => ({
  destination: "DE-BY",
  regionSource: "certificate",
  allowed: true,
  rule: "CrossBorderAllowed",
  message: "Transfer of industrial.telemetry to DE-BY is allowed",
  eventId: `gateway/${transferId}/export/DE-BY`,
  decidedAt: new Date(decidedAt),
});
const start = (transferId: string) => ({
  transferId,
  objectKey: "t/a.bin",
  etag: '"e1"',
  idempotencyKey: transferId,
});

test("each allowed export once, with its transfer's distinct bytes; a refusal; nothing at the access limit", async () => {
  // Two concurrent first requests of one transfer: one access, one export.
  const [a, b] = await Promise.all([
    ledger.claim(grant, start("t1"), [allowed("t1", "2026-12-01T10:00:00.000Z")]),
    ledger.claim(grant, start("t1"), [allowed("t1", "2026-12-01T10:00:00.000Z")]),
  ]);
  assert.deepEqual([a.first, b.first].sort(), [false, true]);
  const first = a.first ? a : b;
  await ledger.delivered(grant, first, 0, 600, "cut");
  // The retry resumes with Range, overlapping: 1000 distinct bytes in all. Its export keeps the first time.
  const retry = await ledger.claim(grant, start("t1"), [allowed("t1", "2026-12-01T10:07:00.000Z")]);
  assert.equal(retry.exports[0]?.decidedAt.toISOString(), "2026-12-01T10:00:00.000Z");
  await ledger.delivered(grant, retry, 500, 500, "complete");

  // A second transfer uses the last access; a third is refused at the limit and records nothing.
  const second = await ledger.claim(grant, start("t2"), [allowed("t2", "2026-12-31T23:59:59.999Z")]);
  await ledger.delivered(grant, second, 0, 10, "complete");
  await assert.rejects(
    ledger.claim(grant, start("t3"), [allowed("t3", "2026-12-02T00:00:00.000Z")]),
    /has used all 2 of its accesses/,
  );
  await ledger.recordRefusedExport(
    grant,
    {
      destination: "DE-BY",
      regionSource: "declared",
      allowed: false,
      rule: "ExportNegativeListed",
      message: "Category industrial.telemetry is on the export negative list for DE-BY",
      eventId: "gateway/export-refused/r1",
      decidedAt: new Date("2026-12-01T11:00:00.000Z"),
    },
    "t/a.bin",
  );

  const report = await exportReport(pool, "acme", parsePeriod("2026-12"));
  assert.deepEqual(report.totals, { allowed: 2, refused: 1, bytes: 1010 });
  assert.deepEqual(
    report.transfers.map((t) => [t.time, t.outcome, t.rule, t.bytes, t.transferId, t.evidence.eventId]),
    [
      ["2026-12-01T10:00:00.000Z", "allowed", "CrossBorderAllowed", 1000, "t1", "gateway/t1/export/DE-BY"],
      ["2026-12-01T11:00:00.000Z", "refused", "ExportNegativeListed", 0, null, "gateway/export-refused/r1"],
      ["2026-12-31T23:59:59.999Z", "allowed", "CrossBorderAllowed", 10, "t2", "gateway/t2/export/DE-BY"],
    ],
  );
  // The next month starts at 00:00 UTC: empty.
  assert.deepEqual((await exportReport(pool, "acme", parsePeriod("2027-01"))).transfers, []);
  assert.deepEqual((await exportReport(pool, "other", parsePeriod("2026-12"))).transfers, []);
});
