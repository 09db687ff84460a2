// Evidence, then status: how every controller puts what it decided into the
// space's evidence log. The entries of a change are appended one by one
// (each a write point), and the outcome says what the status may announce:
// where the log holds each entry (status.latestEvidence) and the
// EvidenceRecorded condition when something is left pending. Event ids are
// deterministic, so a retried or crash-repeated append is recorded once and
// answered with the position of the entry already held.
//
// recordLifecycle is the one-entry form for lifecycle changes of spaces,
// participants and offers; it throws on a failed append, so the reconcile is
// retried and the status change waits for its evidence.
import { createHash } from "node:crypto";
import { rfc3339, type Condition, type EvidencePointer } from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import type { Context } from "../runtime/reconcile.ts";
import type { ApiClient, EvidenceEntry } from "@tds/wire";
import { OPERATOR_ACTOR } from "../api-client/api-client.ts";

export interface Appended {
  readonly entry: EvidenceEntry;
  /** Where the log holds the entry; undefined when it held the event with other content and did not say where. */
  readonly pointer: EvidencePointer | undefined;
  /** The entry the log already held under this id (appended before a crash, with that attempt's clock). */
  readonly held: EvidenceEntry | undefined;
}

export type EvidenceOutcome =
  | { readonly state: "Recorded"; readonly appended: readonly Appended[] }
  /** No dashboard API (TDS_DASHBOARD_URL): nothing was sent, the entries wait. */
  | { readonly state: "NotConfigured"; readonly appended: readonly Appended[] }
  /** The log did not answer: the entries before the failure are appended, the rest wait. */
  | { readonly state: "Unreachable"; readonly appended: readonly Appended[]; readonly error: unknown };

/**
 * Appends `entries` in order. `before` runs before each append (the contract
 * controller bills an agreement before its evidence); a failure there counts
 * as the log's. Never throws: the outcome says what is recorded.
 */
export async function recordEvidence(
  ctx: Context,
  api: ApiClient | undefined,
  space: string,
  entries: readonly EvidenceEntry[],
  before?: (entry: EvidenceEntry) => Promise<void>,
): Promise<EvidenceOutcome> {
  if (entries.length === 0) return { state: "Recorded", appended: [] };
  if (!api) return { state: "NotConfigured", appended: [] };
  const appended: Appended[] = [];
  try {
    for (const entry of entries) {
      await before?.(entry);
      ctx.beforeWrite(`evidence ${entry.action} ${entry.object.name}`);
      const [r] = await api.recordEvidence(space, [entry]);
      appended.push({
        entry,
        pointer:
          r?.leafIndex === undefined || r.leafHash === undefined
            ? undefined
            : { logIndex: r.leafIndex, leafHash: r.leafHash },
        held: r?.held,
      });
    }
  } catch (error) {
    return { state: "Unreachable", appended, error };
  }
  return { state: "Recorded", appended };
}

/** The pointer for status.latestEvidence: the last entry the log placed, else `known`. */
export function latestEvidence(
  outcome: EvidenceOutcome,
  known?: EvidencePointer,
): EvidencePointer | undefined {
  return outcome.appended.reduce<EvidencePointer | undefined>((at, a) => a.pointer ?? at, known);
}

/** What a controller's entries are, for the EvidenceRecorded condition: `phase`/`phases`, `transition`/`transitions`. */
export interface EvidenceNoun {
  readonly one: string;
  readonly many: string;
}

/** The EvidenceRecorded condition for an outcome; `pending` counts the entries that were to be sent. */
export function evidenceCondition(
  outcome: EvidenceOutcome,
  pending: number,
  noun: EvidenceNoun,
  observedGeneration: number,
): Omit<Condition, "lastTransitionTime"> {
  const type = "EvidenceRecorded";
  switch (outcome.state) {
    case "Recorded":
      return {
        type,
        status: "True",
        reason: "Recorded",
        message: `Every ${noun.one} is in the evidence log`,
        observedGeneration,
      };
    case "NotConfigured":
      return {
        type,
        status: "False",
        reason: "EvidencePending",
        message: `The dashboard API is not configured (TDS_DASHBOARD_URL): ${String(pending)} ${noun.one}(s) await the evidence log`,
        observedGeneration,
      };
    case "Unreachable":
      return {
        type,
        status: "False",
        reason: "EvidencePending",
        message: `The evidence log is unreachable; the ${noun.many} are recorded when it answers`,
        observedGeneration,
      };
  }
}

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

/** The evidence entry of a lifecycle change. */
export function lifecycleEntry(ev: LifecycleEvent): EvidenceEntry {
  const m = ev.object.metadata;
  const generation = m.generation ?? 0;
  return {
    space: ev.space,
    eventId: ev.eventId ?? `${m.uid ?? ""}/${ev.action}/${String(generation)}`,
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
  };
}

/**
 * Appends a lifecycle change and returns where the log holds it, or undefined
 * when no dashboard API is configured (the operator then runs without an
 * evidence log, as in unit-level tests). A failing append throws: the
 * reconcile is retried and the status change waits for its evidence.
 */
export async function recordLifecycle(
  ctx: Context,
  api: ApiClient | undefined,
  ev: LifecycleEvent,
): Promise<LifecycleRecord | undefined> {
  const outcome = await recordEvidence(ctx, api, ev.space, [lifecycleEntry(ev)]);
  if (outcome.state === "Unreachable") throw outcome.error;
  const [a] = outcome.appended;
  if (!a?.pointer) return undefined;
  return {
    // When the entry held is an earlier attempt's, when it was appended is not known here.
    pointer: a.held ? a.pointer : { ...a.pointer, recordedAt: rfc3339(new Date()) },
    time: a.held?.time ?? ev.time,
  };
}
