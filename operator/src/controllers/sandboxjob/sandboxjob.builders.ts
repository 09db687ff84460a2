// Desired state of a SandboxJob's sandbox, as pure functions: the fresh
// namespace (Pod Security restricted, enforced), a ResourceQuota and a
// LimitRange that admit exactly the job's pod, NetworkPolicies that deny all
// ingress and all egress but DNS and the gateway, the job-scoped credential
// Secret, and the Job with a restricted pod placed where the provider runs
// sandboxes. Also the limits (resources, deadline) checked against the space,
// and the usage of a run: measured from the kubelet's summary, or reserved.
import { createHash } from "node:crypto";
import {
  MAIN_INPUT,
  sandboxCredentialId,
  type DataSpace,
  type SandboxJob,
  type SandboxJobStatus,
  labels,
} from "@tds/crds";
import type { KubeObject, OwnerReference } from "@tds/kube";
import { parseQuantity } from "../../quantity.ts";
import {
  denyAllButDns,
  gatewayPeer,
  limitRange,
  managedLabels,
  networkPolicy,
  resourceQuota,
  restrictedNamespace,
} from "../isolation.builders.ts";
import { defaultSandboxPlacement, type GatewaySelector, type SandboxPlacement } from "../placement.ts";

export const SANDBOX_JOB_LABEL = "tds.dev/sandbox-job";
export const SANDBOX_CREDENTIAL_LABEL = "tds.dev/sandbox-credential";
export const CREDENTIAL_SECRET = "sandbox-credential";
export const JOB_NAME = "sandbox";
/** The uid and gid sandbox containers run as (distroless "nonroot"). */
export const SANDBOX_UID = 65532;
export const DEFAULT_OUTPUT_MAX = "1Gi";
/**
 * How long a sandbox container has to exit once stopped (revoked or expired contract,
 * deadline, deleted job), instead of Kubernetes' 30 s. Nothing of a stopped run is kept
 * (outputs are reviewed only after success), so the grace only prolongs use of data whose
 * grant is gone; and an analysis running as PID 1 without a SIGTERM handler ignores the
 * signal, so it would always run the whole grace.
 */
export const SANDBOX_STOP_GRACE_SECONDS = 2;

/** The sandbox namespace of a job: fresh per job (from its uid), and outside every participant's namespace. */
export function sandboxNamespace(job: SandboxJob): string {
  const uid = job.metadata.uid ?? "";
  return `tds-sbx-${createHash("sha256").update(uid).digest("hex").slice(0, 16)}`;
}

/** The id of the job's credential at the gateway (in URLs, status.credential.id and the credential Secret's label). */
export function credentialId(job: SandboxJob): string {
  return sandboxCredentialId(job.metadata.uid ?? "");
}

export interface SandboxLimits {
  readonly cpu: string;
  readonly memory: string;
  readonly cpuMillis: bigint;
  readonly memoryBytes: bigint;
  readonly deadlineSeconds: number;
  readonly runtimeClassName: string;
}

export type LimitsResult =
  | { readonly ok: true; readonly limits: SandboxLimits }
  | { readonly ok: false; readonly reason: string; readonly message: string };

/** The job's resources and deadline within the space's sandbox rules. */
export function sandboxLimits(space: DataSpace, job: SandboxJob): LimitsResult {
  const sb = space.spec.sandbox ?? {};
  const cpu = String(job.spec.resources?.cpu ?? sb.defaultResources?.cpu ?? "500m");
  const memory = String(job.spec.resources?.memory ?? sb.defaultResources?.memory ?? "512Mi");
  const maxCpu = sb.maxResources?.cpu;
  const maxMemory = sb.maxResources?.memory;
  let cpuMilli: bigint;
  let memoryBytes: bigint;
  try {
    cpuMilli = milli(cpu);
    memoryBytes = parseQuantity(memory);
  } catch {
    return {
      ok: false,
      reason: "InvalidResources",
      message: `spec.resources: ${cpu}/${memory} are not quantities`,
    };
  }
  if (maxCpu !== undefined && cpuMilli > milli(String(maxCpu))) {
    return {
      ok: false,
      reason: "ResourcesExceedSpaceMaximum",
      message: `spec.resources.cpu: ${cpu} exceeds the space maximum of ${String(maxCpu)}`,
    };
  }
  if (maxMemory !== undefined && memoryBytes > parseQuantity(String(maxMemory))) {
    return {
      ok: false,
      reason: "ResourcesExceedSpaceMaximum",
      message: `spec.resources.memory: ${memory} exceeds the space maximum of ${String(maxMemory)}`,
    };
  }
  const spaceMax = sb.maxDurationSeconds ?? 3600;
  const requested = job.spec.maxDurationSeconds ?? 3600;
  return {
    ok: true,
    limits: {
      cpu,
      memory,
      cpuMillis: cpuMilli,
      memoryBytes,
      deadlineSeconds: Math.min(requested, spaceMax),
      runtimeClassName: sb.runtimeClassName ?? "gvisor",
    },
  };
}

/** CPU in millicores, exactly ("250m" is 250, "2" is 2000, "1.5" is 1500). */
export function milli(q: string): bigint {
  const m = /^(\d+)m$/.exec(q.trim());
  if (m?.[1] !== undefined) return BigInt(m[1]);
  // parseQuantity rounds fractions up to whole units; scale first to keep millicores exact.
  const n = /^(\d+)(?:\.(\d{1,3}))?$/.exec(q.trim());
  if (n?.[1] !== undefined) return BigInt(n[1]) * 1000n + BigInt((n[2] ?? "").padEnd(3, "0") || "0");
  return parseQuantity(q) * 1000n;
}

export interface SandboxInputs {
  readonly space: DataSpace;
  readonly job: SandboxJob;
  readonly limits: SandboxLimits;
  /** The gateway's base URL as the sandbox reaches it. */
  readonly gatewayUrl: string;
  readonly agreementId: string;
  /** The agreements of spec.inputs, by input name, in spec order. */
  readonly inputs?: readonly { readonly name: string; readonly agreementId: string }[];
  /** The job-scoped token (random, kept in the credential Secret). */
  readonly token: string;
  readonly outbox: { readonly bucket: string; readonly prefix: string };
  /** The DataSpace, which owns the cluster-scoped namespace (cleanup with the space). */
  readonly owner: OwnerReference;
  /** Where the pod runs (node selector, tolerations); default anywhere. */
  readonly placement?: SandboxPlacement;
  /** The gateway's pods, the one egress destination. */
  readonly gateway?: GatewaySelector;
}

export function sandboxLabels(job: SandboxJob, space: string): Record<string, string> {
  return managedLabels(space, {
    [SANDBOX_JOB_LABEL]: job.metadata.uid ?? "",
    [labels.component]: "sandbox",
  });
}

/** Deny all ingress; allow egress only to DNS and to the space gateway. */
export function sandboxNetworkPolicies(
  namespace: string,
  space: string,
  objectLabels: Record<string, string>,
  gateway?: GatewaySelector,
): KubeObject[] {
  return [
    ...denyAllButDns(namespace, objectLabels),
    networkPolicy(namespace, "allow-gateway-egress", objectLabels, {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{ to: [gatewayPeer(space, gateway)] }],
    }),
  ];
}

/** The quota of a sandbox namespace: one pod of one Job, with the job's resources and nothing else. */
export function sandboxQuota(limits: Pick<SandboxLimits, "cpu" | "memory">): Record<string, string> {
  return {
    pods: "1",
    "count/jobs.batch": "1",
    "requests.cpu": limits.cpu,
    "limits.cpu": limits.cpu,
    "requests.memory": limits.memory,
    "limits.memory": limits.memory,
    persistentvolumeclaims: "0",
    services: "0",
    "services.loadbalancers": "0",
    "services.nodeports": "0",
  };
}

/** The restricted pod the job runs; exported so tests can submit it (and variants) to admission. */
export function sandboxPodSpec(inp: SandboxInputs): Record<string, unknown> {
  const { job, limits } = inp;
  const credential = credentialId(job);
  const base = inp.gatewayUrl.replace(/\/+$/, "");
  const env = [
    ...(job.spec.env ?? []),
    { name: "TDS_INPUT_URL", value: `${base}/v1/sandbox/${credential}/inputs/` },
    { name: "TDS_OUTPUT_URL", value: `${base}/v1/sandbox/${credential}/outputs/` },
    // The inputs' names: main (spec.contractRef), then spec.inputs, read with ?input=<name>.
    ...(job.spec.inputs?.length
      ? [{ name: "TDS_INPUTS", value: [MAIN_INPUT, ...job.spec.inputs.map((i) => i.name)].join(",") }]
      : []),
    {
      name: "TDS_GATEWAY_TOKEN",
      valueFrom: { secretKeyRef: { name: CREDENTIAL_SECRET, key: "token" } },
    },
  ];
  const resources = { cpu: limits.cpu, memory: limits.memory };
  const placement = inp.placement ?? defaultSandboxPlacement;
  return {
    runtimeClassName: limits.runtimeClassName,
    ...(Object.keys(placement.nodeSelector).length ? { nodeSelector: { ...placement.nodeSelector } } : {}),
    ...(placement.tolerations.length ? { tolerations: placement.tolerations.map((t) => ({ ...t })) } : {}),
    restartPolicy: "Never",
    terminationGracePeriodSeconds: SANDBOX_STOP_GRACE_SECONDS,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SANDBOX_UID,
      runAsGroup: SANDBOX_UID,
      fsGroup: SANDBOX_UID,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [
      {
        name: "job",
        image: job.spec.image,
        ...(job.spec.command ? { command: job.spec.command } : {}),
        ...(job.spec.args ? { args: job.spec.args } : {}),
        env,
        resources: { requests: resources, limits: resources },
        securityContext: {
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          privileged: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        },
        volumeMounts: [
          { name: "outputs", mountPath: "/outputs" },
          { name: "tmp", mountPath: "/tmp" },
        ],
      },
    ],
    volumes: [
      { name: "outputs", emptyDir: { sizeLimit: "1Gi" } },
      { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
    ],
  };
}

export interface SandboxChildren {
  readonly namespace: KubeObject;
  /** The ResourceQuota and LimitRange, in force before the Job is created. */
  readonly quota: KubeObject;
  readonly limitRange: KubeObject;
  readonly networkPolicies: KubeObject[];
  readonly credentialSecret: KubeObject;
  /** The credential as status.credential shows it to the gateway: the token's digest, never the token. */
  readonly credential: SandboxCredential;
  readonly job: KubeObject;
}

export type SandboxCredential = NonNullable<SandboxJobStatus["credential"]>;

export function buildSandbox(inp: SandboxInputs): SandboxChildren {
  const spaceName = inp.space.metadata.name ?? "";
  const ns = sandboxNamespace(inp.job);
  const l = sandboxLabels(inp.job, spaceName);
  const outputs = (inp.job.spec.outputs ?? []).map((o) => ({
    name: o.name,
    maxBytes: parseQuantity(String(o.maxSize ?? DEFAULT_OUTPUT_MAX)).toString(),
  }));
  return {
    namespace: restrictedNamespace(ns, l, inp.owner),
    quota: resourceQuota(ns, l, sandboxQuota(inp.limits)),
    limitRange: limitRange(
      ns,
      l,
      { cpu: inp.limits.cpu, memory: inp.limits.memory },
      { cpu: inp.limits.cpu, memory: inp.limits.memory },
    ),
    networkPolicies: sandboxNetworkPolicies(ns, spaceName, l, inp.gateway),
    credentialSecret: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: CREDENTIAL_SECRET,
        namespace: ns,
        labels: { ...l, [SANDBOX_CREDENTIAL_LABEL]: credentialId(inp.job) },
      },
      type: "Opaque",
      stringData: {
        token: inp.token,
        agreementId: inp.agreementId,
        jobNamespace: inp.job.metadata.namespace ?? "",
        jobName: inp.job.metadata.name ?? "",
        jobUid: inp.job.metadata.uid ?? "",
        outboxBucket: inp.outbox.bucket,
        outboxPrefix: inp.outbox.prefix,
        outputs: JSON.stringify(outputs),
      },
    },
    credential: {
      id: credentialId(inp.job),
      tokenDigest: `sha256:${createHash("sha256").update(inp.token, "utf8").digest("hex")}`,
      agreementId: inp.agreementId,
      ...(inp.inputs?.length
        ? { inputs: inp.inputs.map((i) => ({ name: i.name, agreementId: i.agreementId })) }
        : {}),
      outbox: { bucket: inp.outbox.bucket, prefix: inp.outbox.prefix },
      outputs: outputs.map((o) => ({ name: o.name, maxBytes: Number(o.maxBytes) })),
    },
    job: {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: JOB_NAME, namespace: ns, labels: l },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: inp.limits.deadlineSeconds,
        template: { metadata: { labels: l }, spec: sandboxPodSpec(inp) },
      },
    },
  };
}

/** The requests (equal to the limits) multiplied by the run time: what the run reserved. */
export function reservedUsage(
  limits: Pick<SandboxLimits, "cpuMillis" | "memoryBytes">,
  startTime: string,
  endTime: string,
): { runMs: bigint; cpuMilliseconds: bigint; memoryByteSeconds: bigint } {
  const runMs = BigInt(Math.max(0, Date.parse(endTime) - Date.parse(startTime)));
  return {
    runMs,
    // cores x ms = (millicores / 1000) x ms
    cpuMilliseconds: (limits.cpuMillis * runMs) / 1000n,
    memoryByteSeconds: (limits.memoryBytes * runMs) / 1000n,
  };
}

/** One reading of a pod in the kubelet's summary API (GET /api/v1/nodes/{node}/proxy/stats/summary). */
export interface PodSample {
  /** Cumulative CPU of the pod's cgroup, core-nanoseconds. */
  readonly cpuCoreNanoSeconds: bigint;
  readonly workingSetBytes: bigint;
  /** When the kubelet read the cgroup. */
  readonly time: string;
}

interface SummaryPod {
  podRef?: { name?: string; namespace?: string; uid?: string };
  cpu?: { time?: string; usageCoreNanoSeconds?: number };
  memory?: { time?: string; workingSetBytes?: number };
  containers?: {
    cpu?: { time?: string; usageCoreNanoSeconds?: number };
    memory?: { workingSetBytes?: number };
  }[];
}

/** The pod's reading in a summary, or undefined when the kubelet reports none for it. */
export function podSample(summary: unknown, podUid: string): PodSample | undefined {
  const list = (summary as { pods?: SummaryPod[] } | undefined)?.pods ?? [];
  const pod = list.find((p) => p.podRef?.uid === podUid);
  if (!pod) return undefined;
  // The pod cgroup's counter keeps what exited containers used; the containers' sum is the fallback.
  const containerCpu = (pod.containers ?? []).reduce((n, c) => n + (c.cpu?.usageCoreNanoSeconds ?? 0), 0);
  const cpu = pod.cpu?.usageCoreNanoSeconds ?? (pod.containers?.length ? containerCpu : undefined);
  const time = pod.cpu?.time ?? pod.containers?.[0]?.cpu?.time;
  if (cpu === undefined || time === undefined) return undefined;
  const ws =
    pod.memory?.workingSetBytes ??
    (pod.containers ?? []).reduce((n, c) => n + (c.memory?.workingSetBytes ?? 0), 0);
  return {
    cpuCoreNanoSeconds: BigInt(Math.max(cpu, containerCpu)),
    workingSetBytes: BigInt(ws),
    time,
  };
}

export type SandboxUsage = NonNullable<SandboxJobStatus["usage"]>;

/**
 * Adds a sample to the measured usage: CPU is the largest cumulative counter
 * seen (it only grows), memory the working set times the time since the
 * previous sample (the first sample counts from the start). Samples not newer
 * than the last are ignored, so re-reading a cached summary counts nothing twice.
 */
export function addSample(
  usage: SandboxUsage | undefined,
  sample: PodSample,
  startTime: string,
): SandboxUsage {
  const last = usage?.sampledAt ?? startTime;
  const dtMs = BigInt(Math.max(0, Date.parse(sample.time) - Date.parse(last)));
  if (usage?.basis === "Measured" && dtMs === 0n) return usage;
  const prev = usage?.basis === "Measured" ? usage : undefined;
  const cpu = sample.cpuCoreNanoSeconds / 1_000_000n;
  return {
    basis: "Measured",
    cpuMilliseconds: Number(
      cpu > BigInt(prev?.cpuMilliseconds ?? 0) ? cpu : BigInt(prev?.cpuMilliseconds ?? 0),
    ),
    memoryByteSeconds: Number(BigInt(prev?.memoryByteSeconds ?? 0) + (sample.workingSetBytes * dtMs) / 1000n),
    memoryPeakBytes: Number(
      sample.workingSetBytes > BigInt(prev?.memoryPeakBytes ?? 0)
        ? sample.workingSetBytes
        : BigInt(prev?.memoryPeakBytes ?? 0),
    ),
    samples: (prev?.samples ?? 0) + 1,
    sampledAt: sample.time,
    reservedCpuMilliseconds: usage?.reservedCpuMilliseconds ?? 0,
    reservedMemoryByteSeconds: usage?.reservedMemoryByteSeconds ?? 0,
  };
}

/**
 * The usage of a finished run: the measurement when there is one, else the
 * reservation (basis Reserved); the reservation is recorded beside it either way.
 */
export function finalUsage(
  measured: SandboxUsage | undefined,
  limits: Pick<SandboxLimits, "cpuMillis" | "memoryBytes">,
  startTime: string,
  endTime: string,
): SandboxUsage {
  const reserved = reservedUsage(limits, startTime, endTime);
  const base = {
    reservedCpuMilliseconds: Number(reserved.cpuMilliseconds),
    reservedMemoryByteSeconds: Number(reserved.memoryByteSeconds),
  };
  if (measured?.basis === "Measured") return { ...measured, ...base };
  return {
    basis: "Reserved",
    cpuMilliseconds: base.reservedCpuMilliseconds,
    memoryByteSeconds: base.reservedMemoryByteSeconds,
    ...base,
  };
}
