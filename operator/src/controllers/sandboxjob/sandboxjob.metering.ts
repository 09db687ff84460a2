// Metering a finished SandboxJob: its CPU and memory usage (as sampled, or
// the reservation where the node reported none) is posted once as usage
// events, and the Metered condition records that it was. With several inputs
// the usage is split among their providers by the space's revenueSharing,
// weighed by what the gateway tallied of the job's reads (crds/src/revenue.ts),
// each input's events carry its share (basis, weights, the run's totals), and the
// split is kept in status.revenueShares.
import {
  MAIN_INPUT,
  splitByContribution,
  splitParticipantNamespace,
  type DataSpace,
  type SandboxJobStatus,
} from "@tds/crds";
import { type KubeObject, kinds } from "@tds/kube";
import type { SandboxReads, UsageEvent } from "@tds/wire";
import { findCondition, setCondition, writeStatus, type Context } from "../../runtime/reconcile.ts";
import { errorText } from "../../runtime/controller.ts";
import type { Deps } from "../deps.ts";
import {
  reservedUsage,
  sandboxLimits,
  type SandboxLimits,
  type SandboxUsage,
} from "./sandboxjob.builders.ts";
import { inputsOf } from "./sandboxjob.inputs.ts";
import { sandboxUsageEvents } from "./sandboxjob.review.ts";
import type { JobObject } from "./sandboxjob.status.ts";

type RevenueShareStatus = NonNullable<SandboxJobStatus["revenueShares"]>[number];

/**
 * Usage for a finished run, once: the ids are deterministic, and the Metered condition
 * records success. With several inputs, the run's usage is split among their providers by
 * the space's revenueSharing, weighed by what the gateway tallied of the job's reads
 * (crds/src/revenue.ts), and the split is kept in status.revenueShares.
 */
export async function meter(
  ctx: Context,
  deps: Deps,
  job: JobObject,
  space: DataSpace & KubeObject,
): Promise<JobObject> {
  const status = job.status ?? {};
  if (findCondition(status.conditions, "Metered")?.status === "True") return job;
  const post = deps.api?.postUsage.bind(deps.api);
  const limits = sandboxLimits(space, job);
  if (!post || !limits.ok || !status.startTime || !status.completionTime) return job;
  const spaceName = space.metadata.name ?? "";
  const uid = job.metadata.uid ?? "";
  const usage = meteredUsage(status.usage, limits.limits, status.startTime, status.completionTime);
  const completionTime = status.completionTime;
  const revenue = async (): Promise<{ events: UsageEvent[]; shares?: RevenueShareStatus[] }> => {
    const inputs = await inputsOf(ctx, job);
    const single = inputs.length === 1;
    // One input takes everything: no read tally is needed (and none is asked for).
    const api = deps.api;
    const reads: SandboxReads | undefined = single ? new Map() : await api?.sandboxReads(spaceName, uid);
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
        // One input takes the whole run: its events are the run's usage, not a share of it.
        ...(single ? {} : { split: { share: s, of: usage } }),
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
