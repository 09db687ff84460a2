// SandboxJob reconciler: for a job whose contract is Active and whose offer is
// computeOnly, creates the sandbox (namespace, quota and limits, NetworkPolicies,
// grant Secret, then the Job once the quota is in force; sandboxjob.builders.ts),
// follows the Job through Pending, Running and Succeeded/Failed, meters the run
// (the pod's usage from the kubelet's summary API, sampled while it runs; the
// reservation where the node reports none), collects the outputs the gateway
// wrote to the outbox and holds them for the provider's review, then removes
// the sandbox namespace. An image the node cannot get fails the job
// (ImageUnavailable) and meters nothing. A revoked or expired contract stops
// the job by removing its namespace. One evidence entry per phase and review.
import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import {
  MAIN_INPUT,
  jobInputs,
  splitByContribution,
  type DataContract,
  type DataOffer,
  type DataSpace,
  type Participant,
  type SandboxJob,
  type SandboxJobStatus,
} from "@tds/crds";
import type { UsageCloudEvent } from "../../metering/usage.ts";
import type { SandboxReads } from "../../dashboard/dashboard.ts";
import { KubeApiError, dataOf, type KubeObject, type ResourceType, kinds } from "@tds/kube";
import {
  addFinalizer,
  applyIfChanged,
  findCondition,
  removeFinalizer,
  setCondition,
  writeStatus,
  type Context,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/reconcile.ts";
import { errorText } from "../../runtime/controller.ts";
import type { Deps } from "../deps.ts";
import { splitParticipantNamespace } from "../datacontract/datacontract.builders.ts";
import {
  GRANT_SECRET,
  JOB_NAME,
  buildSandbox,
  addSample,
  finalUsage,
  grantId,
  podSample,
  reservedUsage,
  sandboxLimits,
  sandboxNamespace,
  sandboxQuota,
  type SandboxLimits,
  type SandboxUsage,
} from "./sandboxjob.builders.ts";
import { quotaEnforced } from "../isolation.builders.ts";
import {
  OUTPUT_MANIFEST_DIR,
  REVIEW_ANNOTATION,
  REVIEW_REASON_ANNOTATION,
  REVIEWER_ANNOTATION,
  autoWithhold,
  outboxPrefix,
  sandboxEvidence,
  sandboxUsageEvents,
  type OutputManifest,
} from "./sandboxjob.review.ts";

type JobObject = SandboxJob & KubeObject;
type Phase = NonNullable<SandboxJobStatus["phase"]>;
type UsageCloudEventList = UsageCloudEvent[];
type RevenueShareStatus = NonNullable<SandboxJobStatus["revenueShares"]>[number];

export const SANDBOX_FINALIZER = "tds.dev/sandbox-cleanup";
const TERMINAL: readonly Phase[] = ["Succeeded", "Failed", "DeadlineExceeded", "Rejected"];
/** How often a started job's Kubernetes Job is looked at (Jobs are not watched). */
const POLL_MS = 1_000;
/** How long a node whose kubelet gave no summary is left alone: from the first wait, doubling to the most. */
const NO_SUMMARY_FIRST_WAIT_MS = 2_000;
const NO_SUMMARY_MAX_WAIT_MS = 60_000;

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");

interface K8sJob extends KubeObject {
  status?: {
    startTime?: string;
    completionTime?: string;
    conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: string }[];
  };
}
interface K8sPod extends KubeObject {
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    startTime?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: {
      name: string;
      image?: string;
      state?: { waiting?: { reason?: string; message?: string } };
    }[];
  };
}

/** Waiting reasons that mean the node cannot get the image (the kubelet gives up or backs off). */
const IMAGE_UNAVAILABLE = new Set([
  "ErrImageNeverPull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ImageInspectError",
]);

/** The pod's image problem, if its container waits for an image it cannot get. */
export function imageUnavailable(pod: K8sPod | undefined): string | undefined {
  for (const c of pod?.status?.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (w?.reason && IMAGE_UNAVAILABLE.has(w.reason))
      return `${w.reason}: ${c.image ?? "the image"}${w.message ? ` (${w.message})` : ""}`;
  }
  return undefined;
}

export class SandboxJobReconciler implements Reconciler {
  readonly name = "sandboxjob";
  readonly resource = kinds.sandboxJob;
  /** Evidence ids this process has recorded (the log keeps the first of each id, so a restart resends safely). */
  private readonly recorded = new Set<string>();
  /**
   * Nodes whose kubelet gave no summary: until when they are not asked again, and the
   * next wait. The wait doubles from 2 s to a minute (KWOK's node has no kubelet), and
   * an answer resets it, so one slow answer from a real node costs a few samples at most.
   */
  private readonly noSummary = new Map<string, { until: number; waitMs: number }>();

  constructor(
    private readonly deps: Deps,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async reconcile(req: Request, ctx: Context): Promise<Result | undefined> {
    const job = await ctx.client.find<JobObject>(kinds.sandboxJob, req.name, req.namespace);
    if (!job) return undefined;
    const where = splitParticipantNamespace(job.metadata.namespace);
    const space =
      where && (this.deps.cache.get(kinds.dataSpace, where.space) as (DataSpace & KubeObject) | undefined);
    if (job.metadata.deletionTimestamp) {
      if (!(job.metadata.finalizers ?? []).includes(SANDBOX_FINALIZER)) return undefined;
      await this.removeSandbox(ctx, job);
      await removeFinalizer(ctx, kinds.sandboxJob, job, SANDBOX_FINALIZER);
      return undefined;
    }
    if (!where || !space) {
      if (this.deps.spaceSelector) return undefined; // another operator's space
      return this.finish(
        ctx,
        job,
        undefined,
        "Rejected",
        "NotInParticipantNamespace",
        "A SandboxJob must live in a participant namespace <space>--<participant>",
      );
    }
    await addFinalizer(ctx, kinds.sandboxJob, job, SANDBOX_FINALIZER);
    const phase = job.status?.phase;
    if (phase && TERMINAL.includes(phase)) return this.afterRun(ctx, job, space);

    // Every input's contract must be Active and its offer computeOnly; any one revoked or
    // expired stops the job. The contracts live in the job's namespace: one consumer.
    const inputs = await this.inputsOf(ctx, job);
    for (const { input, contract } of inputs) {
      const state = contract?.status?.state;
      if (contract && state === "Active") continue;
      const started =
        phase === "Running" || (phase === "Pending" && job.status?.sandboxNamespace !== undefined);
      const reason =
        state === "Revoked"
          ? "ContractRevoked"
          : state === "Expired"
            ? "ContractExpired"
            : "ContractNotActive";
      const message = `${input.field}: DataContract ${input.contract} is ${state ?? "missing"}, and a SandboxJob runs only under Active contracts`;
      if (started) {
        await this.removeSandbox(ctx, job);
        return this.finish(ctx, job, where.space, "Failed", reason, `Stopped: ${message}`);
      }
      if (state === undefined || state === "Requested" || state === "Agreed")
        return this.waiting(ctx, job, where.space, reason, message);
      return this.finish(ctx, job, where.space, "Rejected", reason, message);
    }
    const contract = inputs[0]?.contract;
    if (!contract) return undefined;
    for (const { input, contract: c } of inputs) {
      const ref = c?.spec.offerRef;
      const offer =
        ref && (await ctx.client.find<DataOffer & KubeObject>(kinds.dataOffer, ref.name, ref.namespace));
      const mode = offer?.status?.effectivePolicy?.accessMode ?? offer?.spec.policy.accessMode ?? "download";
      if (!offer || mode !== "computeOnly")
        return this.finish(
          ctx,
          job,
          where.space,
          "Rejected",
          "OfferNotComputeOnly",
          `${input.field}: offer ${ref?.namespace ?? ""}/${ref?.name ?? ""} has access mode ${mode}; a SandboxJob needs computeOnly offers`,
        );
    }
    const offerRef = contract.spec.offerRef;
    const consumer = this.deps.cache.get(kinds.participant, where.participant) as
      (Participant & KubeObject) | undefined;
    if (consumer?.spec.suspended) {
      if (job.status?.sandboxNamespace) await this.removeSandbox(ctx, job);
      return this.finish(
        ctx,
        job,
        where.space,
        job.status?.sandboxNamespace ? "Failed" : "Rejected",
        "ParticipantSuspended",
        `Participant ${where.participant} is suspended (spec.suspended); its SandboxJobs are not run`,
      );
    }
    const limits = sandboxLimits(space, job);
    if (!limits.ok) return this.finish(ctx, job, where.space, "Rejected", limits.reason, limits.message);
    const provider = splitParticipantNamespace(offerRef.namespace)?.participant ?? "";
    const bucket = (
      this.deps.cache.get(kinds.participant, provider) as (Participant & KubeObject) | undefined
    )?.status?.bucket;
    if (!bucket)
      return this.waiting(
        ctx,
        job,
        where.space,
        "ProviderNotReady",
        `The bucket of provider ${provider} is not ready`,
      );

    if (!job.status?.sandboxNamespace) {
      const rc = await ctx.client.find(kinds.runtimeClass, limits.limits.runtimeClassName);
      if (!rc)
        return this.waiting(
          ctx,
          job,
          where.space,
          "RuntimeClassNotFound",
          `RuntimeClass "${limits.limits.runtimeClassName}" (spec.sandbox.runtimeClassName of space ${where.space}) does not exist in the cluster; install the runtime on the nodes and create the RuntimeClass`,
          10_000,
        );
    }
    const { job: current, quotaPending } = await this.ensureSandbox(
      ctx,
      job,
      space,
      contract.status?.agreementId ?? "",
      inputs
        .slice(1)
        .map((i) => ({ name: i.input.name, agreementId: i.contract?.status?.agreementId ?? "" })),
      limits.limits,
      bucket,
    );
    if (quotaPending)
      return this.waiting(
        ctx,
        current,
        where.space,
        "QuotaPending",
        `The sandbox namespace's ResourceQuota is not in force yet (status.hard); the Job is created once it is`,
        500,
      );
    return this.follow(ctx, current, where.space, limits.limits);
  }

  private async ensureSandbox(
    ctx: Context,
    job: JobObject,
    space: DataSpace & KubeObject,
    agreementId: string,
    further: readonly { name: string; agreementId: string }[],
    limits: SandboxLimits,
    bucket: string,
  ): Promise<{ job: JobObject; quotaPending: boolean }> {
    const ns = sandboxNamespace(job);
    // The token is issued once: an existing grant Secret keeps it (and status.grant its digest).
    const existing = await ctx.client.find(kinds.secret, GRANT_SECRET, ns);
    const issued = Buffer.from(dataOf(existing).token ?? "", "base64").toString("utf8");
    const children = buildSandbox({
      space,
      job,
      limits,
      gatewayUrl: this.deps.sandbox?.gatewayUrl ?? this.deps.gatewayUrl ?? "",
      ...(this.deps.sandbox ? { placement: this.deps.sandbox } : {}),
      ...(this.deps.gateway ? { gateway: this.deps.gateway } : {}),
      agreementId,
      inputs: further,
      token: issued || randomBytes(32).toString("base64url"),
      outbox: { bucket, prefix: outboxPrefix(job) },
      owner: {
        apiVersion: "tds.dev/v1alpha1",
        kind: "DataSpace",
        name: space.metadata.name ?? "",
        uid: space.metadata.uid ?? "",
        controller: true,
        blockOwnerDeletion: true,
      },
    });
    await applyIfChanged(
      ctx,
      kinds.namespace,
      children.namespace,
      await ctx.client.find(kinds.namespace, ns),
    );
    for (const [r, obj] of [
      [kinds.resourceQuota, children.quota],
      [kinds.limitRange, children.limitRange],
      ...children.networkPolicies.map((np) => [kinds.networkPolicy, np] as const),
    ] as const)
      await applyIfChanged(ctx, r, obj, await ctx.client.find(r, obj.metadata.name ?? "", ns));
    if (!existing) await this.createOnce(ctx, kinds.secret, children.grantSecret, GRANT_SECRET, ns);
    // The gateway learns the grant from status, so it is there before the job can call.
    let current = job;
    if (!isDeepStrictEqual(job.status?.grant, children.grant)) {
      const status: SandboxJobStatus = { ...(job.status ?? {}), grant: children.grant };
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
    await this.createOnce(ctx, kinds.job, children.job, JOB_NAME, ns);
    return { job: current, quotaPending: false };
  }

  private async createOnce(
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
      if (!(err instanceof KubeApiError && err.code === 409))
        throw new Error(`cannot create ${r.kind} ${ns}/${name} of a sandbox`, { cause: err });
    }
  }

  /**
   * Reads the Job and its pod: Pending until the pod runs, then Running, then
   * the Job's outcome. While the pod has a node, its usage is sampled from the
   * kubelet's summary on every look.
   */
  private async follow(
    ctx: Context,
    job: JobObject,
    space: string,
    limits: SandboxLimits,
  ): Promise<Result | undefined> {
    const ns = sandboxNamespace(job);
    const k8sJob = await ctx.client.find<K8sJob>(kinds.job, JOB_NAME, ns);
    const podList = await ctx.client.list<K8sPod>(kinds.pod, ns);
    const running = podList.items.find(
      (p) => p.status?.phase === "Running" || p.status?.phase === "Succeeded" || p.status?.phase === "Failed",
    );
    const cond = (t: string) => k8sJob?.status?.conditions?.find((c) => c.type === t && c.status === "True");
    const startTime =
      job.status?.startTime ??
      running?.status?.startTime ??
      (running ? k8sJob?.status?.startTime : undefined);
    const base = { sandboxNamespace: ns, jobName: JOB_NAME, ...(startTime ? { startTime } : {}) };
    const complete = cond("Complete");
    const failed = cond("Failed");
    const measured =
      running && startTime ? await this.sample(ctx, running, job.status?.usage, startTime) : undefined;
    const usage = measured ?? job.status?.usage;
    if (complete || failed) {
      const completionTime =
        k8sJob?.status?.completionTime ?? failed?.lastTransitionTime ?? rfc3339(this.now());
      const begun = startTime ?? completionTime;
      const phase: Phase = complete
        ? "Succeeded"
        : failed?.reason === "DeadlineExceeded"
          ? "DeadlineExceeded"
          : "Failed";
      const final = finalUsage(usage, limits, begun, completionTime);
      const status: SandboxJobStatus = {
        ...(job.status ?? {}),
        ...base,
        startTime: begun,
        completionTime,
        usage: final,
        cpuSeconds: Math.floor(final.cpuMilliseconds / 1000),
      };
      await this.write(
        ctx,
        job,
        space,
        status,
        phase,
        complete ? "Completed" : (failed?.reason ?? "Failed"),
        complete
          ? "The job completed; its outputs are held for review"
          : `The job failed (${failed?.reason ?? "Failed"})`,
      );
      return { requeueAfterMs: 100 };
    }
    const noImage = imageUnavailable(podList.items[0]);
    if (noImage && !running) {
      // Nothing ran: no usage is metered (the job has no startTime), and the phase is evidenced.
      await this.removeSandbox(ctx, job);
      return this.finish(
        ctx,
        job,
        space,
        "Failed",
        "ImageUnavailable",
        `spec.image: the node cannot get the image (${noImage}); load it on the sandbox nodes or name one that exists`,
      );
    }
    const phase: Phase = running ? "Running" : "Pending";
    // A pod no node can take waits (nodes may be added), with the scheduler's reason.
    const unschedulable = running
      ? undefined
      : podList.items[0]?.status?.conditions?.find(
          (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
        );
    await this.write(
      ctx,
      job,
      space,
      { ...(job.status ?? {}), ...base, ...(usage ? { usage } : {}) },
      phase,
      phase === "Running" ? "Running" : unschedulable ? "Unschedulable" : "Starting",
      phase === "Running"
        ? "The job is running in its sandbox"
        : unschedulable
          ? `No sandbox node can run the pod yet: ${unschedulable.message ?? "unschedulable"}`
          : "The sandbox is created; waiting for the pod to run",
    );
    return { requeueAfterMs: POLL_MS };
  }

  /**
   * One reading of the pod from its node's kubelet summary (through the API
   * server's node proxy), added to the usage so far; undefined when the node
   * reports nothing for the pod (KWOK's node has no kubelet).
   */
  private async sample(
    ctx: Context,
    pod: K8sPod,
    usage: SandboxUsage | undefined,
    startTime: string,
  ): Promise<SandboxUsage | undefined> {
    const node = pod.spec?.nodeName;
    if (!node || !pod.metadata.uid) return undefined;
    const backoff = this.noSummary.get(node);
    if (backoff && backoff.until > this.now().getTime()) return undefined;
    let summary: unknown;
    try {
      summary = await ctx.client.request(
        "GET",
        `/api/v1/nodes/${encodeURIComponent(node)}/proxy/stats/summary`,
        {
          query: { only_cpu_and_memory: "true" },
        },
      );
    } catch (err) {
      ctx.log.debug("no usage summary from the node", { node, err: errorText(err) });
      const waitMs = Math.min(NO_SUMMARY_MAX_WAIT_MS, (backoff?.waitMs ?? NO_SUMMARY_FIRST_WAIT_MS / 2) * 2);
      this.noSummary.set(node, { until: this.now().getTime() + waitMs, waitMs });
      return undefined;
    }
    this.noSummary.delete(node);
    const s = podSample(summary, pod.metadata.uid);
    return s ? addSample(usage, s, startTime) : undefined;
  }

  /** A finished job: outputs collected and reviewed, then the sandbox namespace removed. */
  private async afterRun(
    ctx: Context,
    job: JobObject,
    space: DataSpace & KubeObject,
  ): Promise<Result | undefined> {
    job = await this.meter(ctx, job, space);
    let status: SandboxJobStatus = job.status ?? {};
    if (status.phase === "Succeeded") {
      if (!status.review) status = await this.collect(ctx, job, status);
      else if (status.review.state === "PendingReview") {
        const a = job.metadata.annotations ?? {};
        const decision = a[REVIEW_ANNOTATION];
        if (decision === "release" || decision === "withhold") {
          const reason = a[REVIEW_REASON_ANNOTATION];
          status = {
            ...status,
            review: {
              state: decision === "release" ? "Released" : "Withheld",
              reviewer: a[REVIEWER_ANNOTATION] ?? "provider",
              reviewedAt: rfc3339(this.now()),
              ...(decision === "withhold" ? { reason: reason ?? "Withheld by the provider" } : {}),
            },
          };
        }
      }
    }
    const removed = await this.removeSandbox(ctx, job);
    const cleaned = setCondition(status.conditions, {
      type: "SandboxRemoved",
      status: removed ? "True" : "False",
      reason: removed ? "Removed" : "Removing",
      message: removed ? "The sandbox namespace is removed" : "The sandbox namespace is being removed",
      observedGeneration: job.metadata.generation ?? 0,
    });
    status = { ...status, conditions: cleaned };
    await writeStatus(ctx, kinds.sandboxJob, job, status);
    await this.recordEvidence(ctx, job, space.metadata.name ?? "", status);
    return removed ? undefined : { requeueAfterMs: 1_000 };
  }

  /** Reads the gateway's manifests of the outputs and decides the automatic part of the review. */
  private async collect(ctx: Context, job: JobObject, status: SandboxJobStatus): Promise<SandboxJobStatus> {
    const bucket = await this.outboxBucket(ctx, job);
    const manifests: OutputManifest[] = [];
    if (bucket) {
      const prefix = `${outboxPrefix(job)}${OUTPUT_MANIFEST_DIR}`;
      for (const o of await this.deps.store.listObjects(bucket, prefix)) {
        const text = await this.deps.store.getObjectText(bucket, o.key);
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
            reviewedAt: status.completionTime ?? rfc3339(this.now()),
            reason: withheld,
          }
        : { state: "PendingReview" },
    };
  }

  private async outboxBucket(ctx: Context, job: JobObject): Promise<string | undefined> {
    const secret = await ctx.client.find(kinds.secret, GRANT_SECRET, sandboxNamespace(job));
    const b64 = dataOf(secret).outboxBucket;
    if (b64) return Buffer.from(b64, "base64").toString("utf8");
    const contract = await ctx.client.find<DataContract & KubeObject>(
      kinds.dataContract,
      job.spec.contractRef.name,
      job.metadata.namespace,
    );
    const provider = splitParticipantNamespace(contract?.spec.offerRef.namespace)?.participant;
    return provider
      ? (this.deps.cache.get(kinds.participant, provider) as (Participant & KubeObject) | undefined)?.status
          ?.bucket
      : undefined;
  }

  /** Deletes the sandbox namespace; true once it is gone. */
  private async removeSandbox(ctx: Context, job: JobObject): Promise<boolean> {
    const ns = sandboxNamespace(job);
    const live = await ctx.client.find(kinds.namespace, ns);
    if (!live) return true;
    if (!live.metadata.deletionTimestamp) {
      ctx.beforeWrite(`delete Namespace ${ns}`);
      await ctx.client.delete(kinds.namespace, ns, undefined, { uid: live.metadata.uid });
    }
    return false;
  }

  /** Each input of the job (spec.contractRef as main, then spec.inputs) with its contract, if found. */
  private async inputsOf(
    ctx: Context,
    job: JobObject,
  ): Promise<
    { input: ReturnType<typeof jobInputs>[number]; contract: (DataContract & KubeObject) | undefined }[]
  > {
    const out = [];
    for (const input of jobInputs(job.spec))
      out.push({
        input,
        contract: await ctx.client.find<DataContract & KubeObject>(
          kinds.dataContract,
          input.contract,
          job.metadata.namespace,
        ),
      });
    return out;
  }

  /**
   * Usage for a finished run, once: the ids are deterministic, and the Metered condition
   * records success. With several inputs, the run's usage is split among their providers by
   * the space's revenueSharing, weighed by what the gateway tallied of the job's reads
   * (crds/src/revenue.ts), and the split is kept in status.revenueShares.
   */
  private async meter(ctx: Context, job: JobObject, space: DataSpace & KubeObject): Promise<JobObject> {
    const status = job.status ?? {};
    if (findCondition(status.conditions, "Metered")?.status === "True") return job;
    const post = this.deps.dashboard?.postUsage?.bind(this.deps.dashboard);
    const limits = sandboxLimits(space, job);
    if (!post || !limits.ok || !status.startTime || !status.completionTime) return job;
    const spaceName = space.metadata.name ?? "";
    const uid = job.metadata.uid ?? "";
    const usage = meteredUsage(status.usage, limits.limits, status.startTime, status.completionTime);
    const completionTime = status.completionTime;
    const revenue = async (): Promise<{ events: UsageCloudEventList; shares?: RevenueShareStatus[] }> => {
      const inputs = await this.inputsOf(ctx, job);
      const single = inputs.length === 1;
      // One input takes everything: no read tally is needed (and none is asked for).
      const dashboard = this.deps.dashboard;
      const reads: SandboxReads | undefined = single
        ? new Map()
        : await dashboard?.sandboxReads?.(spaceName, uid);
      if (!reads) throw new Error("the dashboard API cannot tell the job's reads");
      const shares = splitByContribution(
        space.spec.metering.revenueSharing ?? "ProportionalToUsage",
        inputs.map(({ input, contract }) => {
          const r = reads.get(contract?.status?.agreementId ?? "");
          return {
            input: input.name,
            provider: splitParticipantNamespace(contract?.spec.offerRef.namespace)?.participant ?? "",
            offer: contract?.spec.offerRef.name ?? "",
            contract: input.contract,
            bytes: r?.bytes ?? 0n,
            reads: r?.reads ?? 0n,
          };
        }),
        [usage.cpuMilliseconds, usage.memoryByteSeconds],
      );
      const events = shares.flatMap((s) =>
        sandboxUsageEvents({
          uid,
          ...(s.input === MAIN_INPUT ? {} : { input: s.input }),
          space: spaceName,
          consumer: splitParticipantNamespace(job.metadata.namespace)?.participant ?? "",
          provider: s.provider,
          offer: s.offer,
          contract: s.contract,
          time: completionTime,
          usage: { cpuMilliseconds: s.parts[0] ?? 0n, memoryByteSeconds: s.parts[1] ?? 0n },
        }),
      );
      if (single) return { events };
      return {
        events,
        shares: shares.map((s) => ({
          input: s.input,
          provider: s.provider,
          contract: s.contract,
          basis: s.basis,
          bytes: Number(s.bytes),
          reads: Number(s.reads),
          cpuMilliseconds: Number(s.parts[0] ?? 0n),
          memoryByteSeconds: Number(s.parts[1] ?? 0n),
        })),
      };
    };
    let shares: RevenueShareStatus[] | undefined;
    let condition;
    try {
      const split = await revenue();
      shares = split.shares;
      await post(split.events);
      condition = {
        type: "Metered",
        status: "True",
        reason: "Posted",
        message: "CPU and memory usage of the run are posted",
      } as const;
    } catch (err) {
      ctx.log.warn("cannot post sandbox usage", { job: job.metadata.name, err: errorText(err) });
      condition = {
        type: "Metered",
        status: "False",
        reason: "UsagePending",
        message: "The usage API is unreachable; the run is metered when it answers",
      } as const;
    }
    const next = {
      ...status,
      ...(shares && condition.status === "True" ? { revenueShares: shares } : {}),
      conditions: setCondition(status.conditions, {
        ...condition,
        observedGeneration: job.metadata.generation ?? 0,
      }),
    };
    if (!(await writeStatus(ctx, kinds.sandboxJob, job, next))) return job;
    return ctx.client.get<JobObject>(kinds.sandboxJob, job.metadata.name ?? "", job.metadata.namespace);
  }

  private waiting(
    ctx: Context,
    job: JobObject,
    space: string,
    reason: string,
    message: string,
    retryMs = 2_000,
  ): Promise<Result> {
    return this.write(ctx, job, space, job.status ?? {}, "Pending", reason, message, false).then(() => ({
      requeueAfterMs: retryMs,
    }));
  }

  private async finish(
    ctx: Context,
    job: JobObject,
    space: string | undefined,
    phase: Phase,
    reason: string,
    message: string,
  ): Promise<Result> {
    const completionTime = job.status?.completionTime ?? rfc3339(this.now());
    const written = await this.write(
      ctx,
      job,
      space,
      { ...(job.status ?? {}), completionTime },
      phase,
      reason,
      message,
    );
    if (space) await this.recordEvidence(ctx, written, space, written.status ?? {});
    return { requeueAfterMs: 500 };
  }

  /** Writes phase and Ready condition; returns the job with its new status and resourceVersion. */
  private async write(
    ctx: Context,
    job: JobObject,
    space: string | undefined,
    base: SandboxJobStatus,
    phase: Phase,
    reason: string,
    message: string,
    ready = phase === "Running" || phase === "Succeeded",
  ): Promise<JobObject> {
    const now = this.now();
    const status: SandboxJobStatus = {
      ...base,
      phase,
      observedGeneration: job.metadata.generation ?? 0,
      conditions: setCondition(
        base.conditions,
        {
          type: "Ready",
          status: ready ? "True" : "False",
          reason,
          message,
          observedGeneration: job.metadata.generation ?? 0,
        },
        now,
      ),
    };
    const changed = job.status?.phase !== phase;
    if (await writeStatus(ctx, kinds.sandboxJob, job, status)) {
      if (changed)
        await ctx.events.emit(
          job,
          phase === "Failed" || phase === "Rejected" ? "Warning" : "Normal",
          reason,
          message,
        );
      const fresh = await ctx.client.get<JobObject>(
        kinds.sandboxJob,
        job.metadata.name ?? "",
        job.metadata.namespace,
      );
      if (space) await this.recordEvidence(ctx, fresh, space, fresh.status ?? {});
      return fresh;
    }
    return job;
  }

  private async recordEvidence(
    ctx: Context,
    job: JobObject,
    space: string,
    status: SandboxJobStatus,
  ): Promise<void> {
    const dashboard = this.deps.dashboard;
    const entries = sandboxEvidence(space, job, status).filter((e) => !this.recorded.has(e.eventId));
    if (entries.length === 0) return;
    let condition;
    if (!dashboard) {
      condition = {
        type: "EvidenceRecorded",
        status: "False",
        reason: "EvidencePending",
        message: `The dashboard API is not configured (TDS_DASHBOARD_URL): ${entries.length} phase(s) await the evidence log`,
      } as const;
    } else {
      try {
        for (const e of entries) {
          const [r] = await dashboard.recordEvidence(space, [e]);
          this.recorded.add(e.eventId);
          if (r?.leafIndex !== undefined && r.leafHash !== undefined)
            status = { ...status, latestEvidence: { logIndex: r.leafIndex, leafHash: r.leafHash } };
        }
        condition = {
          type: "EvidenceRecorded",
          status: "True",
          reason: "Recorded",
          message: "Every phase is in the evidence log",
        } as const;
      } catch (err) {
        ctx.log.warn("cannot record sandbox evidence", { job: job.metadata.name, err: errorText(err) });
        condition = {
          type: "EvidenceRecorded",
          status: "False",
          reason: "EvidencePending",
          message: "The evidence log is unreachable; the phases are recorded when it answers",
        } as const;
      }
    }
    const fresh = await ctx.client.find<JobObject>(
      kinds.sandboxJob,
      job.metadata.name ?? "",
      job.metadata.namespace,
    );
    if (!fresh) return;
    await writeStatus(ctx, kinds.sandboxJob, fresh, {
      ...(fresh.status ?? {}),
      ...(status.latestEvidence ? { latestEvidence: status.latestEvidence } : {}),
      conditions: setCondition(fresh.status?.conditions, {
        ...condition,
        observedGeneration: job.metadata.generation ?? 0,
      }),
    });
  }
}

/** What a finished run is metered at: its recorded usage, or (a job finished before usage was recorded) the reservation. */
function meteredUsage(
  usage: SandboxUsage | undefined,
  limits: SandboxLimits,
  startTime: string,
  completionTime: string,
): { cpuMilliseconds: bigint; memoryByteSeconds: bigint } {
  if (usage)
    return {
      cpuMilliseconds: BigInt(usage.cpuMilliseconds),
      memoryByteSeconds: BigInt(usage.memoryByteSeconds),
    };
  return reservedUsage(limits, startTime, completionTime);
}

/** A SandboxJob's sandbox namespace id, for tests and the gateway. */
export { grantId, sandboxNamespace };
