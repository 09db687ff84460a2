// The rules of auth/oidc.ts that need no issuer: which published keys are
// usable, and which tokens are refused before any key is fetched. The rules
// that need one are tested against a real provider in test/integration/oidc.int.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { exportJWK, generateKeyPair, UnsecuredJWT } from "jose";
import { boundedGet, IssuerError, usableSigningKeys } from "@tds/oidc";
import { TdsError } from "../errors.ts";
import { createOidcVerifier, spaceAudience, withOidc, type OidcParticipant } from "./oidc.ts";

const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
const pub = { ...(await exportJWK(publicKey)), kid: "k1" };
const priv = { ...(await exportJWK(privateKey)), kid: "k2" };

async function problem(p: Promise<unknown>): Promise<IssuerError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof IssuerError, String(err));
    return err;
  }
  assert.fail("expected an IssuerError");
}

test("a JWKS is usable only with a public signing key of an accepted algorithm", async () => {
  assert.deepEqual((await usableSigningKeys({ keys: [pub] }, "jwks")).keys, [pub]);
  // An encryption key and an HMAC secret are skipped; one usable key is enough.
  const enc = { ...pub, kid: "e", use: "enc" };
  const hmac = { kty: "oct", k: "c2VjcmV0", alg: "HS256", kid: "h" };
  assert.deepEqual((await usableSigningKeys({ keys: [enc, hmac, pub] }, "jwks")).keys, [pub]);
  for (const [doc, why] of [
    [{}, /no "keys" array/],
    [null, /no "keys" array/],
    [{ keys: [] }, /no usable signing key \(0 keys/],
    [{ keys: [hmac, enc] }, /no usable signing key \(2 keys/],
    [{ keys: [{ kty: "EC", crv: "P-256", x: "bad", y: "bad" }] }, /no usable signing key/],
    [{ keys: [priv] }, /publishes a private key \(kid k2\)/],
  ] as const) {
    const err = await problem(usableSigningKeys(doc, "jwks"));
    assert.equal(err.reason, "JwksInvalid");
    assert.match(err.message, why);
  }
});

test("only https URLs are fetched", async () => {
  await assert.rejects(boundedGet("http://127.0.0.1:1/x"), /not an https URL/);
});

const participant: OidcParticipant = {
  space: "s1",
  name: "acme",
  issuer: "https://issuer.test",
  subject: "acme-client",
  active: true,
  phase: "Active",
};
const verifier = createOidcVerifier({ participants: () => Promise.resolve([participant]) });

test("a token of an issuer no participant declares, or not a JWT, is left to the other verifiers", async () => {
  const other = new UnsecuredJWT({ sub: "acme-client" }).setIssuer("https://elsewhere.test").encode();
  assert.equal(await verifier(other), undefined);
  assert.equal(await verifier("not-a-jwt"), undefined);
  assert.equal(await verifier(`${"a".repeat(9000)}.b.c`), undefined, "oversized: not parsed");
  const next = () => Promise.resolve({ subject: "x", role: "platform-admin" as const });
  assert.equal((await withOidc(verifier, next)("not-a-jwt")).role, "platform-admin");
});

test("alg none is refused for a declared issuer before any key is fetched", async () => {
  const none = new UnsecuredJWT({ sub: "acme-client", aud: spaceAudience("s1") })
    .setIssuer(participant.issuer)
    .setExpirationTime("5m")
    .encode();
  await assert.rejects(verifier(none), (err: unknown) => {
    assert.ok(err instanceof TdsError);
    assert.equal(err.statusCode, 401);
    assert.match(err.message, /algorithm "none" is not accepted/);
    return true;
  });
});

test("the space audience names the space", () => {
  assert.equal(spaceAudience("industrial"), "urn:tds:space:industrial");
});
