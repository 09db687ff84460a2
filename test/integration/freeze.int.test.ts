// The emergency freeze (DataSpace spec.freeze), on the real control plane,
// kube-scheduler with KWOK, S3 and PostgreSQL: an in-process operator limited
// to this run's space and the real dashboard API with its gateway. Freezing
// the space suspends every Active contract with rule SpaceFrozen, refuses and
// cuts their downloads, stops a running sandbox job and holds a new request;
// each is evidenced. Lifting it reopens what it suspended. A participant
// freeze stops that participant's contracts and no one else's.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";
import { startApi, type TestApi } from "@tds/test/api";
import { cutShort } from "@tds/test/gateway";
import { KubeClient, dataOf, type KubeObject, kinds } from "@tds/kube";
import {
  participantManifest,
  participantStorage,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";

const run = runId();
const space = `fz-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const other = `${space}-other`;
const provNs = `${space}--${provider}`;
const ns = (p: string) => `${space}--${p}`;
const client = new KubeClient(kubeConfig());
const big = randomBytes(32 * 1024 * 1024);

let api: TestApi;
let operator: TestOperator;

interface Status {
  state?: string;
  phase?: string;
  agreementId?: string;
  suspension?: { rule: string; message: string };
  history?: { action: string; reason: string }[];
  conditions?: { type: string; status: string; reason: string; message: string }[];
}
type Obj = KubeObject & { status?: Status };
const suspensionOf = (o: Obj): Status["suspension"] => o.status?.suspension;
const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);
const contractOf = (name: string, participant = consumer) =>
  client.get<Obj>(kinds.dataContract, name, ns(participant));
const freeze = (f: Record<string, unknown> | null) =>
  client.mergePatch(kinds.dataSpace, space, undefined, { spec: { freeze: f } });

const evidenceActions = (uid: string) => api.evidenceActions(space, uid);

before(async () => {
  installCrds();
  api = await startApi("tds_fz", { gateway: { env: { TDS_GATEWAY_MONITOR_MS: "500" } } });
  const token = await api.token({ role: "operator", subject: "system:tds-operator" });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: { url: api.url, token: () => Promise.resolve(token) },
  });
  await client.create(kinds.dataSpace, spaceManifest(space, run) as KubeObject);
  await client.create(
    kinds.participant,
    participantManifest(provider, space, { roles: ["provider"] }) as KubeObject,
  );
  for (const p of [consumer, other])
    await client.create(
      kinds.participant,
      participantManifest(p, space, { roles: ["consumer"] }) as KubeObject,
    );
  await until("the participants to be Ready", async () => {
    const ps = await Promise.all(
      [provider, consumer, other].map((p) => client.get<Obj>(kinds.participant, p)),
    );
    return ps.every((p) => cond(p, "Ready")?.status === "True") ? true : undefined;
  });
  const { s3, bucket } = await participantStorage(client, space, provider);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/big.bin", Body: big }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "turbines/data.csv", Body: "unit,t\n1,80\n" }));
  for (const [name, mode, asset] of [
    ["telemetry", "download", { prefix: "telemetry/", format: "application/octet-stream" }],
    ["compute", "computeOnly", { key: "turbines/data.csv", format: "text/csv" }],
  ] as const) {
    await client.create(kinds.dataOffer, {
      apiVersion: "tds.dev/v1alpha1",
      kind: "DataOffer",
      metadata: { name, namespace: provNs },
      spec: {
        title: `Offer ${name}`,
        classification: "public",
        dataCategory: "industrial.telemetry",
        regionOfOrigin: "CN-SH",
        asset,
        policy: { purposes: ["research"], accessMode: mode },
      },
    });
    await until(`offer ${name} published`, async () =>
      cond(await client.get<Obj>(kinds.dataOffer, name, provNs), "Ready")?.reason === "Published"
        ? true
        : undefined,
    );
  }
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

async function requestContract(name: string, offer: string, participant = consumer): Promise<void> {
  await client.create(kinds.dataContract, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataContract",
    metadata: { name, namespace: ns(participant) },
    spec: { offerRef: { namespace: provNs, name: offer }, purpose: "research" },
  });
}

async function activeContract(name: string, offer: string, participant = consumer) {
  await requestContract(name, offer, participant);
  const c = await until(`${name} Active`, async () => {
    const o = await contractOf(name, participant);
    return o.status?.state === "Active" ? o : undefined;
  });
  const token = unb64(dataOf(await client.get(kinds.secret, `contract-${name}`, ns(participant))).token);
  return { uid: c.metadata.uid ?? "", agreementId: c.status?.agreementId ?? "", token };
}

const download = (agreementId: string, token: string) =>
  fetch(`${api.gateway.url}/v1/data/${agreementId}/telemetry/big.bin`, {
    headers: { authorization: `Bearer ${token}` },
  });

async function downloadsAgain(agreementId: string, token: string): Promise<void> {
  const res = await until("a download to be served", async () => {
    const r = await download(agreementId, token);
    if (r.status === 200) return r;
    await r.body?.cancel();
    return undefined;
  });
  await res.body?.cancel();
}

test("a space freeze suspends every contract, cuts their streams, stops a running job and holds new requests; lifting it reopens them", async () => {
  const dl = await activeContract("dl", "telemetry");
  await activeContract("job", "compute");
  await client.create(kinds.sandboxJob, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "SandboxJob",
    metadata: { name: "long", namespace: ns(consumer) },
    spec: {
      contractRef: { name: "job" },
      image: "registry.example/analysis@sha256:" + "a".repeat(64),
      resources: { cpu: "250m", memory: "256Mi" },
      maxDurationSeconds: 600,
      env: [{ name: "KWOK_RUN_DURATION", value: "300s" }],
      outputs: [{ name: "report", path: "/outputs/report.json", maxSize: "1Ki" }],
    },
  });
  await until("the job Running", async () =>
    (await client.get<Obj>(kinds.sandboxJob, "long", ns(consumer))).status?.phase === "Running"
      ? true
      : undefined,
  );
  const opened = await download(dl.agreementId, dl.token);
  assert.equal(opened.status, 200);
  const reader = (opened.body as ReadableStream<Uint8Array>).getReader();
  assert.equal((await reader.read()).done, false);

  await freeze({ reason: "suspected credential leak", incident: "INC-2026-12-02" });

  assert.equal(await cutShort(reader, big.length), true, "the open stream is cut");
  const refused = await download(dl.agreementId, dl.token);
  assert.equal(refused.status, 403);
  const body = (await refused.json()) as { code: string; message: string };
  assert.match(body.code, /^TDS_ERR_(POLICY_REFUSED|CONTRACT_SUSPENDED)$/);
  const suspended = await until("the contract Suspended", async () => {
    const o = await contractOf("dl");
    return o.status?.state === "Suspended" ? o : undefined;
  });
  assert.equal(suspensionOf(suspended)?.rule, "SpaceFrozen");
  assert.match(
    suspensionOf(suspended)?.message ?? "",
    /suspected credential leak \(incident INC-2026-12-02\)/,
  );
  const job = await until("the job stopped", async () => {
    const j = await client.get<Obj>(kinds.sandboxJob, "long", ns(consumer));
    return j.status?.phase === "Failed" ? j : undefined;
  });
  assert.equal(cond(job, "Ready")?.reason, "ContractNotActive");

  const ds = await until("the space's Frozen condition", async () => {
    const o = await client.get<Obj>(kinds.dataSpace, space);
    return cond(o, "Frozen")?.status === "True" ? o : undefined;
  });
  assert.equal(cond(ds, "Frozen")?.reason, "SpaceFrozen");
  await until("the freeze's evidence", async () =>
    (await evidenceActions(ds.metadata.uid ?? "")).includes("space.frozen") ? true : undefined,
  );
  await until("the suspension's evidence", async () =>
    (await evidenceActions(dl.uid)).includes("contract.suspended") ? true : undefined,
  );

  // A request made during the freeze waits; it is not rejected.
  await requestContract("during", "telemetry");
  const held = await until("the request held", async () => {
    const o = await contractOf("during");
    return cond(o, "Ready")?.reason === "SpaceFrozen" ? o : undefined;
  });
  assert.equal(held.status?.state, "Requested");

  // Lifting the freeze is explicit, and reopens what it suspended, without a reinstatement.
  await freeze(null);
  const back = await until("the contract Active again", async () => {
    const o = await contractOf("dl");
    return o.status?.state === "Active" ? o : undefined;
  });
  assert.equal(back.status?.history?.find((h) => h.action === "contract.reinstated")?.reason, "FreezeLifted");
  await downloadsAgain(dl.agreementId, dl.token);
  await until("the held request agreed", async () =>
    (await contractOf("during")).status?.state === "Active" ? true : undefined,
  );
  const lifted = await client.get<Obj>(kinds.dataSpace, space);
  assert.equal(cond(lifted, "Frozen")?.status, "False");
  assert.equal(cond(lifted, "Frozen")?.reason, "FreezeLifted");
  await until("the lifting's evidence", async () =>
    (await evidenceActions(lifted.metadata.uid ?? "")).includes("space.unfrozen") ? true : undefined,
  );
  // A stopped job stays stopped: a freeze is not a pause.
  assert.equal((await client.get<Obj>(kinds.sandboxJob, "long", ns(consumer))).status?.phase, "Failed");
});

test("a participant freeze stops that participant's contracts and no one else's", async () => {
  const mine = await activeContract("mine", "telemetry");
  const theirs = await activeContract("theirs", "telemetry", other);
  await freeze({ reason: "consumer under investigation", participants: [consumer] });
  const suspended = await until("the frozen consumer's contract Suspended", async () => {
    const o = await contractOf("mine");
    return o.status?.state === "Suspended" ? o : undefined;
  });
  assert.equal(suspensionOf(suspended)?.rule, "ParticipantFrozen");
  const refused = await download(mine.agreementId, mine.token);
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  assert.equal((await contractOf("theirs", other)).status?.state, "Active");
  await downloadsAgain(theirs.agreementId, theirs.token);
  const ds = await client.get<Obj>(kinds.dataSpace, space);
  assert.equal(cond(ds, "Frozen")?.reason, "ParticipantsFrozen");
  await freeze(null);
  await until("the contract Active again", async () =>
    (await contractOf("mine")).status?.state === "Active" ? true : undefined,
  );
  await downloadsAgain(mine.agreementId, mine.token);
});
