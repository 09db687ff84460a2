// The tenant matrix over a real PostgreSQL: every documented /v1 route (read
// from the OpenAPI document, so a new route is covered the day it lands) x
// every role x the caller's own space and a foreign one. Another tenant's
// space is always a 404, never a 403 or anything else that would confirm it
// exists; a participant asking for another participant's data is a 404 too.
// The bad-token suite runs over real HTTP.
import assert from "node:assert/strict";
import { generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp } from "../app.ts";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "./keys.ts";
import type { Role } from "./principal.ts";
import { createTokenVerifier } from "./tokens.ts";

const OWN = "own-space";
const FOREIGN = "foreign-space";
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let key: DevKey;
let baseUrl: string;

before(async () => {
  db = await createTestDatabase("tds_matrix");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 5 });
  // Both spaces exist, with data: a 404 must not depend on the space being empty.
  for (const s of [OWN, FOREIGN]) {
    await pool.query("insert into spaces (space) values ($1)", [s]);
  }
  key = await generateDevKey();
  app = await buildApp({
    pool,
    verifyToken: createTokenVerifier({ jwks: jwksOf(key) }),
    now: () => new Date("2025-03-15T12:00:00Z"),
  });
  baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
});
after(async () => {
  await app.close();
  await pool.end();
  await db.drop();
});

const roles: { role: Role; participant?: string }[] = [
  { role: "space-admin" },
  { role: "participant", participant: "alpha" },
  { role: "finance-viewer" },
  { role: "auditor" },
  { role: "compliance-reviewer" },
  { role: "data-subject", participant: "alpha" },
];

function bodyFor(method: string, path: string, space: string): unknown {
  if (method === "put" && path.endsWith("/price-sheets"))
    return {
      effectiveFrom: "2025-03-01T00:00:00Z",
      currency: "EUR",
      prices: [{ meter: "api.calls", unitPrice: "0.5" }],
    };
  if (path.endsWith("/adjustments"))
    return { participant: "alpha", description: "credit", amount: "-1.00", currency: "EUR" };
  if (path.endsWith("/evidence/entries"))
    return {
      entries: [
        {
          space,
          eventId: "m-1",
          actor: "matrix",
          action: "test",
          time: "2025-03-01T00:00:00Z",
          object: { kind: "Participant", name: "alpha", uid: "u-alpha" },
        },
      ],
    };
  if (path.endsWith("/contracts")) return {};
  if (method === "put" || method === "post") return {};
  return undefined;
}

function concrete(path: string, space: string): string {
  const url = path
    .replace("{space}", space)
    .replace("{period}", "2025-02")
    .replace("{namespace}", `${space}--alpha`)
    .replace("{name}", "thing")
    .replace("{id}", `cst-${"0".repeat(32)}`);
  if (url.endsWith("/usage")) return `${url}?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z`;
  if (url.endsWith("/evidence/entries")) return `${url}?start=0`;
  if (url.endsWith("/proofs/inclusion")) return `${url}?leafIndex=0&treeSize=1`;
  if (url.endsWith("/proofs/consistency")) return `${url}?first=1&second=1`;
  return url;
}

function spaceRoutes(): { method: string; path: string }[] {
  const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths)
    .filter(([p]) => p.includes("{space}"))
    .flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method, path })));
}

test("every route x every role: a foreign space is 404, never 403", async () => {
  const routes = spaceRoutes();
  assert.ok(routes.length >= 15, `routes found: ${routes.length}`);
  const failures: string[] = [];
  let cases = 0;
  for (const { role, participant } of roles) {
    const token = await mintToken(key, {
      role,
      subject: `m-${role}`,
      space: OWN,
      ...(participant ? { participant } : {}),
    });
    for (const { method, path } of routes) {
      const answers: { status: number; code: string | undefined }[] = [];
      for (const space of [OWN, FOREIGN]) {
        const body = bodyFor(method, path, space);
        const res = await app.inject({
          method: method.toUpperCase() as "GET",
          url: concrete(path, space),
          headers: { authorization: `Bearer ${token}` },
          ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
        });
        cases++;
        const code = res.headers["content-type"]?.includes("json")
          ? res.json<{ code?: string }>().code
          : undefined;
        answers.push({ status: res.statusCode, code });
        // 503: a dependency this app was built without (signing keys, the cluster).
        if (res.statusCode >= 500 && res.statusCode !== 503)
          failures.push(`${role} ${method} ${path} ${space}: ${res.statusCode}`);
      }
      const [own, foreign] = answers as [(typeof answers)[0], (typeof answers)[0]];
      if (own.code === "TDS_ERR_SPACE_NOT_FOUND")
        failures.push(`${role} ${method} ${path}: own space answered as foreign`);
      // A request the schema rejects is rejected alike in every space, before anyone looks at
      // the space: that reveals nothing. Anything else about a foreign space must be a 404.
      const sameValidation = foreign.status === 400 && own.status === 400 && foreign.code === own.code;
      if (foreign.status !== 404 && !sameValidation)
        failures.push(`${role} ${method} ${path} foreign: ${foreign.status} ${foreign.code ?? ""}`);
    }
  }
  // The usage ingest names its space in the body.
  for (const { role, participant } of roles) {
    const token = await mintToken(key, {
      role,
      subject: `m-${role}`,
      space: OWN,
      ...(participant ? { participant } : {}),
    });
    const res = await app.inject({
      method: "POST",
      url: "/v1/usage",
      headers: { authorization: `Bearer ${token}` },
      payload: [
        {
          specversion: "1.0",
          id: "x",
          source: "matrix",
          type: "dev.tds.usage.v1",
          time: "2025-03-15T11:00:00Z",
          data: { space: FOREIGN, participant: "alpha", meter: "api.calls", quantity: 1 },
        },
      ],
    });
    cases++;
    if (res.statusCode !== 404) failures.push(`${role} POST /v1/usage foreign: ${res.statusCode}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases} cases`);
});

test("platform admins see every space; the operator role writes but reads no reports", async () => {
  const admin = await mintToken(key, { role: "platform-admin", subject: "root" });
  const operator = await mintToken(key, { role: "operator", subject: "op" });
  for (const space of [OWN, FOREIGN]) {
    const r = await app.inject({
      url: `/v1/spaces/${space}/statements`,
      headers: { authorization: `Bearer ${admin}` },
    });
    assert.equal(r.statusCode, 200);
    const o = await app.inject({
      url: `/v1/spaces/${space}/statements`,
      headers: { authorization: `Bearer ${operator}` },
    });
    assert.equal(o.statusCode, 403);
  }
  const unknown = await app.inject({
    url: "/v1/spaces/no-such-space/statements",
    headers: { authorization: `Bearer ${admin}` },
  });
  assert.equal(unknown.statusCode, 404);
});

test("a participant asking for another participant's usage is 404", async () => {
  const token = await mintToken(key, { role: "participant", subject: "p", space: OWN, participant: "alpha" });
  const res = await app.inject({
    url: `/v1/spaces/${OWN}/usage?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z&participant=beta`,
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.statusCode, 404);
});

test("bad tokens over HTTP: alg=none, wrong key, expired, wrong audience are 401", async () => {
  const claims = { tds: { role: "platform-admin" } };
  const other = await generateDevKey();
  const ec = await generateKeyPair("ES256");
  const cases: Record<string, string> = {
    "alg=none": new UnsecuredJWT(claims)
      .setSubject("eve")
      .setAudience("tds-dashboard-api")
      .setExpirationTime("1h")
      .encode(),
    "wrong key": await mintToken(other, { role: "platform-admin", subject: "eve" }),
    "wrong algorithm key": await new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256" })
      .setSubject("eve")
      .setAudience("tds-dashboard-api")
      .setExpirationTime("1h")
      .sign(ec.privateKey),
    expired: await mintToken(key, { role: "platform-admin", subject: "eve", expiresIn: "-1h" }),
    "wrong audience": await mintToken(key, {
      role: "platform-admin",
      subject: "eve",
      audience: "someone-else",
    }),
    garbage: "not.a.jwt",
  };
  for (const [name, token] of Object.entries(cases)) {
    const res = await fetch(`${baseUrl}/v1/spaces/${OWN}/statements`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 401, name);
    assert.equal(((await res.json()) as { code: string }).code, "TDS_ERR_UNAUTHENTICATED", name);
  }
  const missing = await fetch(`${baseUrl}/v1/spaces/${OWN}/statements`);
  assert.equal(missing.status, 401);
});

test("export reports and filing records: auditors and space admins read them, no other space role does", async () => {
  const urls = [`/v1/spaces/${OWN}/exports/2025-02`, `/v1/spaces/${OWN}/filing/2025-02`];
  for (const { role, participant } of roles) {
    const token = await mintToken(key, {
      role,
      subject: `f-${role}`,
      space: OWN,
      ...(participant ? { participant } : {}),
    });
    const may = role === "auditor" || role === "space-admin";
    for (const url of urls) {
      const res = await app.inject({ url, headers: { authorization: `Bearer ${token}` } });
      if (may)
        assert.ok(res.statusCode === 200 || res.statusCode === 503, `${role} ${url}: ${res.statusCode}`);
      else assert.equal(res.statusCode, 403, `${role} ${url}: ${res.body}`);
    }
  }
});

test("an auditor reads evidence, statements and usage and changes nothing; a compliance reviewer does none of it", async () => {
  const auditor = await mintToken(key, { role: "auditor", subject: "aud", space: OWN });
  const reviewer = await mintToken(key, { role: "compliance-reviewer", subject: "rev", space: OWN });
  const call = (token: string, method: "GET" | "POST" | "PUT", url: string, payload?: unknown) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  const reads = [
    `/v1/spaces/${OWN}/statements`,
    `/v1/spaces/${OWN}/usage?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z`,
    `/v1/spaces/${OWN}/evidence/entries?start=0`,
    `/v1/spaces/${OWN}/price-sheets`,
    `/v1/spaces/${OWN}/exports/2025-02`,
    // 503: this app has neither the cluster nor the space's signing key.
    `/v1/spaces/${OWN}/filing/2025-02`,
  ];
  for (const url of reads) {
    const a = await call(auditor, "GET", url);
    assert.ok(a.statusCode === 200 || a.statusCode === 503, `auditor GET ${url}: ${a.statusCode} ${a.body}`);
    const r = await call(reviewer, "GET", url);
    assert.equal(r.statusCode, 403, `compliance reviewer GET ${url}: ${r.body}`);
  }
  const writes: [string, unknown][] = [
    [`/v1/spaces/${OWN}/statements/2025-02/close`, {}],
    [`/v1/spaces/${OWN}/statements/2025-02/adjustments`, bodyFor("post", "/adjustments", OWN)],
    [`/v1/spaces/${OWN}/evidence/entries`, bodyFor("post", "/evidence/entries", OWN)],
  ];
  for (const [url, body] of writes) {
    for (const [who, token] of [
      ["auditor", auditor],
      ["compliance reviewer", reviewer],
    ] as const) {
      const res = await call(token, "POST", url, body);
      assert.ok(res.statusCode === 403 || res.statusCode === 404, `${who} POST ${url}: ${res.statusCode}`);
    }
  }
  const price = await call(
    auditor,
    "PUT",
    `/v1/spaces/${OWN}/price-sheets`,
    bodyFor("put", "/price-sheets", OWN),
  );
  assert.equal(price.statusCode, 403);
});

test("consents: data subjects and participants give them, reviewers and admins revoke, auditors and the operator read", async () => {
  const want: Record<string, { grant: boolean; revoke: boolean; read: boolean }> = {
    "space-admin": { grant: false, revoke: true, read: true },
    participant: { grant: true, revoke: true, read: true },
    "finance-viewer": { grant: false, revoke: false, read: false },
    auditor: { grant: false, revoke: false, read: true },
    "compliance-reviewer": { grant: false, revoke: true, read: true },
    "data-subject": { grant: true, revoke: true, read: true },
  };
  const base = `/v1/spaces/${OWN}/consents`;
  const missing = `${base}/cst-${"0".repeat(32)}`;
  const grant = {
    offer: { namespace: `${OWN}--alpha`, name: "records" },
    purpose: "care",
    consumer: { participant: "clinic" },
    validity: { notAfter: "2025-06-01T00:00:00Z" },
    subject: "m-data-subject",
  };
  for (const { role, participant } of roles) {
    const token = await mintToken(key, {
      role,
      subject: `m-${role}`,
      space: OWN,
      ...(participant ? { participant } : {}),
    });
    const headers = { authorization: `Bearer ${token}` };
    const may = want[role];
    assert.ok(may, role);
    const read = await app.inject({ url: base, headers });
    assert.equal(read.statusCode, may.read ? 200 : 403, `${role} GET consents: ${read.body}`);
    // Allowed callers get past authorisation to the consent (404) or the cluster (503: this app has none).
    const revoke = await app.inject({ method: "POST", url: `${missing}/revoke`, headers, payload: {} });
    assert.equal(revoke.statusCode, may.revoke ? 404 : 403, `${role} revoke: ${revoke.body}`);
    const given = await app.inject({ method: "POST", url: base, headers, payload: grant });
    assert.equal(given.statusCode, may.grant ? 503 : 403, `${role} grant: ${given.body}`);
  }
  const operator = await mintToken(key, { role: "operator", subject: "op" });
  const o = await app.inject({ url: base, headers: { authorization: `Bearer ${operator}` } });
  assert.equal(o.statusCode, 200);
  const g = await app.inject({
    method: "POST",
    url: base,
    headers: { authorization: `Bearer ${operator}` },
    payload: grant,
  });
  assert.equal(g.statusCode, 403);
});
