// DSP end to end on the real control plane, S3 store and PostgreSQL: a
// consumer connector negotiates over HTTP for a published offer; the provider
// side makes a DataContract in the consumer's namespace that the in-process
// operator decides; the DSP agreement id is the contract's; a PULL transfer
// hands out the gateway URL and a token of that transfer, whose bytes match,
// are metered and evidenced; suspension refuses the token again.
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import { apiKubeClient } from "@tds/dashboard-api/kube";
import { dspOptions } from "../../dashboard-api/src/dsp/index.ts";
import { sha256Hex } from "../../dashboard-api/src/dsp/identity.ts";
import { DSP_CONTEXT } from "../../dashboard-api/src/dsp/messages.ts";
import { DspStore } from "@tds/dashboard-api/dsp-store";
import { startApi, type TestApi } from "@tds/test/api";
import { freePort } from "@tds/test/server";
import {
  offerManifest,
  participantStorage,
  provisionProviderAndConsumer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";
import { eventually, installCrds, kubeConfig, readRest } from "../harness/testkit.ts";

const run = runId();
const space = `dsp-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
const client = new KubeClient(kubeConfig());
const PROVIDER_TO_CONSUMER = `Bearer p2c-${run}`;
const data = "ts,temp\n2026-01-01T00:00:00Z,21.5\n".repeat(200);
const big = randomBytes(48 * 1024 * 1024);

let api: TestApi;
let base: string;
/** The gateway's origin, which data addresses name. */
let gatewayBase: string;
let operator: TestOperator;
let consumerJwt: string;
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);

before(async () => {
  installCrds();
  const port = await freePort();
  base = `http://127.0.0.1:${port.toString()}`;
  const gatewayPort = await freePort();
  gatewayBase = `http://127.0.0.1:${gatewayPort.toString()}`;
  api = await startApi("tds_dsp_e2e", async ({ pool, token }) => {
    consumerJwt = await token({ role: "participant", subject: "c", space, participant: consumer });
    const kube = apiKubeClient(kubeConfig());
    // One API is both connectors here: the consumer's side calls the provider's with the consumer
    // participant's token, and the provider's side calls back with a credential the consumer side declares.
    const dsp = dspOptions({
      pool,
      publicUrl: base,
      gatewayUrl: gatewayBase,
      kube,
      config: {
        [space]: {
          participantId: `urn:tds:${space}`,
          consumer,
          counterparties: [
            {
              id: consumer,
              participant: consumer,
              authorizationSha256: sha256Hex(`Bearer unused-${run}`),
              outgoingAuthorization: PROVIDER_TO_CONSUMER,
            },
            {
              id: `urn:tds:${space}`,
              authorizationSha256: sha256Hex(PROVIDER_TO_CONSUMER),
              outgoingAuthorization: `Bearer ${consumerJwt}`,
            },
          ],
        },
      },
    });
    return {
      gateway: { gateway: { transferTokens: dsp.transferTokens }, port: gatewayPort },
      app: { kube, dsp: { ...dsp, stepDelayMs: 50 } },
      port,
    };
  });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: await api.operatorClient(),
  });
  await provisionProviderAndConsumer(client, run, space, provider, consumer);
  const { s3, bucket } = await participantStorage(client, space, provider);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/day1.csv", Body: data }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/big.bin", Body: big }));
  // Not waited for: the test waits for the offer in the DSP catalog.
  await client.create(
    kinds.dataOffer,
    offerManifest("telemetry", provNs, { asset: { prefix: "telemetry/", format: "text/csv" } }),
  );
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

async function dsp(method: string, path: string, authorization: string, body?: unknown) {
  const res = await fetch(`${base}/dsp/${space}/2025-1${path}`, {
    method,
    headers: { authorization, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify({ "@context": [DSP_CONTEXT], ...body }) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test("a consumer negotiates over DSP, the operator decides the DataContract, and the PULL transfer's bytes come through the gateway", async () => {
  const auth = `Bearer ${consumerJwt}`;
  const catalog = await until("the offer in the DSP catalog", async () => {
    const r = await dsp("POST", "/catalog/request", auth, { "@type": "CatalogRequestMessage" });
    const ds = (r.body.dataset as { "@id": string; hasPolicy: { "@id": string }[] }[] | undefined) ?? [];
    return ds.length > 0 ? ds : undefined;
  });
  const dataset = catalog[0];
  assert.ok(dataset);
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}/v1/spaces/${space}/dsp/${path}`, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };
  const started = await post("negotiations", {
    providerId: `urn:tds:${space}`,
    connectorAddress: `${base}/dsp/${space}/2025-1`,
    datasetId: dataset["@id"],
    offerId: dataset.hasPolicy[0]?.["@id"],
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const store = new DspStore(api.pool);
  const consumerPid = started.body.consumerPid ?? "";
  const n = await until("the negotiation FINALIZED", async () => {
    const x = await store.negotiation(space, consumerPid);
    assert.notEqual(x?.state, "TERMINATED", "the negotiation was terminated");
    return x?.state === "FINALIZED" ? x : undefined;
  });
  const providerSide = await store.negotiation(space, n.peerPid ?? "");
  assert.equal(providerSide?.state, "FINALIZED");
  const [cns, cname] = (providerSide.contractRef ?? "/").split("/");
  assert.equal(cns, consNs, "the DataContract is in the consumer's namespace");
  const contract = await client.get<KubeObject & { status?: { agreementId?: string; state?: string } }>(
    kinds.dataContract,
    cname ?? "",
    consNs,
  );
  assert.equal(n.agreementId, contract.status?.agreementId, "the DSP agreement id is the contract's");
  assert.equal(contract.metadata.annotations?.["tds.dev/dsp-negotiation"], providerSide.pid);
  await until("the contract Active", async () => {
    const c = await client.get<KubeObject & { status?: { state?: string } }>(
      kinds.dataContract,
      cname ?? "",
      consNs,
    );
    return c.status?.state === "Active" ? true : undefined;
  });

  const transfer = await post("transfers", {
    providerId: `urn:tds:${space}`,
    connectorAddress: `${base}/dsp/${space}/2025-1`,
    agreementId: n.agreementId,
  });
  assert.equal(transfer.status, 201, JSON.stringify(transfer.body));
  const t = await until("the transfer STARTED with a data address", async () => {
    const x = await store.transfer(space, transfer.body.consumerPid ?? "");
    return x?.state === "STARTED" && x.dataAddress ? x : undefined;
  });
  const address = t.dataAddress as {
    endpoint: string;
    endpointProperties: { name: string; value: string }[];
  };
  const authorization = address.endpointProperties.find((p) => p.name === "authorization")?.value ?? "";
  assert.equal(address.endpoint, `${gatewayBase}/v1/data/${n.agreementId}/`);
  const pulled = await fetch(`${address.endpoint}telemetry/day1.csv`, { headers: { authorization } });
  assert.equal(pulled.status, 200);
  assert.equal(await pulled.text(), data, "the bytes match");
  // The contract's own token is not what was handed out; a wrong transfer token is refused.
  assert.equal(
    (await fetch(`${address.endpoint}telemetry/day1.csv`, { headers: { authorization: "Bearer dsp.nope" } }))
      .status,
    401,
  );
  await until("the transfer metered", async () => {
    const r = await api.pool.query<{ bytes: string }>(
      "select bytes::text from gateway_transfers where agreement_id = $1",
      [n.agreementId],
    );
    return r.rows[0]?.bytes === String(Buffer.byteLength(data)) ? true : undefined;
  });

  // The consumer suspends while a large object is streaming: the provider's transfer is SUSPENDED,
  // the open stream is cut at once, and the token is refused from then on.
  const open = await fetch(`${address.endpoint}telemetry/big.bin`, { headers: { authorization } });
  assert.equal(open.status, 200);
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = open.body?.getReader();
  assert.ok(reader);
  const first = await reader.read();
  let received: number = first.value?.length ?? 0;
  const suspended = await dsp("POST", `/transfers/${encodeURIComponent(t.peerPid ?? "")}/suspension`, auth, {
    "@type": "TransferSuspensionMessage",
    providerPid: t.peerPid,
    consumerPid: t.pid,
    code: "pause",
  });
  assert.equal(suspended.status, 200, JSON.stringify(suspended.body));
  assert.equal(suspended.body.state, "SUSPENDED");
  const rest = await readRest(reader);
  received += rest.bytes;
  assert.ok(rest.cut, "the client sees a truncated body, not a clean end");
  assert.ok(received < big.length / 2, `the client got ${String(received)} of ${String(big.length)} bytes`);
  assert.equal(
    (await fetch(`${address.endpoint}telemetry/day1.csv`, { headers: { authorization } })).status,
    403,
  );

  const ev = await api.pool.query<{ action: string }>(
    "select convert_from(entry, 'UTF8')::jsonb->>'action' as action from evidence_entries where space = $1 and object_name = $2 order by leaf_index",
    [space, t.peerPid],
  );
  assert.deepEqual(
    ev.rows.map((r) => r.action),
    ["dsp.transfer.requested", "dsp.transfer.started", "dsp.transfer.suspended"],
  );
});
