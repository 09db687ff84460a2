// The consents over a real PostgreSQL: a grant is in force only once its
// evidence entry is appended, a revocation counts at once and is evidenced
// too, a retry with the same Idempotency-Key is the same consent, and the
// gateway's consent index serves an offer's consents from memory while
// LISTEN/NOTIFY keeps them fresh (a revocation is announced and dropped from
// memory at once).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import { EvidenceStore } from "../evidence/store.ts";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { ConsentIndex } from "./consent-index.ts";
import { consentOf, ConsentStore, type ConsentGrant } from "./store.ts";

const SPACE = "personal";
let db: TestDatabase;
let pool: pg.Pool;
let store: ConsentStore;
let index: ConsentIndex;

before(async () => {
  db = await createTestDatabase("tds_consent");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 5 });
  await pool.query("insert into spaces (space) values ($1)", [SPACE]);
  store = new ConsentStore(pool, new EvidenceStore(pool));
  index = new ConsentIndex(pool);
  await index.listen();
});
after(async () => {
  await index.close();
  await pool.end();
  await db.drop();
});

const grant = (over: Partial<ConsentGrant> = {}): ConsentGrant => ({
  space: SPACE,
  subject: "subj-7f3a",
  holder: "hospital",
  offer: { namespace: `${SPACE}--hospital`, name: "records" },
  purpose: "care",
  consumer: { participant: "clinic" },
  notBefore: new Date("2026-01-01T00:00:00Z"),
  notAfter: new Date("2027-01-01T00:00:00Z"),
  givenAs: "data-subject",
  givenBy: "subj-7f3a",
  ...over,
});

async function entries(): Promise<{ eventId: string; action: string; actor: string }[]> {
  const { rows } = await pool.query<{ e: { eventId: string; action: string; actor: string } }>(
    "select convert_from(entry, 'UTF8')::jsonb as e from evidence_entries where space = $1 order by leaf_index",
    [SPACE],
  );
  return rows.map((r) => ({ eventId: r.e.eventId, action: r.e.action, actor: r.e.actor }));
}

const until = async (what: string, fn: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 100; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
};

test("grant and revoke: evidence entries that name no subject, the index kept fresh by NOTIFY", async () => {
  const now = new Date("2026-03-01T00:00:00Z");
  const row = await store.grant(grant({ idempotencyKey: "form-1" }), now);
  const c = consentOf(row, now, true);
  assert.equal(c.state, "Granted");
  assert.equal(c.subject, "subj-7f3a");
  assert.equal(consentOf(row, now, false).subject, undefined);
  assert.deepEqual(c.evidence.granted, { eventId: `consent/${c.id}/granted`, leafIndex: 0 });
  // A retry with the same key is the same consent, recorded once.
  const again = await store.grant(grant({ idempotencyKey: "form-1" }), new Date("2026-03-01T00:05:00Z"));
  assert.equal(again.id, c.id);
  await assert.rejects(
    store.grant(grant({ idempotencyKey: "form-1", purpose: "research" }), now),
    (err: { code?: string; field?: string }) =>
      err.code === "TDS_ERR_CONFLICT" && err.field === "headers/idempotency-key",
  );
  assert.deepEqual(await entries(), [
    { eventId: `consent/${c.id}/granted`, action: "consent.granted", actor: "data-subject" },
  ]);

  const seen: string[] = [];
  const stop = index.subscribe((space, ns, name) => seen.push(`${space}/${ns}/${name}`));
  const held = await index.of(SPACE, `${SPACE}--hospital`, "records");
  assert.deepEqual(held, [
    {
      id: c.id,
      purpose: "care",
      consumer: { participant: "clinic" },
      notBefore: "2026-01-01T00:00:00Z",
      notAfter: "2027-01-01T00:00:00Z",
    },
  ]);
  // Held: the same answer without a query.
  assert.equal(
    index.of(SPACE, `${SPACE}--hospital`, "records"),
    index.of(SPACE, `${SPACE}--hospital`, "records"),
  );

  const revokedAt = new Date("2026-03-02T00:00:00Z");
  const revoked = await store.revoke(
    c.id,
    { role: "data-subject", subject: "subj-7f3a", reason: "changed my mind" },
    revokedAt,
  );
  assert.ok(revoked);
  const r = consentOf(revoked, revokedAt, true);
  assert.equal(r.state, "Revoked");
  assert.deepEqual(r.revocation, {
    revokedAt: "2026-03-02T00:00:00Z",
    revokedAs: "data-subject",
    reason: "changed my mind",
  });
  assert.equal(r.evidence.revoked?.eventId, `consent/${c.id}/revoked`);
  await until("the change announced", () => seen.includes(`${SPACE}/${SPACE}--hospital/records`));
  const after = await index.of(SPACE, `${SPACE}--hospital`, "records");
  assert.equal(after[0]?.revokedAt, "2026-03-02T00:00:00Z");
  // Revoking again answers it as it is.
  const twice = await store.revoke(
    c.id,
    { role: "participant", subject: "admin" },
    new Date("2026-03-03T00:00:00Z"),
  );
  assert.equal(twice && consentOf(twice, revokedAt, true).revocation?.revokedAt, "2026-03-02T00:00:00Z");
  assert.deepEqual(
    (await entries()).map((e) => e.action),
    ["consent.granted", "consent.revoked"],
  );
  stop();
});

test("a class of consumers by labels; a consent without its grant in the log allows nothing", async () => {
  const now = new Date("2026-03-01T00:00:00Z");
  const row = await store.grant(
    grant({
      offer: { namespace: `${SPACE}--hospital`, name: "scans" },
      consumer: { participantSelector: { matchLabels: { "tds.dev/industry": "health" } } },
      givenAs: "participant",
      givenBy: "hospital-admin",
    }),
    now,
  );
  assert.deepEqual(consentOf(row, now, false).consumer, {
    participantSelector: { matchLabels: { "tds.dev/industry": "health" } },
  });
  // A grant whose append did not happen (a crash between the two) is still Recording, and the index leaves it out.
  await pool.query("update consents set granted_leaf = null where id = $1", [row.id]);
  const recording = await store.row(row.id);
  assert.equal(recording && consentOf(recording, now, true).state, "Recording");
  await until(
    "the index to forget",
    async () => (await index.of(SPACE, `${SPACE}--hospital`, "scans")).length === 0,
  );
});
