// The DSP endpoints against PostgreSQL: who may call (bad, unknown and
// foreign credentials), what a caller may see, illegal transitions, state
// after a restart, and two spaces of one API negotiating over real HTTP.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp } from "../app.ts";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "../auth/keys.ts";
import { createTokenVerifier } from "../auth/tokens.ts";
import { CatalogStore } from "../catalog/store.ts";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { freePort } from "@tds/test/server";
import { defaultBehaviour, noDecider } from "./behaviour.ts";
import { sha256Hex, type DspConfig } from "./identity.ts";
import { DSP_CONTEXT } from "./messages.ts";
import { datasetIdOf, offerIdOf } from "./odrl.ts";
import { DspStore } from "./store.ts";
import type { CatalogEntry } from "@tds/wire";

let db: TestDatabase;
let pool: pg.Pool;
let key: DevKey;
let port: number;
const ALPHA_AUTH = "Bearer alpha-calls-with-this";
const BETA_AUTH = "Bearer beta-calls-with-this";
const EXT_AUTH = "Bearer external-partner";
const config: DspConfig = {
  alpha: {
    participantId: "urn:tds:alpha",
    counterparties: [
      { id: "urn:tds:beta", authorizationSha256: sha256Hex(BETA_AUTH), outgoingAuthorization: ALPHA_AUTH },
      { id: "did:web:partner.example", authorizationSha256: sha256Hex(EXT_AUTH) },
    ],
  },
  beta: {
    participantId: "urn:tds:beta",
    consumer: "buyer",
    counterparties: [
      { id: "urn:tds:alpha", authorizationSha256: sha256Hex(ALPHA_AUTH), outgoingAuthorization: BETA_AUTH },
    ],
  },
};
const offer: CatalogEntry = {
  space: "alpha",
  namespace: "alpha--maker",
  name: "sensor-data",
  uid: "u-1",
  provider: "maker",
  providerName: "Maker",
  title: "Sensor data",
  description: "",
  keywords: ["sensors"],
  classification: "public",
  dataCategory: "industrial",
  regionOfOrigin: "CN",
  accessMode: "download",
  contractApproval: "Automatic",
  purposes: ["research"],
  format: "text/csv",
  contentId: `sha256:${"a".repeat(64)}`,
  byteSize: 10,
  objects: 1,
  currency: "CNY",
  price: { perContract: "10.00", perFortnight: "1" },
  publishedAt: "2026-01-01T00:00:00Z",
};
const untranslatable = { ...offer, name: "odd-price", uid: "u-2" };

async function app(): Promise<FastifyInstance> {
  const a = await buildApp({
    pool,
    verifyToken: createTokenVerifier({ jwks: jwksOf(key) }),
    dsp: {
      config,
      behaviour: defaultBehaviour(noDecider),
      publicUrl: `http://127.0.0.1:${port.toString()}`,
      stepDelayMs: 20,
    },
  });
  return a;
}

before(async () => {
  db = await createTestDatabase("tds_dsp");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
  key = await generateDevKey();
  port = await freePort();
  const catalog = new CatalogStore(pool);
  await catalog.upsert({ ...offer, price: { perContract: "10.00" } });
  await catalog.upsert({ ...untranslatable, price: { perFortnight: "1" } });
});
after(async () => {
  await pool.end();
  await db.drop();
});

const get = (a: FastifyInstance, url: string, authorization?: string) =>
  a.inject({ method: "GET", url, headers: authorization ? { authorization } : {} });

test("every DSP request is authenticated: none, unknown, foreign and non-participant callers are refused", async () => {
  const a = await app();
  try {
    const url = "/dsp/alpha/.well-known/dspace-version";
    const none = await get(a, url);
    assert.equal(none.statusCode, 401);
    assert.equal(none.json<{ "@type": string }>()["@type"], "CatalogError");
    assert.equal((await get(a, url, "Bearer nobody-knows-this")).statusCode, 401);
    assert.equal((await get(a, url, "Basic YWxhZGRpbjpvcGVuc2VzYW1l")).statusCode, 401);
    // beta's credential is for alpha; alpha's own outgoing credential is not one alpha accepts.
    assert.equal((await get(a, url, ALPHA_AUTH)).statusCode, 401);
    const foreign = await mintToken(key, {
      role: "participant",
      subject: "x",
      space: "gamma",
      participant: "x",
    });
    assert.equal((await get(a, url, `Bearer ${foreign}`)).statusCode, 404);
    const admin = await mintToken(key, { role: "space-admin", subject: "ops", space: "alpha" });
    assert.equal((await get(a, url, `Bearer ${admin}`)).statusCode, 403);
    const member = await mintToken(key, {
      role: "participant",
      subject: "m",
      space: "alpha",
      participant: "maker",
    });
    assert.equal((await get(a, url, `Bearer ${member}`)).statusCode, 200);
    const ok = await get(a, url, EXT_AUTH);
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), {
      protocolVersions: [{ version: "2025-1", path: "/dsp/alpha/2025-1", binding: "HTTPS" }],
    });
    assert.equal((await get(a, "/dsp/nospace/.well-known/dspace-version", EXT_AUTH)).statusCode, 404);
  } finally {
    await a.close();
  }
});

test("the catalog lists published offers with their ODRL policy and leaves out what ODRL cannot state", async () => {
  const a = await app();
  try {
    const r = await a.inject({
      method: "POST",
      url: "/dsp/alpha/2025-1/catalog/request",
      headers: { authorization: EXT_AUTH },
      payload: { "@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage" },
    });
    assert.equal(r.statusCode, 200);
    const cat = r.json<{ participantId: string; dataset: { "@id": string; hasPolicy: unknown[] }[] }>();
    assert.equal(cat.participantId, "urn:tds:alpha");
    assert.deepEqual(
      cat.dataset.map((d) => d["@id"]),
      [datasetIdOf(offer)],
    );
    assert.deepEqual(cat.dataset[0]?.hasPolicy, [
      {
        "@id": offerIdOf(offer as never),
        "@type": "Offer",
        permission: [
          {
            action: "use",
            constraint: [{ leftOperand: "purpose", operator: "isAnyOf", rightOperand: ["research"] }],
            duty: [
              {
                action: "compensate",
                constraint: [
                  { leftOperand: "payAmount", operator: "eq", rightOperand: "10.00", unit: "CNY" },
                ],
              },
            ],
          },
        ],
      },
    ]);
    const odd = await get(a, `/dsp/alpha/2025-1/catalog/datasets/${datasetIdOf(untranslatable)}`, EXT_AUTH);
    assert.equal(odd.statusCode, 404);
    assert.equal(odd.json<{ "@type": string }>()["@type"], "CatalogError");
    const bad = await a.inject({
      method: "POST",
      url: "/dsp/alpha/2025-1/catalog/request",
      headers: { authorization: EXT_AUTH },
      payload: { "@type": "Catalog" },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json<{ field: string }>().field, "@type");
  } finally {
    await a.close();
  }
});

test("illegal transitions are refused with 409 and a DSP error; a caller sees only its own processes; state survives a restart", async () => {
  const store = new DspStore(pool);
  await store.insertNegotiation({
    pid: "n-finalized",
    space: "alpha",
    role: "provider",
    state: "FINALIZED",
    peerPid: "c-1",
    counterparty: "did:web:partner.example",
    peerAddress: "http://127.0.0.1:9",
    datasetId: datasetIdOf(offer),
    offerId: offerIdOf(offer as never),
    offer: {},
    agreementId: "agr-1",
    agreement: {},
    contractRef: null,
    counterOffers: 0,
  });
  let a = await app();
  try {
    const r = await a.inject({
      method: "POST",
      url: "/dsp/alpha/2025-1/negotiations/n-finalized/termination",
      headers: { authorization: EXT_AUTH },
      payload: {
        "@context": [DSP_CONTEXT],
        "@type": "ContractNegotiationTerminationMessage",
        providerPid: "n-finalized",
        consumerPid: "c-1",
      },
    });
    assert.equal(r.statusCode, 409);
    const body = r.json<{ "@type": string; reason: string[] }>();
    assert.equal(body["@type"], "ContractNegotiationError");
    assert.match(body.reason[0] ?? "", /terminate is not allowed in state FINALIZED/);
    const beta = await get(a, "/dsp/alpha/2025-1/negotiations/n-finalized", BETA_AUTH);
    assert.equal(beta.statusCode, 404, "another counterparty's negotiation does not exist for beta");
  } finally {
    await a.close();
  }
  a = await app();
  try {
    const r = await get(a, "/dsp/alpha/2025-1/negotiations/n-finalized", EXT_AUTH);
    assert.equal(r.statusCode, 200);
    assert.equal(r.json<{ state: string }>().state, "FINALIZED");
  } finally {
    await a.close();
  }
});

test("a consumer of space beta negotiates with space alpha over HTTP; alpha without a contract backend refuses with a reason", async () => {
  const a = await app();
  await a.listen({ host: "127.0.0.1", port });
  try {
    const buyer = await mintToken(key, {
      role: "participant",
      subject: "b",
      space: "beta",
      participant: "buyer",
    });
    const start = await a.inject({
      method: "POST",
      url: "/v1/spaces/beta/dsp/negotiations",
      headers: { authorization: `Bearer ${buyer}` },
      payload: {
        providerId: "urn:tds:alpha",
        connectorAddress: `http://127.0.0.1:${port.toString()}/dsp/alpha/2025-1`,
        datasetId: datasetIdOf(offer),
        offerId: offerIdOf(offer as never),
      },
    });
    assert.equal(start.statusCode, 201, start.body);
    const { consumerPid } = start.json<{ consumerPid: string }>();
    const store = new DspStore(pool);
    let n = await store.negotiation("beta", consumerPid);
    for (let i = 0; i < 100 && n?.state !== "TERMINATED"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      n = await store.negotiation("beta", consumerPid);
    }
    assert.equal(n?.state, "TERMINATED");
    assert.ok(n.peerPid, "beta learned alpha's process id");
    const provider = await store.negotiation("alpha", n.peerPid);
    assert.equal(provider?.state, "TERMINATED");
    assert.equal(provider.counterparty, "urn:tds:beta");
    const ev = await pool.query<{ action: string }>(
      "select convert_from(entry, 'UTF8')::jsonb->>'action' as action from evidence_entries where space = 'alpha' and object_name = $1 order by leaf_index",
      [provider.pid],
    );
    assert.deepEqual(
      ev.rows.map((r) => r.action),
      ["dsp.negotiation.requested", "dsp.negotiation.terminated"],
    );
  } finally {
    await a.close();
  }
});
