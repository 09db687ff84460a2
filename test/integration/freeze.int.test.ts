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
import { cutShort, servedEventually } from "@tds/test/gateway";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import {
  activeContract,
  conditionOf,
  contractManifest,
  participantStorage,
  provisionSpace,
  publishOffer,
  runId,
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
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);
const contractOf = (name: string, participant = consumer) =>
  client.get<Obj>(kinds.dataContract, name, ns(participant));
const offer = (name: string) => ({ namespace: provNs, name });
const freeze = (f: Record<string, unknown> | null) =>
  client.mergePatch(kinds.dataSpace, space, undefined, { spec: { freeze: f } });

before(async () => {
  installCrds();
  api = await startApi("tds_fz", { gateway: { env: { TDS_GATEWAY_MONITOR_MS: "500" } } });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: await api.operatorClient(),
  });
  await provisionSpace(client, run, space, {
    [provider]: { roles: ["provider"] },
    [consumer]: { roles: ["consumer"] },
    [other]: { roles: ["consumer"] },
  });
  const { s3, bucket } = await participantStorage(client, space, provider);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/big.bin", Body: big }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "turbines/data.csv", Body: "unit,t\n1,80\n" }));
  await publishOffer(client, "telemetry", provNs);
  await publishOffer(client, "compute", provNs, {
    asset: { key: "turbines/data.csv", format: "text/csv" },
    policy: { purposes: ["research"], accessMode: "computeOnly" },
  });
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

const download = (agreementId: string, token: string) =>
  api.gateway.data(agreementId, "telemetry/big.bin", token);

async function downloadsAgain(agreementId: string, token: string): Promise<void> {
  const res = await servedEventually("a download to be served", () => download(agreementId, token));
  await res.body?.cancel();
}

test("a space freeze suspends every contract, cuts their streams, stops a running job and holds new requests; lifting it reopens them", async () => {
  const dl = await activeContract(client, "dl", ns(consumer), offer("telemetry"));
  await activeContract(client, "job", ns(consumer), offer("compute"));
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
  assert.equal(conditionOf(job, "Ready")?.reason, "ContractNotActive");

  const ds = await until("the space's Frozen condition", async () => {
    const o = await client.get<Obj>(kinds.dataSpace, space);
    return conditionOf(o, "Frozen")?.status === "True" ? o : undefined;
  });
  assert.equal(conditionOf(ds, "Frozen")?.reason, "SpaceFrozen");
  await api.untilEvidence(space, ds.metadata.uid ?? "", "space.frozen");
  await api.untilEvidence(space, dl.uid, "contract.suspended");

  // A request made during the freeze waits; it is not rejected.
  await client.create(kinds.dataContract, contractManifest("during", ns(consumer), offer("telemetry")));
  const held = await until("the request held", async () => {
    const o = await contractOf("during");
    return conditionOf(o, "Ready")?.reason === "SpaceFrozen" ? o : undefined;
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
  assert.equal(conditionOf(lifted, "Frozen")?.status, "False");
  assert.equal(conditionOf(lifted, "Frozen")?.reason, "FreezeLifted");
  await api.untilEvidence(space, lifted.metadata.uid ?? "", "space.unfrozen");
  // A stopped job stays stopped: a freeze is not a pause.
  assert.equal((await client.get<Obj>(kinds.sandboxJob, "long", ns(consumer))).status?.phase, "Failed");
});

test("a participant freeze stops that participant's contracts and no one else's", async () => {
  const mine = await activeContract(client, "mine", ns(consumer), offer("telemetry"));
  const theirs = await activeContract(client, "theirs", ns(other), offer("telemetry"));
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
  assert.equal(conditionOf(ds, "Frozen")?.reason, "ParticipantsFrozen");
  await freeze(null);
  await until("the contract Active again", async () =>
    (await contractOf("mine")).status?.state === "Active" ? true : undefined,
  );
  await downloadsAgain(mine.agreementId, mine.token);
});
