// A finished SandboxJob's outputs: the manifests the gateway wrote to the
// outbox in the provider's bucket are read into status.outputs, and the
// review starts: withheld at once by the offer's automatic rules
// (sandboxjob.review.ts: autoWithhold), else PendingReview until the provider
// annotates the job to release or withhold them.
import {
  REVIEW_ANNOTATION,
  REVIEW_REASON_ANNOTATION,
  REVIEWER_ANNOTATION,
  rfc3339,
  splitParticipantNamespace,
  type DataContract,
  type Participant,
  type SandboxJobStatus,
} from "@tds/crds";
import { dataOf, type KubeObject, kinds } from "@tds/kube";
import type { Context } from "../../runtime/reconcile.ts";
import type { Deps } from "../deps.ts";
import { CREDENTIAL_SECRET, sandboxNamespace } from "./sandboxjob.builders.ts";
import { OUTPUT_MANIFEST_DIR, autoWithhold, outboxPrefix, type OutputManifest } from "./sandboxjob.review.ts";
import type { JobObject } from "./sandboxjob.status.ts";

/** The provider's review of outputs PendingReview, from its annotations; `status` unchanged until it decides. */
export function providerReview(job: JobObject, status: SandboxJobStatus, now: Date): SandboxJobStatus {
  if (status.review?.state !== "PendingReview") return status;
  const a = job.metadata.annotations ?? {};
  const decision = a[REVIEW_ANNOTATION];
  if (decision !== "release" && decision !== "withhold") return status;
  const reason = a[REVIEW_REASON_ANNOTATION];
  return {
    ...status,
    review: {
      state: decision === "release" ? "Released" : "Withheld",
      reviewer: a[REVIEWER_ANNOTATION] ?? "provider",
      reviewedAt: rfc3339(now),
      ...(decision === "withhold" ? { reason: reason ?? "Withheld by the provider" } : {}),
    },
  };
}

/** Reads the gateway's manifests of the outputs and decides the automatic part of the review. */
export async function collectOutputs(
  ctx: Context,
  deps: Deps,
  job: JobObject,
  status: SandboxJobStatus,
  now: Date,
): Promise<SandboxJobStatus> {
  const bucket = await outboxBucket(ctx, deps, job);
  const manifests: OutputManifest[] = [];
  if (bucket) {
    const prefix = `${outboxPrefix(job)}${OUTPUT_MANIFEST_DIR}`;
    for (const o of await deps.store.listObjects(bucket, prefix)) {
      const text = await deps.store.getObjectText(bucket, o.key);
      if (text) manifests.push(JSON.parse(text) as OutputManifest);
    }
  }
  manifests.sort((a, b) => a.name.localeCompare(b.name));
  const withheld = autoWithhold(job, manifests);
  return {
    ...status,
    // An output refused for its size was not stored, so its manifest has no hash.
    outputs: manifests.map((m) => ({
      name: m.name,
      objectKey: m.key,
      bytes: m.bytes,
      ...(m.sha256 ? { sha256: m.sha256 } : {}),
    })),
    review: withheld
      ? {
          state: "Withheld",
          reviewer: "system:tds-operator",
          reviewedAt: status.completionTime ?? rfc3339(now),
          reason: withheld.reason,
          check: withheld.check,
        }
      : { state: "PendingReview" },
  };
}

async function outboxBucket(ctx: Context, deps: Deps, job: JobObject): Promise<string | undefined> {
  const secret = await ctx.client.find(kinds.secret, CREDENTIAL_SECRET, sandboxNamespace(job));
  const b64 = dataOf(secret).outboxBucket;
  if (b64) return Buffer.from(b64, "base64").toString("utf8");
  const contract = await ctx.client.find<DataContract & KubeObject>(
    kinds.dataContract,
    job.spec.contractRef.name,
    job.metadata.namespace,
  );
  const provider = splitParticipantNamespace(contract?.spec.offerRef.namespace)?.participant;
  return provider
    ? (deps.cache.get(kinds.participant, provider) as (Participant & KubeObject) | undefined)?.status?.bucket
    : undefined;
}
