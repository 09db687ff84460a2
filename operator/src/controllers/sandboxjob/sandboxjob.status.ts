// A SandboxJob's phase as its status shows it: the phase and its Ready
// condition, an Event when the phase changes, and the evidence of every phase
// and review (sandboxjob.review.ts: sandboxEvidence) appended after the status
// that announces it, with the EvidenceRecorded condition when the log waits.
import { rfc3339, type SandboxJob, type SandboxJobStatus } from "@tds/crds";
import { type KubeObject, kinds } from "@tds/kube";
import { setCondition, writeStatus, type Context, type Result } from "../../runtime/reconcile.ts";
import { errorText } from "../../runtime/controller.ts";
import type { Deps } from "../deps.ts";
import { evidenceCondition, latestEvidence, recordEvidence } from "../evidence.ts";
import { sandboxEvidence } from "./sandboxjob.review.ts";

export type JobObject = SandboxJob & KubeObject;
export type Phase = NonNullable<SandboxJobStatus["phase"]>;

const PHASES = { one: "phase", many: "phases" } as const;

export class JobStatusWriter {
  /** Evidence ids this process has recorded (the log keeps the first of each id, so a restart resends safely). */
  private readonly recorded = new Set<string>();

  constructor(
    private readonly deps: Deps,
    private readonly now: () => Date,
  ) {}

  /** Pending with the reason, looked at again after `retryMs`. */
  waiting(
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

  /** A terminal phase, with its completion time and evidence. */
  async finish(
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
  async write(
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
        ctx.events.emit(
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

  /** Appends the evidence `status` calls for that this process has not recorded, then notes it in status. */
  async recordEvidence(ctx: Context, job: JobObject, space: string, status: SandboxJobStatus): Promise<void> {
    const entries = sandboxEvidence(space, job, status).filter((e) => !this.recorded.has(e.eventId));
    if (entries.length === 0) return;
    const outcome = await recordEvidence(ctx, this.deps.api, space, entries);
    for (const a of outcome.appended) this.recorded.add(a.entry.eventId);
    if (outcome.state === "Unreachable")
      ctx.log.warn("cannot record sandbox evidence", {
        job: job.metadata.name,
        err: errorText(outcome.error),
      });
    const latest = latestEvidence(outcome, status.latestEvidence);
    const fresh = await ctx.client.find<JobObject>(
      kinds.sandboxJob,
      job.metadata.name ?? "",
      job.metadata.namespace,
    );
    if (!fresh) return;
    await writeStatus(ctx, kinds.sandboxJob, fresh, {
      ...(fresh.status ?? {}),
      ...(latest ? { latestEvidence: latest } : {}),
      conditions: setCondition(
        fresh.status?.conditions,
        evidenceCondition(outcome, entries.length, PHASES, job.metadata.generation ?? 0),
      ),
    });
  }
}
