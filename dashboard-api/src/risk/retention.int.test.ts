// The retention of the gateway's refusals over a real PostgreSQL: the
// refusals are recorded by the ledger's own call, at the times its clock
// gives; pruneRefusals deletes those before the cutoff, in batches, and at
// the shortest retention the configuration accepts (48 hours) a risk pass at
// the last minute of a UTC day still sees every refusal of the day before,
// the previous window of the longest refusedAccesses window (1440 minutes).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import type { DataSpace } from "@tds/crds";
import { loadConfig } from "../config.ts";
import { EvidenceStore } from "../evidence/store.ts";
import type { ContractGrant } from "../ledger/grant.ts";
import { Ledger } from "../ledger/ledger.ts";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { pruneRefusals, riskPass } from "./evaluator.ts";
import { REFUSALS_LOOKBACK_HOURS } from "./rules.ts";

const SPACE = "retention";
const HOUR = 3_600_000;
let db: TestDatabase;
let pool: pg.Pool;

before(async () => {
  db = await createTestDatabase("tds_refusal_retention");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
after(async () => {
  await pool.end();
  await db.drop();
});

const grant = (agreementId: string): ContractGrant => ({
  agreementId,
  space: SPACE,
  consumer: "beta",
  provider: "alpha",
  contract: { namespace: `${SPACE}--beta`, name: agreementId, uid: `u-${agreementId}`, state: "Active" },
  offer: {
    namespace: `${SPACE}--alpha`,
    name: "telemetry",
    uid: "u-o1",
    prefix: "t/",
    accessMode: "download",
  },
  bucket: "b",
  tokenDigest: Buffer.alloc(32),
});

/** A refusal recorded by the ledger as if at `at`. */
const refuseAt = (agreementId: string, at: string) =>
  new Ledger(pool, undefined, () => new Date(at)).recordRefusal(grant(agreementId), {
    status: 401,
    code: "TDS_ERR_UNAUTHENTICATED",
    message: "A valid contract token is required for this agreement",
  });

const space = {
  apiVersion: "tds.dev/v1alpha1",
  kind: "DataSpace",
  metadata: { name: SPACE, uid: "u-space" },
  spec: { risk: { refusedAccesses: { windowMinutes: 1440, threshold: 3 } } },
} as unknown as DataSpace;

test("the configuration refuses a retention shorter than a risk pass reads back", () => {
  const env = { DATABASE_URL: "postgres://x" };
  assert.equal(REFUSALS_LOOKBACK_HOURS, 48);
  assert.equal(loadConfig(env).refusalRetentionHours, 168);
  assert.equal(loadConfig({ ...env, TDS_RISK_REFUSAL_RETENTION_HOURS: "48" }).refusalRetentionHours, 48);
  assert.throws(
    () => loadConfig({ ...env, TDS_RISK_REFUSAL_RETENTION_HOURS: "47" }),
    /^Error: TDS_RISK_REFUSAL_RETENTION_HOURS must be at least 48 \(.*\), got 47$/,
  );
});

test("refusals older than the retention are deleted; at 48 hours the previous day's window stays whole", async () => {
  const now = new Date("2026-03-10T23:59:00.000Z");
  // The day before (the previous 1440-minute window): three refusals, the first 47 h 29 min before now.
  for (const at of ["2026-03-09T00:30:00Z", "2026-03-09T12:00:00Z", "2026-03-09T23:00:00Z"])
    await refuseAt("agr-1", at);
  // Older than 48 hours: five here and one of another space, deleted two at a time.
  for (const at of [
    "2026-03-08T23:58:00Z",
    "2026-03-08T12:00:00Z",
    "2026-03-07T00:00:00Z",
    "2026-02-01T00:00:00Z",
    "2025-12-31T23:59:59Z",
  ])
    await refuseAt("agr-1", at);
  // Another space's old refusal goes too: the retention is the gateway's, not a space's.
  await new Ledger(pool, undefined, () => new Date("2026-03-01T00:00:00Z")).recordRefusal(
    { ...grant("agr-9"), space: "other" },
    { status: 403, code: "TDS_ERR_OUTSIDE_ASSET", message: "outside" },
  );

  const cutoff = new Date(now.getTime() - REFUSALS_LOOKBACK_HOURS * HOUR);
  assert.equal(await pruneRefusals(pool, cutoff, 2), 6);
  assert.equal(await pruneRefusals(pool, cutoff, 2), 0);
  const kept = await pool.query<{ refused_at: Date }>(
    "select refused_at from gateway_refusals order by refused_at",
  );
  assert.deepEqual(
    kept.rows.map((r) => r.refused_at.toISOString()),
    ["2026-03-09T00:30:00.000Z", "2026-03-09T12:00:00.000Z", "2026-03-09T23:00:00.000Z"],
  );

  const [result] = await riskPass({ pool, evidence: new EvidenceStore(pool), spaces: [space], now });
  assert.equal(result?.found, 1);
  const finding = await pool.query<{ subject: string; observed: string; window_start: Date }>(
    "select subject, observed::text, window_start from risk_findings where space = $1",
    [SPACE],
  );
  assert.deepEqual(
    finding.rows.map((r) => [r.subject, r.observed, r.window_start.toISOString()]),
    [["agr-1", "3", "2026-03-09T00:00:00.000Z"]],
  );
});
