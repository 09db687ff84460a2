// The pure parts of a SandboxJob's lifecycle after the sandbox: where outputs
// go (the outbox in the provider's bucket), the gateway's output manifests and
// the automatic review rules, the evidence entry of each phase and review, and
// the usage events of a finished run (deterministic ids).
import { createHash } from "node:crypto";
import {
  INPUT_COPIED_STEP,
  INPUT_COPY_CHECKS,
  type InputMatch,
  type OutputManifest,
  type RevenueShare,
  type SandboxJob,
  type SandboxJobStatus,
  type WithholdCheck,
} from "@tds/crds";

export type { InputMatch, OutputManifest } from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import { usageEventType, usageShare, type EvidenceEntry, type MeterName, type UsageEvent } from "@tds/wire";
import { OPERATOR_ACTOR } from "../../api-client/api-client.ts";
import { parseQuantity } from "../../quantity.ts";
import { DEFAULT_OUTPUT_MAX } from "./sandboxjob.builders.ts";

/** Under the outbox prefix: one JSON manifest per output, written by the gateway after the output. */
export const OUTPUT_MANIFEST_DIR = ".manifest/";
export const SANDBOX_USAGE_SOURCE = "/tds/operator/sandbox";

/** Where a job's outputs are written in the provider's bucket; the consumer has no access to that bucket. */
export function outboxPrefix(job: SandboxJob): string {
  return `tds-outbox/${job.metadata.uid ?? ""}/`;
}

/** Why an output that matched an input is withheld, saying which input and how. */
export function inputMatchReason(output: string, m: InputMatch): string {
  switch (m.match) {
    case "identical":
      return `Output ${output} is a copy of input object ${m.key}`;
    case "embedded": {
      const to = m.inputOffset + m.length - 1;
      return `Output ${output} contains bytes ${String(m.inputOffset)}-${String(to)} of input object ${m.key} at byte ${String(m.offset)}`;
    }
    case "digest":
      return `Output ${output} contains the SHA-256 of input object ${m.key} as ${m.encoding} text at byte ${String(m.offset)}`;
  }
}

const MATCH_CHECK = { identical: "InputCopied", embedded: "InputEmbedded", digest: "InputDigest" } as const;

/** Outputs withheld without the provider: the check that withheld them (status.review.check) and why. */
export interface AutoWithhold {
  readonly check: { readonly rule: WithholdCheck; readonly output: string; readonly input?: string };
  readonly reason: string;
}

/** Why the outputs are withheld without the provider, or undefined when the provider decides. */
export function autoWithhold(job: SandboxJob, outputs: readonly OutputManifest[]): AutoWithhold | undefined {
  const declared = new Map((job.spec.outputs ?? []).map((o) => [o.name, o]));
  const byMatch = (output: string, m: InputMatch): AutoWithhold => ({
    check: { rule: MATCH_CHECK[m.match], output, input: m.key },
    reason: inputMatchReason(output, m),
  });
  for (const o of outputs) {
    const max = parseQuantity(String(declared.get(o.name)?.maxSize ?? DEFAULT_OUTPUT_MAX));
    if (BigInt(o.bytes) > max)
      return {
        check: { rule: "OutputTooLarge", output: o.name },
        reason: `Output ${o.name} is ${String(o.bytes)} bytes, over its limit of ${max.toString()} bytes`,
      };
    const match = o.inputMatches?.[0];
    if (match) return byMatch(o.name, match);
    const legacy = o.inputHashes?.[0];
    if (legacy !== undefined) return byMatch(o.name, { key: legacy, sha256: o.sha256, match: "identical" });
    if (o.scanComplete === false)
      return {
        check: { rule: "ScanIncomplete", output: o.name },
        reason: `Output ${o.name} could not be fully checked against the job's inputs`,
      };
  }
  return undefined;
}

/** One evidence entry per phase reached and per review decision; ids and times come from status. */
export function sandboxEvidence(
  space: string,
  job: SandboxJob & KubeObject,
  status: SandboxJobStatus,
): EvidenceEntry[] {
  const uid = job.metadata.uid ?? "";
  const created = job.metadata.creationTimestamp ?? status.startTime ?? "";
  const entry = (step: string, time: string, facts: Record<string, unknown>): EvidenceEntry => ({
    space,
    eventId: `sandbox/${uid}/${step}`,
    actor: OPERATOR_ACTOR,
    action: `sandbox.${step.toLowerCase()}`,
    time,
    object: {
      kind: "SandboxJob",
      namespace: job.metadata.namespace ?? "",
      name: job.metadata.name ?? "",
      uid,
    },
    payloadHash: createHash("sha256")
      .update(
        JSON.stringify({
          contract: job.spec.contractRef.name,
          ...(job.spec.inputs?.length
            ? { inputs: job.spec.inputs.map((i) => ({ name: i.name, contract: i.contractRef.name })) }
            : {}),
          image: job.spec.image,
          ...facts,
        }),
      )
      .digest("hex"),
  });
  const out: EvidenceEntry[] = [];
  const phase = status.phase;
  if (phase === undefined) return out;
  if (phase !== "Rejected") out.push(entry("Pending", created, {}));
  if (status.startTime) out.push(entry("Running", status.startTime, {}));
  if (phase !== "Pending" && phase !== "Running")
    out.push(
      entry(phase, status.completionTime ?? created, {
        reason: status.conditions?.find((c) => c.type === "Ready")?.reason ?? "",
        cpuSeconds: status.cpuSeconds ?? null,
      }),
    );
  const review = status.review;
  if (review && review.state !== "PendingReview")
    out.push(
      entry(`review-${review.state}`, review.reviewedAt ?? status.completionTime ?? created, {
        reviewer: review.reviewer ?? null,
        reason: review.reason ?? null,
        outputs: (status.outputs ?? []).map((o) => ({ name: o.name, sha256: o.sha256 ?? null })),
      }),
    );
  // An output that copies an input is a fact of its own (the copiedInputs risk rule reads it):
  // the withheld entry's facts are hashed, and it is also the entry of a provider's decision.
  const check = review?.state === "Withheld" ? review.check : undefined;
  if (check && INPUT_COPY_CHECKS.includes(check.rule))
    out.push(
      entry(INPUT_COPIED_STEP, review?.reviewedAt ?? status.completionTime ?? created, {
        check: check.rule,
        output: check.output,
        input: check.input ?? null,
      }),
    );
  return out;
}

/**
 * Usage of a finished run (or of one input's part of it, crds/src/revenue.ts), billed to the
 * consumer; `sandbox/<uid>/cpu` and `sandbox/<uid>/memory`, suffixed `/<input>` for a further input.
 * An input's part of a job of several inputs carries its share (basis and weights) and the job's totals.
 */
export function sandboxUsageEvents(r: {
  uid: string;
  /** A further input (spec.inputs): its part of the run, `sandbox/<uid>/cpu/<input>`; unset for main. */
  input?: string;
  space: string;
  consumer: string;
  provider: string;
  offer: string;
  /** The job's DataContract: its offer's perSandboxCPUHour applies. */
  contract: string;
  time: string;
  usage: { cpuMilliseconds: bigint; memoryByteSeconds: bigint };
  /** The input's share of a job of several inputs, and the job's whole usage it is a part of. */
  split?: { share: RevenueShare; of: { cpuMilliseconds: bigint; memoryByteSeconds: bigint } };
}): UsageEvent[] {
  const event = (suffix: string, meter: MeterName, quantity: bigint, total: bigint): UsageEvent => ({
    specversion: "1.0",
    id: `sandbox/${r.uid}/${suffix}${r.input === undefined ? "" : `/${r.input}`}`,
    source: SANDBOX_USAGE_SOURCE,
    type: usageEventType,
    time: r.time,
    subject: `participants/${r.consumer}`,
    data: {
      space: r.space,
      participant: r.consumer,
      meter,
      quantity: quantity.toString(),
      ...{ provider: r.provider, offer: r.offer, contract: r.contract },
      ...(r.split ? { share: usageShare(r.uid, r.split.share, total) } : {}),
    },
  });
  return [
    event("cpu", "sandbox.cpu_milliseconds", r.usage.cpuMilliseconds, r.split?.of.cpuMilliseconds ?? 0n),
    event(
      "memory",
      "sandbox.memory_byte_seconds",
      r.usage.memoryByteSeconds,
      r.split?.of.memoryByteSeconds ?? 0n,
    ),
  ];
}
