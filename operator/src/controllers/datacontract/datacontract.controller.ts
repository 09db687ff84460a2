// DataContract reconciler: gathers the facts (space rules, offer, provider,
// consumer, annotations), asks the pure policy engine (@tds/crds/policy: superviseContract), and acts on
// the outcome: the agreement label and credentials Secret for the gateway, the
// status with its history, and one evidence entry per transition.
//
// Write order makes a crash at any point safe: the Secret and the label come
// before the status that says Active (the gateway never sees an Active
// contract without its Secret); the status with the transition comes before
// its evidence entry, whose time and id are then read back from the status,
// so a restarted operator sends the same entry and the log records it once.
import { createHash, randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { DataContract, DataContractStatus, DataOffer, DataSpace, Participant } from "@tds/crds";
import { KubeApiError, dataOf, type KubeObject, kinds } from "@tds/kube";
import {
  findCondition,
  setCondition,
  writeStatus,
  type Condition,
  type Context,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/reconcile.ts";
import { errorText } from "../../runtime/controller.ts";
import type { Deps } from "../deps.ts";
import {
  agreementIdOf,
  evaluateContract,
  participantFacts,
  spaceRules,
  superviseContract,
  type Outcome,
} from "@tds/crds/policy";
import {
  AGREEMENT_LABEL,
  DECISION_ANNOTATION,
  EXPORT_DECISION_ANNOTATION,
  REINSTATE_ANNOTATION,
  REVOKE_ANNOTATION,
  REVOKED_BY_ANNOTATION,
  agreementUsageEvent,
  buildCredentialsSecret,
  contractEvidence,
  credentialsSecretName,
  historyEntry,
  repeatedAction,
  splitParticipantNamespace,
  withEntry,
  type History,
} from "./datacontract.builders.ts";

type ContractObject = DataContract & KubeObject;
type OfferObject = DataOffer & KubeObject;
type State = NonNullable<DataContractStatus["state"]>;

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");
const isReady = (o: { status?: { conditions?: readonly { type: string; status: string }[] } } | undefined) =>
  (o?.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
const GRANTING: readonly State[] = ["Agreed", "Active"];
/** States that hold an agreement (and its credentials): granting, or suspended by a rule change. */
const HOLDING: readonly State[] = [...GRANTING, "Suspended"];

export class DataContractReconciler implements Reconciler {
  readonly name = "datacontract";
  readonly resource = kinds.dataContract;
  /** Event ids the log already held with other content (sent before a crash); not sent again. */
  private readonly alreadyLogged = new Set<string>();

  constructor(
    private readonly deps: Deps,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async reconcile(req: Request, ctx: Context): Promise<Result | undefined> {
    const c = await ctx.client.find<ContractObject>(kinds.dataContract, req.name, req.namespace);
    if (!c || c.metadata.deletionTimestamp) return undefined; // the Secret is owned and collected with it
    const where = splitParticipantNamespace(c.metadata.namespace);
    const space =
      where && (this.deps.cache.get(kinds.dataSpace, where.space) as (DataSpace & KubeObject) | undefined);
    if (!where || !space) {
      if (this.deps.spaceSelector) return undefined; // another operator's space, or none
      return this.pending(
        c,
        ctx,
        undefined,
        "NotInParticipantNamespace",
        "A DataContract must live in a participant namespace <space>--<participant>",
      );
    }
    const now = this.now();
    const current = c.status?.state;
    const ref = c.spec.offerRef;
    const offerSpace = splitParticipantNamespace(ref.namespace);
    let offer = this.deps.cache.get(kinds.dataOffer, ref.name, ref.namespace) as OfferObject | undefined;
    if (!offer && current && HOLDING.includes(current)) {
      // Never act destructively on a cache miss: confirm with the API server.
      offer = await ctx.client.find<OfferObject>(kinds.dataOffer, ref.name, ref.namespace);
    }
    const annotations = c.metadata.annotations ?? {};
    let revoke = annotations[REVOKE_ANNOTATION];
    let revokedBy = annotations[REVOKED_BY_ANNOTATION] ?? "provider";

    let outcome: Outcome;
    let accesses: number | undefined;
    if (!current || current === "Requested") {
      if (offerSpace?.space !== where.space) {
        outcome = {
          state: "Rejected",
          reason: "OfferOutsideSpace",
          message: `Offer ${ref.namespace}/${ref.name} is not in space ${where.space}`,
        };
      } else if (!offer) {
        return this.pending(
          c,
          ctx,
          where.space,
          "OfferNotFound",
          `DataOffer ${ref.namespace}/${ref.name} does not exist`,
        );
      } else if (!isReady(offer)) {
        const r = findCondition(offer.status?.conditions, "Ready");
        return this.pending(
          c,
          ctx,
          where.space,
          "OfferNotReady",
          `DataOffer ${ref.namespace}/${ref.name} is not Ready${r ? ` (${r.reason})` : ""}`,
        );
      } else {
        outcome = this.evaluate(c, space, offer, where.participant, offerSpace.participant, now, revoke);
      }
    } else {
      if (HOLDING.includes(current) && !offer && revoke === undefined) {
        revoke = `Offer ${ref.namespace}/${ref.name} was withdrawn`;
        revokedBy = "system:tds-operator";
      }
      if (HOLDING.includes(current) && revoke === undefined) {
        // A suspended consumer or provider loses access: its granting contracts are revoked.
        const suspended = await this.suspendedParty(ctx, [where.participant, offerSpace?.participant]);
        if (suspended) {
          revoke = `Participant ${suspended} is suspended`;
          revokedBy = "system:tds-operator";
        }
      }
      accesses = offer ? await this.accessesOf(c, ctx, where.space, offer) : undefined;
      // An agreed contract is re-decided against the current rules; a participant missing from
      // the cache is confirmed with the API server first (never suspend on a stale cache).
      await this.confirmParticipants(ctx, [where.participant, offerSpace?.participant]);
      outcome =
        offer && offerSpace
          ? this.evaluate(c, space, offer, where.participant, offerSpace.participant, now, revoke, accesses)
          : evaluateContract({
              ...this.emptyFacts(c, space, now),
              current,
              ...(c.status?.validity ? { agreed: c.status.validity } : {}),
              ...(revoke === undefined ? {} : { revoke }),
            });
    }
    return this.act(c, ctx, where.space, space, outcome, now, revokedBy, accesses, agreedTerms(c, offer));
  }

  /**
   * The accesses the gateway counted for an Active contract with an access
   * limit, read from the dashboard API's ledger; the last known count when
   * there is no limit, no API, or the API does not answer (the gateway
   * enforces the limit itself; this count drives status and expiry).
   */
  private async accessesOf(
    c: ContractObject,
    ctx: Context,
    space: string,
    offer: OfferObject,
  ): Promise<number | undefined> {
    const known = c.status?.accesses;
    const agreementId = c.status?.agreementId;
    const read = this.deps.dashboard?.agreementAccesses?.bind(this.deps.dashboard);
    if (c.status?.state !== "Active" || !agreementId || !read || accessLimit(c, offer) === undefined)
      return known;
    try {
      return Math.max(known ?? 0, await read(space, agreementId));
    } catch (err) {
      ctx.log.warn("cannot read the agreement's accesses; keeping the last count", {
        agreementId,
        err: String(err),
      });
      return known;
    }
  }

  /** Live Participants for names the cache does not hold, so the engine judges by what exists. */
  private readonly confirmed = new Map<string, Participant & KubeObject>();
  private async confirmParticipants(ctx: Context, names: readonly (string | undefined)[]): Promise<void> {
    for (const name of names) {
      if (!name) continue;
      if (this.deps.cache.get(kinds.participant, name)) {
        this.confirmed.delete(name);
        continue;
      }
      const live = await ctx.client.find<Participant & KubeObject>(kinds.participant, name);
      if (live) this.confirmed.set(name, live);
      else this.confirmed.delete(name);
    }
  }

  private participant(name: string): (Participant & KubeObject) | undefined {
    return (
      (this.deps.cache.get(kinds.participant, name) as (Participant & KubeObject) | undefined) ??
      this.confirmed.get(name)
    );
  }

  /** The first of the participants that is suspended, confirmed with a live read (never on a stale cache). */
  private async suspendedParty(
    ctx: Context,
    names: readonly (string | undefined)[],
  ): Promise<string | undefined> {
    for (const name of names) {
      if (!name) continue;
      const cached = this.deps.cache.get(kinds.participant, name) as (Participant & KubeObject) | undefined;
      if (!cached?.spec.suspended) continue;
      const live = await ctx.client.find<Participant & KubeObject>(kinds.participant, name);
      if (live?.spec.suspended) return name;
    }
    return undefined;
  }

  private evaluate(
    c: ContractObject,
    space: DataSpace,
    offer: OfferObject,
    consumer: string,
    provider: string,
    now: Date,
    revoke: string | undefined,
    accesses: number | undefined = c.status?.accesses,
  ): Outcome {
    const a = c.metadata.annotations ?? {};
    const limit = accessLimit(c, offer);
    return superviseContract({
      now,
      space: spaceRules(space),
      offer: {
        name: offer.metadata.name ?? "",
        classification: offer.spec.classification,
        dataCategory: offer.spec.dataCategory,
        policy: offer.spec.policy,
      },
      provider: participantFacts(this.participant(provider), provider),
      consumer: participantFacts(this.participant(consumer), consumer),
      contract: {
        purpose: c.spec.purpose,
        ...(c.spec.requestedValidity ? { requestedValidity: c.spec.requestedValidity } : {}),
        ...(c.spec.requestedAccesses === undefined ? {} : { requestedAccesses: c.spec.requestedAccesses }),
        createdAt: c.metadata.creationTimestamp ?? rfc3339(now),
        ...(a[DECISION_ANNOTATION] === undefined ? {} : { providerDecision: a[DECISION_ANNOTATION] }),
        ...(a[EXPORT_DECISION_ANNOTATION] === undefined
          ? {}
          : { exportDecision: a[EXPORT_DECISION_ANNOTATION] }),
      },
      current: c.status?.state,
      ...(c.status?.validity ? { agreed: c.status.validity } : {}),
      ...(revoke === undefined ? {} : { revoke }),
      ...(a[REINSTATE_ANNOTATION] === undefined ? {} : { reinstate: a[REINSTATE_ANNOTATION] }),
      ...(c.status?.suspension ? { suspendedBy: c.status.suspension.rule } : {}),
      ...(accesses === undefined ? {} : { accesses }),
      ...(limit === undefined ? {} : { accessLimit: limit }),
    });
  }

  /** Facts for a contract whose offer is gone: only the lifecycle (expiry, revocation) applies. */
  private emptyFacts(c: ContractObject, space: DataSpace, now: Date) {
    return {
      now,
      space: spaceRules(space),
      offer: { name: c.spec.offerRef.name, classification: "", dataCategory: "", policy: {} },
      provider: undefined,
      consumer: undefined,
      contract: { purpose: c.spec.purpose, createdAt: c.metadata.creationTimestamp ?? rfc3339(now) },
    };
  }

  /** A contract that cannot be decided yet: Requested, with the reason, and looked at again later. */
  private async pending(
    c: ContractObject,
    ctx: Context,
    space: string | undefined,
    reason: string,
    message: string,
  ): Promise<Result> {
    const now = this.now();
    const history = withEntry(
      c.status?.history ?? [],
      historyEntry(
        c.metadata.uid ?? "",
        "contract.requested",
        "Requested",
        c.metadata.creationTimestamp ?? rfc3339(now),
        "Requested",
      ),
    );
    const status: DataContractStatus = {
      ...(c.status ?? {}),
      state: "Requested",
      observedGeneration: c.metadata.generation ?? 0,
      history,
      transitions: history.filter((h) => h.state).length,
      conditions: setCondition(c.status?.conditions, {
        type: "Ready",
        status: "False",
        reason,
        message,
        observedGeneration: c.metadata.generation ?? 0,
      }),
    };
    const written = await writeStatus(ctx, kinds.dataContract, c, status);
    const retry = space ? await this.recordEvidence(ctx, c, space, status, written) : undefined;
    return { requeueAfterMs: Math.min(retry ?? Infinity, this.deps.settings.contractMonitorMs) };
  }

  private async act(
    c: ContractObject,
    ctx: Context,
    spaceName: string,
    space: DataSpace,
    outcome: Outcome,
    now: Date,
    revokedBy: string,
    accesses?: number,
    terms?: ContractTerms,
  ): Promise<Result | undefined> {
    const uid = c.metadata.uid ?? "";
    const name = c.metadata.name ?? "";
    const prev = c.status ?? {};
    const { state } = outcome;
    const changed = prev.state !== state;
    const at = rfc3339(now);
    const status: DataContractStatus = {
      ...prev,
      state,
      observedGeneration: c.metadata.generation ?? 0,
      ...(accesses === undefined ? {} : { accesses }),
    };

    let history: History = withEntry(
      prev.history ?? [],
      historyEntry(uid, "contract.requested", "Requested", c.metadata.creationTimestamp ?? at, "Requested"),
    );
    const decision = outcome.decision;
    if (decision?.kind === "agree") {
      status.agreementId = agreementIdOf(uid);
      status.agreedAt = prev.agreedAt ?? at;
      status.validity = decision.validity;
      status.crossBorderExport = decision.crossBorderExport;
      status.terms = terms ?? {};
      history = withEntry(history, historyEntry(uid, "contract.agreed", decision.reason, at, "Agreed"));
      if (decision.crossBorderExport && spaceRules(space).recordExports)
        history = withEntry(
          history,
          historyEntry(uid, "contract.cross-border-export", "CrossBorderExport", at),
        );
    }
    // A contract agreed before status.terms existed gets them from its spec, frozen since agreement.
    if (status.agreementId && !status.terms && terms) status.terms = terms;
    if (state === "Rejected" && !prev.rejection)
      status.rejection = { reason: outcome.reason, message: outcome.message };
    if (state === "Revoked" && !prev.revocation)
      status.revocation = { revokedBy, reason: outcome.message.replace(/^Revoked: /, ""), revokedAt: at };
    const reinstated = prev.state === "Suspended" && GRANTING.includes(state);
    if (state === "Suspended" && changed) {
      // A suspension can happen more than once: each is its own entry, with the rule that failed.
      history = withEntry(
        history,
        historyEntry(
          uid,
          repeatedAction(history, "contract.suspended"),
          outcome.reason,
          at,
          state,
          outcome.message,
        ),
      );
      status.suspension = { rule: outcome.reason, message: outcome.message, suspendedAt: at };
    } else if (reinstated) {
      history = withEntry(
        history,
        historyEntry(
          uid,
          repeatedAction(history, "contract.reinstated"),
          outcome.reason,
          at,
          state,
          outcome.message,
        ),
      );
      delete status.suspension;
    } else if (state !== "Requested" && state !== "Agreed" && state !== "Suspended")
      history = withEntry(
        history,
        historyEntry(uid, `contract.${state.toLowerCase()}`, outcome.reason, at, state),
      );
    status.history = history;
    status.transitions = history.filter((h) => h.state).length;

    if (state === "Active" || state === "Agreed") {
      const agreementId = status.agreementId ?? agreementIdOf(uid);
      status.credentialsDigest = await this.ensureGrant(ctx, c, spaceName, agreementId);
      status.credentialsSecret = credentialsSecretName(name);
    } else if (state === "Expired" || state === "Revoked" || state === "Rejected") {
      await this.removeGrant(ctx, c);
    }

    // Terminal states keep their first reason; the engine only reports "it is terminal".
    const terminalKept = !changed && (state === "Rejected" || state === "Expired" || state === "Revoked");
    const ready = findCondition(prev.conditions, "Ready");
    const reason = terminalKept && ready ? ready.reason : outcome.reason;
    const message = terminalKept && ready ? ready.message : outcome.message;
    status.conditions = setCondition(
      prev.conditions,
      {
        type: "Ready",
        status: state === "Active" ? "True" : "False",
        reason,
        message,
        observedGeneration: c.metadata.generation ?? 0,
      },
      now,
    );
    const written = await writeStatus(ctx, kinds.dataContract, c, status);
    if (written && changed)
      await ctx.events.emit(
        c,
        state === "Rejected" || state === "Revoked" || state === "Suspended" ? "Warning" : "Normal",
        reason,
        message,
      );
    if (reinstated && c.metadata.annotations?.[REINSTATE_ANNOTATION] !== undefined) {
      // Honoured once: a later suspension needs a new request from the provider.
      ctx.beforeWrite(`clear the reinstate annotation of DataContract ${c.metadata.namespace ?? ""}/${name}`);
      await ctx.client.mergePatch(kinds.dataContract, name, c.metadata.namespace, {
        metadata: { annotations: { [REINSTATE_ANNOTATION]: null } },
      });
    }

    const evidenceRetry = await this.recordEvidence(ctx, c, spaceName, status, written);
    const next =
      outcome.nextChangeAt === undefined
        ? undefined
        : Math.max(250, outcome.nextChangeAt - now.getTime() + 250);
    const monitor = HOLDING.includes(state) ? this.deps.settings.contractMonitorMs : undefined;
    const waits = [next, monitor, evidenceRetry].filter((x): x is number => x !== undefined);
    return waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : undefined;
  }

  /**
   * The agreement label (the gateway finds the contract by it) and the
   * credentials Secret; returns the digest of its token for status, which is
   * what the gateway authenticates against.
   */
  private async ensureGrant(
    ctx: Context,
    c: ContractObject,
    space: string,
    agreementId: string,
  ): Promise<string> {
    const name = c.metadata.name ?? "";
    const ns = c.metadata.namespace ?? "";
    if (c.metadata.labels?.[AGREEMENT_LABEL] !== agreementId) {
      ctx.beforeWrite(`label DataContract ${ns}/${name}`);
      const patched = await ctx.client.mergePatch<ContractObject>(kinds.dataContract, name, ns, {
        metadata: { labels: { [AGREEMENT_LABEL]: agreementId } },
      });
      c.metadata.resourceVersion = patched.metadata.resourceVersion;
    }
    const secretName = credentialsSecretName(name);
    const cached = this.deps.cache.get(kinds.secret, secretName, ns);
    if (cached) return tokenDigestOf(cached);
    const token = randomBytes(32).toString("base64url");
    const secret = buildCredentialsSecret(c, space, agreementId, token, this.deps.gatewayUrl ?? "");
    try {
      ctx.beforeWrite(`create Secret ${ns}/${secretName}`);
      await ctx.client.create(kinds.secret, secret);
      return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
    } catch (err) {
      // Created by an earlier attempt: the token stays as first issued.
      if (!(err instanceof KubeApiError && err.code === 409))
        throw new Error(`cannot create the credentials Secret of contract ${ns}/${name}`, { cause: err });
      return tokenDigestOf(await ctx.client.get(kinds.secret, secretName, ns));
    }
  }

  /** Expired, revoked or rejected: the token stops working because its Secret is gone. */
  private async removeGrant(ctx: Context, c: ContractObject): Promise<void> {
    const ns = c.metadata.namespace ?? "";
    const secretName = credentialsSecretName(c.metadata.name ?? "");
    const live =
      this.deps.cache.get(kinds.secret, secretName, ns) ??
      (c.status?.credentialsSecret ? await ctx.client.find(kinds.secret, secretName, ns) : undefined);
    if (!live) return;
    ctx.beforeWrite(`delete Secret ${ns}/${secretName}`);
    await ctx.client.delete(kinds.secret, secretName, ns, { uid: live.metadata.uid });
  }

  /**
   * Sends every history entry that has no log index yet, then records the
   * indexes in status. Returns a retry delay when the log could not be reached.
   */
  private async recordEvidence(
    ctx: Context,
    c: ContractObject,
    space: string,
    status: DataContractStatus,
    statusWritten: boolean,
  ): Promise<number | undefined> {
    const history = [...(status.history ?? [])];
    const pendingEntries = history.filter(
      (h) => h.logIndex === undefined && !this.alreadyLogged.has(h.eventId),
    );
    const dashboard = this.deps.dashboard;
    const recorded = {
      type: "EvidenceRecorded",
      status: "True",
      reason: "Recorded",
      message: "Every transition is in the evidence log",
    } as const;
    let condition: Omit<Condition, "lastTransitionTime" | "observedGeneration"> = recorded;
    let retry: number | undefined;
    let latest = status.latestEvidence;
    if (pendingEntries.length > 0 && !dashboard) {
      condition = {
        type: "EvidenceRecorded",
        status: "False",
        reason: "EvidencePending",
        message: `The dashboard API is not configured (TDS_DASHBOARD_URL): ${pendingEntries.length} transition(s) await the evidence log`,
      };
    } else if (pendingEntries.length > 0 && dashboard) {
      try {
        for (const h of pendingEntries) {
          // The agreement is billed (the offer's perContract) before its evidence is sent, so
          // an agreement on record is always on the statement; a retry sends the same event.
          const billed = h.action === "contract.agreed" && status.agreedAt !== undefined;
          const agreement = billed ? agreementUsageEvent(space, c, status.agreedAt ?? "") : undefined;
          if (agreement && dashboard.postUsage) await dashboard.postUsage([agreement]);
          const [r] = await dashboard.recordEvidence(space, [contractEvidence(space, c, h, status)]);
          if (r?.leafIndex === undefined || r.leafHash === undefined) {
            this.alreadyLogged.add(h.eventId);
            continue;
          }
          history[history.findIndex((x) => x.action === h.action)] = { ...h, logIndex: r.leafIndex };
          latest = { logIndex: r.leafIndex, leafHash: r.leafHash };
        }
      } catch (err) {
        ctx.log.warn("cannot record contract evidence", { contract: c.metadata.name, err: errorText(err) });
        condition = {
          type: "EvidenceRecorded",
          status: "False",
          reason: "EvidencePending",
          message: "The evidence log is unreachable; the transitions are recorded when it answers",
        };
        retry = 5_000;
      }
    }
    const next: DataContractStatus = {
      ...status,
      history,
      ...(latest ? { latestEvidence: latest } : {}),
      conditions: setCondition(status.conditions, {
        ...condition,
        observedGeneration: c.metadata.generation ?? 0,
      }),
    };
    if (!isDeepStrictEqual(next, status)) {
      const base = statusWritten
        ? await ctx.client.get<ContractObject>(
            kinds.dataContract,
            c.metadata.name ?? "",
            c.metadata.namespace,
          )
        : c;
      await writeStatus(ctx, kinds.dataContract, base, next);
    }
    return retry;
  }
}

type ContractTerms = NonNullable<DataContractStatus["terms"]>;

/**
 * The terms of the agreement: status.terms once agreed (fixed then, whatever
 * the offer says later); before that, what agreement would fix: the
 * contract's request, else the offer's maximum (policy rule 9 keeps the first
 * ≤ the second). Undefined when neither is known (the offer is gone).
 */
function agreedTerms(c: ContractObject, offer: OfferObject | undefined): ContractTerms | undefined {
  if (c.status?.terms) return c.status.terms;
  const max = c.spec.requestedAccesses ?? offer?.spec.policy.maxAccesses;
  if (max === undefined) return offer ? {} : undefined;
  return { maxAccesses: max };
}

/** The agreed maximum of accesses, or undefined for no limit. */
function accessLimit(c: ContractObject, offer: OfferObject): number | undefined {
  return agreedTerms(c, offer)?.maxAccesses;
}

/** `sha256:<hex>` of the token a credentials Secret holds. */
function tokenDigestOf(secret: KubeObject): string {
  const token = Buffer.from(dataOf(secret).token ?? "", "base64").toString("utf8");
  if (!token) throw new Error(`credentials Secret ${secret.metadata.name ?? ""} has no token`);
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}
