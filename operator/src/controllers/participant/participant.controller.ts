// Participant reconciler: admission against its DataSpace, then the isolated
// namespace and its policies, the storage bucket with scoped credentials, the
// client certificate, and status. Suspension keeps data but removes access;
// deletion revokes the certificate and removes (or retains) the bucket.
import type { DataSpace, Participant, ParticipantStatus } from "@tds/crds";
import { participantNamespace, rfc3339 } from "@tds/crds";
import { dataOf, type KubeObject, kinds, resourceOf } from "@tds/kube";
import {
  addFinalizer,
  applyIfChanged,
  findCondition,
  removeFinalizer,
  setCondition,
  writeStatus,
  type Context,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/reconcile.ts";
import { CA_SECRET, type SpaceCA } from "../../identity/space-ca.ts";
import { describeCertificate } from "../../identity/pki.ts";
import { parseQuantity } from "../../quantity.ts";
import { managedLabels, quotaEnforced, spaceControlNamespace } from "../isolation.builders.ts";
import { claimNamespace } from "../namespace-claim.ts";
import type { Deps } from "../deps.ts";
import { recordLifecycle } from "../evidence.ts";
import {
  ADMIN_ROLE,
  buildParticipantChildren,
  participantLabels,
  participantQuota,
} from "./participant.builders.ts";
import { ensureStorage, removeStorage, STORAGE_SECRET } from "./participant.storage.ts";
import { ensureIdentity, IDENTITY_SECRET, revokeIdentity } from "./participant.identity.ts";
import { reportStorageSample } from "../../metering/usage.ts";
import { trustAnchorNames } from "../../identity/trust-bundle.ts";
import { identityCondition, IdentityVerifier } from "../../identity/oidc.ts";

export const PARTICIPANT_FINALIZER = "tds.dev/participant-cleanup";

type ParticipantObject = Participant & KubeObject;
type Phase = NonNullable<ParticipantStatus["phase"]>;

const isReady = (o: { status?: { conditions?: readonly { type: string; status: string }[] } } | undefined) =>
  (o?.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

export class ParticipantReconciler implements Reconciler {
  readonly name = "participant";
  readonly resource = kinds.participant;
  /** When each participant's bucket was last sampled (by uid). */
  private readonly sampledAt = new Map<string, number>();
  /** Whether writes to each participant's bucket were last set refused (by uid), so unchanged states make no call. */
  private readonly writesRefused = new Map<string, boolean>();

  /** Verifies declared OIDC issuers and DIDs (identity/oidc.ts, identity/did.ts). */
  private readonly identities: IdentityVerifier;

  constructor(private readonly deps: Deps) {
    this.identities = new IdentityVerifier(deps.settings.identityRecheckMs);
  }

  private spaceCA(space: string): SpaceCA | undefined {
    const data = dataOf(this.deps.cache.get(kinds.secret, CA_SECRET, spaceControlNamespace(space)));
    const crt = data["tls.crt"];
    const key = data["tls.key"];
    if (!crt || !key) return undefined;
    const certPem = Buffer.from(crt, "base64").toString("utf8");
    const keyPem = Buffer.from(key, "base64").toString("utf8");
    const d = describeCertificate(certPem);
    return { certPem, keyPem, serialNumber: d.serialNumber, notAfter: d.notAfter };
  }

  async reconcile(req: Request, ctx: Context): Promise<Result | undefined> {
    const p = await ctx.primary<ParticipantObject>();
    if (!p) {
      return undefined;
    }
    const space = this.deps.cache.get(kinds.dataSpace, p.spec.dataSpace) as
      (DataSpace & KubeObject) | undefined;
    if (!space && this.deps.spaceSelector) return undefined; // a space another operator manages
    if (p.metadata.deletionTimestamp) return this.finalize(p, space, ctx);
    await addFinalizer(ctx, kinds.participant, p, PARTICIPANT_FINALIZER);

    if (!space) {
      return this.status(
        p,
        ctx,
        "Pending",
        false,
        "SpaceNotFound",
        `DataSpace ${p.spec.dataSpace} does not exist`,
      );
    }
    if (!isReady(space)) {
      return this.status(
        p,
        ctx,
        "Pending",
        false,
        "SpaceNotReady",
        `DataSpace ${p.spec.dataSpace} is not Ready yet`,
      );
    }
    const problem = this.validate(space, p);
    if (problem) return this.status(p, ctx, "Failed", false, problem.reason, problem.message);
    if ((space.spec.admission?.mode ?? "Manual") === "Manual" && !p.spec.approved) {
      return this.status(
        p,
        ctx,
        "PendingApproval",
        false,
        "AwaitingApproval",
        `Space ${p.spec.dataSpace} admits participants manually: a space operator must set spec.approved to true`,
      );
    }

    const name = p.metadata.name ?? "";
    const ns = participantNamespace(p.spec.dataSpace, name);
    const { cache, store, settings } = this.deps;
    // A declared OIDC issuer or DID is verified before onboarding, and again on resync.
    const issuer = await this.identities.verify(p.metadata.uid ?? name, p);
    const conditions = issuer
      ? setCondition(p.status?.conditions, identityCondition(issuer, p.metadata.generation ?? 0))
      : p.status?.conditions;
    if (issuer && !issuer.ok) {
      const phase = issuer.pending ? "Pending" : "Failed";
      return this.status(p, ctx, phase, false, issuer.reason, issuer.message, settings.identityRecheckMs, {
        ...(p.status ?? {}),
        conditions,
      });
    }
    if (issuer?.changed) ctx.events.emit(p, "Normal", issuer.reason, issuer.message);
    const l = participantLabels(p);
    const desired = buildParticipantChildren(space, p, this.deps.gateway);
    const nsLive = cache.get(kinds.namespace, ns);
    if (nsLive?.metadata.deletionTimestamp) {
      return this.status(
        p,
        ctx,
        "Provisioning",
        false,
        "NamespaceTerminating",
        `Namespace ${ns} is still being deleted`,
        2_000,
      );
    }
    const claim = await claimNamespace(ctx, desired.namespace, nsLive, p.metadata.uid ?? "");
    if (!claim.claimed) return this.status(p, ctx, "Failed", false, claim.reason, claim.message, 30_000);
    // The namespace exists: its objects do not depend on one another, so they are applied together.
    const applied = await Promise.all(
      desired.namespaced.map((obj) => {
        const r = resourceOf(obj);
        return applyIfChanged(ctx, r, obj, cache.get(r, obj.metadata.name ?? "", ns));
      }),
    );
    let changed = claim.changed || applied.some((a) => a.changed);
    const binding = cache.get(kinds.roleBinding, ADMIN_ROLE, ns);
    if (binding && !desired.namespaced.some((o) => o.kind === "RoleBinding")) {
      ctx.beforeWrite(`delete RoleBinding ${ns}/${ADMIN_ROLE}`);
      await ctx.client.delete(kinds.roleBinding, ADMIN_ROLE, ns, { uid: binding.metadata.uid });
      changed = true;
    }
    if (changed) ctx.events.emit(p, "Normal", "Provisioned", `Applied namespace ${ns} and its policies`);

    const prefix = space.spec.storage?.bucketPrefix ?? "tds";
    const storage = await ensureStorage(
      ctx,
      store,
      p,
      prefix,
      cache.get(kinds.secret, STORAGE_SECRET, ns),
      l,
    );

    const ca = this.spaceCA(p.spec.dataSpace);
    if (!ca) {
      return this.status(
        p,
        ctx,
        "Provisioning",
        false,
        "SpaceCANotReady",
        "The space certificate authority is not available yet",
        1_000,
      );
    }
    const spaceLabels = managedLabels(p.spec.dataSpace);
    const identity = p.spec.suspended
      ? (await revokeIdentity(ctx, p, ca, "certificateHold", spaceLabels), undefined)
      : await ensureIdentity(
          ctx,
          p,
          ca,
          space.spec.certificateAuthority?.clientCertificateValidityDays ?? 90,
          settings.renewAtFraction,
          cache.get(kinds.secret, IDENTITY_SECRET, ns),
          l,
        );

    const quotaBytes = parseQuantity(
      String(p.spec.quota?.storage ?? space.spec.storage?.participantQuota?.default ?? "100Gi"),
    );
    let bytesStored = p.status?.bytesStored;
    const uid = p.metadata.uid ?? name;
    const last = this.sampledAt.get(uid) ?? 0;
    if (bytesStored === undefined || Date.now() - last >= settings.storageSampleMs) {
      const usage = await store.bucketUsage(storage.bucket);
      bytesStored = Number(usage.bytes);
      this.sampledAt.set(uid, Date.now());
      await reportStorageSample(
        { space: p.spec.dataSpace, participant: name, uid, bytes: usage.bytes, at: new Date() },
        ctx.log,
      );
    }
    // The storage quota is enforced on the sample: at or over it, the owner's writes are refused.
    const overQuota = !p.spec.suspended && BigInt(bytesStored) >= quotaBytes;
    if (this.writesRefused.get(uid) !== overQuota) {
      ctx.beforeWrite(`${overQuota ? "refuse" : "allow"} writes to bucket ${storage.bucket}`);
      await store.setWritesRefused(storage.bucket, storage.account, overQuota);
      this.writesRefused.set(uid, overQuota);
    }
    const base: ParticipantStatus = {
      ...(p.status ?? {}),
      namespace: ns,
      bucket: storage.bucket,
      storageCredentialsSecret: storage.secretName,
      bytesStored,
      storageQuotaBytes: Number(quotaBytes),
      conditions: setCondition(conditions, {
        type: "StorageWritable",
        status: overQuota ? "False" : "True",
        reason: overQuota ? "QuotaExceeded" : "WithinQuota",
        message: overQuota
          ? `${String(bytesStored)} bytes stored, quota ${String(quotaBytes)}: writes to ${storage.bucket} are refused until data is deleted or the quota is raised`
          : `${String(bytesStored)} of ${String(quotaBytes)} bytes used`,
        observedGeneration: p.metadata.generation ?? 0,
      }),
    };
    if (overQuota && p.status?.conditions?.find((c) => c.type === "StorageWritable")?.status !== "False") {
      ctx.events.emit(
        p,
        "Warning",
        "StorageQuotaExceeded",
        `Writes to bucket ${storage.bucket} are refused: ${String(bytesStored)} bytes stored, quota ${String(quotaBytes)}`,
      );
    }
    if (identity) {
      base.certificate = {
        secretName: identity.secretName,
        serial: identity.serial,
        notAfter: rfc3339(identity.notAfter),
      };
    } else {
      delete base.certificate;
    }
    const enforced = quotaEnforced(
      cache.get(kinds.resourceQuota, "tds-quota", ns),
      participantQuota(space, p),
    );
    if (!enforced) {
      return this.status(
        p,
        ctx,
        "Provisioning",
        false,
        "QuotaNotEnforced",
        "Waiting for the namespace ResourceQuota to be enforced",
        settings.notReadyRequeueMs,
        base,
      );
    }
    const next = identity
      ? Math.max(1_000, Math.min(settings.storageSampleMs, identity.notAfter.getTime() - Date.now()))
      : settings.storageSampleMs;
    if (p.spec.suspended) {
      return this.status(
        p,
        ctx,
        "Suspended",
        false,
        "Suspended",
        "The participant is suspended: access is revoked and its data is kept",
        next,
        base,
      );
    }
    return this.status(
      p,
      ctx,
      "Active",
      true,
      "Provisioned",
      `Namespace ${ns}, bucket ${storage.bucket} and identity are ready`,
      next,
      base,
    );
  }

  /** Rules that need the space: identity method allowed, quota within the space maximum. */
  private validate(space: DataSpace, p: Participant): { reason: string; message: string } | undefined {
    const allowed = space.spec.admission?.allowedIdentityMethods ?? ["Certificate", "OIDC", "DID"];
    const id = p.spec.identity;
    const method = id.certificate ? "Certificate" : id.oidc ? "OIDC" : "DID";
    if (!allowed.includes(method)) {
      return {
        reason: "IdentityMethodNotAllowed",
        message: `spec.identity: space ${p.spec.dataSpace} does not accept ${method} identities (allowed: ${allowed.join(", ")})`,
      };
    }
    const issuedBy = id.certificate?.issuedBy;
    if (issuedBy !== undefined && !trustAnchorNames(space).includes(issuedBy)) {
      const known = trustAnchorNames(space);
      return {
        reason: "UnknownTrustAnchor",
        message: `spec.identity.certificate.issuedBy: space ${p.spec.dataSpace} has no trust anchor ${issuedBy} (${known.length > 0 ? `spec.trustAnchors names ${known.join(", ")}` : "it declares no spec.trustAnchors"})`,
      };
    }
    const requested = p.spec.quota?.storage;
    const maximum = space.spec.storage?.participantQuota?.maximum ?? "10Ti";
    if (requested !== undefined && parseQuantity(String(requested)) > parseQuantity(String(maximum))) {
      return {
        reason: "QuotaExceedsSpaceMaximum",
        message: `spec.quota.storage: ${String(requested)} exceeds the space maximum of ${String(maximum)}`,
      };
    }
    return undefined;
  }

  private async status(
    p: ParticipantObject,
    ctx: Context,
    phase: Phase,
    ready: boolean,
    reason: string,
    message: string,
    requeueAfterMs?: number,
    base: ParticipantStatus = p.status ?? {},
  ): Promise<Result | undefined> {
    const generation = p.metadata.generation ?? 0;
    const conditions = setCondition(base.conditions, {
      type: "Ready",
      status: ready ? "True" : "False",
      reason,
      message,
      observedGeneration: generation,
    });
    const next: ParticipantStatus = { ...base, observedGeneration: generation, phase, conditions };
    if (phase !== p.status?.phase) {
      // Admitted, awaiting approval, suspended, failed…: every change of phase is evidence, appended first.
      const recorded = await recordLifecycle(ctx, this.deps.api, {
        space: p.spec.dataSpace,
        object: p,
        action: `participant.${phase.toLowerCase()}`,
        time: conditions.find((c) => c.type === "Ready")?.lastTransitionTime ?? new Date().toISOString(),
        payload: {
          phase,
          reason,
          roles: p.spec.roles,
          organization: p.spec.organization,
          bucket: next.bucket ?? null,
        },
      });
      if (recorded) next.latestEvidence = recorded.pointer;
    }
    const before = findCondition(p.status?.conditions, "Ready");
    if (await writeStatus(ctx, kinds.participant, p, next)) {
      if (before?.status !== (ready ? "True" : "False") || before.reason !== reason) {
        ctx.events.emit(p, ready ? "Normal" : "Warning", reason, message);
      }
    }
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  private async finalize(
    p: ParticipantObject,
    space: DataSpace | undefined,
    ctx: Context,
  ): Promise<Result | undefined> {
    if (!(p.metadata.finalizers ?? []).includes(PARTICIPANT_FINALIZER)) return undefined;
    await revokeIdentity(
      ctx,
      p,
      this.spaceCA(p.spec.dataSpace),
      "cessationOfOperation",
      managedLabels(p.spec.dataSpace),
    );
    const retain =
      (space?.spec.storage as { deletionPolicy?: string } | undefined)?.deletionPolicy === "Retain";
    await removeStorage(ctx, this.deps.store, p, space?.spec.storage?.bucketPrefix ?? "tds", retain);
    await recordLifecycle(ctx, this.deps.api, {
      space: p.spec.dataSpace,
      object: p,
      action: "participant.removed",
      time: p.metadata.deletionTimestamp ?? new Date().toISOString(),
      payload: { bucketRetained: retain },
    });
    await removeFinalizer(ctx, kinds.participant, p, PARTICIPANT_FINALIZER);
    this.sampledAt.delete(p.metadata.uid ?? "");
    this.identities.forget(p.metadata.uid ?? "");
    this.writesRefused.delete(p.metadata.uid ?? "");
    ctx.log.info("participant removed", { participant: p.metadata.name, bucketRetained: retain });
    return undefined;
  }
}
