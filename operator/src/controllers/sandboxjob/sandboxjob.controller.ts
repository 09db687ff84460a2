// SandboxJob reconciler: for a job whose contracts are Active and whose offers
// are computeOnly (sandboxjob.inputs.ts), creates the sandbox (namespace,
// quota and limits, NetworkPolicies, credential Secret, then the Job once the quota
// is in force; sandboxjob.sandbox.ts), follows the Job through Pending,
// Running and Succeeded/Failed and samples the pod's usage
// (sandboxjob.run.ts), meters the run (sandboxjob.metering.ts), collects the
// outputs the gateway wrote to the outbox and holds them for the provider's
// review (sandboxjob.outputs.ts), then removes the sandbox namespace. A
// revoked or expired contract stops the job by removing its namespace. One
// evidence entry per phase and review (sandboxjob.status.ts).
import {
  splitParticipantNamespace,
  type DataSpace,
  type Participant,
  type SandboxJobStatus,
} from "@tds/crds";
import { kinds, type KubeObject } from "@tds/kube";
import {
  addFinalizer,
  removeFinalizer,
  setCondition,
  writeStatus,
  type Context,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/reconcile.ts";
import type { Deps } from "../deps.ts";
import { sandboxLimits } from "./sandboxjob.builders.ts";
import { inactiveContract, inputsOf, notComputeOnly } from "./sandboxjob.inputs.ts";
import { meter } from "./sandboxjob.metering.ts";
import { collectOutputs, providerReview } from "./sandboxjob.outputs.ts";
import { RunFollower } from "./sandboxjob.run.ts";
import { ensureSandbox, removeSandbox } from "./sandboxjob.sandbox.ts";
import { JobStatusWriter, type JobObject, type Phase } from "./sandboxjob.status.ts";

export const SANDBOX_FINALIZER = "tds.dev/sandbox-cleanup";
const TERMINAL: readonly Phase[] = ["Succeeded", "Failed", "DeadlineExceeded", "Rejected"];

export class SandboxJobReconciler implements Reconciler {
  readonly name = "sandboxjob";
  readonly resource = kinds.sandboxJob;
  private readonly status: JobStatusWriter;
  private readonly run: RunFollower;

  constructor(
    private readonly deps: Deps,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.status = new JobStatusWriter(deps, now);
    this.run = new RunFollower(this.status, now);
  }

  async reconcile(req: Request, ctx: Context): Promise<Result | undefined> {
    const job = await ctx.primary<JobObject>();
    if (!job) return undefined;
    const where = splitParticipantNamespace(job.metadata.namespace);
    const space =
      where && (this.deps.cache.get(kinds.dataSpace, where.space) as (DataSpace & KubeObject) | undefined);
    if (job.metadata.deletionTimestamp) {
      if (!(job.metadata.finalizers ?? []).includes(SANDBOX_FINALIZER)) return undefined;
      await removeSandbox(ctx, job);
      await removeFinalizer(ctx, kinds.sandboxJob, job, SANDBOX_FINALIZER);
      return undefined;
    }
    if (!where || !space) {
      if (this.deps.spaceSelector) return undefined; // another operator's space
      return this.status.finish(
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
    const inputs = await inputsOf(ctx, job);
    const started =
      phase === "Running" || (phase === "Pending" && job.status?.sandboxNamespace !== undefined);
    const inactive = inactiveContract(inputs, started);
    if (inactive?.outcome === "stop") {
      await removeSandbox(ctx, job);
      return this.status.finish(
        ctx,
        job,
        where.space,
        "Failed",
        inactive.reason,
        `Stopped: ${inactive.message}`,
      );
    }
    if (inactive?.outcome === "wait")
      return this.status.waiting(ctx, job, where.space, inactive.reason, inactive.message);
    if (inactive)
      return this.status.finish(ctx, job, where.space, "Rejected", inactive.reason, inactive.message);
    const contract = inputs[0]?.contract;
    if (!contract) return undefined;
    const refusal = await notComputeOnly(ctx, inputs);
    if (refusal) return this.status.finish(ctx, job, where.space, "Rejected", "OfferNotComputeOnly", refusal);
    const offerRef = contract.spec.offerRef;
    const consumer = this.deps.cache.get(kinds.participant, where.participant) as
      (Participant & KubeObject) | undefined;
    if (consumer?.spec.suspended) {
      if (job.status?.sandboxNamespace) await removeSandbox(ctx, job);
      return this.status.finish(
        ctx,
        job,
        where.space,
        job.status?.sandboxNamespace ? "Failed" : "Rejected",
        "ParticipantSuspended",
        `Participant ${where.participant} is suspended (spec.suspended); its SandboxJobs are not run`,
      );
    }
    const limits = sandboxLimits(space, job);
    if (!limits.ok)
      return this.status.finish(ctx, job, where.space, "Rejected", limits.reason, limits.message);
    const provider = splitParticipantNamespace(offerRef.namespace)?.participant ?? "";
    const bucket = (
      this.deps.cache.get(kinds.participant, provider) as (Participant & KubeObject) | undefined
    )?.status?.bucket;
    if (!bucket)
      return this.status.waiting(
        ctx,
        job,
        where.space,
        "ProviderNotReady",
        `The bucket of provider ${provider} is not ready`,
      );

    if (!job.status?.sandboxNamespace) {
      const rc = await ctx.client.find(kinds.runtimeClass, limits.limits.runtimeClassName);
      if (!rc)
        return this.status.waiting(
          ctx,
          job,
          where.space,
          "RuntimeClassNotFound",
          `RuntimeClass "${limits.limits.runtimeClassName}" (spec.sandbox.runtimeClassName of space ${where.space}) does not exist in the cluster; install the runtime on the nodes and create the RuntimeClass`,
          10_000,
        );
    }
    const { job: current, quotaPending } = await ensureSandbox(
      ctx,
      this.deps,
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
      return this.status.waiting(
        ctx,
        current,
        where.space,
        "QuotaPending",
        `The sandbox namespace's ResourceQuota is not in force yet (status.hard); the Job is created once it is`,
        500,
      );
    return this.run.follow(ctx, current, where.space, limits.limits);
  }

  /** A finished job: outputs collected and reviewed, then the sandbox namespace removed. */
  private async afterRun(
    ctx: Context,
    job: JobObject,
    space: DataSpace & KubeObject,
  ): Promise<Result | undefined> {
    job = await meter(ctx, this.deps, job, space);
    let status: SandboxJobStatus = job.status ?? {};
    if (status.phase === "Succeeded")
      status = status.review
        ? providerReview(job, status, this.now())
        : await collectOutputs(ctx, this.deps, job, status, this.now());
    const removed = await removeSandbox(ctx, job);
    const cleaned = setCondition(status.conditions, {
      type: "SandboxRemoved",
      status: removed ? "True" : "False",
      reason: removed ? "Removed" : "Removing",
      message: removed ? "The sandbox namespace is removed" : "The sandbox namespace is being removed",
      observedGeneration: job.metadata.generation ?? 0,
    });
    status = { ...status, conditions: cleaned };
    await writeStatus(ctx, kinds.sandboxJob, job, status);
    await this.status.recordEvidence(ctx, job, space.metadata.name ?? "", status);
    return removed ? undefined : { requeueAfterMs: 1_000 };
  }
}
