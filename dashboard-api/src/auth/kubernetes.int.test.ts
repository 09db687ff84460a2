// Kubernetes tokens on the real API server: a ServiceAccount token issued for
// the API's audience is reviewed and mapped (the operator's ServiceAccount is
// the operator role), reviews are cached, and a token for another audience, a
// ServiceAccount without a role, and garbage are refused with reasons. Our
// own JWTs keep working alongside.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { KubeClient, kinds } from "@tds/kube";
import { installCrds, kubeConfig, kubectl } from "@tds/test/testkit";
import { buildApp } from "../app.ts";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "./keys.ts";
import { anyVerifier, createKubernetesVerifier } from "./kubernetes.ts";
import { createTokenVerifier, defaultAudience } from "./tokens.ts";

const ns = `tds-auth-${Math.random().toString(16).slice(2, 8)}`;
const space = "k8s-auth";
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let key: DevKey;
let reviews = 0;

before(async () => {
  db = await createTestDatabase("tds_k8sauth");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await pool.query("insert into spaces (space) values ($1)", [space]);
  key = await generateDevKey();
  const client = new KubeClient(kubeConfig(), "tds-tests");
  client.observe((method, path) => {
    if (method === "POST" && path.includes("tokenreviews")) reviews++;
  });
  app = await buildApp({
    pool,
    verifyToken: anyVerifier(
      createTokenVerifier({ jwks: jwksOf(key) }),
      createKubernetesVerifier({
        client,
        audience: defaultAudience,
        operatorServiceAccount: `${ns}:tds-operator`,
      }),
    ),
  });
  installCrds();
  kubectl(["create", "namespace", ns]);
  kubectl(["create", "serviceaccount", "tds-operator", "-n", ns]);
  kubectl(["create", "serviceaccount", "someone", "-n", ns]);
});
after(async () => {
  await app.close();
  await pool.end();
  await db.drop();
  kubectl(["delete", "namespace", ns, "--wait=false"]);
});

const token = (sa: string, audience = defaultAudience) =>
  kubectl(["create", "token", sa, "-n", ns, `--audience=${audience}`, "--duration=10m"]).trim();
const priceSheets = (bearer: string) =>
  app.inject({
    method: "GET",
    url: `/v1/spaces/${space}/price-sheets`,
    headers: { authorization: `Bearer ${bearer}` },
  });

test("the operator's ServiceAccount token is the operator role, reviewed once and then cached", async () => {
  const t = token("tds-operator");
  const before = reviews;
  for (let i = 0; i < 5; i++) {
    const res = await priceSheets(t);
    assert.equal(res.statusCode, 200, res.body);
  }
  assert.equal(reviews - before, 1);
});

test("a token for another audience, a ServiceAccount without a role and garbage are refused", async () => {
  const other = await priceSheets(token("tds-operator", "https://kubernetes.default.svc"));
  assert.equal(other.statusCode, 401);
  assert.match(other.body, /Kubernetes did not authenticate it for audience tds-dashboard-api/);
  const someone = await priceSheets(token("someone"));
  assert.equal(someone.statusCode, 403);
  assert.match(someone.body, new RegExp(`system:serviceaccount:${ns}:someone has no TDS role`));
  assert.equal((await priceSheets("not-a-token")).statusCode, 401);
});

test("a ServiceAccount named in a Participant's spec.admins acts as that participant", async () => {
  const name = `${ns}-alpha`;
  const client = new KubeClient(kubeConfig(), "tds-tests");
  await client.create(kinds.participant, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "Participant",
    metadata: { name },
    spec: {
      dataSpace: space,
      organization: { legalName: "Alpha Ltd", registrationId: "REG-alpha", region: "CN-SH" },
      identity: { certificate: { subject: "CN=alpha,O=Alpha Ltd,C=CN" } },
      roles: ["consumer"],
      admins: [{ kind: "User", name: `system:serviceaccount:${ns}:alice` }],
    },
  });
  try {
    kubectl(["create", "serviceaccount", "alice", "-n", ns]);
    const alice = token("alice");
    // A participant reads its own usage; another participant's is a 404.
    const own = await app.inject({
      method: "GET",
      url: `/v1/spaces/${space}/usage?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&participant=${name}`,
      headers: { authorization: `Bearer ${alice}` },
    });
    assert.equal(own.statusCode, 200, own.body);
    const other = await app.inject({
      method: "GET",
      url: `/v1/spaces/${space}/usage?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&participant=someone-else`,
      headers: { authorization: `Bearer ${alice}` },
    });
    assert.equal(other.statusCode, 404, other.body);
    // Participants do not manage price sheets.
    assert.equal((await priceSheets(alice)).statusCode, 403);
  } finally {
    await client.delete(kinds.participant, name);
  }
});

test("our own JWTs still work, and an expired one is refused as expired without asking Kubernetes", async () => {
  const ok = await mintToken(key, { role: "space-admin", subject: "ops", space });
  assert.equal((await priceSheets(ok)).statusCode, 200);
  const before = reviews;
  const expired = await mintToken(key, {
    role: "space-admin",
    subject: "ops",
    space,
    expiresIn: Math.floor(Date.now() / 1000) - 120,
  });
  const res = await priceSheets(expired);
  assert.equal(res.statusCode, 401);
  assert.match(res.body, /ERR_JWT_EXPIRED/);
  assert.equal(reviews, before);
});
