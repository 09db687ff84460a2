// DataOffer reconciler: validates the offer against its provider and the
// space's rules (policy/offer-rules.ts), checks the asset exists in the
// provider's own bucket and derives its content identifier, publishes a Ready
// offer to the dashboard API's catalog and withdraws it (finalizer) when it
// stops being Ready or is deleted. Publication, rejection and withdrawal are
// evidence, appended before the status that announces them (the shared
// lifecycle helper); ids derive from the offer's uid and the change, so a
// retry or a restart records nothing twice, and status.latestEvidence points
// at the entry. What the status already announces is not sent again, so a
// resync of unchanged offers sends and writes nothing.
import {
  type DataOffer,
  type DataOfferStatus,
  type DataSpace,
  type EvidencePointer,
  type Participant,
  rfc3339,
  splitParticipantNamespace,
} from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import { kinds } from "@tds/kube";
import {
  addFinalizer,
  findCondition,
  removeFinalizer,
  setCondition,
  writeStatus,
  type Context,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/reconcile.ts";
import { errorText } from "../../runtime/controller.ts";
import { bucketName } from "../../storage/objectstore.ts";
import type { CatalogEntry } from "@tds/wire";
import type { Deps } from "../deps.ts";
import { evidenceCondition, recordLifecycle } from "../evidence.ts";
import { participantFacts, spaceRules } from "@tds/crds/policy";
import { validateOffer } from "../../policy/offer-rules.ts";
import { assetManifest, assetObjects } from "./dataoffer.asset.ts";

export const OFFER_FINALIZER = "tds.dev/offer-catalog";
/**
 * The same finalizer under its name before the catalog rename (docs/glossary.md).
 * An offer made by an earlier operator still holds it; deletion withdraws such an
 * offer too and removes both, so it is never stuck. It is never added.
 */
export const PRE_RENAME_OFFER_FINALIZER = "tds.dev/offer-catalogue";

type OfferObject = DataOffer & KubeObject;
const DECISIONS = { one: "decision", many: "decisions" } as const;

export class DataOfferReconciler implements Reconciler {
  readonly name = "dataoffer";
  readonly resource = kinds.dataOffer;

  constructor(private readonly deps: Deps) {}

  async reconcile(req: Request, ctx: Context): Promise<Result | undefined> {
    const o = await ctx.primary<OfferObject>();
    if (!o) return undefined;
    const where = splitParticipantNamespace(o.metadata.namespace);
    const space =
      where && (this.deps.cache.get(kinds.dataSpace, where.space) as (DataSpace & KubeObject) | undefined);
    if (!where || !space) {
      if (this.deps.spaceSelector) return undefined; // another operator's space, or none
      // Deletion never waits for the space: an offer whose space is already
      // gone is still withdrawn (a space being deleted also waits for its
      // participants' namespaces, so this is the exception).
      if (where && o.metadata.deletionTimestamp) return this.finalize(o, ctx, where.space);
      return this.status(
        o,
        ctx,
        { ...(o.status ?? {}) },
        "NotInParticipantNamespace",
        "A DataOffer must live in a provider's namespace <space>--<participant> of an existing space",
      );
    }
    if (o.metadata.deletionTimestamp) return this.finalize(o, ctx, where.space);
    await addFinalizer(ctx, kinds.dataOffer, o, OFFER_FINALIZER);

    const rules = spaceRules(space);
    const provider = participantFacts(
      this.deps.cache.get(kinds.participant, where.participant) as (Participant & KubeObject) | undefined,
      where.participant,
    );
    const verdict = validateOffer(rules, o.spec, provider);
    const base: DataOfferStatus = { ...(o.status ?? {}) };
    if (!verdict.ok) {
      return this.refuse(o, ctx, where.space, this.unpublished(base), verdict.reason, verdict.message);
    }
    if (verdict.effectivePolicy) base.effectivePolicy = verdict.effectivePolicy;

    const bucket = bucketName(where.space, where.participant, space.spec.storage?.bucketPrefix ?? "tds");
    const asset = o.spec.asset;
    const listed = await this.deps.store.listObjects(bucket, asset.key ?? asset.prefix ?? "");
    const objects = assetObjects(asset, listed);
    const rescan = this.deps.settings.assetRescanMs;
    if (objects.length === 0) {
      const { contentId: _c, assetObjects: _n, assetBytes: _b, ...rest } = this.unpublished(base);
      return this.refuse(
        o,
        ctx,
        where.space,
        rest,
        "AssetNotFound",
        `No object ${asset.key ? `with key ${asset.key}` : `under prefix ${asset.prefix ?? ""}`} in bucket ${bucket}`,
        rescan,
      );
    }
    const manifest = assetManifest(objects);
    const contentChanged = base.contentId !== manifest.contentId;
    base.contentId = manifest.contentId;
    base.assetObjects = manifest.objects;
    base.assetBytes = manifest.bytes;

    const api = this.deps.api;
    if (!api) {
      const next = this.unpublished(base);
      next.conditions = setCondition(next.conditions, {
        type: "Published",
        status: "False",
        reason: "CatalogNotConfigured",
        message:
          "The dashboard API is not configured (TDS_DASHBOARD_URL): the offer is valid but not in the catalog, and its evidence is pending",
        observedGeneration: o.metadata.generation ?? 0,
      });
      return this.status(
        o,
        ctx,
        next,
        "Validated",
        "The offer fits the space's rules and its asset exists",
        rescan,
      );
    }
    const generation = o.metadata.generation ?? 0;
    const catalogId = `${where.space}/${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;
    const entryAt = (at: string): CatalogEntry =>
      this.catalogEntry(
        o,
        where.space,
        where.participant,
        space,
        manifest,
        at,
        verdict.effectivePolicy?.accessMode ?? "download",
      );
    const inCatalog = findCondition(base.conditions, "Published");
    let publishedAt = contentChanged || !base.publishedAt ? rfc3339(new Date()) : base.publishedAt;
    let latestEvidence = base.latestEvidence;
    // The status announces the catalog entry only once it and its evidence exist, so a
    // status that already announces this generation and content needs nothing sent.
    const announced =
      !contentChanged &&
      inCatalog?.status === "True" &&
      inCatalog.observedGeneration === generation &&
      base.catalogId === catalogId &&
      latestEvidence !== undefined;
    if (!announced) {
      try {
        // Evidence first, then the catalog: an offer is never offered without its record.
        const recorded = await recordLifecycle(ctx, api, {
          space: where.space,
          object: o,
          action: "offer.published",
          eventId: `${o.metadata.uid ?? ""}-published-${manifest.contentId.slice(7, 23)}-g${String(generation)}`,
          time: publishedAt,
          payload: entryAt(publishedAt),
        });
        if (recorded) {
          latestEvidence = recorded.pointer;
          // An earlier attempt recorded the event with its own clock: its time is the publication's.
          publishedAt = recorded.time;
        }
        await api.publish(entryAt(publishedAt));
      } catch (err) {
        ctx.log.warn("cannot publish offer", { offer: o.metadata.name, err: errorText(err) });
        return { requeueAfterMs: 5_000 };
      }
      ctx.log.info("offer published", { offer: o.metadata.name, catalogId });
    }
    const next: DataOfferStatus = {
      ...base,
      publishedAt,
      catalogId,
      ...(latestEvidence ? { latestEvidence } : {}),
    };
    next.conditions = setCondition(next.conditions, {
      type: "Published",
      status: "True",
      reason: "InCatalog",
      message: "The offer is in the space's catalog",
      observedGeneration: generation,
    });
    return this.status(o, ctx, next, "Published", `In the catalog as ${catalogId}`, rescan);
  }

  private catalogEntry(
    o: OfferObject,
    space: string,
    provider: string,
    ds: DataSpace,
    m: { contentId: string; objects: number; bytes: number },
    publishedAt: string,
    accessMode: CatalogEntry["accessMode"],
  ): CatalogEntry {
    const p = this.deps.cache.get(kinds.participant, provider) as (Participant & KubeObject) | undefined;
    const price: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.spec.price ?? {}))
      if (k !== "currency" && typeof v === "string") price[k] = v;
    const validity = o.spec.policy.validity;
    return {
      space,
      namespace: o.metadata.namespace ?? "",
      name: o.metadata.name ?? "",
      uid: o.metadata.uid ?? "",
      provider,
      providerName: p?.spec.displayName ?? p?.spec.organization.legalName ?? provider,
      title: o.spec.title,
      description: o.spec.description ?? "",
      keywords: [...(o.spec.keywords ?? [])],
      classification: o.spec.classification,
      dataCategory: o.spec.dataCategory,
      regionOfOrigin: o.spec.regionOfOrigin,
      accessMode,
      contractApproval: o.spec.policy.contractApproval ?? "Automatic",
      purposes: [...o.spec.policy.purposes],
      format: o.spec.asset.format,
      contentId: m.contentId,
      byteSize: m.bytes,
      objects: m.objects,
      currency: o.spec.price?.currency ?? ds.spec.metering.currency,
      price,
      publishedAt,
      ...(validity ? { validity: { ...validity } } : {}),
    };
  }

  private unpublished(s: DataOfferStatus): DataOfferStatus {
    const { catalogId: _c, publishedAt: _p, ...rest } = s;
    rest.conditions = (rest.conditions ?? []).filter((c) => c.type !== "Published");
    return rest;
  }

  /**
   * An offer that is not (or no longer) publishable: withdrawn from the
   * catalog if it was in it, the rule it breaks recorded (once per
   * generation and reason), then the status. A missing asset is a state of
   * the data, not a decision, so it is not recorded as a rejection.
   */
  private async refuse(
    o: OfferObject,
    ctx: Context,
    space: string,
    base: DataOfferStatus,
    reason: string,
    message: string,
    requeueAfterMs?: number,
  ): Promise<Result | undefined> {
    const api = this.deps.api;
    const generation = o.metadata.generation ?? 0;
    const before = findCondition(o.status?.conditions, "Ready");
    const pending = findCondition(o.status?.conditions, "EvidenceRecorded")?.status === "False";
    let conditions = setCondition(base.conditions, {
      type: "Ready",
      status: "False",
      reason,
      message,
      observedGeneration: generation,
    });
    let latestEvidence = base.latestEvidence;
    try {
      latestEvidence = (await this.unpublish(o, ctx, space, reason)) ?? latestEvidence;
      // Announced in status means recorded (evidence goes first), unless it was left pending.
      const decided =
        before?.reason === reason &&
        before.observedGeneration === generation &&
        !pending &&
        latestEvidence !== undefined;
      if (reason !== "AssetNotFound" && !decided) {
        if (api) {
          const recorded = await recordLifecycle(ctx, api, {
            space,
            object: o,
            action: "offer.rejected",
            eventId: `${o.metadata.uid ?? ""}-rejected-${reason}-g${String(generation)}`,
            time: findCondition(conditions, "Ready")?.lastTransitionTime ?? rfc3339(new Date()),
            payload: { reason, message },
          });
          if (recorded) latestEvidence = recorded.pointer;
          conditions = conditions.filter((c) => c.type !== "EvidenceRecorded");
        } else {
          conditions = setCondition(
            conditions,
            evidenceCondition({ state: "NotConfigured", appended: [] }, 1, DECISIONS, generation),
          );
        }
      }
    } catch (err) {
      ctx.log.warn("cannot record offer evidence", { offer: o.metadata.name, err: errorText(err) });
      return { requeueAfterMs: 5_000 };
    }
    const next = { ...base, conditions, ...(latestEvidence ? { latestEvidence } : {}) };
    return this.status(o, ctx, next, reason, message, requeueAfterMs);
  }

  /** Removes a published offer from the catalog and records the withdrawal; returns its entry. */
  private async unpublish(
    o: OfferObject,
    ctx: Context,
    space: string,
    reason: string,
  ): Promise<EvidencePointer | undefined> {
    const publishedAt = o.status?.publishedAt;
    if (!o.status?.catalogId || !publishedAt || !this.deps.api) return undefined;
    // The catalog first: an offer that broke a rule must stop being offered at once.
    await this.deps.api.withdraw(space, o.metadata.namespace ?? "", o.metadata.name ?? "");
    const recorded = await recordLifecycle(ctx, this.deps.api, {
      space,
      object: o,
      action: "offer.withdrawn",
      eventId: `${o.metadata.uid ?? ""}-withdrawn-${publishedAt}`,
      time: rfc3339(new Date()),
      payload: { reason },
    });
    return recorded?.pointer;
  }

  private async status(
    o: OfferObject,
    ctx: Context,
    base: DataOfferStatus,
    reason: string,
    message: string,
    requeueAfterMs?: number,
  ): Promise<Result | undefined> {
    const ready = reason === "Published" || reason === "Validated";
    const generation = o.metadata.generation ?? 0;
    const before = findCondition(o.status?.conditions, "Ready");
    const conditions = setCondition(base.conditions, {
      type: "Ready",
      status: ready ? "True" : "False",
      reason,
      message,
      observedGeneration: generation,
    });
    const next: DataOfferStatus = { ...base, observedGeneration: generation, conditions };
    if (await writeStatus(ctx, kinds.dataOffer, o, next)) {
      if (before?.reason !== reason) ctx.events.emit(o, ready ? "Normal" : "Warning", reason, message);
    }
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  private async finalize(o: OfferObject, ctx: Context, space: string): Promise<Result | undefined> {
    const held = (o.metadata.finalizers ?? []).filter(
      (f) => f === OFFER_FINALIZER || f === PRE_RENAME_OFFER_FINALIZER,
    );
    if (held.length === 0) return undefined;
    const api = this.deps.api;
    if (api) {
      await api.withdraw(space, o.metadata.namespace ?? "", o.metadata.name ?? "");
      // The deletion timestamp is fixed, so the entry is the same on every retry.
      await recordLifecycle(ctx, api, {
        space,
        object: o,
        action: "offer.withdrawn",
        eventId: `${o.metadata.uid ?? ""}-deleted`,
        time: o.metadata.deletionTimestamp ?? rfc3339(new Date()),
        payload: { reason: "Deleted" },
      });
    } else {
      ctx.events.emit(
        o,
        "Warning",
        "EvidencePending",
        "The dashboard API is not configured: the withdrawal of this offer is not in the evidence log",
      );
    }
    await removeFinalizer(ctx, kinds.dataOffer, o, held);
    return undefined;
  }
}
