// A SandboxJob's sandbox: its namespace with quota, limits and
// NetworkPolicies, the credential Secret (the token is issued once and kept), the
// credential in status before the job can call the gateway, then the Job once the
// quota is in force; and the namespace's removal, which takes everything
// with it. Desired state comes from sandboxjob.builders.ts.
import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { API_VERSION, type DataSpace, type SandboxJobStatus } from "@tds/crds";
import { dataOf, isConflict, type KubeObject, type ResourceType, kinds } from "@tds/kube";
import { applyIfChanged, writeStatus, type Context } from "../../runtime/reconcile.ts";
import type { Deps } from "../deps.ts";
import { quotaEnforced } from "../isolation.builders.ts";
import {
  CREDENTIAL_SECRET,
  JOB_NAME,
  buildSandbox,
  sandboxNamespace,
  sandboxQuota,
  type SandboxLimits,
} from "./sandboxjob.builders.ts";
import { outboxPrefix } from "./sandboxjob.review.ts";
import type { JobObject } from "./sandboxjob.status.ts";

/**
 * Creates or updates the sandbox; `quotaPending` while the Job waits for the
 * quota. Returns the job as last written (status.credential may be new).
 */
export async function ensureSandbox(
  ctx: Context,
  deps: Deps,
  job: JobObject,
  space: DataSpace & KubeObject,
  agreementId: string,
  further: readonly { name: string; agreementId: string }[],
  limits: SandboxLimits,
  bucket: string,
): Promise<{ job: JobObject; quotaPending: boolean }> {
  const ns = sandboxNamespace(job);
  // The token is issued once: an existing credential Secret keeps it (and status.credential its digest).
  const existing = await ctx.client.find(kinds.secret, CREDENTIAL_SECRET, ns);
  const issued = Buffer.from(dataOf(existing).token ?? "", "base64").toString("utf8");
  const children = buildSandbox({
    space,
    job,
    limits,
    gatewayUrl: deps.sandbox?.gatewayUrl ?? deps.gatewayUrl ?? "",
    ...(deps.sandbox ? { placement: deps.sandbox } : {}),
    ...(deps.gateway ? { gateway: deps.gateway } : {}),
    agreementId,
    inputs: further,
    token: issued || randomBytes(32).toString("base64url"),
    outbox: { bucket, prefix: outboxPrefix(job) },
    owner: {
      apiVersion: API_VERSION,
      kind: "DataSpace",
      name: space.metadata.name ?? "",
      uid: space.metadata.uid ?? "",
      controller: true,
      blockOwnerDeletion: true,
    },
  });
  await applyIfChanged(ctx, kinds.namespace, children.namespace, await ctx.client.find(kinds.namespace, ns));
  for (const [r, obj] of [
    [kinds.resourceQuota, children.quota],
    [kinds.limitRange, children.limitRange],
    ...children.networkPolicies.map((np) => [kinds.networkPolicy, np] as const),
  ] as const)
    await applyIfChanged(ctx, r, obj, await ctx.client.find(r, obj.metadata.name ?? "", ns));
  if (!existing) await createOnce(ctx, kinds.secret, children.credentialSecret, CREDENTIAL_SECRET, ns);
  // The gateway learns the credential from status, so it is there before the job can call.
  let current = job;
  if (!isDeepStrictEqual(job.status?.credential, children.credential)) {
    const status: SandboxJobStatus = { ...(job.status ?? {}), credential: children.credential };
    if (await writeStatus(ctx, kinds.sandboxJob, job, status)) {
      current = await ctx.client.get<JobObject>(
        kinds.sandboxJob,
        job.metadata.name ?? "",
        job.metadata.namespace,
      );
    }
  }
  // The Job is created, never patched, and only once the quota is in force: until
  // kube-controller-manager fills status.hard, the quota admits no pod.
  const quota = await ctx.client.find(kinds.resourceQuota, children.quota.metadata.name ?? "", ns);
  if (!quotaEnforced(quota, sandboxQuota(limits))) return { job: current, quotaPending: true };
  await createOnce(ctx, kinds.job, children.job, JOB_NAME, ns);
  return { job: current, quotaPending: false };
}

async function createOnce(
  ctx: Context,
  r: ResourceType,
  obj: KubeObject,
  name: string,
  ns: string,
): Promise<void> {
  if (await ctx.client.find(r, name, ns)) return;
  try {
    ctx.beforeWrite(`create ${r.kind} ${ns}/${name}`);
    await ctx.client.create(r, obj);
  } catch (err) {
    if (!isConflict(err))
      throw new Error(`cannot create ${r.kind} ${ns}/${name} of a sandbox`, { cause: err });
  }
}

/** Deletes the sandbox namespace; true once it is gone. */
export async function removeSandbox(ctx: Context, job: JobObject): Promise<boolean> {
  const ns = sandboxNamespace(job);
  const live = await ctx.client.find(kinds.namespace, ns);
  if (!live) return true;
  if (!live.metadata.deletionTimestamp) {
    ctx.beforeWrite(`delete Namespace ${ns}`);
    await ctx.client.delete(kinds.namespace, ns, undefined, { uid: live.metadata.uid });
  }
  return false;
}
