// The operator under faults, on the real control plane: resyncs of unchanged
// objects write nothing, another writer's edits are undone, and cut, silent
// or compacted-away watches recover without a destructive action.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Participant } from "@tds/crds";
import { FaultProxy, eventually, installCrds, kubeConfig, kubeConfigVia, env } from "@tds/test/testkit";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import {
  participantManifest,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
} from "@tds/test/operator";

const run = runId();
const space = `rs-${run}`;
const RESYNC_MS = 1_500;
const client = new KubeClient(kubeConfig());
let proxy: FaultProxy;
let operator: TestOperator;
const writes: string[] = [];

const ready = (o: { status?: { conditions?: readonly { type: string; status: string }[] } } | undefined) =>
  (o?.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

async function restarts(reason: string): Promise<number> {
  const m = await operator.manager.metrics.watchRestarts.get();
  return m.values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}

async function reconciles(): Promise<number> {
  const m = await operator.manager.metrics.reconcileDuration.get();
  return m.values.filter((v) => v.metricName?.endsWith("_count")).reduce((n, v) => n + v.value, 0);
}

async function allReady(names: readonly string[]): Promise<boolean> {
  for (const n of names) {
    if (!ready(await client.get<Participant & KubeObject>(kinds.participant, n))) return false;
  }
  return ready(
    await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(
      kinds.dataSpace,
      space,
    ),
  );
}

const participants = [1, 2, 3].map((i) => `${space}-p${i}`);

before(async () => {
  installCrds();
  const server = new URL(kubeConfig().getCurrentCluster()?.server ?? "");
  proxy = new FaultProxy("127.0.0.1", Number(server.port));
  await proxy.start();
  operator = await startOperator(run, {
    kc: kubeConfigVia(proxy.port),
    resyncMs: RESYNC_MS,
    watchdogMs: 2_000,
    requestTimeoutMs: 5_000,
    settings: { storageSampleMs: 60_000 },
  });
  operator.manager.client.observe((method, path) => {
    if (method !== "GET" && !path.includes("/leases/")) writes.push(`${method} ${path}`);
  });
  await client.create(kinds.dataSpace, spaceManifest(space, run) as KubeObject);
  for (const p of participants)
    await client.create(kinds.participant, participantManifest(p, space) as KubeObject);
  await eventually("the space and its participants to be Ready", () => allReady(participants), 60_000);
});

after(async () => {
  await client.delete(kinds.dataSpace, space);
  await eventually(
    "the space to be removed",
    async () => !(await client.find(kinds.dataSpace, space)),
    90_000,
  );
  await operator.stop();
  await proxy.stop();
});

test("resyncing unchanged objects makes zero writes", async () => {
  // Let in-flight work settle, then watch two full resync periods.
  await new Promise((r) => setTimeout(r, RESYNC_MS));
  const before = writes.length;
  const reconcilesBefore = await reconciles();
  await new Promise((r) => setTimeout(r, 2 * RESYNC_MS + 500));
  const during = writes.slice(before);
  assert.ok(
    (await reconciles()) - reconcilesBefore >= 4,
    "the resync must have reconciled the space and its participants",
  );
  assert.deepEqual(during, [], "a resync of unchanged objects must not write");
});

test("another writer's edits to an owned NetworkPolicy and ResourceQuota are restored within one resync", async () => {
  const ns = `${space}--${participants[0] ?? ""}`;
  await client.mergePatch(kinds.networkPolicy, "default-deny", ns, { spec: { policyTypes: ["Ingress"] } });
  await client.mergePatch(kinds.resourceQuota, "tds-quota", ns, { spec: { hard: { pods: "999" } } });
  const started = Date.now();
  await eventually(
    "the NetworkPolicy and ResourceQuota to be restored",
    async () => {
      const np = await client.get<KubeObject & { spec: { policyTypes: string[] } }>(
        kinds.networkPolicy,
        "default-deny",
        ns,
      );
      const q = await client.get<KubeObject & { spec: { hard: Record<string, string> } }>(
        kinds.resourceQuota,
        "tds-quota",
        ns,
      );
      return np.spec.policyTypes.join(",") === "Ingress,Egress" && q.spec.hard.pods !== "999";
    },
    RESYNC_MS + 5_000,
    100,
  );
  assert.ok(Date.now() - started < RESYNC_MS + 5_000);
});

test("a cut watch connection resumes and keeps reconciling, with no deletes", async () => {
  const deletesBefore = writes.filter((w) => w.startsWith("DELETE")).length;
  const endedBefore = (await restarts("ended")) + (await restarts("error"));
  proxy.cut();
  await eventually(
    "the watches to restart",
    async () => (await restarts("ended")) + (await restarts("error")) > endedBefore,
  );
  const extra = `${space}-cut`;
  await client.create(kinds.participant, participantManifest(extra, space) as KubeObject);
  await eventually("a participant created after the cut to be Ready", () => allReady([extra]), 60_000);
  assert.equal(writes.filter((w) => w.startsWith("DELETE")).length, deletesBefore);
});

test("a silent watch is caught by the watchdog and resumed", async () => {
  const silentBefore = await restarts("silent");
  proxy.freeze();
  await eventually(
    "the watchdog to restart a silent watch",
    async () => (await restarts("silent")) > silentBefore,
    20_000,
  );
  const extra = `${space}-silent`;
  await client.create(kinds.participant, participantManifest(extra, space) as KubeObject);
  await eventually("a participant created after the freeze to be Ready", () => allReady([extra]), 60_000);
});

test("a watch resumed across an etcd compaction gets 410 Gone, relists, and deletes nothing", async () => {
  const etcd = env("TDS_ETCD_ENDPOINT");
  const range = (await (
    await fetch(`${etcd}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: Buffer.from("/").toString("base64") }),
    })
  ).json()) as { header: { revision: string } };
  const compacted = await fetch(`${etcd}/v3/kv/compaction`, {
    method: "POST",
    body: JSON.stringify({ revision: range.header.revision, physical: true }),
  });
  assert.equal(compacted.status, 200);
  const deletesBefore = writes.filter((w) => w.startsWith("DELETE")).length;
  const goneBefore = await restarts("gone");
  const informer = operator.manager.informer(kinds.participant);
  const cached = informer.list().length;
  // Resume as a client partitioned since before the compaction would.
  informer.resumeFrom("1");
  await eventually("a 410 Gone and a relist", async () => (await restarts("gone")) > goneBefore, 20_000);
  assert.equal(informer.list().length, cached, "the relist must keep every live object");
  assert.equal(writes.filter((w) => w.startsWith("DELETE")).length, deletesBefore);
  assert.ok(await allReady(participants));
});
