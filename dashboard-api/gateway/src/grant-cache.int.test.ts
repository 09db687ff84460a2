// The watch-backed grant cache on the real API server: downloads of an Active
// contract are answered without reading the API server, a contract activated
// a moment ago is served at once (live read on a miss), a revocation reaches
// open streams through the watch long before the monitor's next tick, and a
// deleted contract stops authenticating; and the chart's RBAC for the API
// lets it list and watch all of it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { KubeClient } from "@tds/kube";
import { templateChart } from "@tds/test/chart";
import { eventually, kubeConfigWithToken, kubectl } from "@tds/test/testkit";
import { GrantCache } from "./grant-cache.ts";
import { KubeGrantSource } from "./kube.ts";
import { KubeSandboxSource } from "./sandbox-kube.ts";
import { gatewayWorld, type GatewayWorld } from "@tds/test/gateway-world";

let w: GatewayWorld;
const body = Buffer.alloc(8 * 1024 * 1024, 7);

before(async () => {
  // A monitor tick every minute: within these tests only the watch can cut a stream.
  w = await gatewayWorld({ monitorIntervalMs: 60_000 });
  await w.put("data/blob.bin", body);
  w.offer("cached", { prefix: "data/" });
});
after(async () => {
  await w.close();
});

const get = (agreementId: string, token: string, key = "data/blob.bin") =>
  fetch(`${w.url}/v1/data/${agreementId}/${key}`, { headers: { authorization: `Bearer ${token}` } });

async function lookups(): Promise<{ cache: number; live: number }> {
  const text = await w.app.metrics.registry.metrics();
  const count = (answer: string) =>
    Number(
      new RegExp(`^tds_gateway_grant_lookups_total\\{answer="${answer}"\\} (\\d+)$`, "m").exec(text)?.[1] ??
        0,
    );
  return { cache: count("cache"), live: count("live") };
}

test("an Active contract is served from the cache: no API-server read per download", async () => {
  const { agreementId, token } = w.contract("hot", "cached", { state: "Active" });
  // The first downloads may be live while the watch delivers the contract and offer.
  await eventually(
    "a download answered from the cache",
    async () => {
      const before = await lookups();
      const res = await get(agreementId, token, "data/blob.bin");
      await res.arrayBuffer();
      return (await lookups()).cache > before.cache;
    },
    10_000,
    50,
  );
  const start = await lookups();
  for (let i = 0; i < 20; i++) {
    const res = await get(agreementId, token);
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, body.length);
  }
  const end = await lookups();
  assert.equal(end.cache - start.cache, 20);
  assert.equal(end.live - start.live, 0);
});

test("a contract activated a moment ago is served at once (a miss is read live)", async () => {
  const { agreementId, token } = w.contract("fresh", "cached", { state: "Active" });
  const res = await get(agreementId, token);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
});

test("a revocation reaches an open stream through the watch, long before the monitor's tick", async (t) => {
  const { agreementId, token } = w.contract("watched", "cached", { state: "Active" });
  await eventually("the cache to hold the contract", async () => {
    const before = await lookups();
    await (await get(agreementId, token)).arrayBuffer();
    return (await lookups()).cache > before.cache;
  });
  const res = await get(agreementId, token);
  assert.equal(res.status, 200);
  const reader = res.body?.getReader();
  assert.ok(reader);
  await reader.read();
  assert.equal(w.monitor?.openStreams, 1);
  const revokedAt = Date.now();
  w.setContractStatus("watched", {
    state: "Revoked",
    revocation: { revokedBy: "space-operator", reason: "test", revokedAt: new Date().toISOString() },
  });
  await eventually("the stream to be cut", () => w.monitor?.openStreams === 0, 10_000, 10);
  const cutAfter = Date.now() - revokedAt;
  t.diagnostic(`cut ${cutAfter} ms after the revocation was requested (kubectl included)`);
  // The monitor ticks once a minute here: only the pushed change can explain a cut this early.
  assert.ok(cutAfter < 10_000, `cut after ${cutAfter} ms`);
  await reader.cancel().catch(() => undefined);
  const refused = await get(agreementId, token);
  assert.equal(refused.status, 403);
  assert.equal(((await refused.json()) as { code: string }).code, "TDS_ERR_CONTRACT_REVOKED");
});

test("a deleted contract stops authenticating", async () => {
  const { agreementId, token } = w.contract("gone", "cached", { state: "Active" });
  assert.equal((await get(agreementId, token)).status, 200);
  kubectl(["delete", "datacontract", "gone", "-n", w.consumerNs, "--wait=true"]);
  await eventually(
    "the deleted contract to be refused",
    async () => (await get(agreementId, token)).status === 401,
  );
});

test("the dashboard API's own ServiceAccount may list and watch everything the cache needs", async () => {
  const ns = `gwrbac-${w.run}`;
  const manifests = templateChart({ namespace: ns, showOnly: ["templates/dashboard-api-rbac.yaml"] });
  kubectl(["create", "namespace", ns]);
  try {
    kubectl(["apply", "-f", "-"], manifests);
    const kc = kubeConfigWithToken(kubectl(["create", "token", "tds-dashboard-api", "-n", ns]).trim());
    const { agreementId } = w.contract("rbac", "cached", { state: "Active" });
    const warnings: string[] = [];
    const log = {
      debug: () => undefined,
      info: () => undefined,
      warn: (m: string, f?: Record<string, unknown>) => warnings.push(`${m} ${JSON.stringify(f)}`),
      error: (m: string, f?: Record<string, unknown>) => warnings.push(`${m} ${JSON.stringify(f)}`),
    };
    const cache = new GrantCache({
      client: new KubeClient(kc, "tds-dashboard-api"),
      live: new KubeGrantSource(new KubeClient(kc, "tds-dashboard-api")),
      liveSandbox: new KubeSandboxSource(new KubeClient(kc, "tds-dashboard-api")),
      log,
    });
    const started = cache.start();
    try {
      await eventually("the cache to sync under the API's RBAC", () => cache.synced, 15_000);
      await started;
      await eventually(
        "the grant in the cache",
        () => cache.fromCache(agreementId)?.contract.name === "rbac",
      );
      assert.deepEqual(warnings, []);
    } finally {
      await cache.stop();
    }
  } finally {
    kubectl(["delete", "namespace", ns, "--wait=false"]);
  }
});
