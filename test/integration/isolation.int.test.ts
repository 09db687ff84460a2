// Isolation with real traffic, Cyclonus style: pods in two participant
// namespaces of one space, one participant namespace of another space, a
// sandbox namespace and the space's gateway namespace listen on TCP 80 and 81
// on the real node; every (source, destination, port) is probed with a real
// connection and compared with what the operator's NetworkPolicies allow
// (test/harness/netpol.ts). 100% agreement is required; the table is printed
// when it is not. UDP is not probed: the busybox nc of the probe image has no UDP mode.
// All probe traffic goes to pod addresses in the harness's own pod CIDR.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import { env, eventually, installCrds, kubeConfig, kubectl } from "../harness/testkit.ts";
import { connects, probeMany, realNodePod, waitForPodIp } from "../harness/probes.ts";
import { allowed, type NetworkPolicy, type PodInfo } from "../harness/netpol.ts";
import {
  participantManifest,
  provisionProviderAndConsumer,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";
import {
  GATEWAY_COMPONENT,
  managedLabels,
  restrictedNamespace,
  spaceControlNamespace,
} from "../../operator/src/controllers/isolation.builders.ts";
import { sandboxNetworkPolicies } from "../../operator/src/controllers/sandboxjob/sandboxjob.builders.ts";
import { labels } from "@tds/crds";

const run = runId();
const spaceA = `iso-${run}`;
const spaceB = `iso2-${run}`;
const [p1, p2, q] = [`${spaceA}-p1`, `${spaceA}-p2`, `${spaceB}-q`];
const sandboxNs = `${spaceA}-sandbox-probe`;
const client = new KubeClient(kubeConfig());
let operator: TestOperator;

/** Where the probe pods run: namespace, pod name, labels. */
const targets = [
  { ns: `${spaceA}--${p1}`, pod: "p1", labels: { app: "probe" } },
  { ns: `${spaceA}--${p2}`, pod: "p2", labels: { app: "probe" } },
  { ns: `${spaceB}--${q}`, pod: "q", labels: { app: "probe" } },
  { ns: sandboxNs, pod: "sandbox", labels: { [labels.component]: "sandbox" } },
  { ns: spaceControlNamespace(spaceA), pod: "gateway", labels: { [labels.component]: GATEWAY_COMPONENT } },
] as const;
const PORTS = [80, 81] as const;

before(async () => {
  installCrds();
  operator = await startOperator(run);
  await provisionProviderAndConsumer(client, run, spaceA, p1, p2);
  await client.create(kinds.dataSpace, spaceManifest(spaceB, run) as KubeObject);
  await client.create(kinds.participant, participantManifest(q, spaceB) as KubeObject);
  await eventually(
    `participant ${q} Ready`,
    async () => {
      const p = await client.get<
        KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
      >(kinds.participant, q);
      return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    },
    90_000,
  );
  // A sandbox namespace as the operator builds one for a SandboxJob (same builders and policies).
  const owner = {
    apiVersion: "v1",
    kind: "Namespace",
    name: spaceControlNamespace(spaceA),
    uid: kubectl([
      "get",
      "namespace",
      spaceControlNamespace(spaceA),
      "-o",
      "jsonpath={.metadata.uid}",
    ]).trim(),
  };
  const l = managedLabels(spaceA);
  kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [restrictedNamespace(sandboxNs, l, owner), ...sandboxNetworkPolicies(sandboxNs, spaceA, l)],
    }),
  );
  const serve = "nc -ll -p 80 -e /bin/hostname & nc -ll -p 81 -e /bin/hostname & wait";
  kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: targets.map((t) => realNodePod(t.ns, t.pod, ["sh", "-c", serve], t.labels)),
    }),
  );
});

after(async () => {
  for (const t of targets)
    kubectl(["delete", "pod", "-n", t.ns, t.pod, "--wait=false", "--ignore-not-found"]);
  kubectl(["delete", "namespace", sandboxNs, "--wait=false", "--ignore-not-found"]);
  await client.delete(kinds.dataSpace, spaceB).catch(() => undefined);
  await client.delete(kinds.dataSpace, spaceA).catch(() => undefined);
  await operator.stop();
});

test("every probe agrees with the operator's NetworkPolicies (truth table)", async (t) => {
  const pods: PodInfo[] = [];
  for (const t of targets) {
    const ip = await waitForPodIp(t.ns, t.pod);
    const nsLabels = (
      JSON.parse(kubectl(["get", "namespace", t.ns, "-o", "json"])) as {
        metadata: { labels: Record<string, string> };
      }
    ).metadata.labels;
    pods.push({ namespace: t.ns, name: t.pod, labels: t.labels, namespaceLabels: nsLabels, ip });
  }
  const policies = (
    JSON.parse(kubectl(["get", "networkpolicies", "--all-namespaces", "-o", "json"])) as {
      items: NetworkPolicy[];
    }
  ).items.filter((p) => targets.some((t) => t.ns === p.metadata.namespace));
  assert.ok(policies.length >= 10, "the operator's policies are in place");
  // kube-router applies policies within seconds of a change; wait until the first
  // expected denial holds before reading the table.
  const rows: { from: PodInfo; to: PodInfo; port: number; expected: boolean; actual: boolean }[] = [];
  await eventually(
    "the truth table to agree",
    async () => {
      rows.length = 0;
      for (const from of pods) {
        const probes = pods
          .filter((to) => to !== from)
          .flatMap((to) => PORTS.map((port) => ({ to, port, host: to.ip })));
        const answers = await probeMany(from.namespace, from.name, probes);
        probes.forEach((p, i) => {
          rows.push({
            from,
            to: p.to,
            port: p.port,
            expected: allowed(policies, from, p.to, p.port),
            actual: answers[i] === p.to.name,
          });
        });
      }
      return rows.every((r) => r.expected === r.actual);
    },
    45_000,
    3000,
  ).catch((err: unknown) => {
    const table = rows
      .map(
        (r) =>
          `${r.from.name.padEnd(8)} -> ${r.to.name.padEnd(8)} :${String(r.port)}  expected ${r.expected ? "allow" : "deny "}  got ${r.actual ? "allow" : "deny "}${r.expected === r.actual ? "" : "   <-- MISMATCH"}`,
      )
      .join("\n");
    throw new Error(`${String(err)}\ntruth table (source -> destination :port):\n${table}`);
  });
  const agree = rows.filter((r) => r.expected === r.actual).length;
  t.diagnostic(
    `${String(rows.length)} probes, ${String(rows.filter((r) => r.expected).length)} allowed: ` +
      rows
        .filter((r) => r.expected)
        .map((r) => `${r.from.name}->${r.to.name}:${String(r.port)}`)
        .join(" "),
  );
  assert.equal(agree, rows.length, "100% agreement");
  assert.equal(rows.length, pods.length * (pods.length - 1) * PORTS.length);
  assert.ok(
    rows.some((r) => r.expected) && rows.some((r) => !r.expected),
    "the table holds both allowed and denied paths",
  );
});

test("egress from a running sandbox: nothing is reached but the space's gateway", async (t) => {
  const ip = (ns: string, pod: string) => waitForPodIp(ns, pod);
  const nodeIp = kubectl([
    "get",
    "node",
    env("TDS_REAL_NODE"),
    "-o",
    "jsonpath={.status.addresses[?(@.type=='InternalIP')].address}",
  ]).trim();
  const s3Port = Number(new URL(env("TDS_S3_ENDPOINT")).port);
  const pgPort = Number(new URL(env("DATABASE_URL")).port);
  const forbidden = [
    { what: "another participant's pod (same space)", host: await ip(targets[0].ns, "p1"), port: 80 },
    { what: "another space's pod", host: await ip(targets[2].ns, "q"), port: 80 },
    // The API server through the kubernetes Service: its endpoint is the node's
    // address, forwarded to the API server (test/harness/forward.ts), so only the
    // policy stands between a sandbox and it.
    { what: "the API server (kubernetes Service)", host: "10.0.0.1", port: 443 },
    {
      what: "the API server at its endpoint",
      host: env("TDS_POD_HOST"),
      port: Number(new URL(kubeConfig().getCurrentCluster()?.server ?? "").port),
    },
    // S3 and PostgreSQL are forwarded to the node's address too (the chart's gateway pod
    // reaches them there): denied to sandboxes by the policy alone.
    { what: "S3 at the node's address", host: env("TDS_POD_HOST"), port: s3Port },
    { what: "PostgreSQL at the node's address", host: env("TDS_POD_HOST"), port: pgPort },
    {
      what: "the kubelet on the node's address",
      host: nodeIp,
      port: Number(
        kubectl([
          "get",
          "node",
          env("TDS_REAL_NODE"),
          "-o",
          "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
        ]),
      ),
    },
  ];
  // The one allowed peer: pods labelled as the gateway in the space's control namespace
  // (here the probe pod "gateway"; sandbox-node.int.test.ts runs the chart's gateway pod).
  const gateway = { what: "the space gateway pod", host: await ip(targets[4].ns, "gateway"), port: 80 };
  await waitForPodIp(sandboxNs, "sandbox");
  const reached = await eventually(
    "the gateway pod answers the sandbox",
    async () => {
      const r = await connects(sandboxNs, "sandbox", [...forbidden, gateway]);
      return r[r.length - 1] ? r : undefined;
    },
    30_000,
    2000,
  );
  const table = [...forbidden, gateway].map(
    (p, i) => `${p.what} ${p.host}:${String(p.port)} ${reached[i] ? "REACHED" : "not reached"}`,
  );
  t.diagnostic(table.join("; "));
  assert.deepEqual(
    forbidden.filter((_, i) => reached[i]).map((p) => p.what),
    [],
    `0 forbidden destinations reached:\n${table.join("\n")}`,
  );
  assert.equal(reached[forbidden.length], true, "the gateway answers");
});
