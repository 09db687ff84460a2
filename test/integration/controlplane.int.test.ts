// The local control plane is a real Kubernetes API server: CRDs, custom
// resources and Pod Security admission behave as on a production cluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { ApiException } from "@kubernetes/client-node";

const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
const core = kc.makeApiClient(k8s.CoreV1Api);
const suffix = randomBytes(3).toString("hex");

/** The Status message of a failed API call. */
function statusMessage(err: unknown): string {
  if (!(err instanceof ApiException)) return "";
  const body: unknown = typeof err.body === "string" ? JSON.parse(err.body) : err.body;
  return (body as { message?: string }).message ?? "";
}

test("the API server accepts a CRD and then a custom resource of its kind", async () => {
  const group = `cp${suffix}.example.com`;
  const crd = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "widgets", singular: "widget", kind: "Widget" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: {
                  type: "object",
                  required: ["size"],
                  properties: { size: { type: "integer", minimum: 1 } },
                },
              },
            },
          },
        },
      ],
    },
  };
  await objects.create(crd);
  try {
    // The CRD's REST endpoint appears once it is Established.
    const deadline = Date.now() + 30_000;
    let created: k8s.KubernetesObject | undefined;
    while (!created) {
      try {
        created = await objects.create({
          apiVersion: `${group}/v1`,
          kind: "Widget",
          metadata: { name: "w1", namespace: "default" },
          spec: { size: 3 },
        } as k8s.KubernetesObject);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.equal(created.metadata?.name, "w1");
    await assert.rejects(
      objects.create({
        apiVersion: `${group}/v1`,
        kind: "Widget",
        metadata: { name: "w2", namespace: "default" },
        spec: { size: 0 },
      } as k8s.KubernetesObject),
      (err: unknown) =>
        err instanceof ApiException && err.code === 422 && statusMessage(err).includes("spec.size"),
    );
  } finally {
    await objects.delete(crd);
  }
});

test("a Pod Security restricted namespace rejects a privileged pod and admits a restricted one", async () => {
  const ns = `psa-${suffix}`;
  await core.createNamespace({
    body: { metadata: { name: ns, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
  });
  try {
    await assert.rejects(
      core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: "privileged" },
          spec: { containers: [{ name: "c", image: "busybox", securityContext: { privileged: true } }] },
        },
      }),
      (err: unknown) =>
        err instanceof ApiException &&
        err.code === 403 &&
        statusMessage(err).includes('violates PodSecurity "restricted:latest"') &&
        statusMessage(err).includes("securityContext.privileged=true"),
    );
    const pod = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "restricted" },
        spec: {
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "c",
              image: "busybox",
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            },
          ],
        },
      },
    });
    assert.equal(pod.metadata?.name, "restricted");
  } finally {
    await core.deleteNamespace({ name: ns });
  }
});

test("kube-controller-manager fills in a ResourceQuota's status", async () => {
  const ns = `quota-${suffix}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
  try {
    await core.createNamespacedResourceQuota({
      namespace: ns,
      body: { metadata: { name: "q" }, spec: { hard: { pods: "3" } } },
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const q = await core.readNamespacedResourceQuota({ namespace: ns, name: "q" });
      if (q.status?.hard?.pods === "3") break;
      assert.ok(Date.now() < deadline, "ResourceQuota status.hard was not filled in within 60s");
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await core.deleteNamespace({ name: ns });
  }
});
