import assert from "node:assert/strict";
import { test } from "node:test";
import type { DataSpace, SandboxJob } from "@tds/crds";
import {
  buildSandbox,
  milli,
  sandboxLimits,
  sandboxNamespace,
  reservedUsage,
  addSample,
  finalUsage,
  podSample,
  type SandboxInputs,
} from "./sandboxjob.builders.ts";
import {
  parseLabelMap,
  parseTolerations,
  sandboxPlacementFromEnv,
  gatewaySelectorFromEnv,
} from "../placement.ts";

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
  // A stopped run keeps nothing: 2 s to exit, not Kubernetes' default 30 s.
  assert.equal(spec.terminationGracePeriodSeconds, 2);
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
  const u = reservedUsage(
    { cpuMillis: 250n, memoryBytes: 256n * 1024n * 1024n },
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:01:30Z",
  );
  assert.equal(u.runMs, 90_000n);
  assert.equal(u.cpuMilliseconds, 22_500n);
  assert.equal(u.memoryByteSeconds, 256n * 1024n * 1024n * 90n);
});

const summary = (uid: string, cpuNs: number, ws: number, time: string) => ({
  node: { nodeName: "n" },
  pods: [
    { podRef: { name: "other", namespace: "x", uid: "other" }, cpu: { time, usageCoreNanoSeconds: 9e12 } },
    {
      podRef: { name: "sandbox-abc", namespace: "tds-sbx-1", uid },
      cpu: { time, usageCoreNanoSeconds: cpuNs },
      memory: { time, workingSetBytes: ws },
      containers: [{ cpu: { time, usageCoreNanoSeconds: cpuNs - 1000 }, memory: { workingSetBytes: ws } }],
    },
  ],
});

test("measured usage: the pod's cumulative CPU, working set integrated between samples", () => {
  const start = "2026-01-01T00:00:00Z";
  assert.equal(podSample(summary("u1", 5, 5, start), "nope"), undefined);
  const s1 = podSample(summary("u1", 1_500_000_000, 10_000_000, "2026-01-01T00:00:02Z"), "u1");
  assert.ok(s1);
  let u = addSample(undefined, s1, start);
  assert.equal(u.basis, "Measured");
  assert.equal(u.cpuMilliseconds, 1500);
  assert.equal(u.memoryByteSeconds, 20_000_000); // 10 MB over the first 2 s
  // The same sample again (a cached summary) counts nothing twice.
  assert.deepEqual(addSample(u, s1, start), u);
  const s2 = podSample(summary("u1", 2_250_000_000, 30_000_000, "2026-01-01T00:00:03Z"), "u1");
  assert.ok(s2);
  u = addSample(u, s2, start);
  assert.equal(u.cpuMilliseconds, 2250);
  assert.equal(u.memoryByteSeconds, 50_000_000);
  assert.equal(u.memoryPeakBytes, 30_000_000);
  assert.equal(u.samples, 2);
  // A lower counter (a restarted reading) never lowers the CPU.
  const s3 = podSample(summary("u1", 1_000, 0, "2026-01-01T00:00:04Z"), "u1");
  assert.ok(s3);
  assert.equal(addSample(u, s3, start).cpuMilliseconds, 2250);
  const f = finalUsage(u, { cpuMillis: 500n, memoryBytes: 100_000_000n }, start, "2026-01-01T00:00:04Z");
  assert.equal(f.basis, "Measured");
  assert.equal(f.cpuMilliseconds, 2250);
  assert.equal(f.reservedCpuMilliseconds, 2000);
  assert.equal(f.reservedMemoryByteSeconds, 400_000_000);
});

test("reserved usage when the node measured nothing, named as such", () => {
  const f = finalUsage(
    undefined,
    { cpuMillis: 500n, memoryBytes: 1000n },
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:10Z",
  );
  assert.deepEqual(f, {
    basis: "Reserved",
    cpuMilliseconds: 5000,
    memoryByteSeconds: 10_000,
    reservedCpuMilliseconds: 5000,
    reservedMemoryByteSeconds: 10_000,
  });
});

test("the sandbox namespace gets a quota and limits of exactly the job's pod, and the pod its placement", () => {
  const children = buildSandbox({
    ...inputs(),
    placement: {
      nodeSelector: { "tds.dev/node": "real" },
      tolerations: [{ key: "tds.dev/node", operator: "Equal", value: "real", effect: "NoSchedule" }],
    },
    gateway: {
      namespace: "tds-system",
      podLabels: { "app.kubernetes.io/component": "gateway", "app.kubernetes.io/instance": "r1" },
    },
  });
  const quota = children.quota as unknown as { spec: { hard: Record<string, string> } };
  assert.equal(quota.spec.hard.pods, "1");
  assert.equal(quota.spec.hard["limits.cpu"], "250m");
  assert.equal(quota.spec.hard["requests.memory"], "256Mi");
  const lr = children.limitRange as unknown as { spec: { limits: { max: Record<string, string> }[] } };
  assert.deepEqual(lr.spec.limits[0]?.max, { cpu: "250m", memory: "256Mi" });
  const pod = (children.job as unknown as { spec: { template: { spec: Record<string, unknown> } } }).spec
    .template.spec;
  assert.deepEqual(pod.nodeSelector, { "tds.dev/node": "real" });
  assert.deepEqual(pod.tolerations, [
    { key: "tds.dev/node", operator: "Equal", value: "real", effect: "NoSchedule" },
  ]);
  const egress = children.networkPolicies.find(
    (n) => n.metadata.name === "allow-gateway-egress",
  ) as unknown as {
    spec: { egress: { to: unknown[] }[] };
  };
  assert.deepEqual(egress.spec.egress[0]?.to, [
    {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "tds-system" } },
      podSelector: {
        matchLabels: { "app.kubernetes.io/component": "gateway", "app.kubernetes.io/instance": "r1" },
      },
    },
  ]);
});

test("placement settings: parsed from the environment, errors name the variable", () => {
  assert.deepEqual(parseLabelMap("V", "a=b, tds.dev/node=real"), { a: "b", "tds.dev/node": "real" });
  assert.deepEqual(parseLabelMap("V", '{"a":"b"}'), { a: "b" });
  assert.throws(() => parseLabelMap("V", "a"), /^Error: V: "a" is not key=value/);
  assert.throws(() => parseLabelMap("V", '{"a":1}'), /^Error: V\.a: 1 is not a label value/);
  assert.throws(() => parseTolerations("T", "{}"), /^Error: T: must be a JSON array/);
  assert.throws(() => parseTolerations("T", '[{"effect":"Never"}]'), /^Error: T\[0\]\.effect/);
  assert.throws(() => parseTolerations("T", '[{"operator":"Exists","value":"x"}]'), /^Error: T\[0\]\.value/);
  assert.throws(
    () => sandboxPlacementFromEnv({ TDS_SANDBOX_GATEWAY_URL: "ftp://x" }),
    /TDS_SANDBOX_GATEWAY_URL/,
  );
  assert.throws(() => gatewaySelectorFromEnv({ TDS_GATEWAY_NAMESPACE: "Bad_NS" }), /TDS_GATEWAY_NAMESPACE/);
  assert.throws(() => gatewaySelectorFromEnv({ TDS_GATEWAY_POD_LABELS: " " }), /TDS_GATEWAY_POD_LABELS/);
  assert.deepEqual(sandboxPlacementFromEnv({}), { nodeSelector: {}, tolerations: [] });
});

test("several inputs: the credential names each further input's agreement and the pod their names", () => {
  const j = job({ inputs: [{ name: "second", contractRef: { name: "c2" } }] });
  const children = buildSandbox({ ...inputs(j), inputs: [{ name: "second", agreementId: "agr-2" }] });
  assert.equal(children.credential.agreementId, "agr-1");
  assert.deepEqual(children.credential.inputs, [{ name: "second", agreementId: "agr-2" }]);
  const spec = (children.job.spec as { template: { spec: unknown } }).template.spec as {
    containers: { env: { name: string; value?: string }[] }[];
  };
  assert.equal(spec.containers[0]?.env.find((e) => e.name === "TDS_INPUTS")?.value, "main,second");
  // One input: no TDS_INPUTS, no credential.inputs (the credential is what it was).
  const single = buildSandbox(inputs());
  assert.equal(single.credential.inputs, undefined);
  const env =
    ((single.job.spec as { template: { spec: unknown } }).template.spec as typeof spec).containers[0]?.env ??
    [];
  assert.equal(
    env.some((e) => e.name === "TDS_INPUTS"),
    false,
  );
});
