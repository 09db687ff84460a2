// The API's rate limit is per caller, on a real PostgreSQL: one participant
// that uses up its quota is refused (429, in the error shape), while another
// participant of the same space, the space's admin and another space's
// participant are still served.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp, rateLimitKey } from "./app.ts";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "./auth/keys.ts";
import type { Role } from "./auth/principal.ts";
import { createTokenVerifier } from "./auth/tokens.ts";
import { migrate } from "./migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";

const LIMIT = 4;
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let key: DevKey;

before(async () => {
  db = await createTestDatabase("tds_ratelimit");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 3 });
  for (const s of ["space-a", "space-b"]) await pool.query("insert into spaces (space) values ($1)", [s]);
  key = await generateDevKey();
  app = await buildApp({
    pool,
    verifyToken: createTokenVerifier({ jwks: jwksOf(key) }),
    rateLimitPerMinute: LIMIT,
  });
});
after(async () => {
  await app.close();
  await pool.end();
  await db.drop();
});

async function caller(role: Role, space: string, participant?: string) {
  const token = await mintToken(key, {
    role,
    subject: `${role}-${participant ?? "admin"}`,
    space,
    ...(participant ? { participant } : {}),
  });
  return () =>
    app.inject({
      method: "GET",
      url: `/v1/spaces/${space}/statements`,
      headers: { authorization: `Bearer ${token}` },
    });
}

test("one participant using up its quota leaves its space's other tenants served", async () => {
  const alpha = await caller("participant", "space-a", "alpha");
  const beta = await caller("participant", "space-a", "beta");
  const admin = await caller("space-admin", "space-a");
  const elsewhere = await caller("participant", "space-b", "alpha");

  for (let i = 0; i < LIMIT; i++) assert.equal((await alpha()).statusCode, 200);
  const refused = await alpha();
  assert.equal(refused.statusCode, 429, refused.body);
  const body = refused.json<Record<string, unknown>>();
  assert.equal(body.code, "TDS_ERR_RATE_LIMITED");
  assert.equal(typeof body.detail, "string");
  assert.equal(body.type, "https://tds.dev/problems/rate-limited");
  assert.equal(refused.headers["content-type"], "application/problem+json; charset=utf-8");
  assert.equal(typeof body.requestId, "string");
  assert.ok(refused.headers["retry-after"], "429 says when to retry");

  for (const [name, call] of [
    ["beta, same space", beta],
    ["the space's admin", admin],
    ["alpha of another space", elsewhere],
  ] as const) {
    for (let i = 0; i < LIMIT; i++) {
      const r = await call();
      assert.equal(r.statusCode, 200, `${name}, request ${String(i + 1)}: ${r.body}`);
    }
  }
});

test("the limiter's key: a participant by space and name, every other role by subject", () => {
  const cases: [Parameters<typeof rateLimitKey>[0], string][] = [
    [{ role: "participant", subject: "u1", space: "s", participant: "alpha" }, "participant:s/alpha"],
    [{ role: "participant", subject: "u2", space: "s", participant: "alpha" }, "participant:s/alpha"],
    [{ role: "participant", subject: "u1", space: "s", participant: "beta" }, "participant:s/beta"],
    [{ role: "space-admin", subject: "a", space: "s" }, "space-admin:s:a"],
    [{ role: "finance-viewer", subject: "f", space: "s" }, "finance-viewer:s:f"],
    [{ role: "platform-admin", subject: "p" }, "platform-admin:*:p"],
    [null, "ip:127.0.0.1"],
  ];
  for (const [principal, key] of cases) assert.equal(rateLimitKey(principal, "127.0.0.1"), key);
});
