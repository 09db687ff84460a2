// The bad-token suite and the role table, through app.inject() with no database.
import assert from "node:assert/strict";
import { test } from "node:test";
import { generateKeyPair, importJWK, SignJWT, UnsecuredJWT } from "jose";
import { buildApp } from "../app.ts";
import { generateDevKey, jwksOf, mintToken } from "./keys.ts";
import { authorize, participantScope, type Principal } from "./principal.ts";
import { createTokenVerifier } from "./tokens.ts";

const key = await generateDevKey();
const other = await generateDevKey();
const app = await buildApp({ pool: null, verifyToken: createTokenVerifier({ jwks: jwksOf(key) }) });
const url = "/v1/spaces/s1/usage?from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z";

async function status(
  token: string | undefined,
): Promise<{ status: number; code: unknown; challenge: unknown }> {
  const res = await app.inject({
    method: "GET",
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    status: res.statusCode,
    code: res.json<{ code?: unknown }>().code,
    challenge: res.headers["www-authenticate"],
  };
}

test("a valid token passes authentication (then fails on the missing database, 503)", async () => {
  const r = await status(await mintToken(key, { role: "platform-admin", subject: "alice" }));
  assert.equal(r.status, 503);
});

test("bad tokens are 401 TDS_ERR_UNAUTHENTICATED", async (t) => {
  const claims = { tds: { role: "platform-admin" } };
  const ec = await generateKeyPair("ES256", { extractable: true });
  const cases: [string, () => Promise<string | undefined>][] = [
    ["missing", () => Promise.resolve(undefined)],
    ["garbage", () => Promise.resolve("not.a.jwt")],
    [
      "alg=none",
      () =>
        Promise.resolve(
          new UnsecuredJWT(claims)
            .setSubject("eve")
            .setAudience("tds-dashboard-api")
            .setExpirationTime("1h")
            .encode(),
        ),
    ],
    ["wrong key", () => mintToken(other, { role: "platform-admin", subject: "eve" })],
    [
      "expired",
      () =>
        mintToken(key, {
          role: "platform-admin",
          subject: "eve",
          expiresIn: Math.floor(Date.now() / 1000) - 3600,
        }),
    ],
    [
      "wrong audience",
      () => mintToken(key, { role: "platform-admin", subject: "eve", audience: "someone-else" }),
    ],
    [
      "HS256 keyed with the public key (algorithm confusion)",
      async () =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("eve")
          .setAudience("tds-dashboard-api")
          .setExpirationTime("1h")
          .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk))),
    ],
    [
      "ES256 from a key we do not trust",
      async () => {
        return new SignJWT(claims)
          .setProtectedHeader({ alg: "ES256" })
          .setSubject("eve")
          .setAudience("tds-dashboard-api")
          .setExpirationTime("1h")
          .sign(ec.privateKey);
      },
    ],
    [
      "no role claim",
      async () =>
        new SignJWT({})
          .setProtectedHeader({ alg: "EdDSA" })
          .setSubject("eve")
          .setAudience("tds-dashboard-api")
          .setExpirationTime("1h")
          .sign(await importJWK(key.privateJwk, "EdDSA")),
    ],
    ["space-admin without a space", () => mintToken(key, { role: "space-admin", subject: "eve" })],
    [
      "participant without a participant",
      () => mintToken(key, { role: "participant", subject: "eve", space: "s1" }),
    ],
  ];
  for (const [name, make] of cases) {
    await t.test(name, async () => {
      const token = await make();
      const r = await status(token);
      assert.equal(r.status, 401, name);
      assert.equal(r.code, "TDS_ERR_UNAUTHENTICATED");
      // RFC 6750 section 3.1: no error code when the request had no credentials.
      assert.equal(
        r.challenge,
        token === undefined
          ? 'Bearer realm="tds-dashboard-api"'
          : 'Bearer realm="tds-dashboard-api", error="invalid_token"',
      );
    });
  }
});

test("public endpoints need no token; an unknown route is a 404 without one too", async () => {
  for (const path of ["/healthz", "/openapi.json", "/docs/", "/dashboard"]) {
    const res = await app.inject({ method: "GET", url: path });
    assert.equal(res.statusCode, 200, path);
  }
  for (const headers of [{}, { authorization: "Bearer not-a-token" }]) {
    const res = await app.inject({ method: "GET", url: "/v1/nope", headers });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers["content-type"], "application/problem+json; charset=utf-8");
    assert.equal(res.json<{ code: string }>().code, "TDS_ERR_NOT_FOUND");
  }
  // Prometheus scrapes the metrics port (server.ts), not the public one.
  assert.equal((await app.inject({ method: "GET", url: "/metrics" })).statusCode, 404);
});

test("validation errors are 400 and name the field", async () => {
  const token = await mintToken(key, { role: "platform-admin", subject: "alice" });
  const res = await app.inject({
    method: "POST",
    url: "/v1/usage",
    headers: { authorization: `Bearer ${token}` },
    payload: [
      {
        specversion: "1.0",
        id: "1",
        source: "s",
        type: "dev.tds.usage.v1",
        time: "2025-01-01T00:00:00Z",
        data: { space: "s1", participant: "p", meter: "api.calls", quantity: 1.5 },
      },
    ],
  });
  assert.equal(res.statusCode, 400);
  const body = res.json<{ code: string; field: string }>();
  assert.equal(body.code, "TDS_ERR_VALIDATION");
  assert.match(body.field, /^body\/0\/data\/quantity/);
});

test("role table: foreign space is 404, missing capability in own space is 403", () => {
  const p = (role: Principal["role"], space?: string, participant?: string): Principal => ({
    subject: "x",
    role,
    ...(space ? { space } : {}),
    ...(participant ? { participant } : {}),
  });
  const code = (fn: () => void): string => {
    try {
      fn();
      return "ok";
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  const rows: [Principal, string, Parameters<typeof authorize>[2], string][] = [
    [p("platform-admin"), "a", "statements:write", "ok"],
    [p("space-admin", "a"), "a", "statements:write", "ok"],
    [p("space-admin", "a"), "b", "usage:read", "TDS_ERR_SPACE_NOT_FOUND"],
    [p("finance-viewer", "a"), "a", "statements:read", "ok"],
    [p("finance-viewer", "a"), "a", "statements:write", "TDS_ERR_FORBIDDEN"],
    [p("finance-viewer", "a"), "b", "statements:read", "TDS_ERR_SPACE_NOT_FOUND"],
    [p("participant", "a", "p1"), "a", "usage:read", "ok"],
    [p("participant", "a", "p1"), "a", "usage:write", "TDS_ERR_FORBIDDEN"],
    [p("participant", "a", "p1"), "b", "usage:read", "TDS_ERR_SPACE_NOT_FOUND"],
    [p("auditor", "a"), "a", "exports:read", "ok"],
    [p("auditor", "a"), "a", "filing:read", "ok"],
    [p("space-admin", "a"), "a", "filing:read", "ok"],
    [p("participant", "a", "p1"), "a", "exports:read", "TDS_ERR_FORBIDDEN"],
    [p("finance-viewer", "a"), "a", "filing:read", "TDS_ERR_FORBIDDEN"],
    [p("compliance-reviewer", "a"), "a", "exports:read", "TDS_ERR_FORBIDDEN"],
  ];
  for (const [principal, space, cap, want] of rows)
    assert.equal(
      code(() => {
        authorize(principal, space, cap);
      }),
      want,
    );
  assert.equal(participantScope(p("participant", "a", "p1"), undefined), "p1");
  assert.equal(
    code(() => participantScope(p("participant", "a", "p1"), "p2")),
    "TDS_ERR_PARTICIPANT_NOT_FOUND",
  );
  assert.equal(participantScope(p("finance-viewer", "a"), "p2"), "p2");
});
