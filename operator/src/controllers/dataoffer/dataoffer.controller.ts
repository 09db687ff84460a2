// DataOffer reconciler: validates the offer against its provider and the
// space's rules (dataoffer.rules.ts), checks the asset exists in the
// provider's own bucket and derives its content identifier, publishes a Ready
// offer to the dashboard API's catalogue and withdraws it (finalizer) when it
// stops being Ready or is deleted. Publication, rejection and withdrawal are
// evidence; ids derive from the offer's uid, so a restart never records twice.
import { createHash } from "node:crypto";
import type { DataOffer, DataOfferStatus, DataSpace, Participant } from "@tds/crds";
import type { KubeObject } from "@tds/crds/kube";
import { kinds } from "../../kinds.ts";
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
import { OPERATOR_ACTOR, type CatalogEntry, type EvidenceEntry } from "../../dashboard/dashboard.ts";
import type { Deps } from "../deps.ts";
import {
  participantFacts,
  spaceRules,
  splitParticipantNamespace,
} from "../datacontract/datacontract.builders.ts";
import { assetManifest, assetObjects, validateOffer } from "./dataoffer.rules.ts";

export const OFFER_FINALIZER = "tds.dev/offer-catalogue";

type OfferObject = DataOffer & KubeObject;
const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");

export class DataOfferReconciler implements Reconciler {
  readonly name = "dataoffer";
  readonly resource = kinds.dataOffer;
  /** What this process already published or recorded, so a resync sends nothing. */
  private readonly sent = new Set<string>();

  constructor(private readonly deps: Deps) {}

  async reconcile(req: Request, ctx: Context): Promise<Result | undefined> {
    const o = await ctx.client.find<OfferObject>(kinds.dataOffer, req.name, req.namespace);
    if (!o) return undefined;
    const where = splitParticipantNamespace(o.metadata.namespace);
    const space =
      where && (this.deps.cache.get(kinds.dataSpace, where.space) as (DataSpace & KubeObject) | undefined);
    if (!where || !space) {
      if (this.deps.spaceSelector) return undefined;
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
      await this.unpublish(o, ctx, where.space, verdict.reason);
      return this.status(
        o,
        ctx,
        this.unpublished(base),
        verdict.reason,
        verdict.message,
        undefined,
        where.space,
      );
    }
    if (verdict.effectivePolicy) base.effectivePolicy = verdict.effectivePolicy;

    const bucket = bucketName(where.space, where.participant, space.spec.storage?.bucketPrefix ?? "tds");
    const asset = o.spec.asset;
    const listed = await this.deps.store.listObjects(bucket, asset.key ?? asset.prefix ?? "");
    const objects = assetObjects(asset, listed);
    const rescan = this.deps.settings.assetRescanMs;
    if (objects.length === 0) {
      await this.unpublish(o, ctx, where.space, "AssetNotFound");
      const { contentId: _c, assetObjects: _n, assetBytes: _b, ...rest } = this.unpublished(base);
      return this.status(
        o,
        ctx,
        rest,
        "AssetNotFound",
        `No object ${asset.key ? `with key ${asset.key}` : `under prefix ${asset.prefix ?? ""}`} in bucket ${bucket}`,
        rescan,
        where.space,
      );
    }
    const manifest = assetManifest(objects);
    const contentChanged = base.contentId !== manifest.contentId;
    base.contentId = manifest.contentId;
    base.assetObjects = manifest.objects;
    base.assetBytes = manifest.bytes;

    const dashboard = this.deps.dashboard;
    if (!dashboard) {
      const next = this.unpublished(base);
      next.conditions = setCondition(next.conditions, {
        type: "Published",
        status: "False",
        reason: "CatalogueNotConfigured",
        message:
          "The dashboard API is not configured (TDS_DASHBOARD_URL): the offer is valid but not in the catalogue, and its evidence is pending",
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
    const publishedAt = contentChanged || !base.publishedAt ? rfc3339(new Date()) : base.publishedAt;
    const catalogueId = `${where.space}/${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;
    const entry = this.catalogEntry(
      o,
      where.space,
      where.participant,
      space,
      manifest,
      publishedAt,
      verdict.effectivePolicy?.accessMode ?? "download",
    );
    // Status first: publishedAt is then the evidence time on every retry.
    const next: DataOfferStatus = { ...base, publishedAt, catalogueId };
    next.conditions = setCondition(next.conditions, {
      type: "Published",
      status: "True",
      reason: "InCatalogue",
      message: "The offer is in the space's catalogue",
      observedGeneration: o.metadata.generation ?? 0,
    });
    const mark = `${o.metadata.uid ?? ""}/${String(o.metadata.generation ?? 0)}/${manifest.contentId}/${provider?.name ?? ""}`;
    const result = await this.status(o, ctx, next, "Published", `In the catalogue as ${catalogueId}`, rescan);
    if (!this.sent.has(mark)) {
      try {
        await dashboard.publish(entry);
        await this.evidence(
          ctx,
          where.space,
          o,
          `published-${manifest.contentId.slice(7, 23)}-g${String(o.metadata.generation ?? 0)}`,
          "offer.published",
          publishedAt,
          entry,
        );
        this.sent.add(mark);
      } catch (err) {
        ctx.log.warn("cannot publish offer", { offer: o.metadata.name, err: errorText(err) });
        return { requeueAfterMs: 5_000 };
      }
    }
    return result;
  }

  private catalogEntry(
    o: OfferObject,
    space: string,
    provider: string,
    ds: DataSpace,
    m: { contentId: string; objects: number; bytes: number },
    publishedAt: string,
    accessMode: string,
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
    const { catalogueId: _c, publishedAt: _p, ...rest } = s;
    rest.conditions = (rest.conditions ?? []).filter((c) => c.type !== "Published");
    return rest;
  }

  /** Removes a published offer from the catalogue and records the withdrawal. */
  private async unpublish(o: OfferObject, ctx: Context, space: string, reason: string): Promise<void> {
    const publishedAt = o.status?.publishedAt;
    if (!o.status?.catalogueId || !publishedAt || !this.deps.dashboard) return;
    await this.deps.dashboard.withdraw(space, o.metadata.namespace ?? "", o.metadata.name ?? "");
    await this.evidence(ctx, space, o, `withdrawn-${publishedAt}`, "offer.withdrawn", rfc3339(new Date()), {
      reason,
    });
  }

  private async evidence(
    ctx: Context,
    space: string,
    o: OfferObject,
    suffix: string,
    action: string,
    time: string,
    payload: unknown,
  ): Promise<void> {
    const dashboard = this.deps.dashboard;
    const eventId = `${o.metadata.uid ?? ""}-${suffix}`;
    if (!dashboard || this.sent.has(eventId)) return;
    const entry: EvidenceEntry = {
      space,
      eventId,
      actor: OPERATOR_ACTOR,
      action,
      time,
      object: {
        kind: "DataOffer",
        namespace: o.metadata.namespace ?? "",
        name: o.metadata.name ?? "",
        uid: o.metadata.uid ?? "",
      },
      payloadHash: createHash("sha256").update(JSON.stringify(payload)).digest("hex"),
    };
    await dashboard.recordEvidence(space, [entry]);
    this.sent.add(eventId);
    ctx.log.info("offer evidence recorded", { offer: o.metadata.name, action });
  }

  private async status(
    o: OfferObject,
    ctx: Context,
    base: DataOfferStatus,
    reason: string,
    message: string,
    requeueAfterMs?: number,
    rejectedInSpace?: string,
  ): Promise<Result | undefined> {
    const ready = reason === "Published" || reason === "Validated";
    const generation = o.metadata.generation ?? 0;
    const before = findCondition(o.status?.conditions, "Ready");
    let conditions = setCondition(base.conditions, {
      type: "Ready",
      status: ready ? "True" : "False",
      reason,
      message,
      observedGeneration: generation,
    });
    if (rejectedInSpace && !this.deps.dashboard) {
      conditions = setCondition(conditions, {
        type: "EvidenceRecorded",
        status: "False",
        reason: "EvidencePending",
        message:
          "The dashboard API is not configured (TDS_DASHBOARD_URL): this decision awaits the evidence log",
        observedGeneration: generation,
      });
    }
    const next: DataOfferStatus = { ...base, observedGeneration: generation, conditions };
    if (await writeStatus(ctx, kinds.dataOffer, o, next)) {
      if (before?.reason !== reason) await ctx.events.emit(o, ready ? "Normal" : "Warning", reason, message);
    }
    // A rule violation is a decision too: record it once per generation and reason.
    if (rejectedInSpace && reason !== "AssetNotFound") {
      const at = findCondition(next.conditions, "Ready")?.lastTransitionTime ?? rfc3339(new Date());
      try {
        await this.evidence(
          ctx,
          rejectedInSpace,
          o,
          `rejected-${reason}-g${String(generation)}`,
          "offer.rejected",
          at,
          { reason, message },
        );
      } catch (err) {
        ctx.log.warn("cannot record offer evidence", { offer: o.metadata.name, err: errorText(err) });
        return { requeueAfterMs: 5_000 };
      }
    }
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  private async finalize(o: OfferObject, ctx: Context, space: string): Promise<Result | undefined> {
    if (!(o.metadata.finalizers ?? []).includes(OFFER_FINALIZER)) return undefined;
    const dashboard = this.deps.dashboard;
    if (dashboard) {
      await dashboard.withdraw(space, o.metadata.namespace ?? "", o.metadata.name ?? "");
      // The deletion timestamp is fixed, so the entry is the same on every retry.
      await this.evidence(
        ctx,
        space,
        o,
        "deleted",
        "offer.withdrawn",
        o.metadata.deletionTimestamp ?? rfc3339(new Date()),
        { reason: "Deleted" },
      );
    } else {
      await ctx.events.emit(
        o,
        "Warning",
        "EvidencePending",
        "The dashboard API is not configured: the withdrawal of this offer is not in the evidence log",
      );
    }
    await removeFinalizer(ctx, kinds.dataOffer, o, OFFER_FINALIZER);
    return undefined;
  }
}
