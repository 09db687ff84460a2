// A tenant's namespace is its own or nobody's: the operator creates the
// namespace of a DataSpace or Participant, with an owner reference to it, and
// never adopts one it did not make. A namespace that exists without that owner
// reference (made by hand, by another tool, or for another object of the same
// name) is refused, so no tenant's RoleBinding, Secrets or deletion ever reach
// into a namespace that belongs to someone else.
import { isConflict, type KubeObject, kinds } from "@tds/kube";
import { applyIfChanged, type Context } from "../runtime/reconcile.ts";

/** True when `ns` carries an owner reference to the object with this uid. */
export function ownedBy(ns: KubeObject, ownerUid: string): boolean {
  return !!ownerUid && (ns.metadata.ownerReferences ?? []).some((r) => r.uid === ownerUid);
}

export type NamespaceClaim =
  | { readonly claimed: true; readonly changed: boolean }
  | { readonly claimed: false; readonly reason: "NamespaceNotOwned"; readonly message: string };

/**
 * Creates the namespace `desired` (which carries the owner reference), or
 * updates it when it is already this owner's. `live` is the cached copy; a
 * namespace the cache has not seen yet is created with a plain create, so an
 * existing one answers 409 and is then checked like a cached one, instead of
 * being taken over by server-side apply.
 */
export async function claimNamespace(
  ctx: Context,
  desired: KubeObject,
  live: KubeObject | undefined,
  ownerUid: string,
): Promise<NamespaceClaim> {
  const name = desired.metadata.name ?? "";
  let current = live;
  if (!current) {
    try {
      ctx.beforeWrite(`create Namespace ${name}`);
      await ctx.client.create(kinds.namespace, desired);
      // Then apply, so the operator's field manager owns the fields it set
      // and a later apply can also remove them.
      await ctx.client.apply(kinds.namespace, desired);
      return { claimed: true, changed: true };
    } catch (err) {
      if (!isConflict(err)) throw err;
      current = await ctx.client.find(kinds.namespace, name);
      if (!current) throw err; // deleted in between: the next reconcile creates it
    }
  }
  if (!ownedBy(current, ownerUid)) {
    const owners = (current.metadata.ownerReferences ?? []).map((r) => `${r.kind}/${r.name}`);
    return {
      claimed: false,
      reason: "NamespaceNotOwned",
      message: `Namespace ${name} already exists and was not made for this object (${
        owners.length > 0 ? `it is owned by ${owners.join(", ")}` : "it has no owner"
      }); the operator does not adopt it. Delete it, or choose another name.`,
    };
  }
  const { changed } = await applyIfChanged(ctx, kinds.namespace, desired, current);
  return { claimed: true, changed };
}
