// DataSpace reconciler: the control namespace (Pod Security restricted), quota,
// limits, default-deny NetworkPolicies with DNS and gateway allowances, RBAC for
// the space admins, the space CA, and status counts. Ready only when every child
// exists and the quota is enforced. Deletion removes the participants first.
import {
  type DataSpace,
  type DataSpaceStatus,
  type Participant,
  rfc3339,
  labels,
  splitParticipantNamespace,
} from "@tds/crds";
import { dataOf, type KubeObject, kinds, resourceOf } from "@tds/kube";
import {
  addFinalizer,
  applyIfChanged,
  removeFinalizer,
  setCondition,
  writeStatus,
  type Context,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/reconcile.ts";
import { ensureSpaceCA, CA_SECRET } from "../../identity/space-ca.ts";
import { buildTrustBundle, TRUST_BUNDLE_CONFIGMAP } from "../../identity/trust-bundle.ts";
import { managedLabels, quotaEnforced, spaceControlNamespace } from "../isolation.builders.ts";
import { buildDataSpaceChildren, controlQuota } from "./dataspace.builders.ts";
import {
  ensureEvidenceKey,
  EVIDENCE_KEY_SECRET,
  EVIDENCE_PUBLIC_KEY_CONFIGMAP,
} from "./dataspace.evidence.ts";
import type { Deps } from "../deps.ts";
import { recordLifecycle } from "../evidence.ts";
import { applyFreeze } from "./dataspace.freeze.ts";
import { applyRisk } from "./dataspace.risk.ts";
import { claimNamespace, ownedBy } from "../namespace-claim.ts";

export const DATASPACE_FINALIZER = "tds.dev/dataspace-cleanup";

export class DataSpaceReconciler implements Reconciler {
  readonly name = "dataspace";
  readonly resource = kinds.dataSpace;
  readonly labelSelector: string | undefined;

  constructor(
    private readonly deps: Deps,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.labelSelector = deps.spaceSelector;
  }

  async reconcile(req: Request, ctx: Context): Promise<Result | undefined> {
    // Keys also arrive from owned objects; with a selector, act only on selected spaces.
    if (this.deps.spaceSelector && !this.deps.cache.get(kinds.dataSpace, req.name)) return undefined;
    const space = await ctx.primary<DataSpace & KubeObject>();
    if (!space) return undefined; // deleted: owner references collect what is left
    if (space.metadata.deletionTimestamp) return this.finalize(space, ctx);
    await addFinalizer(ctx, kinds.dataSpace, space, DATASPACE_FINALIZER);

    const name = req.name;
    const ns = spaceControlNamespace(name);
    const desired = buildDataSpaceChildren(space, this.deps.dashboardApiServiceAccount, this.deps.gateway);
    const { cache } = this.deps;
    let changed = false;
    const nsLive = cache.get(kinds.namespace, ns);
    if (nsLive?.metadata.deletionTimestamp) {
      return this.status(
        space,
        ctx,
        false,
        "NamespaceTerminating",
        `Namespace ${ns} is still being deleted`,
        2_000,
      );
    }
    const claim = await claimNamespace(ctx, desired.namespace, nsLive, space.metadata.uid ?? "");
    if (!claim.claimed) return this.status(space, ctx, false, claim.reason, claim.message, 30_000);
    changed = claim.changed || changed;
    // The namespace exists: the space's other objects do not depend on one another, so they are applied together.
    const applied = await Promise.all(
      [...desired.namespaced, ...desired.cluster].map((obj) => {
        const r = resourceOf(obj);
        return applyIfChanged(ctx, r, obj, cache.get(r, obj.metadata.name ?? "", obj.metadata.namespace));
      }),
    );
    changed = applied.some((a) => a.changed) || changed;
    const ca = await ensureSpaceCA(
      ctx,
      ns,
      name,
      space.spec.certificateAuthority?.validityDays ?? 3650,
      managedLabels(name),
      cache.get(kinds.secret, CA_SECRET, ns),
    );
    await ensureEvidenceKey(
      ctx,
      ns,
      managedLabels(name),
      cache.get(kinds.secret, EVIDENCE_KEY_SECRET, ns),
      cache.get(kinds.configMap, EVIDENCE_PUBLIC_KEY_CONFIGMAP, ns),
    );
    const trust = await this.trustBundle(ctx, space, ca.certPem);
    changed =
      (
        await applyIfChanged(
          ctx,
          kinds.configMap,
          trust.configMap,
          cache.get(kinds.configMap, TRUST_BUNDLE_CONFIGMAP, ns),
        )
      ).changed || changed;
    if (changed) {
      ctx.events.emit(space, "Normal", "Provisioned", `Applied the control namespace ${ns} and its policies`);
    }

    const quota = cache.get(kinds.resourceQuota, "tds-quota", ns);
    const enforced = quotaEnforced(quota, controlQuota);
    const participants = cache
      .list(kinds.participant)
      .filter((p) => (p as unknown as Participant).spec.dataSpace === name) as unknown as Participant[];
    const readyParticipants = participants.filter((p) =>
      (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    ).length;
    // Offers live in the participants' namespaces, <space>--<participant>.
    const offers = cache
      .list(kinds.dataOffer)
      .filter((o) => splitParticipantNamespace(o.metadata.namespace)?.space === name).length;
    const status: DataSpaceStatus = {
      ...(space.status ?? {}),
      observedGeneration: space.metadata.generation ?? 0,
      controlNamespace: ns,
      participants: participants.length,
      readyParticipants,
      offers,
      certificateAuthority: {
        secretName: CA_SECRET,
        serial: ca.serialNumber,
        notAfter: rfc3339(ca.notAfter),
      },
      conditions: setCondition(space.status?.conditions, trust.condition),
    };
    if (!enforced) {
      return this.status(
        space,
        ctx,
        false,
        "QuotaNotEnforced",
        "Waiting for the ResourceQuota to be enforced (status.hard filled in by kube-controller-manager)",
        this.deps.settings.notReadyRequeueMs,
        status,
      );
    }
    return this.status(
      space,
      ctx,
      true,
      "Provisioned",
      `Control namespace ${ns} is isolated and the CA is ready`,
      undefined,
      status,
    );
  }

  /**
   * The space's trust bundle (identity/trust-bundle.ts) as its ConfigMap, and
   * the TrustAnchors condition: True when every anchor resolved to valid CA
   * certificates, else False naming the first field at fault. A bad anchor is
   * left out of the bundle; it does not make the space unready.
   */
  private async trustBundle(
    ctx: Context,
    space: DataSpace & KubeObject,
    ownCaPem: string,
  ): Promise<{ configMap: KubeObject; condition: Parameters<typeof setCondition>[1] }> {
    const name = space.metadata.name ?? "";
    const ns = spaceControlNamespace(name);
    const others = new Map<string, string>();
    for (const t of space.spec.trustAnchors?.trustedSpaces ?? []) {
      if (t.caBundle !== undefined || t.name === name) continue;
      const otherNs = spaceControlNamespace(t.name);
      const secret =
        this.deps.cache.get(kinds.secret, CA_SECRET, otherNs) ??
        (await ctx.client.find(kinds.secret, CA_SECRET, otherNs)); // another shard's space
      const pem = Buffer.from(dataOf(secret)["tls.crt"] ?? "", "base64").toString("utf8");
      if (pem) others.set(t.name, pem);
    }
    const bundle = buildTrustBundle(space, ownCaPem, (other) => others.get(other), this.now());
    const first = bundle.problems[0];
    const certificates = bundle.anchors.reduce((n, a) => n + a.certificates, 0);
    return {
      configMap: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace: ns, labels: managedLabels(name) },
        data: { "ca.crt": bundle.pem, "anchors.json": `${JSON.stringify(bundle.anchors, null, 2)}\n` },
      },
      condition: first
        ? {
            type: "TrustAnchors",
            status: "False",
            reason: first.reason,
            message: bundle.problems.map((p) => `${p.field}: ${p.message}`).join("; "),
            observedGeneration: space.metadata.generation ?? 0,
          }
        : {
            type: "TrustAnchors",
            status: "True",
            reason: "Resolved",
            message: `${String(bundle.anchors.length)} anchor(s), ${String(certificates)} CA certificate(s) in ConfigMap ${ns}/${TRUST_BUNDLE_CONFIGMAP}`,
            observedGeneration: space.metadata.generation ?? 0,
          },
    };
  }

  private async status(
    space: DataSpace & KubeObject,
    ctx: Context,
    ready: boolean,
    reason: string,
    message: string,
    requeueAfterMs?: number,
    base: DataSpaceStatus = space.status ?? {},
  ): Promise<Result | undefined> {
    const conditions = await applyRisk(
      ctx,
      this.deps.api,
      space,
      await applyFreeze(
        ctx,
        this.deps.api,
        space,
        setCondition(base.conditions, {
          type: "Ready",
          status: ready ? "True" : "False",
          reason,
          message,
          observedGeneration: space.metadata.generation ?? 0,
        }),
      ),
    );
    const generation = space.metadata.generation ?? 0;
    const next: DataSpaceStatus = { ...base, observedGeneration: generation, conditions };
    const before = (space.status?.conditions ?? []).find((c) => c.type === "Ready");
    if (ready && (before?.status !== "True" || before.observedGeneration !== generation)) {
      // The space is in force at this generation of its rules (created or changed): evidence first.
      const recorded = await recordLifecycle(ctx, this.deps.api, {
        space: space.metadata.name ?? "",
        object: space,
        action: "dataspace.provisioned",
        time: conditions.find((c) => c.type === "Ready")?.lastTransitionTime ?? new Date().toISOString(),
        payload: space.spec,
      });
      if (recorded) next.latestEvidence = recorded.pointer;
    }
    if (await writeStatus(ctx, kinds.dataSpace, space, next)) {
      if (before?.status !== (ready ? "True" : "False") || before.reason !== reason) {
        ctx.events.emit(space, ready ? "Normal" : "Warning", reason, message);
      }
    }
    // A space with risk rules re-reads its open findings (dataspace.risk.ts).
    const poll = space.spec.risk ? this.deps.settings.riskPollMs : undefined;
    const after = Math.min(requeueAfterMs ?? Infinity, poll ?? Infinity);
    return after === Infinity ? undefined : { requeueAfterMs: after };
  }

  /** Deletes the space's participants, waits until they are gone, then the control namespace. */
  private async finalize(space: DataSpace & KubeObject, ctx: Context): Promise<Result | undefined> {
    const name = space.metadata.name ?? "";
    if (!(space.metadata.finalizers ?? []).includes(DATASPACE_FINALIZER)) return undefined;
    const participants = await ctx.client.list<Participant & KubeObject>(kinds.participant);
    const mine = participants.items.filter((p) => p.spec.dataSpace === name);
    for (const p of mine) {
      if (!p.metadata.deletionTimestamp) {
        ctx.beforeWrite(`delete Participant ${p.metadata.name ?? ""}`);
        await ctx.client.delete(kinds.participant, p.metadata.name ?? "", undefined, { uid: p.metadata.uid });
      }
    }
    if (mine.length > 0) {
      return this.status(space, ctx, false, "Deleting", `Removing ${mine.length} participant(s)`, 1_000);
    }
    const ns = spaceControlNamespace(name);
    // The participants' namespaces go after them (garbage collection): wait, so
    // their offers and contracts are finalized while the space still exists.
    const left = (
      await ctx.client.list(kinds.namespace, undefined, {
        labelSelector: `${labels.space}=${name},${labels.participant}`,
      })
    ).items
      .filter((n) => (n.metadata.ownerReferences ?? []).some((r) => r.kind === "Participant"))
      .map((n) => n.metadata.name ?? "");
    if (left.length > 0) {
      return this.status(
        space,
        ctx,
        false,
        "Deleting",
        `Waiting for namespace(s) ${left.join(", ")} to be removed`,
        1_000,
      );
    }
    const nsLive = await ctx.client.find(kinds.namespace, ns);
    // Only the namespace this space made goes with it; one it refused to adopt stays.
    if (nsLive && ownedBy(nsLive, space.metadata.uid ?? "")) {
      if (!nsLive.metadata.deletionTimestamp) {
        ctx.beforeWrite(`delete Namespace ${ns}`);
        await ctx.client.delete(kinds.namespace, ns, undefined, { uid: nsLive.metadata.uid });
      }
      return this.status(space, ctx, false, "Deleting", `Removing the control namespace ${ns}`, 1_000);
    }
    await recordLifecycle(ctx, this.deps.api, {
      space: name,
      object: space,
      action: "dataspace.deleted",
      time: space.metadata.deletionTimestamp ?? new Date().toISOString(),
      payload: { participantsRemoved: true },
    });
    await removeFinalizer(ctx, kinds.dataSpace, space, DATASPACE_FINALIZER);
    ctx.log.info("data space removed", { space: name });
    return undefined;
  }
}
