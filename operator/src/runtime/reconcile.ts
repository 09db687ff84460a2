// The contract between the runtime and a controller, plus the helpers every
// controller uses: conditions, status writes with a precondition, and
// "apply only when different" so a resync of unchanged objects writes nothing.
import { isDeepStrictEqual } from "node:util";
import type { Span } from "@opentelemetry/api";
import { KubeClient, type KubeObject, type ResourceType } from "@tds/kube";
import type { Logger } from "./log.ts";
import type { EventRecorder } from "./events.ts";
import { rfc3339, type Condition } from "@tds/crds";

export interface Request {
  readonly namespace?: string;
  readonly name: string;
}

export interface Result {
  /** Reconcile this key again after the delay, even if nothing changes. */
  readonly requeueAfterMs?: number;
}

/** A failure that retrying cannot fix (bad spec, missing prerequisite that only a user can add). */
export class TerminalError extends Error {
  override readonly name = "TerminalError";
}

export interface Context {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly events: EventRecorder;
  readonly span: Span;
  /** Called just before every write; announces it on the diagnostics channel tds.operator.write (write-points.ts). */
  readonly beforeWrite: (what: string) => void;
  /**
   * The object being reconciled: a copy of the informer cache's, or a live read
   * when the cache does not hold it, does not hold this controller's last write
   * of it yet (`wrote`), or this key's last attempt ended in a 409 conflict.
   * Undefined when the object does not exist.
   */
  readonly primary: <T extends KubeObject>() => Promise<T | undefined>;
  /**
   * Hands the runtime the server's answer to a write of the object being
   * reconciled (status, finalizers), so that its next reconcile does not read
   * an older version from the cache. The helpers below call it.
   */
  readonly wrote: (obj: KubeObject) => void;
}

export interface Reconciler {
  readonly name: string;
  readonly resource: ResourceType;
  /** Label selector of the primary objects this reconciler owns (all when unset). */
  readonly labelSelector?: string;
  reconcile(req: Request, ctx: Context): Promise<Result | undefined>;
}

/**
 * Returns the conditions with `next` set. lastTransitionTime changes only when
 * the status changes, so unchanged conditions produce identical status.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  now: Date = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const lastTransitionTime =
    prev && prev.status === next.status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now);
  const merged: Condition = { ...next, lastTransitionTime };
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when every field of `desired` is present and equal in `live` (arrays compared elementwise). */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]))
    );
  }
  if (desired !== null && typeof desired === "object") {
    if (live === null || typeof live !== "object" || Array.isArray(live)) return false;
    const l = live as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, l[k]));
  }
  return false;
}

/**
 * Server-side applies `desired` unless the live object already matches it.
 * Returns the live object and whether a write happened.
 */
export async function applyIfChanged<T extends KubeObject>(
  ctx: Context,
  resource: ResourceType,
  desired: T,
  live: T | undefined,
): Promise<{ object: T; changed: boolean }> {
  const { apiVersion: _a, kind: _k, ...comparable } = desired;
  if (live && isSubset(comparable, live)) return { object: live, changed: false };
  ctx.beforeWrite(
    `apply ${resource.kind} ${desired.metadata.namespace ?? ""}/${desired.metadata.name ?? ""}`,
  );
  const object = await ctx.client.apply(resource, desired);
  return { object, changed: true };
}

/**
 * Writes status through the status subresource, only when it differs, with the
 * read resourceVersion as a precondition: a paused or stale leader gets a 409
 * instead of overwriting newer state.
 */
export async function writeStatus<S>(
  ctx: Context,
  resource: ResourceType,
  obj: KubeObject & { status?: S },
  status: S,
): Promise<boolean> {
  if (isDeepStrictEqual(JSON.parse(JSON.stringify(obj.status ?? {})), JSON.parse(JSON.stringify(status)))) {
    return false;
  }
  ctx.beforeWrite(`status ${resource.kind} ${obj.metadata.name ?? ""}`);
  const written = await ctx.client.apply(
    resource,
    {
      metadata: {
        name: obj.metadata.name,
        ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
        resourceVersion: obj.metadata.resourceVersion,
      },
      status,
    },
    "status",
  );
  ctx.wrote(written);
  return true;
}

/** Adds a finalizer with a JSON merge patch conditioned on the resourceVersion; `obj` takes the new version. */
export async function addFinalizer(
  ctx: Context,
  resource: ResourceType,
  obj: KubeObject,
  finalizer: string,
): Promise<void> {
  const finalizers = obj.metadata.finalizers ?? [];
  if (finalizers.includes(finalizer)) return;
  ctx.beforeWrite(`add finalizer ${resource.kind} ${obj.metadata.name ?? ""}`);
  const patched = await ctx.client.mergePatch<KubeObject>(
    resource,
    obj.metadata.name ?? "",
    obj.metadata.namespace,
    {
      metadata: { resourceVersion: obj.metadata.resourceVersion, finalizers: [...finalizers, finalizer] },
    },
  );
  // The caller goes on with this object: its later writes carry the version the patch made,
  // not the one it read (which would be a 409 on every new object's first status write).
  obj.metadata.resourceVersion = patched.metadata.resourceVersion;
  obj.metadata.finalizers = patched.metadata.finalizers;
  ctx.wrote(patched);
}

/** Removes finalizers (one, or several at once) with a JSON merge patch conditioned on the resourceVersion. */
export async function removeFinalizer(
  ctx: Context,
  resource: ResourceType,
  obj: KubeObject,
  finalizer: string | readonly string[],
): Promise<void> {
  const gone = typeof finalizer === "string" ? [finalizer] : finalizer;
  const finalizers = obj.metadata.finalizers ?? [];
  if (!finalizers.some((f) => gone.includes(f))) return;
  ctx.beforeWrite(`remove finalizer ${resource.kind} ${obj.metadata.name ?? ""}`);
  const patched = await ctx.client.mergePatch<KubeObject>(
    resource,
    obj.metadata.name ?? "",
    obj.metadata.namespace,
    {
      metadata: {
        resourceVersion: obj.metadata.resourceVersion,
        finalizers: finalizers.filter((f) => !gone.includes(f)),
      },
    },
  );
  ctx.wrote(patched);
}
