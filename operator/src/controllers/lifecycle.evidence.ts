// Evidence for lifecycle changes of DataSpaces and Participants: one entry per
// change of phase (and per spec generation a space is provisioned at), appended
// before the status that announces the change. The event id is derived from
// the object's uid, the action and the generation, so a retried or
// crash-repeated append is recorded once.
import { createHash } from "node:crypto";
import type { EvidencePointer } from "@tds/crds";
import type { KubeObject } from "@tds/crds/kube";
import type { Context } from "../runtime/reconcile.ts";
import { OPERATOR_ACTOR, type Dashboard } from "../dashboard/dashboard.ts";

export interface LifecycleEvent {
  readonly space: string;
  readonly object: KubeObject;
  /** For example `participant.active`, `dataspace.provisioned`. */
  readonly action: string;
  /** When the change happened (the condition's lastTransitionTime). */
  readonly time: string;
  /** What the decision rested on; only its SHA-256 goes into the log. */
  readonly payload: unknown;
}

/**
 * Appends the event and returns the pointer for `status.latestEvidence`, or
 * undefined when no dashboard API is configured (the operator then runs
 * without an evidence log, as in unit-level tests). A failing append throws:
 * the reconcile is retried and the status change waits for its evidence.
 */
export async function recordLifecycle(
  ctx: Context,
  dashboard: Dashboard | undefined,
  ev: LifecycleEvent,
): Promise<EvidencePointer | undefined> {
  if (!dashboard) return undefined;
  const m = ev.object.metadata;
  const generation = m.generation ?? 0;
  ctx.beforeWrite(`evidence ${ev.action} ${m.name ?? ""}`);
  const [r] = await dashboard.recordEvidence(ev.space, [
    {
      space: ev.space,
      eventId: `${m.uid ?? ""}/${ev.action}/${generation}`,
      actor: OPERATOR_ACTOR,
      action: ev.action,
      time: ev.time,
      object: {
        kind: ev.object.kind ?? "",
        ...(m.namespace ? { namespace: m.namespace } : {}),
        name: m.name ?? "",
        uid: m.uid ?? "",
        generation,
      },
      payloadHash: createHash("sha256").update(JSON.stringify(ev.payload)).digest("hex"),
    },
  ]);
  if (r?.leafIndex === undefined || r.leafHash === undefined) return undefined;
  return {
    logIndex: r.leafIndex,
    leafHash: r.leafHash,
    recordedAt: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
}
