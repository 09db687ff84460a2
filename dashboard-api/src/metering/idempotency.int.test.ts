// The usage idempotency key is per space, on a real PostgreSQL: one space's admin can
// neither suppress another space's billing by reusing its (source, id), nor post usage
// for a space that does not exist. Migration 0007 turns the conflicts the old global
// key made into the events they always were, without losing or doubling anything.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp } from "../app.ts";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "../auth/keys.ts";
import type { Role } from "../auth/principal.ts";
import { createTokenVerifier } from "../auth/tokens.ts";
import { migrate, migrationsDir } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { usageEventType, type UsageEvent } from "@tds/wire";

const NOW = new Date("2025-03-15T12:00:00Z");
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let key: DevKey;

before(async () => {
  db = await createTestDatabase("tds_idempotency");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  for (const s of ["north", "south"]) await pool.query("insert into spaces (space) values ($1)", [s]);
  key = await generateDevKey();
  app = await buildApp({ pool, verifyToken: createTokenVerifier({ jwks: jwksOf(key) }), now: () => NOW });
});
after(async () => {
  await app.close();
  await pool.end();
  await db.drop();
});

const tokenFor = (role: Role, space?: string) =>
  mintToken(key, { role, subject: `${role}-${space ?? "all"}`, ...(space ? { space } : {}) });

const event = (space: string, id: string, quantity: number, participant = "alpha"): UsageEvent => ({
  specversion: "1.0",
  id,
  source: "shared-source",
  type: usageEventType,
  time: "2025-03-10T10:00:00Z",
  data: { space, participant, meter: "api.calls", quantity },
});

async function post(token: string, events: UsageEvent[]) {
  const res = await app.inject({
    method: "POST",
    url: "/v1/usage",
    headers: { authorization: `Bearer ${token}` },
    payload: events,
  });
  return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
}

const quantityIn = async (space: string): Promise<string> => {
  const { rows } = await pool.query<{ q: string | null }>(
    "select sum(quantity)::text as q from usage_hourly where space = $1",
    [space],
  );
  return rows[0]?.q ?? "0";
};

test("the same (source, id) in two spaces is two events, each billed in its own space", async () => {
  const north = await tokenFor("space-admin", "north");
  const south = await tokenFor("space-admin", "south");
  assert.deepEqual((await post(north, [event("north", "e-1", 7)])).body.accepted, 1);
  // South reuses the pair with its own payload: not a conflict, its own event.
  const second = await post(south, [event("south", "e-1", 11)]);
  assert.equal(second.status, 200);
  assert.deepEqual([second.body.accepted, second.body.conflicts], [1, 0]);
  assert.equal(await quantityIn("north"), "7");
  assert.equal(await quantityIn("south"), "11");
  // Within a space the key still holds: a replay is a replay, another payload a conflict.
  const replay = await post(south, [event("south", "e-1", 11)]);
  assert.deepEqual([replay.body.accepted, replay.body.replayed, replay.body.conflicts], [0, 1, 0]);
  const conflict = await post(south, [event("south", "e-1", 12)]);
  assert.deepEqual([conflict.body.accepted, conflict.body.conflicts], [0, 1]);
  assert.equal(await quantityIn("south"), "11");
  // North's event is untouched by all of it, and south's conflict is listed in south only.
  assert.equal(await quantityIn("north"), "7");
  const listed = async (space: string, token: string) =>
    (
      await app.inject({
        method: "GET",
        url: `/v1/spaces/${space}/usage/conflicts`,
        headers: { authorization: `Bearer ${token}` },
      })
    ).json<{ conflicts: unknown[] }>().conflicts.length;
  assert.equal(await listed("south", south), 1);
  assert.equal(await listed("north", north), 0);
});

test("a space-admin token for a space that does not exist cannot post usage or price sheets", async () => {
  const ghost = await tokenFor("space-admin", "ghost");
  const res = await post(ghost, [event("ghost", "g-1", 5)]);
  assert.equal(res.status, 404);
  assert.equal(res.body.code, "TDS_ERR_SPACE_NOT_FOUND");
  assert.equal(res.body.field, "body/0/data/space");
  const sheet = await app.inject({
    method: "PUT",
    url: "/v1/spaces/ghost/price-sheets",
    headers: { authorization: `Bearer ${ghost}` },
    payload: { effectiveFrom: "2025-03-15T13:00:00Z", currency: "EUR", prices: [] },
  });
  assert.equal(sheet.statusCode, 404, sheet.body);
  const { rows } = await pool.query("select 1 from spaces where space = 'ghost'");
  assert.equal(rows.length, 0, "nothing registered the space");
  assert.equal((await pool.query("select 1 from usage_events where space = 'ghost'")).rows.length, 0);
  // A cluster-wide role acts on the cluster's word: the operator's samples register a new space.
  const operator = await tokenFor("operator");
  assert.equal((await post(operator, [event("fresh", "f-1", 3)])).body.accepted, 1);
  assert.equal(await quantityIn("fresh"), "3");
});

test("migration 0007 stores the events the global key had turned into conflicts, once", async () => {
  const old = await createTestDatabase("tds_idempotency_0006");
  const client = new pg.Client({ connectionString: old.url });
  await client.connect();
  try {
    // The schema as it was before 0007, with the data the old key produced.
    for (const f of readdirSync(migrationsDir)
      .filter((n) => n.endsWith(".sql") && Number(n.split("_")[0]) < 7)
      .sort()) {
      const sql = readFileSync(join(migrationsDir, f), "utf8").split("-- Down Migration")[0] ?? "";
      await client.query(sql);
    }
    await client.query("insert into spaces (space) values ('north'), ('south')");
    const sha = (s: string) => Buffer.from(s.padEnd(32, "x"));
    await client.query(
      `insert into usage_events (source, id, space, participant, meter, quantity, event_time, payload_sha256)
       values ('src', 'e-1', 'north', 'alpha', 'api.calls', 7, '2025-03-10T10:00:00Z', $1)`,
      [sha("north")],
    );
    await client.query(
      `insert into usage_hourly values ('north', '2025-03-10T10:00:00Z', 'alpha', '', '', 'api.calls', 7, 1)`,
    );
    // South's event with the same pair, twice (the second a faithful retry): both "conflicts".
    const payload = JSON.stringify(event("south", "e-1", 11, "beta"));
    for (let i = 0; i < 2; i++)
      await client.query(
        `insert into usage_conflicts (source, id, space, original_sha256, payload_sha256, payload, received_by)
         values ('src', 'e-1', 'south', $1, $2, $3, 'south-admin')`,
        [sha("north"), sha("south"), payload],
      );
  } finally {
    await client.end();
  }
  await migrate(old.url);
  await migrate(old.url); // forward only and idempotent: a second run changes nothing
  const check = new pg.Client({ connectionString: old.url });
  await check.connect();
  try {
    const events = await check.query<{ space: string; participant: string; quantity: string }>(
      "select space, participant, quantity::text as quantity from usage_events order by space",
    );
    assert.deepEqual(
      events.rows.map((r) => [r.space, r.participant, r.quantity]),
      [
        ["north", "alpha", "7"],
        ["south", "beta", "11"],
      ],
    );
    const hourly = await check.query<{ space: string; quantity: string; events: string }>(
      "select space, quantity::text as quantity, events::text as events from usage_hourly order by space",
    );
    assert.deepEqual(
      hourly.rows.map((r) => [r.space, r.quantity, r.events]),
      [
        ["north", "7", "1"],
        ["south", "11", "1"],
      ],
    );
    const conflicts = await check.query<{ superseded: boolean }>("select superseded from usage_conflicts");
    assert.deepEqual(
      conflicts.rows.map((r) => r.superseded),
      [true, true],
      "kept for the record, no longer listed as conflicts",
    );
  } finally {
    await check.end();
    await old.drop();
  }
});
