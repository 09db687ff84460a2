// A started SandboxJob's run: its Kubernetes Job and pod are read (they are
// not watched) until the Job completes or fails, and while the pod has a node
// its CPU and memory are sampled from the kubelet's summary (through the API
// server's node proxy). A node with no summary (KWOK's has no kubelet) is
// asked again only after a wait that doubles to a minute. An image the node
// cannot get fails the job before it runs (ImageUnavailable).
import { rfc3339, type SandboxJobStatus } from "@tds/crds";
import { kinds, type KubeObject } from "@tds/kube";
import type { Context, Result } from "../../runtime/reconcile.ts";
import { errorText } from "../../runtime/controller.ts";
import {
  JOB_NAME,
  addSample,
  finalUsage,
  podSample,
  sandboxNamespace,
  type SandboxLimits,
  type SandboxUsage,
} from "./sandboxjob.builders.ts";
import { removeSandbox } from "./sandboxjob.sandbox.ts";
import type { JobObject, JobStatusWriter, Phase } from "./sandboxjob.status.ts";

/** How often a started job's Kubernetes Job is looked at (Jobs are not watched). */
const POLL_MS = 1_000;
/** How long a node whose kubelet gave no summary is left alone: from the first wait, doubling to the most. */
const NO_SUMMARY_FIRST_WAIT_MS = 2_000;
const NO_SUMMARY_MAX_WAIT_MS = 60_000;

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

export class RunFollower {
  /**
   * Nodes whose kubelet gave no summary: until when they are not asked again, and the
   * next wait. The wait doubles from 2 s to a minute (KWOK's node has no kubelet), and
   * an answer resets it, so one slow answer from a real node costs a few samples at most.
   */
  private readonly noSummary = new Map<string, { until: number; waitMs: number }>();

  constructor(
    private readonly status: JobStatusWriter,
    private readonly now: () => Date,
  ) {}

  /**
   * Reads the Job and its pod: Pending until the pod runs, then Running, then
   * the Job's outcome. While the pod has a node, its usage is sampled from the
   * kubelet's summary on every look.
   */
  async follow(
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
      await this.status.write(
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
      await removeSandbox(ctx, job);
      return this.status.finish(
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
    await this.status.write(
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
}
