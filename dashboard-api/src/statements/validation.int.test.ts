// Everything that writes money refuses nonsense with a 4xx naming the field, on a real
// PostgreSQL: periods outside the space's accounts, currencies that are not ISO 4217 or
// not the space's, participants the space does not have, amounts as JSON numbers, and
// price sheets that would silently reprice usage already metered (allowed only as an
// explicit correction, which is audited and recorded as evidence).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp } from "../app.ts";
import { generateDevKey, jwksOf, mintToken } from "../auth/keys.ts";
import { createTokenVerifier } from "../auth/tokens.ts";
import { usageEventType } from "@tds/wire";
import { migrate } from "../migrate.ts";
import { withTransaction } from "../plugins/db.ts";
import { syncParticipants } from "../spaces.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";

const SPACE = "yuan";
const NOW = new Date("2025-03-15T12:00:00Z");
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let admin: string;

before(async () => {
  db = await createTestDatabase("tds_money_validation");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const key = await generateDevKey();
  app = await buildApp({ pool, verifyToken: createTokenVerifier({ jwks: jwksOf(key) }), now: () => NOW });
  const operator = await mintToken(key, { role: "operator", subject: "system:tds-operator" });
  admin = await mintToken(key, { role: "space-admin", subject: "finance", space: SPACE });
  const sheet = await app.inject({
    method: "PUT",
    url: `/v1/spaces/${SPACE}/price-sheets`,
    headers: { authorization: `Bearer ${operator}` },
    payload: {
      effectiveFrom: "2025-03-01T00:00:00Z",
      currency: "CNY",
      platformFeeBps: 500,
      prices: [{ meter: "api.calls", unitPrice: "1" }],
    },
  });
  assert.equal(sheet.statusCode, 200, sheet.body);
  const usage = await app.inject({
    method: "POST",
    url: "/v1/usage",
    headers: { authorization: `Bearer ${operator}` },
    payload: [
      {
        specversion: "1.0",
        id: "u-1",
        source: "validation",
        type: usageEventType,
        time: "2025-03-10T10:00:00Z",
        data: { space: SPACE, participant: "alpha", meter: "api.calls", quantity: 2000 },
      },
    ],
  });
  assert.equal(usage.statusCode, 200, usage.body);
});
after(async () => {
  await app.close();
  await pool.end();
  await db.drop();
});

const adjust = (period: string, body: Record<string, unknown>) =>
  app.inject({
    method: "POST",
    url: `/v1/spaces/${SPACE}/statements/${period}/adjustments`,
    headers: { authorization: `Bearer ${admin}` },
    payload: { participant: "alpha", description: "Credit", amount: "-1.50", currency: "CNY", ...body },
  });

const putSheet = (body: Record<string, unknown>) =>
  app.inject({
    method: "PUT",
    url: `/v1/spaces/${SPACE}/price-sheets`,
    headers: { authorization: `Bearer ${admin}` },
    payload: {
      effectiveFrom: "2025-04-01T00:00:00Z",
      currency: "CNY",
      platformFeeBps: 500,
      prices: [{ meter: "api.calls", unitPrice: "2" }],
      ...body,
    },
  });

const refusal = (res: { statusCode: number; body: string }) => {
  const b = JSON.parse(res.body) as { code: string; field?: string };
  return [res.statusCode, b.code, b.field];
};

test("adjustments: period, currency, participant and amount are checked, each naming its field", async () => {
  const cases: [string, string, Record<string, unknown>, unknown[]][] = [
    ["period 0000-01", "0000-01", {}, [400, "TDS_ERR_VALIDATION", "params/period"]],
    ["period 1900-01", "1900-01", {}, [400, "TDS_ERR_VALIDATION", "params/period"]],
    ["a period that has not begun", "2025-05", {}, [400, "TDS_ERR_VALIDATION", "params/period"]],
    ["an unknown currency", "2025-03", { currency: "AAA" }, [400, "TDS_ERR_VALIDATION", "body/currency"]],
    [
      "another currency than the space's",
      "2025-03",
      { currency: "EUR" },
      [400, "TDS_ERR_VALIDATION", "body/currency"],
    ],
    [
      "a participant the space does not have",
      "2025-03",
      { participant: "nobody" },
      [404, "TDS_ERR_PARTICIPANT_NOT_FOUND", "body/participant"],
    ],
    ["the amount as a JSON number", "2025-03", { amount: 400 }, [400, "TDS_ERR_VALIDATION", "body/amount"]],
    ["a fractional JSON number", "2025-03", { amount: -1.5 }, [400, "TDS_ERR_VALIDATION", "body/amount"]],
    ["a zero amount", "2025-03", { amount: "-0.00" }, [400, "TDS_ERR_VALIDATION", "body/amount"]],
  ];
  for (const [name, period, body, want] of cases)
    assert.deepEqual(refusal(await adjust(period, body)), want, name);
  const { rows } = await pool.query("select 1 from statement_adjustments");
  assert.equal(rows.length, 0, "nothing refused was stored");

  assert.equal((await adjust("2025-03", {})).statusCode, 201, "a participant with usage in the space");
  // A participant the cluster declares (synced from its Participants) needs no usage first.
  assert.equal((await adjust("2025-03", { participant: "delta" })).statusCode, 404);
  await withTransaction(pool, (c) => syncParticipants(c, [{ name: "delta", space: SPACE }]));
  assert.equal((await adjust("2025-03", { participant: "delta" })).statusCode, 201);
});

test("price sheets: currency, range, JSON numbers and the provider's share are checked", async () => {
  const cases: [string, Record<string, unknown>, unknown[]][] = [
    ["an unknown currency", { currency: "AAA" }, [400, "TDS_ERR_VALIDATION", "body/currency"]],
    ["another currency than the space's", { currency: "EUR" }, [400, "TDS_ERR_VALIDATION", "body/currency"]],
    [
      "effective in 2000",
      { effectiveFrom: "2000-01-01T00:00:00Z" },
      [400, "TDS_ERR_VALIDATION", "body/effectiveFrom"],
    ],
    [
      "effective more than a year ahead",
      { effectiveFrom: "2026-06-01T00:00:00Z" },
      [400, "TDS_ERR_VALIDATION", "body/effectiveFrom"],
    ],
    [
      "a price as a JSON number",
      { prices: [{ meter: "api.calls", unitPrice: 2 }] },
      [400, "TDS_ERR_VALIDATION", "body/prices/0/unitPrice"],
    ],
    [
      "a provider share that is not the rest",
      { providerShareBps: 9000 },
      [400, "TDS_ERR_VALIDATION", "body/providerShareBps"],
    ],
  ];
  for (const [name, body, want] of cases) assert.deepEqual(refusal(await putSheet(body)), want, name);
  const ok = await putSheet({ providerShareBps: 9500 });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.deepEqual(ok.json<{ repriced: string[] }>().repriced, []);
});

test("a sheet that would reprice metered usage needs an explicit correction, audited and in the evidence log", async () => {
  const draftAmount = async () => {
    const res = await app.inject({
      method: "GET",
      url: `/v1/spaces/${SPACE}/statements/2025-03`,
      headers: { authorization: `Bearer ${admin}` },
    });
    return res
      .json<{ lines: { meter: string; amount: string }[] }>()
      .lines.filter((l) => l.meter === "api.calls")
      .map((l) => l.amount);
  };
  assert.deepEqual(await draftAmount(), ["2.000000"], "2000 calls at 1 per 1000");
  const silent = await putSheet({ effectiveFrom: "2025-03-05T00:00:00Z" });
  assert.deepEqual(refusal(silent), [409, "TDS_ERR_RETROACTIVE_PRICE", "body/effectiveFrom"]);
  assert.deepEqual(await draftAmount(), ["2.000000"], "nothing changed");
  // After the last metered hour nothing is repriced, so no correction is needed.
  assert.equal((await putSheet({ effectiveFrom: "2025-03-12T00:00:00Z" })).statusCode, 200);

  const corrected = await putSheet({
    effectiveFrom: "2025-03-05T00:00:00Z",
    correction: { reason: "The March price was agreed at 2 per 1000 calls (ticket FIN-7)" },
  });
  assert.equal(corrected.statusCode, 200, corrected.body);
  assert.deepEqual(corrected.json<{ repriced: string[] }>().repriced, ["2025-03"]);
  assert.deepEqual(await draftAmount(), ["4.000000"]);
  const audit = await pool.query<{ period: string; action: string; actor: string; reason: string }>(
    `select to_char(period, 'YYYY-MM') as period, action, actor, detail ->> 'reason' as reason
     from statement_audit where action = 'reprice'`,
  );
  assert.deepEqual(audit.rows, [
    {
      period: "2025-03",
      action: "reprice",
      actor: "finance",
      reason: "The March price was agreed at 2 per 1000 calls (ticket FIN-7)",
    },
  ]);
  const evidence = await pool.query<{ event_id: string }>(
    "select event_id from evidence_entries where space = $1 and event_id like 'price-sheet/%/correction/%'",
    [SPACE],
  );
  assert.equal(evidence.rows.length, 1);
});
