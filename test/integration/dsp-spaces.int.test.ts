// Two TDS spaces talking DSP, on one real control plane, PostgreSQL and S3
// store, with two dashboard API processes (in this test process) over real
// HTTP(S) on loopback. A's API is a door with client certificates (HTTPS,
// plugins/client-certificates.ts); B's API is B's connector. B's consumer
// participant discovers A's offer over DSP with the client certificate the
// operator issued it; B's connector negotiates with A presenting that
// certificate (spec.dsp.counterparties[].presentCertificate), and A
// recognises it because A lists B in trustAnchors.trustedSpaces and declares
// B's participant as a DSP counterparty (spec.dsp.counterparties[].certificate).
// A's operator decides the DataContract; the participant pulls the bytes
// through A's gateway; the transfer is metered and evidenced in A. Once A stops
// trusting B, B's certificate is refused with its reason.
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import type { DataSpace } from "@tds/crds";
import type { FastifyInstance } from "fastify";
import { buildApp } from "@tds/dashboard-api/app";
import { CertificateVerifier } from "@tds/dashboard-api/certificate-trust";
import { apiKubeClient } from "@tds/dashboard-api/kube";
import { DspSpacesFromCluster } from "../../dashboard-api/src/dsp/cluster.ts";
import { dspOptions } from "../../dashboard-api/src/dsp/index.ts";
import { DSP_CONTEXT } from "../../dashboard-api/src/dsp/messages.ts";
import { DspStore } from "@tds/dashboard-api/dsp-store";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { startApi, type TestApi } from "@tds/test/api";
import { freePort } from "@tds/test/server";
import type { IssuedCertificate, KeyedCertificate } from "@tds/operator/pki";
import {
  participantManifest,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
  participantStorage,
} from "../harness/operator-fixtures.ts";
import { httpsCall, loopbackDoorTls, participantCertificate } from "../harness/mtls.ts";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";

const run = runId();
const a = `dspa-${run}`;
const b = `dspb-${run}`;
const provider = `${a}-prov`;
const partner = `${a}-partner`; // A's participant that stands for B's consumer: A's contracts are in its namespace
const consumer = `${b}-cons`;
const client = new KubeClient(kubeConfig());
const A_TO_B = `Bearer a2b-${randomBytes(16).toString("hex")}`;
const data = "ts,flow\n2026-01-01T00:00:00Z,3.25\n".repeat(300);
const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 90_000);

/** A's API (HTTPS with client certificates) and A's gateway, on the platform's database. */
let api: TestApi;
/** A's gateway, HTTPS with client certificates as A's API. */
let portGw: number;
let operator: TestOperator;
let doorCa: IssuedCertificate;
let apiB: FastifyInstance | undefined;
let viewB: DspSpacesFromCluster;
let portA: number;
let baseB: string;
let consumerJwt: string;
const stops: (() => Promise<void>)[] = [];

const ready = (o: KubeObject) =>
  ((o as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []).some(
    (c) => c.type === "Ready" && c.status === "True",
  );

/** A Secret in a space's control namespace, once the operator made the namespace. */
async function controlSecret(space: string, data: Record<string, string>): Promise<void> {
  await eventually(`namespace tds-${space}`, () => client.find(kinds.namespace, `tds-${space}`), 60_000);
  await client.create(kinds.secret, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "dsp-credentials", namespace: `tds-${space}` },
    stringData: data,
  });
}

/** A DSP message to A's door, as B's participant (its certificate) or with the given headers. */
function atA(
  path: string,
  cert: KeyedCertificate | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return httpsCall(portA, `/dsp/${a}/2025-1${path}`, {
    ca: doorCa.certPem,
    cert,
    headers,
    ...(body === undefined ? {} : { method: "POST", body: { "@context": [DSP_CONTEXT], ...body } }),
  });
}

before(async () => {
  installCrds();
  const kube = apiKubeClient(kubeConfig());
  const tls = await loopbackDoorTls(run);
  doorCa = tls.ca;
  portA = await freePort();
  portGw = await freePort();
  const portB = await freePort();
  baseB = `http://127.0.0.1:${portB.toString()}`;
  // Each API process: its own view of the cluster's DataSpaces (spec.dsp) and its own DSP engine.
  const view = async () => {
    const v = new DspSpacesFromCluster({ client, log, refreshMs: 2_000 });
    await v.start();
    stops.push(() => v.stop());
    return v;
  };
  const viewA = await view();
  viewB = await view();
  api = await startApi(
    "tds_dsp_spaces",
    async ({ pool, token }) => {
      consumerJwt = await token({ role: "participant", subject: "c", space: b, participant: consumer });
      const dspA = dspOptions({
        pool,
        publicUrl: `https://127.0.0.1:${portA.toString()}`,
        gatewayUrl: `https://127.0.0.1:${portGw.toString()}`,
        kube,
        config: viewA.current,
      });
      const verifier = new CertificateVerifier({
        client,
        log,
        evidence: new EvidenceStore(pool),
        watchdogMs: 30_000,
      });
      stops.push(() => verifier.stop());
      return {
        gateway: {
          gateway: { transferTokens: dspA.transferTokens },
          tls: { https: tls.https, certificates: { verifier } },
          port: portGw,
        },
        app: { https: tls.https, certificates: { verifier }, kube, dsp: { ...dspA, stepDelayMs: 50 } },
        port: portA,
      };
    },
    { maxConnections: 8 },
  );
  // The operator's dashboard is B's API (plain HTTP); both APIs share the platform's database.
  const operatorToken = await api.token({ role: "operator", subject: "system:tds-operator" });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: { url: baseB, token: () => Promise.resolve(operatorToken) },
  });
  const dspB = dspOptions({ pool: api.pool, publicUrl: baseB, kube, config: viewB.current });
  apiB = await buildApp({
    pool: api.pool,
    verifyToken: api.verifyToken,
    kube,
    dsp: { ...dspB, stepDelayMs: 50 },
  });
  await apiB.listen({ host: "127.0.0.1", port: portB });

  await client.create(
    kinds.dataSpace,
    spaceManifest(a, run, {
      trustAnchors: { trustedSpaces: [{ name: b }] },
      dsp: {
        counterparties: [
          {
            id: `urn:tds:${b}`,
            participant: partner,
            certificate: { space: b, participant: consumer },
            outgoingAuthorizationSecretRef: { name: "dsp-credentials", key: "to-b" },
          },
        ],
      },
    }) as KubeObject,
  );
  await client.create(
    kinds.dataSpace,
    spaceManifest(b, run, {
      dsp: {
        consumer,
        counterparties: [
          {
            id: `urn:tds:${a}`,
            authorizationSecretRef: { name: "dsp-credentials", key: "from-a" },
            presentCertificate: true,
            serverCaBundle: doorCa.certPem,
          },
        ],
      },
    }) as KubeObject,
  );
  await controlSecret(a, { "to-b": A_TO_B });
  await controlSecret(b, { "from-a": A_TO_B });
  for (const [name, space, roles] of [
    [provider, a, ["provider"]],
    [partner, a, ["consumer"]],
    [consumer, b, ["consumer"]],
  ] as const) {
    await client.create(kinds.participant, participantManifest(name, space, { roles }) as KubeObject);
  }
  await until("the participants Ready and A trusting B", async () => {
    const ps = await Promise.all([provider, partner, consumer].map((p) => client.get(kinds.participant, p)));
    const space = await client.get<DataSpace & KubeObject>(kinds.dataSpace, a);
    const trust = space.status?.conditions?.find((c) => c.type === "TrustAnchors");
    return ps.every(ready) && trust?.status === "True" ? true : undefined;
  });
  await until("B's connector holding its consumer's certificate", () =>
    Promise.resolve(viewB.current()[b]?.counterparties[0]?.clientCertificate ? true : undefined),
  );

  const { s3, bucket } = await participantStorage(client, a, provider);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "flow/day1.csv", Body: data }));
  await client.create(kinds.dataOffer, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataOffer",
    metadata: { name: "flow", namespace: `${a}--${provider}` },
    spec: {
      title: "River flow",
      classification: "public",
      dataCategory: "industrial.telemetry",
      regionOfOrigin: "CN-SH",
      asset: { prefix: "flow/", format: "text/csv" },
      policy: { purposes: ["research"], accessMode: "download" },
    },
  });
});

after(async () => {
  await apiB?.close();
  await Promise.all(stops.map((s) => s()));
  for (const s of [a, b]) await client.delete(kinds.dataSpace, s).catch(() => undefined);
  await operator.stop();
  await api.close();
});

test("B's participant finds A's offer over DSP, B's connector negotiates with its certificate, A's operator decides, and the bytes come through A's gateway", async () => {
  const cert = await participantCertificate(client, b, consumer);
  // Unknown callers are refused: no credential, a bad one.
  assert.equal((await atA("/catalog/request", undefined, { "@type": "CatalogRequestMessage" })).status, 401);
  const bad = await atA(
    "/catalog/request",
    undefined,
    { "@type": "CatalogRequestMessage" },
    { authorization: "Bearer nope" },
  );
  assert.equal(bad.status, 401, bad.text);

  const catalog = await until("A's offer in its DSP catalog, for B's participant", async () => {
    const r = await atA("/catalog/request", cert, { "@type": "CatalogRequestMessage" });
    assert.equal(r.status, 200, r.text);
    const ds = (r.body.dataset as { "@id": string; hasPolicy: { "@id": string }[] }[] | undefined) ?? [];
    return ds.length > 0 ? ds : undefined;
  });
  const dataset = catalog[0];
  assert.ok(dataset);
  const atB = async (path: string, body: unknown) => {
    const res = await fetch(`${baseB}/v1/spaces/${b}/dsp/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${consumerJwt}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };
  const connectorAddress = `https://127.0.0.1:${portA.toString()}/dsp/${a}/2025-1`;
  const started = await atB("negotiations", {
    providerId: `urn:tds:${a}`,
    connectorAddress,
    datasetId: dataset["@id"],
    offerId: dataset.hasPolicy[0]?.["@id"],
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const store = new DspStore(api.pool);
  const n = await until("B's negotiation FINALIZED", async () => {
    const x = await store.negotiation(b, started.body.consumerPid ?? "");
    assert.notEqual(x?.state, "TERMINATED", `terminated: ${JSON.stringify(x)}`);
    return x?.state === "FINALIZED" ? x : undefined;
  });
  const providerSide = await store.negotiation(a, n.peerPid ?? "");
  assert.equal(providerSide?.state, "FINALIZED");
  assert.equal(providerSide.counterparty, `urn:tds:${b}`, "A knows the caller as the declared counterparty");
  const [cns, cname] = (providerSide.contractRef ?? "/").split("/");
  assert.equal(cns, `${a}--${partner}`, "the DataContract is A's, in its partner participant's namespace");
  const contract = await until("the DataContract Active", async () => {
    const c = await client.get<KubeObject & { status?: { agreementId?: string; state?: string } }>(
      kinds.dataContract,
      cname ?? "",
      cns,
    );
    return c.status?.state === "Active" ? c : undefined;
  });
  assert.equal(n.agreementId, contract.status?.agreementId, "the DSP agreement id is the contract's");

  const transfer = await atB("transfers", {
    providerId: `urn:tds:${a}`,
    connectorAddress,
    agreementId: n.agreementId,
  });
  assert.equal(transfer.status, 201, JSON.stringify(transfer.body));
  const t = await until("B's transfer STARTED with a data address", async () => {
    const x = await store.transfer(b, transfer.body.consumerPid ?? "");
    assert.notEqual(x?.state, "TERMINATED", `terminated: ${JSON.stringify(x)}`);
    return x?.state === "STARTED" && x.dataAddress ? x : undefined;
  });
  const address = t.dataAddress as {
    endpoint: string;
    endpointProperties: { name: string; value: string }[];
  };
  const authorization = address.endpointProperties.find((p) => p.name === "authorization")?.value ?? "";
  const prefix = `https://127.0.0.1:${portGw.toString()}`;
  assert.equal(address.endpoint, `${prefix}/v1/data/${n.agreementId}/`, "A's gateway");
  const pulled = await httpsCall(portGw, `${address.endpoint.slice(prefix.length)}flow/day1.csv`, {
    ca: doorCa.certPem,
    cert,
    headers: { authorization },
  });
  assert.equal(pulled.status, 200, pulled.text.slice(0, 300));
  assert.equal(pulled.text, data, "the bytes match");
  await until("the transfer metered in A", async () => {
    const r = await api.pool.query<{ bytes: string }>(
      "select bytes::text from gateway_transfers where agreement_id = $1",
      [n.agreementId],
    );
    return r.rows[0]?.bytes === String(Buffer.byteLength(data)) ? true : undefined;
  });
  const evidence = await api.pool.query<{ action: string; actor: string }>(
    "select convert_from(entry, 'UTF8')::jsonb->>'action' as action, convert_from(entry, 'UTF8')::jsonb->>'actor' as actor from evidence_entries where space = $1 order by leaf_index",
    [a],
  );
  const actions = evidence.rows.map((r) => `${r.action} ${r.actor}`);
  for (const want of [
    `dsp.negotiation.requested urn:tds:${b}`,
    `dsp.negotiation.verified urn:tds:${b}`,
    `dsp.transfer.requested urn:tds:${b}`,
    `certificate.accepted participant:${b}/${consumer}`,
  ])
    assert.ok(actions.includes(want), `A's log has "${want}": ${JSON.stringify(actions)}`);
  assert.ok(
    actions.some((x) => x.startsWith("dsp.transfer.started")),
    JSON.stringify(actions),
  );
});

test("a B participant that is not the declared counterparty is refused; once A stops trusting B, B's certificate is refused with its reason", async () => {
  const other = `${b}-other`;
  await client.create(
    kinds.participant,
    participantManifest(other, b, { roles: ["consumer"] }) as KubeObject,
  );
  const otherCert = await participantCertificate(client, b, other);
  const notDeclared = await until("the other participant's certificate known to A's door", async () => {
    const r = await atA("/catalog/request", otherCert, { "@type": "CatalogRequestMessage" });
    return r.status === 403 ? r : undefined;
  });
  assert.match(
    JSON.stringify(notDeclared.body.reason),
    new RegExp(`${other} of space ${b} .*not a declared DSP counterparty of space ${a}`),
  );

  await client.mergePatch(kinds.dataSpace, a, undefined, { spec: { trustAnchors: { trustedSpaces: [] } } });
  const cert = await participantCertificate(client, b, consumer);
  const refused = await until("A to stop trusting B", async () => {
    const r = await atA("/catalog/request", cert, { "@type": "CatalogRequestMessage" });
    return r.status === 403 ? r : undefined;
  });
  assert.match(String(refused.body.detail), /^Client certificate refused \(untrustedSpace\)/);
  assert.match(String(refused.body.detail), new RegExp(`space ${b}, which space ${a} does not trust`));
});
