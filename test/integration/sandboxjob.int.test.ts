// SandboxJobs end to end on the real control plane with kube-scheduler and
// KWOK (pods are scheduled onto a fake node and driven through Running and
// Succeeded), S3 and PostgreSQL: an in-process operator limited to this run's
// space runs jobs under Active computeOnly contracts, meters them once through
// the dashboard API, records evidence per phase, and removes the sandbox; a
// revoked contract stops its job.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { startApi, type TestApi } from "@tds/test/api";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import { sandboxNamespace } from "../../operator/src/controllers/sandboxjob/sandboxjob.builders.ts";
import {
  activeContract,
  conditionOf,
  offerManifest,
  participantStorage,
  provisionProviderAndConsumer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";

const run = runId();
const space = `sj-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
const client = new KubeClient(kubeConfig());

let api: TestApi;
let operator: TestOperator;

interface Status {
  phase?: string;
  state?: string;
  startTime?: string;
  completionTime?: string;
  cpuSeconds?: number;
  sandboxNamespace?: string;
  review?: { state: string; reason?: string };
  conditions?: { type: string; status: string; reason: string; message: string }[];
}
type Obj = KubeObject & { status?: Status };
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);
const getJob = (name: string) => client.get<Obj>(kinds.sandboxJob, name, consNs);

function sandboxJob(name: string, contract: string, env: { name: string; value: string }[] = []): KubeObject {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "SandboxJob",
    metadata: { name, namespace: consNs },
    spec: {
      contractRef: { name: contract },
      image: "registry.example/analysis@sha256:" + "a".repeat(64),
      resources: { cpu: "500m", memory: "256Mi" },
      maxDurationSeconds: 600,
      env,
      outputs: [{ name: "report", path: "/outputs/report.json", maxSize: "1Ki" }],
    },
  };
}

const offer = (name: string) => ({ namespace: provNs, name });

before(async () => {
  installCrds();
  api = await startApi("tds_sbx");
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: await api.operatorClient(),
  });
  await provisionProviderAndConsumer(client, run, space, provider, consumer);
  const { s3, bucket } = await participantStorage(client, space, provider);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "turbines/data.csv", Body: "unit,t\n1,80\n" }));
  for (const [name, mode] of [
    ["compute", "computeOnly"],
    ["download", "download"],
  ] as const)
    await client.create(
      kinds.dataOffer,
      offerManifest(name, provNs, {
        asset: { key: "turbines/data.csv", format: "text/csv" },
        policy: { purposes: ["research"], accessMode: mode },
      }),
    );
  await activeContract(client, "c-run", consNs, offer("compute"));
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

test("a job runs through Running to Succeeded under KWOK, is metered once from requests x run time, and its sandbox is removed", async () => {
  const created = await client.create<Obj>(kinds.sandboxJob, sandboxJob("analysis", "c-run"));
  const ns = sandboxNamespace(created as never);
  const running = await until("Running", async () => {
    const j = await getJob("analysis");
    return j.status?.phase === "Running" ? j : undefined;
  });
  assert.equal(running.status?.sandboxNamespace, ns);
  const live = await client.get<KubeObject & { metadata: { labels?: Record<string, string> } }>(
    kinds.namespace,
    ns,
  );
  assert.equal(live.metadata.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
  const done = await until("Succeeded, metered, sandbox removed", async () => {
    const j = await getJob("analysis");
    return j.status?.phase === "Succeeded" &&
      conditionOf(j, "Metered")?.status === "True" &&
      conditionOf(j, "SandboxRemoved")?.status === "True"
      ? j
      : undefined;
  });
  assert.equal(done.status?.review?.state, "PendingReview");
  const runMs = Date.parse(done.status.completionTime ?? "") - Date.parse(done.status.startTime ?? "");
  assert.ok(runMs >= 1000, `run time ${String(runMs)} ms`);
  const rows = await api.pool.query<{ id: string; meter: string; quantity: string }>(
    "select id, meter, quantity::text from usage_events where space = $1 order by id",
    [space],
  );
  const uid = created.metadata.uid ?? "";
  assert.deepEqual(
    rows.rows.filter((r) => r.id.startsWith("sandbox/")),
    [
      { id: `sandbox/${uid}/cpu`, meter: "sandbox.cpu_milliseconds", quantity: String((500 * runMs) / 1000) },
      {
        id: `sandbox/${uid}/memory`,
        meter: "sandbox.memory_byte_seconds",
        quantity: String((256 * 1024 * 1024 * runMs) / 1000),
      },
    ],
  );
  assert.equal(
    await client
      .find(kinds.namespace, ns)
      .then((n) => n?.metadata.deletionTimestamp !== undefined || n === undefined),
    true,
  );
  assert.deepEqual(await api.evidenceActions(space, uid), [
    "sandbox.pending",
    "sandbox.running",
    "sandbox.succeeded",
  ]);
});

test("a job under a download offer, or under a contract that is not Active, is refused with the rule", async () => {
  await activeContract(client, "c-dl", consNs, offer("download"));
  await client.create(kinds.sandboxJob, sandboxJob("wrong-mode", "c-dl"));
  const refused = await until("Rejected", async () => {
    const j = await getJob("wrong-mode");
    return j.status?.phase === "Rejected" ? j : undefined;
  });
  assert.equal(conditionOf(refused, "Ready")?.reason, "OfferNotComputeOnly");
});

test("revoking the contract stops a running job and removes its sandbox namespace", async () => {
  await activeContract(client, "c-revoke", consNs, offer("compute"));
  const created = await client.create<Obj>(
    kinds.sandboxJob,
    sandboxJob("long", "c-revoke", [{ name: "KWOK_RUN_DURATION", value: "300s" }]),
  );
  const ns = sandboxNamespace(created as never);
  await until("Running", async () => ((await getJob("long")).status?.phase === "Running" ? true : undefined));
  await client.mergePatch(kinds.dataContract, "c-revoke", consNs, {
    metadata: { annotations: { "tds.dev/revoke": "Consumer misused the data" } },
  });
  const stopped = await until("Failed", async () => {
    const j = await getJob("long");
    return j.status?.phase === "Failed" ? j : undefined;
  });
  assert.equal(conditionOf(stopped, "Ready")?.reason, "ContractRevoked");
  await until("the sandbox namespace gone", async () =>
    (await client.find(kinds.namespace, ns)) === undefined ? true : undefined,
  );
});
