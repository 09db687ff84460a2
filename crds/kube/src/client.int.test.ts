// The REST client's connections to the real kube-apiserver, through a TCP proxy
// that counts and can reset them: requests share kept-alive TLS connections
// instead of a handshake each, and a pooled connection the far end reset is
// replaced without failing the next request.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { FaultProxy, kubeConfig, kubeConfigVia } from "@tds/test/testkit";
import { KubeClient, kinds } from "./index.ts";

let proxy: FaultProxy;
let client: KubeClient;

before(async () => {
  const server = new URL(kubeConfig().getCurrentCluster()?.server ?? "");
  proxy = new FaultProxy("127.0.0.1", Number(server.port));
  await proxy.start();
  client = new KubeClient(kubeConfigVia(proxy.port));
});

after(async () => {
  client.close();
  await proxy.stop();
});

test("sequential requests share one kept-alive connection", async () => {
  const before = proxy.accepted;
  for (let i = 0; i < 30; i++) await client.find(kinds.namespace, "default");
  await client.apply(kinds.configMap, {
    metadata: { name: "tds-client-keepalive", namespace: "default" },
    data: { n: "1" },
  });
  await client.delete(kinds.configMap, "tds-client-keepalive", "default");
  // Without keep-alive each of the 32 requests opened its own connection.
  assert.equal(proxy.accepted - before, 1);
});

test("concurrent requests open a connection each at most, and reuse them after", async () => {
  const before = proxy.accepted;
  await Promise.all(Array.from({ length: 8 }, () => client.list(kinds.namespace)));
  const opened = proxy.accepted - before;
  assert.ok(opened >= 1 && opened <= 8, `opened ${String(opened)}`);
  await Promise.all(Array.from({ length: 8 }, () => client.list(kinds.namespace)));
  assert.equal(proxy.accepted - before, opened);
});

test("a pooled connection the far end reset is replaced, and the next request succeeds", async () => {
  await client.find(kinds.namespace, "default");
  const before = proxy.accepted;
  proxy.cut();
  const ns = await client.get(kinds.namespace, "default");
  assert.equal(ns.metadata.name, "default");
  assert.equal(proxy.accepted - before, 1);
});
