// Evidence for lifecycle changes of DataSpaces, Participants and DataOffers:
// one entry per change (of phase, of the generation a space is provisioned at,
// of an offer's publication), appended before the status that announces it.
// The event id is derived from the object's uid and the change, so a retried
// or crash-repeated append is recorded once, and the status points at it.
import { createHash } from "node:crypto";
import type { EvidencePointer } from "@tds/crds";
import type { KubeObject } from "@tds/kube";
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
  /** Defaults to `<uid>/<action>/<generation>`; must be the same on every attempt. */
  readonly eventId?: string;
}

export interface LifecycleRecord {
  /** For `status.latestEvidence`. */
  readonly pointer: EvidencePointer;
  /**
   * The event's time as the log holds it: `ev.time`, or the time of an earlier
   * attempt whose status write never happened (a crash, a new clock).
   */
  readonly time: string;
}

/**
 * Appends the event and returns where the log holds it, or undefined when no
 * dashboard API is configured (the operator then runs without an evidence
 * log, as in unit-level tests). A repeated append of the same event id gets
 * the position of the entry already recorded, even when this attempt's clock
 * differs. A failing append throws: the reconcile is retried and the status
 * change waits for its evidence.
 */
export async function recordLifecycle(
  ctx: Context,
  dashboard: Dashboard | undefined,
  ev: LifecycleEvent,
): Promise<LifecycleRecord | undefined> {
  if (!dashboard) return undefined;
  const m = ev.object.metadata;
  const generation = m.generation ?? 0;
  ctx.beforeWrite(`evidence ${ev.action} ${m.name ?? ""}`);
  const [r] = await dashboard.recordEvidence(ev.space, [
    {
      space: ev.space,
      eventId: ev.eventId ?? `${m.uid ?? ""}/${ev.action}/${generation}`,
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
    // When the entry held is an earlier attempt's, when it was appended is not known here.
    pointer: r.held
      ? { logIndex: r.leafIndex, leafHash: r.leafHash }
      : {
          logIndex: r.leafIndex,
          leafHash: r.leafHash,
          recordedAt: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        },
    time: r.held?.time ?? ev.time,
  };
}
