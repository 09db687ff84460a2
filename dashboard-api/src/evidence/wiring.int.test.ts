// The evidence log as the server wires it: migrations (0002) applied by the
// runner, roles from bearer tokens, the signing key read from a real
// Kubernetes Secret. The API holds no S3 credentials: its checkpoints wait
// for the gateway's export (@tds/gateway, evidence-export.int.test.ts).
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { kinds, type KubeClient } from "@tds/kube";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp } from "../app.ts";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "../auth/keys.ts";
import type { Role } from "../auth/principal.ts";
import { createTokenVerifier } from "../auth/tokens.ts";
import { clusterView } from "../kube/cluster-view.ts";
import { migrate } from "../migrate.ts";
import { apiKubeClient } from "../plugins/kube.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { originFor, verifyCheckpoint, publicKeyFromPem } from "./checkpoint.ts";
import type { EvidenceEntry } from "@tds/wire";
import { secretSignerFor, SIGNING_KEY_FIELD, SIGNING_KEY_SECRET } from "./wiring.ts";

const SPACE = `ev-${randomBytes(3).toString("hex")}`;
const OTHER = `ev-${randomBytes(3).toString("hex")}`;
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let key: DevKey;
let kube: KubeClient;
let publicPem: string;

const token = (role: Role, space?: string, participant?: string): Promise<string> =>
  mintToken(key, {
    role,
    subject: `test-${role}`,
    ...(space ? { space } : {}),
    ...(participant ? { participant } : {}),
    expiresIn: "10m",
  });

function entry(i: number, participant: string): EvidenceEntry {
  return {
    space: SPACE,
    eventId: `wiring-${i}`,
    actor: "system:serviceaccount:tds-system:operator",
    action: "offer.published",
    time: "2025-03-01T12:00:00Z",
    object: { kind: "DataOffer", namespace: `${SPACE}--${participant}`, name: `o${i}`, uid: `u${i}` },
  };
}

before(async () => {
  db = await createTestDatabase("tds_evidence_wiring");
  const applied = await migrate(db.url);
  assert.ok(
    applied.some((m) => m.startsWith("0000000000002_evidence")),
    `0002 applied: ${applied.join(", ")}`,
  );
  pool = new pg.Pool({ connectionString: db.url, max: 5 });
  key = await generateDevKey();
  kube = apiKubeClient();
  await kube.create(kinds.namespace, { metadata: { name: `tds-${SPACE}` } });
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  publicPem = publicKey.export({ format: "pem", type: "spki" }).toString();
  await kube.create(kinds.secret, {
    metadata: { name: SIGNING_KEY_SECRET, namespace: `tds-${SPACE}` },
    stringData: { [SIGNING_KEY_FIELD]: privateKey.export({ format: "pem", type: "pkcs8" }).toString() },
  });
  const cluster = clusterView(kube);
  app = await buildApp({
    pool,
    verifyToken: createTokenVerifier({ jwks: jwksOf(key) }),
    evidence: {
      signerFor: secretSignerFor({ readSecretKey: cluster.readSecretKey, origin: (s) => originFor(s) }),
    },
  });
});

after(async () => {
  await app.close();
  await pool.end();
  await db.drop();
  await kube.delete(kinds.namespace, `tds-${SPACE}`).catch(() => undefined);
});

const call = async (
  method: "GET" | "POST",
  url: string,
  bearer: string,
  payload?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${bearer}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
};

test("the operator appends; participants read their own entries; foreign spaces are 404", async () => {
  const operator = await token("operator");
  const base = `/v1/spaces/${SPACE}/evidence`;
  const appended = await call("POST", `${base}/entries`, operator, {
    entries: [entry(0, "alpha"), entry(1, "beta"), entry(2, "alpha")],
  });
  assert.equal(appended.status, 201, JSON.stringify(appended.body));

  for (const role of ["participant", "finance-viewer"] as const) {
    const denied = await call("POST", `${base}/entries`, await token(role, SPACE, "alpha"), {
      entries: [entry(3, "alpha")],
    });
    assert.equal(denied.status, 403, role);
  }
  const alpha = await call("GET", `${base}/entries?start=0`, await token("participant", SPACE, "alpha"));
  assert.equal(alpha.status, 200);
  assert.deepEqual(
    (alpha.body.entries as { leafIndex: number }[]).map((e) => e.leafIndex),
    [0, 2],
  );
  const finance = await call("GET", `${base}/entries?start=0`, await token("finance-viewer", SPACE));
  assert.equal((finance.body.entries as unknown[]).length, 3);

  for (const [role, path] of [
    ["participant", "entries?start=0"],
    ["space-admin", "entries?start=0"],
    ["finance-viewer", "checkpoint"],
    ["space-admin", "public-key"],
  ] as const) {
    const foreign = await call(
      "GET",
      `/v1/spaces/${SPACE}/evidence/${path}`,
      await token(role, OTHER, "alpha"),
    );
    assert.equal(foreign.status, 404, `${role} ${path}`);
  }
});

test("checkpoints are signed with the Secret's key, left for the gateway's export, and the key is published", async () => {
  const base = `/v1/spaces/${SPACE}/evidence`;
  const forced = await call("POST", `${base}/checkpoint`, await token("operator"));
  assert.equal(forced.status, 200, JSON.stringify(forced.body));
  const member = await token("participant", SPACE, "beta");
  const pk = await call("GET", `${base}/public-key`, member);
  assert.equal(pk.status, 200);
  assert.equal(pk.body.publicKeyPem, publicPem);
  assert.equal(pk.body.origin, originFor(SPACE));
  const latest = await call("GET", `${base}/checkpoint`, member);
  assert.equal(latest.status, 200);
  const note = latest.body.note as string;
  const verified = verifyCheckpoint(note, originFor(SPACE), publicKeyFromPem(publicPem));
  assert.equal(verified.treeSize, 3);
  const { rows } = await pool.query<{ exported_at: Date | null }>(
    "select exported_at from evidence_checkpoints where space = $1 and tree_size = 3",
    [SPACE],
  );
  assert.deepEqual(rows, [{ exported_at: null }], "the API exports nothing: it holds no S3 credentials");
});

test("a space without a key Secret answers 404 for its public key", async () => {
  const admin = await token("platform-admin");
  const pk = await call("GET", `/v1/spaces/${OTHER}/evidence/public-key`, admin);
  assert.equal(pk.status, 404);
});
