// The sandbox's objects against the real API server's admission: the pod
// spec passes Pod Security "restricted" (enforce) in the sandbox namespace, a
// privileged variant is rejected, the Job's pods are admitted when the Job
// controller creates them, and the stored NetworkPolicies allow only DNS and
// the gateway. A missing RuntimeClass makes pod creation fail (RuntimeClass
// admission), which the reconciler reports instead of creating one.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { DataSpace, SandboxJob } from "@tds/crds";
import { eventually, kubeConfig } from "@tds/test/testkit";
import { KubeApiError, KubeClient, type KubeObject, kinds } from "@tds/kube";
import { runId } from "@tds/test/operator";
import { buildSandbox, sandboxLimits, sandboxPodSpec, type SandboxInputs } from "./sandboxjob.builders.ts";

const run = runId();
const client = new KubeClient(kubeConfig(), "tds-tests");
const runtimeClass = `sbx-test-${run}`;

const space = {
  apiVersion: "tds.dev/v1alpha1",
  kind: "DataSpace",
  metadata: { name: `sbx-${run}`, uid: "00000000-0000-0000-0000-000000000000" },
  spec: {
    displayName: "t",
    crossBorder: { homeRegion: "CN" },
    metering: { currency: "CNY", priceSheet: {} },
    sandbox: {
      runtimeClassName: runtimeClass,
      maxResources: { cpu: "1", memory: "1Gi" },
      maxDurationSeconds: 120,
    },
  },
} as DataSpace;
const job: SandboxJob = {
  apiVersion: "tds.dev/v1alpha1",
  kind: "SandboxJob",
  metadata: { name: "train", namespace: `sbx-${run}--c`, uid: `uid-${run}` },
  spec: { contractRef: { name: "c" }, image: "registry.example/job:1", command: ["/bin/job"] },
};
let inputs: SandboxInputs;
let ns: string;

before(async () => {
  const limits = sandboxLimits(space, job);
  assert.ok(limits.ok);
  // No owner: nothing here is garbage-collected through the (unsaved) DataSpace; the test deletes what it made.
  inputs = {
    space,
    job,
    limits: limits.limits,
    gatewayUrl: "http://gateway.tds-x:8080",
    agreementId: "agr",
    token: "t",
    outbox: { bucket: "b", prefix: "p/" },
    owner: { apiVersion: "v1", kind: "Namespace", name: "default", uid: "x" },
  };
  const children = buildSandbox(inputs);
  ns = children.namespace.metadata.name ?? "";
  delete children.namespace.metadata.ownerReferences;
  await client.apply(kinds.runtimeClass, {
    apiVersion: "node.k8s.io/v1",
    kind: "RuntimeClass",
    metadata: { name: runtimeClass },
    handler: "runsc",
  });
  await client.apply(kinds.namespace, children.namespace);
  for (const np of children.networkPolicies) await client.apply(kinds.networkPolicy, np);
});
after(async () => {
  await client.delete(kinds.namespace, ns);
  await client.delete(kinds.runtimeClass, runtimeClass);
});

function pod(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: "v1", kind: "Pod", metadata: { name, namespace: ns }, spec };
}

test("the sandbox pod passes Pod Security restricted admission; a privileged variant is rejected", async () => {
  const created = await client.create(kinds.pod, pod("restricted", sandboxPodSpec(inputs)));
  assert.equal(created.metadata.name, "restricted");

  const spec = sandboxPodSpec(inputs);
  const c = (spec.containers as Record<string, unknown>[])[0] ?? {};
  const privileged = {
    ...spec,
    securityContext: { runAsUser: 0 },
    containers: [
      {
        ...c,
        securityContext: {
          privileged: true,
          allowPrivilegeEscalation: true,
          capabilities: { add: ["SYS_ADMIN"] },
        },
      },
    ],
  };
  await assert.rejects(client.create(kinds.pod, pod("privileged", privileged)), (err: unknown) => {
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.code, 403);
    assert.match(err.message, /violates PodSecurity "restricted:latest"/);
    assert.match(err.message, /privileged/);
    return true;
  });
  // Each restricted control alone is enforced too: a token-less pod that may escalate is refused.
  const escalate = {
    ...spec,
    containers: [
      { ...c, securityContext: { ...(c.securityContext as object), allowPrivilegeEscalation: true } },
    ],
  };
  await assert.rejects(
    client.create(kinds.pod, pod("escalate", escalate)),
    /allowPrivilegeEscalation != false/,
  );
});

test("the Job is admitted and the Job controller's pods pass admission in the sandbox namespace", async () => {
  const { job: j } = buildSandbox(inputs);
  await client.apply(kinds.job, j);
  const list = await eventually("the Job controller to create the pod", async () => {
    const l = await client.list(kinds.pod, ns, { labelSelector: "batch.kubernetes.io/job-name=sandbox" });
    return l.items.length > 0 ? l.items : undefined;
  });
  const p = list[0] as KubeObject & {
    spec: { runtimeClassName: string; automountServiceAccountToken: boolean };
  };
  assert.equal(p.spec.runtimeClassName, runtimeClass);
  assert.equal(p.spec.automountServiceAccountToken, false);
});

test("a RuntimeClass that does not exist makes the pod be rejected", async () => {
  await assert.rejects(
    client.create(
      kinds.pod,
      pod("no-runtime", { ...sandboxPodSpec(inputs), runtimeClassName: `missing-${run}` }),
    ),
    /RuntimeClass "missing-[0-9a-f]+" not found/,
  );
});

test("the stored NetworkPolicies deny all ingress and allow egress only to DNS and the gateway", async () => {
  const list = await client.list(kinds.networkPolicy, ns);
  const specs = list.items.map(
    (n) =>
      (
        n as KubeObject & {
          spec: {
            podSelector: object;
            policyTypes: string[];
            ingress?: unknown[];
            egress?: { to?: unknown[]; ports?: unknown[] }[];
          };
        }
      ).spec,
  );
  assert.equal(specs.length, 3);
  assert.ok(
    specs.every((s) => JSON.stringify(s.podSelector) === "{}"),
    "every policy selects every pod",
  );
  assert.ok(
    specs.every((s) => !s.ingress || s.ingress.length === 0),
    "no ingress rule anywhere",
  );
  assert.ok(
    specs.some((s) => s.policyTypes.includes("Ingress") && s.policyTypes.includes("Egress") && !s.egress),
  );
  const rules = specs.flatMap((s) => s.egress ?? []);
  assert.ok(
    rules.every((r) => (r.to ?? []).length > 0),
    "no egress rule without a peer (which would allow all)",
  );
  type Peer = {
    namespaceSelector?: { matchLabels?: Record<string, string> };
    podSelector?: { matchLabels?: Record<string, string> };
    ipBlock?: unknown;
  };
  const peers = rules
    .flatMap((r) => (r.to ?? []) as Peer[])
    .map((p) => {
      assert.equal(p.ipBlock, undefined, "no IP blocks");
      return `${p.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] ?? "*"}/${JSON.stringify(p.podSelector?.matchLabels ?? {})}`;
    });
  assert.deepEqual(peers.sort(), [
    'kube-system/{"k8s-app":"kube-dns"}',
    `tds-${space.metadata.name ?? ""}/{"app.kubernetes.io/component":"gateway"}`,
  ]);
});
