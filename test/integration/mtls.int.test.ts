// Client certificates (mTLS) at the gateway's and the API's doors, on the real
// control plane: the in-process operator issues the participants'
// certificates, revokes them into the space CRL on suspension and publishes
// each space's trust bundle; the doors serve HTTPS on loopback (Node's TLS,
// fastify's https option) and verify every presented certificate against that
// (dashboard-api/src/auth/certificate-trust.ts), evidencing verdicts in the
// door space's log on PostgreSQL. Covered: a good certificate, its renewal
// beside it, revoked, expired, foreign CA, suspended participant, a trusted
// space's participant (accepted as its own space's, then refused once its
// space revokes it or the door's space stops trusting it), and bad input.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type { DataSpace, Participant } from "@tds/crds";
import { KubeClient, dataOf, type KubeObject, kinds } from "@tds/kube";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp } from "@tds/dashboard-api/app";
import { CertificateVerifier } from "@tds/dashboard-api/certificate-trust";
import { generateDevKey, jwksOf, mintToken } from "@tds/dashboard-api/auth-keys";
import { createTokenVerifier } from "@tds/dashboard-api/auth-tokens";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { buildGatewayApp, gatewayFromEnv } from "@tds/gateway";
import { migrate } from "@tds/dashboard-api/migrate";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import {
  createCertificateAuthority,
  issueCertificate,
  type IssuedCertificate,
  type KeyedCertificate,
} from "@tds/operator/pki";
import {
  participantManifest,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";
import { httpsCall, loopbackDoorTls, participantCertificate, type Answer } from "../harness/mtls.ts";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";

const run = runId();
const a = `mta-${run}`;
const b = `mtb-${run}`;
const client = new KubeClient(kubeConfig());
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const FORWARDED = "ssl-client-cert";

let operator: TestOperator;
let db: TestDatabase;
let pool: pg.Pool;
let serverCa: IssuedCertificate;
let partner: IssuedCertificate;
let gateway: FastifyInstance;
let api: FastifyInstance;
let token: string;
const verifiers: CertificateVerifier[] = [];
let apiDoor: CertificateVerifier;

/** One request on a fresh TLS connection (no session reuse between identities). */
function call(
  app: FastifyInstance,
  path: string,
  cert?: KeyedCertificate,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const { port } = app.server.address() as AddressInfo;
  return httpsCall(port, path, { ca: serverCa.certPem, cert, headers });
}

const identity = (space: string) => `/v1/spaces/${space}/identity`;

const participantCert = (name: string): Promise<KeyedCertificate> =>
  participantCertificate(client, name.startsWith(a) ? a : b, name);

async function spaceCa(space: string): Promise<KeyedCertificate> {
  const secret = await client.get(kinds.secret, "space-ca", `tds-${space}`);
  return { certPem: unb64(dataOf(secret)["tls.crt"]), keyPem: unb64(dataOf(secret)["tls.key"]) };
}

async function suspend(name: string): Promise<void> {
  await client.mergePatch(kinds.participant, name, undefined, { spec: { suspended: true } });
  await eventually(`${name} to be Suspended`, async () => {
    const p = await client.get<Participant & KubeObject>(kinds.participant, name);
    return p.status?.phase === "Suspended";
  });
}

/** The door's evidence entries, parsed. */
async function evidence(space: string): Promise<{ eventId: string; actor: string; action: string }[]> {
  const store = new EvidenceStore(pool);
  const head = await store.head(space);
  const rows = await store.entries(space, 0, head.treeSize);
  return rows.map(
    (r) => JSON.parse(r.entry.toString("utf8")) as { eventId: string; actor: string; action: string },
  );
}

function refusedWith(answer: Answer, status: number, reason: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(String(answer.body.detail), new RegExp(`^Client certificate refused \\(${reason}\\)`));
}

function door(refusalsEvidencedPerMinute?: number): CertificateVerifier {
  const v = new CertificateVerifier({
    client,
    log,
    evidence: new EvidenceStore(pool),
    watchdogMs: 30_000,
    ...(refusalsEvidencedPerMinute === undefined ? {} : { refusalsEvidencedPerMinute }),
  });
  verifiers.push(v);
  return v;
}

before(async () => {
  installCrds();
  operator = await startOperator(run);
  db = await createTestDatabase("tds_mtls");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 5 });
  pool.on("error", () => undefined);

  partner = await createCertificateAuthority(`Partner CA ${run}`, 30);
  await client.create(kinds.dataSpace, spaceManifest(b, run) as KubeObject);
  await client.create(
    kinds.dataSpace,
    spaceManifest(a, run, {
      trustAnchors: { caBundles: [{ name: "partners", pem: partner.certPem }], trustedSpaces: [{ name: b }] },
    }) as KubeObject,
  );
  for (const [name, space, extra] of [
    [`${a}-alpha`, a, {}],
    [`${a}-gone`, a, {}],
    [
      `${a}-ext`,
      a,
      { identity: { certificate: { subject: `CN=${a}-ext,O=Ext,C=CN`, issuedBy: "partners" } } },
    ],
    [`${b}-beta`, b, {}],
    [`${b}-gamma`, b, {}],
  ] as const) {
    await client.create(kinds.participant, participantManifest(name, space, extra) as KubeObject);
  }
  await eventually(
    "space a Ready, trusting b and the partners",
    async () => {
      const o = await client.get<DataSpace & KubeObject>(kinds.dataSpace, a);
      const trust = o.status?.conditions?.find((c) => c.type === "TrustAnchors");
      return o.status?.readyParticipants === 3 && trust?.status === "True";
    },
    60_000,
  );

  // The doors' own server certificate, for 127.0.0.1.
  const doorTls = await loopbackDoorTls(run);
  serverCa = doorTls.ca;
  const https = doorTls.https;
  gateway = await buildGatewayApp({
    gateway: gatewayFromEnv(process.env, pool),
    pool,
    https,
    certificates: { verifier: door(), forwardedHeader: FORWARDED },
  });
  await gateway.listen({ host: "127.0.0.1", port: 0 });
  const key = await generateDevKey();
  token = await mintToken(key, { role: "space-admin", subject: "admin", space: a });
  api = await buildApp({
    pool,
    verifyToken: createTokenVerifier({ jwks: jwksOf(key) }),
    https,
    certificates: { verifier: (apiDoor = door(2)) },
  });
  await api.listen({ host: "127.0.0.1", port: 0 });
  // A price sheet makes space a known to the API's database, so its routes answer for it.
  const sheet = await api.inject({
    method: "PUT",
    url: `/v1/spaces/${a}/price-sheets`,
    headers: { authorization: `Bearer ${await mintToken(key, { role: "platform-admin", subject: "root" })}` },
    payload: {
      effectiveFrom: "2026-01-01T00:00:00Z",
      currency: "CNY",
      prices: [{ meter: "storage.byte_seconds", unitPrice: "0.02" }],
    },
  });
  assert.equal(sheet.statusCode, 200, sheet.body);
});

after(async () => {
  await gateway.close();
  await api.close();
  await Promise.all(verifiers.map((v) => v.stop()));
  for (const s of [a, b]) await client.delete(kinds.dataSpace, s).catch(() => undefined);
  await operator.stop();
  await pool.end();
  await db.drop();
});

test("a participant's operator-issued certificate is its identity at the gateway and the API; bearer tokens still work", async () => {
  const alpha = await participantCert(`${a}-alpha`);
  const atGateway = await call(gateway, identity(a), alpha);
  assert.equal(atGateway.status, 200, JSON.stringify(atGateway.body));
  assert.deepEqual(
    [atGateway.body.role, atGateway.body.space, atGateway.body.participant, atGateway.body.method],
    ["participant", a, `${a}-alpha`, "certificate"],
  );
  assert.deepEqual(atGateway.body.anchor, { name: a, kind: "spaceCA" });
  // A route that names no space: the certificate is checked at its issuer's space.
  assert.equal((await call(gateway, "/healthz", alpha)).status, 200);

  const atApi = await call(api, identity(a), alpha);
  assert.equal(atApi.status, 200, JSON.stringify(atApi.body));
  assert.equal(atApi.body.participant, `${a}-alpha`);
  // The certificate's principal is authorised as its participant: its own space's statements.
  const own = await call(api, `/v1/spaces/${a}/statements`, alpha);
  assert.equal(own.status, 200, JSON.stringify(own.body));
  // At space b's door (which does not trust a) a's certificate is refused before any route runs.
  refusedWith(await call(api, `/v1/spaces/${b}/statements`, alpha), 403, "untrustedSpace");
  // The API's bearer token path over the same TLS, with and without a certificate.
  const byToken = await call(api, identity(a), undefined, { authorization: `Bearer ${token}` });
  assert.deepEqual([byToken.status, byToken.body.role, byToken.body.method], [200, "space-admin", "token"]);
  assert.equal((await call(api, identity(a))).status, 401);
  assert.equal((await call(gateway, identity(a))).status, 401);

  const log = await evidence(a);
  assert.ok(
    log.some((e) => e.action === "certificate.accepted" && e.actor === `participant:${a}/${a}-alpha`),
    JSON.stringify(log),
  );
});

test("rotation: a renewed certificate and the one it replaces are both accepted until the old one expires", async () => {
  const old = await participantCert(`${a}-alpha`);
  // Renewal is the operator issuing the same subject from the space CA again (participant.identity.ts).
  const renewed = await issueCertificate(await spaceCa(a), {
    subject: `CN=${a}-alpha,O=${a}-alpha Ltd,C=CN`,
    usage: "client",
    validForDays: 90,
  });
  for (const cert of [renewed, old]) {
    const r = await call(gateway, identity(a), cert);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
});

test("an expired certificate and one of a foreign CA are refused with their reason, and evidenced", async () => {
  const expired = await issueCertificate(await spaceCa(a), {
    subject: `CN=${a}-alpha,O=${a}-alpha Ltd,C=CN`,
    usage: "client",
    validForDays: 1,
    now: new Date(Date.now() - 3 * 86_400_000),
  });
  refusedWith(await call(gateway, identity(a), expired), 401, "expired");
  const stranger = await createCertificateAuthority("Stranger CA", 1);
  const foreign = await issueCertificate(stranger, {
    subject: `CN=${a}-alpha,O=${a}-alpha Ltd,C=CN`,
    usage: "client",
    validForDays: 1,
  });
  const r = await call(gateway, identity(a), foreign);
  refusedWith(r, 401, "unknownCA");
  assert.match(String(r.body.detail), /Stranger CA/);
  assert.equal(r.body.type, "https://tds.dev/problems/unauthenticated");
  const actions = (await evidence(a)).map((e) => e.action);
  assert.ok(
    actions.includes("certificate.expired") && actions.includes("certificate.unknownCA"),
    String(actions),
  );
});

test("a revoked certificate is refused once the operator lists it in the space CRL", async () => {
  const gone = await participantCert(`${a}-gone`);
  assert.equal((await call(gateway, identity(a), gone)).status, 200);
  await suspend(`${a}-gone`);
  const r = await eventually("the revocation to reach the door", async () => {
    const x = await call(gateway, identity(a), gone);
    return x.status === 401 ? x : undefined;
  });
  refusedWith(r, 401, "revoked");
  assert.match(String(r.body.detail), new RegExp(`revoked by spaceCA ${a}`));
});

test("a suspended participant's certificate (from a caBundle, which the space CRL cannot revoke) is refused", async () => {
  const ext = await issueCertificate(partner, {
    subject: `CN=${a}-ext,O=Ext,C=CN`,
    usage: "client",
    validForDays: 1,
  });
  const ok = await call(gateway, identity(a), ext);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body.anchor, { name: "partners", kind: "caBundle" });
  await suspend(`${a}-ext`);
  const r = await eventually("the suspension to reach the door", async () => {
    const x = await call(gateway, identity(a), ext);
    return x.status === 403 ? x : undefined;
  });
  refusedWith(r, 403, "suspended");
});

test("two spaces: a trusted space's participant is accepted as its own space's, and refused once revoked or no longer trusted", async () => {
  const beta = await participantCert(`${b}-beta`);
  const at = await call(gateway, identity(a), beta);
  assert.equal(at.status, 200, JSON.stringify(at.body));
  assert.deepEqual([at.body.space, at.body.participant], [b, `${b}-beta`]);
  assert.deepEqual(at.body.anchor, { name: b, kind: "trustedSpace" });
  // Never one of a's: a's routes do not see it as a's participant.
  assert.equal((await call(api, `/v1/spaces/${a}/statements`, beta)).status, 404);
  const recognised = (await evidence(a)).find(
    (e) => e.action === "certificate.accepted" && e.actor === `participant:${b}/${b}-beta`,
  );
  assert.ok(recognised, "a's log records the recognition");
  assert.match(recognised.eventId, new RegExp(`^certificate/accepted/trustedSpace/${b}/`));

  await suspend(`${b}-beta`);
  const revoked = await eventually("b's revocation to reach a's door", async () => {
    const x = await call(gateway, identity(a), beta);
    return x.status === 401 ? x : undefined;
  });
  refusedWith(revoked, 401, "revoked");
  assert.match(String(revoked.body.detail), new RegExp(`trustedSpace ${b}`));

  const gamma = await participantCert(`${b}-gamma`);
  assert.equal((await call(gateway, identity(a), gamma)).status, 200);
  await client.mergePatch(kinds.dataSpace, a, undefined, { spec: { trustAnchors: { trustedSpaces: [] } } });
  const untrusted = await eventually("a to stop trusting b", async () => {
    const x = await call(gateway, identity(a), gamma);
    return x.status === 403 ? x : undefined;
  });
  refusedWith(untrusted, 403, "untrustedSpace");
  assert.match(String(untrusted.body.detail), new RegExp(`space ${b}, which space ${a} does not trust`));
  // At its own space's door it is still b's participant.
  assert.equal((await call(gateway, identity(b), gamma)).body.participant, `${b}-gamma`);
});

test("bad input: an oversized or malformed certificate is a 400 naming it, and the door keeps serving", async () => {
  const big = await issueCertificate(await spaceCa(a), {
    subject: `CN=${a}-alpha,O=${a}-alpha Ltd,C=CN`,
    usage: "client",
    dnsNames: Array.from({ length: 900 }, (_, i) => `host-${String(i).padStart(4, "0")}.example.cn`),
    validForDays: 1,
  });
  const r = await call(gateway, identity(a), big);
  refusedWith(r, 400, "tooLarge");
  assert.equal(r.body.field, "certificate");

  const garbage = await call(gateway, identity(a), undefined, { [FORWARDED]: "%ZZ not pem" });
  assert.equal(garbage.status, 400, JSON.stringify(garbage.body));
  assert.equal(garbage.body.field, `header/${FORWARDED}`);
  const noPem = await call(gateway, identity(a), undefined, { [FORWARDED]: "hello" });
  assert.deepEqual([noPem.status, noPem.body.field], [400, `header/${FORWARDED}`]);
  const broken = encodeURIComponent("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  refusedWith(await call(gateway, identity(a), undefined, { [FORWARDED]: broken }), 400, "malformed");
  const huge = await call(gateway, identity(a), undefined, { [FORWARDED]: "A".repeat(14_000) });
  assert.equal(huge.status, 400, JSON.stringify(huge.body));
  // A forwarded good certificate is verified as one on the connection.
  const alpha = await participantCert(`${a}-alpha`);
  const fwd = await call(gateway, identity(a), undefined, { [FORWARDED]: encodeURIComponent(alpha.certPem) });
  assert.equal(fwd.body.participant, `${a}-alpha`);
  assert.equal((await call(gateway, "/healthz")).status, 200);
});

test("a flood of refused certificates is evidenced up to the door's budget, and still refused", async () => {
  const before = (await evidence(a)).length;
  for (let i = 0; i < 4; i++) {
    const ca = await createCertificateAuthority(`Flood CA ${String(i)}`, 1);
    const cert = await issueCertificate(ca, {
      subject: `CN=flood-${String(i)}`,
      usage: "client",
      validForDays: 1,
    });
    refusedWith(await call(api, identity(a), cert), 401, "unknownCA");
  }
  assert.equal((await evidence(a)).length - before, 2, "the API door's budget is 2 a minute");
  assert.equal(apiDoor.stats.refusalsNotEvidenced, 2);
});
