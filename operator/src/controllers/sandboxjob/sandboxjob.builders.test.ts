import assert from "node:assert/strict";
import { test } from "node:test";
import type { DataSpace, SandboxJob } from "@tds/crds";
import {
  buildSandbox,
  milli,
  sandboxLimits,
  sandboxNamespace,
  sandboxUsage,
  type SandboxInputs,
} from "./sandboxjob.builders.ts";

const space = (sandbox: Record<string, unknown> = {}): DataSpace => ({
  apiVersion: "tds.dev/v1alpha1",
  kind: "DataSpace",
  metadata: { name: "s1", uid: "space-uid" },
  spec: {
    displayName: "S1",
    crossBorder: { homeRegion: "CN" },
    metering: { currency: "CNY", priceSheet: {} },
    sandbox: {
      runtimeClassName: "gvisor",
      defaultResources: { cpu: "250m", memory: "256Mi" },
      maxResources: { cpu: "2", memory: "4Gi" },
      maxDurationSeconds: 600,
      ...sandbox,
    },
  },
});

const job = (spec: Partial<SandboxJob["spec"]> = {}): SandboxJob => ({
  apiVersion: "tds.dev/v1alpha1",
  kind: "SandboxJob",
  metadata: { name: "train", namespace: "s1--consumer", uid: "job-uid-1" },
  spec: { contractRef: { name: "c1" }, image: "registry.example/model@sha256:abc", ...spec },
});

function inputs(j = job(), s = space()): SandboxInputs {
  const r = sandboxLimits(s, j);
  if (!r.ok) throw new Error(r.message);
  return {
    space: s,
    job: j,
    limits: r.limits,
    gatewayUrl: "http://gw.tds-s1:8080/",
    agreementId: "agr-1",
    token: "tok",
    outbox: { bucket: "tds-s1--review", prefix: "job-uid-1/" },
    owner: { apiVersion: "tds.dev/v1alpha1", kind: "DataSpace", name: "s1", uid: "space-uid" },
  };
}

test("limits: defaults, caps and refusals", () => {
  const cases: [Partial<SandboxJob["spec"]>, Record<string, unknown>, string][] = [
    [{}, {}, "250m/256Mi/600"],
    [{ resources: { cpu: "1.5", memory: "1Gi" }, maxDurationSeconds: 60 }, {}, "1.5/1Gi/60"],
    [{ maxDurationSeconds: 7200 }, {}, "250m/256Mi/600"],
    [{ resources: { cpu: "3" } }, {}, "ResourcesExceedSpaceMaximum"],
    [{ resources: { memory: "5Gi" } }, {}, "ResourcesExceedSpaceMaximum"],
    [{ resources: { cpu: "2" } }, {}, "2/256Mi/600"],
  ];
  for (const [spec, sb, want] of cases) {
    const r = sandboxLimits(space(sb), job(spec));
    const got = r.ok ? `${r.limits.cpu}/${r.limits.memory}/${String(r.limits.deadlineSeconds)}` : r.reason;
    assert.equal(got, want, JSON.stringify(spec));
  }
  assert.equal(milli("250m"), 250n);
  assert.equal(milli("2"), 2000n);
  assert.equal(milli("1.5"), 1500n);
});

test("the pod is restricted: non-root, no escalation, no capabilities, RuntimeDefault, read-only root, no token", () => {
  const children = buildSandbox(inputs());
  const spec = (children.job.spec as { template: { spec: Record<string, unknown> } }).template.spec;
  const c = (spec.containers as Record<string, unknown>[])[0];
  assert.ok(c);
  assert.equal(spec.runtimeClassName, "gvisor");
  assert.equal(spec.automountServiceAccountToken, false);
  assert.deepEqual(spec.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    fsGroup: 65532,
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.deepEqual(c.securityContext, {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.deepEqual(c.resources, {
    requests: { cpu: "250m", memory: "256Mi" },
    limits: { cpu: "250m", memory: "256Mi" },
  });
  assert.equal((children.job.spec as { activeDeadlineSeconds: number }).activeDeadlineSeconds, 600);
  const env = c.env as { name: string; value?: string }[];
  assert.equal(
    env.find((e) => e.name === "TDS_INPUT_URL")?.value?.startsWith("http://gw.tds-s1:8080/v1/sandbox/"),
    true,
  );
  const ns = children.namespace.metadata;
  assert.equal(ns.name, sandboxNamespace(job()));
  assert.equal(ns.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
  assert.deepEqual(ns.ownerReferences?.[0]?.kind, "DataSpace");
});

test("network policies: deny all ingress, egress only to DNS and the space gateway", () => {
  const nps = buildSandbox(inputs()).networkPolicies.map(
    (n) => n.spec as { policyTypes: string[]; ingress?: unknown[]; egress?: { to: unknown[] }[] },
  );
  assert.ok(
    nps.every((n) => n.ingress === undefined),
    "no policy allows ingress",
  );
  assert.ok(nps.some((n) => n.policyTypes.includes("Ingress") && n.policyTypes.includes("Egress")));
  const peers = nps.flatMap((n) => (n.egress ?? []).flatMap((e) => e.to));
  assert.deepEqual(peers, [
    {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
      podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
    },
    {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "tds-s1" } },
      podSelector: { matchLabels: { "app.kubernetes.io/component": "gateway" } },
    },
  ]);
});

test("metering: requests x run time", () => {
  const u = sandboxUsage(
    { cpuMillis: 250n, memoryBytes: 256n * 1024n * 1024n },
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:01:30Z",
  );
  assert.equal(u.runMs, 90_000n);
  assert.equal(u.cpuMilliseconds, 22_500n);
  assert.equal(u.memoryByteSeconds, 256n * 1024n * 1024n * 90n);
});
