// The emergency freeze of a space (spec.freeze), as the DataSpace shows it: a
// Frozen condition while it is set, and one evidence entry each time a freeze
// is set, changed or lifted, appended before the status that announces it.
// What a freeze stops is decided elsewhere, by the same policy engine as
// every contract (@tds/crds/policy: frozenBy): contracts are Suspended with
// rule SpaceFrozen or ParticipantFrozen, the gateway refuses and cuts their
// streams, and their sandbox jobs stop because their contracts are not Active.
import type { Condition, DataSpace } from "@tds/crds";
import { freezeReason } from "@tds/crds/policy";
import type { KubeObject } from "@tds/kube";
import { findCondition, setCondition, type Context } from "../../runtime/reconcile.ts";
import { recordLifecycle } from "../evidence.ts";
import type { ApiClient } from "@tds/wire";

export const FROZEN = "Frozen";

/** The Frozen condition a space's spec calls for; undefined for a space never frozen. */
export function frozenCondition(
  space: DataSpace & KubeObject,
): Omit<Condition, "lastTransitionTime"> | undefined {
  const f = space.spec.freeze;
  const observedGeneration = space.metadata.generation ?? 0;
  if (f) {
    const who = f.participants ? `participants ${f.participants.join(", ")}` : "the whole space";
    return {
      type: FROZEN,
      status: "True",
      reason: f.participants ? "ParticipantsFrozen" : "SpaceFrozen",
      message: `Frozen: ${who}. ${freezeReason(f)}`,
      observedGeneration,
    };
  }
  if (!findCondition(space.status?.conditions, FROZEN)) return undefined;
  return {
    type: FROZEN,
    status: "False",
    reason: "FreezeLifted",
    message: "The freeze was lifted by the space's administrators",
    observedGeneration,
  };
}

/**
 * Sets the Frozen condition in `conditions`; when the freeze was set, changed
 * or lifted since the status was written, appends its evidence first
 * (space.frozen with the freeze as payload, or space.unfrozen) and emits an
 * Event. A failed append throws, so the status waits for its evidence.
 */
export async function applyFreeze(
  ctx: Context,
  api: ApiClient | undefined,
  space: DataSpace & KubeObject,
  conditions: Condition[],
): Promise<Condition[]> {
  const next = frozenCondition(space);
  if (!next) return conditions;
  const before = findCondition(space.status?.conditions, FROZEN);
  const updated = setCondition(conditions, next);
  if (before?.status === next.status && before.message === next.message) return updated;
  if (next.status === "False" && before?.status !== "True") return updated;
  const action = next.status === "True" ? "space.frozen" : "space.unfrozen";
  await recordLifecycle(ctx, api, {
    space: space.metadata.name ?? "",
    object: space,
    action,
    time: findCondition(updated, FROZEN)?.lastTransitionTime ?? new Date().toISOString(),
    payload: space.spec.freeze ?? { lifted: true },
  });
  ctx.events.emit(space, next.status === "True" ? "Warning" : "Normal", next.reason, next.message);
  return updated;
}
