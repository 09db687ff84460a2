// DataContract reconciler: gathers the facts (space rules, offer, provider,
// consumer, annotations; policy/contract-facts.ts, datacontract.parties.ts),
// asks the pure policy engine (@tds/crds/policy: superviseContract), and acts
// on the outcome (datacontract.decision.ts): the agreement label and
// credentials Secret for the gateway (datacontract.credentials.ts), the status
// with its history, and one evidence entry per transition
// (datacontract.evidence.ts).
//
// Write order makes a crash at any point safe: the Secret and the label come
// before the status that says Active (the gateway never sees an Active
// contract without its Secret); the status with the transition comes before
// its evidence entry, whose time and id are then read back from the status,
// so a restarted operator sends the same entry and the log records it once.
import {
  REVOKE_ANNOTATION,
  REVOKED_BY_ANNOTATION,
  splitParticipantNamespace,
  type DataContract,
  type DataOffer,
  type DataSpace,
} from "@tds/crds";
import { type KubeObject, kinds } from "@tds/kube";
import {
  CONSENT_UNVERIFIED,
  consentRequired,
  evaluateContract,
  spaceRules,
  superviseContract,
  type ConsentFacts,
  type Outcome,
} from "@tds/crds/policy";
import {
  findCondition,
  type Context,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/reconcile.ts";
import {
  accessLimit,
  agreedTerms,
  contractFacts,
  orphanFacts,
  type ContractParties,
} from "../../policy/contract-facts.ts";
import type { Deps } from "../deps.ts";
import { ContractDecisions, HOLDING } from "./datacontract.decision.ts";
import { ContractEvidence } from "./datacontract.evidence.ts";
import { PartyLookup } from "./datacontract.parties.ts";

type ContractObject = DataContract & KubeObject;
type OfferObject = DataOffer & KubeObject;

/** How soon a contract whose consents could not be read is looked at again. */
const CONSENT_RETRY_MS = 5_000;

const isReady = (o: { status?: { conditions?: readonly { type: string; status: string }[] } } | undefined) =>
  (o?.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

export class DataContractReconciler implements Reconciler {
  readonly name = "datacontract";
  readonly resource = kinds.dataContract;
  private readonly parties: PartyLookup;
  private readonly decisions: ContractDecisions;

  constructor(
    private readonly deps: Deps,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.parties = new PartyLookup(deps);
    this.decisions = new ContractDecisions(deps, now, new ContractEvidence(deps));
  }

  async reconcile(req: Request, ctx: Context): Promise<Result | undefined> {
    const c = await ctx.primary<ContractObject>();
    if (!c || c.metadata.deletionTimestamp) return undefined; // the Secret is owned and collected with it
    const where = splitParticipantNamespace(c.metadata.namespace);
    const space =
      where && (this.deps.cache.get(kinds.dataSpace, where.space) as (DataSpace & KubeObject) | undefined);
    if (!where || !space) {
      if (this.deps.spaceSelector) return undefined; // another operator's space, or none
      return this.decisions.pending(
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

    // The engine's verdict on the facts as they stand when it is asked (revoke may be set below).
    const supervise = async (o: OfferObject, provider: string, counted?: number): Promise<Outcome> =>
      superviseContract(
        contractFacts(
          c,
          space,
          o,
          this.partiesOf(where.participant, provider),
          now,
          revoke,
          counted,
          await this.consentsOf(ctx, where.space, space, o, c.spec.purpose),
        ),
      );
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
        return this.decisions.pending(
          c,
          ctx,
          where.space,
          "OfferNotFound",
          `DataOffer ${ref.namespace}/${ref.name} does not exist`,
        );
      } else if (!isReady(offer)) {
        const r = findCondition(offer.status?.conditions, "Ready");
        return this.decisions.pending(
          c,
          ctx,
          where.space,
          "OfferNotReady",
          `DataOffer ${ref.namespace}/${ref.name} is not Ready${r ? ` (${r.reason})` : ""}`,
        );
      } else {
        outcome = await supervise(offer, offerSpace.participant);
      }
    } else {
      if (HOLDING.includes(current) && !offer && revoke === undefined) {
        revoke = `Offer ${ref.namespace}/${ref.name} was withdrawn`;
        revokedBy = "system:tds-operator";
      }
      if (HOLDING.includes(current) && revoke === undefined) {
        // A suspended consumer or provider loses access: its granting contracts are revoked.
        const suspended = await this.parties.suspended(ctx, [where.participant, offerSpace?.participant]);
        if (suspended) {
          revoke = `Participant ${suspended} is suspended`;
          revokedBy = "system:tds-operator";
        }
      }
      accesses = offer ? await this.accessesOf(c, ctx, where.space, offer) : undefined;
      // An agreed contract is re-decided against the current rules; a participant missing from
      // the cache is confirmed with the API server first (never suspend on a stale cache).
      await this.parties.confirm(ctx, [where.participant, offerSpace?.participant]);
      outcome =
        offer && offerSpace
          ? await supervise(offer, offerSpace.participant, accesses)
          : evaluateContract(orphanFacts(c, space, now, revoke));
      // Consents that cannot be read are no reason to suspend: the contract stays as it is.
      if (outcome.reason === CONSENT_UNVERIFIED) return { requeueAfterMs: CONSENT_RETRY_MS };
    }
    const applied = await this.decisions.apply(
      c,
      ctx,
      where.space,
      space,
      outcome,
      now,
      revokedBy,
      accesses,
      agreedTerms(c, offer),
    );
    // A request waiting for consents that could not be read asks again soon.
    if (outcome.reason !== CONSENT_UNVERIFIED) return applied;
    return { requeueAfterMs: Math.min(applied?.requeueAfterMs ?? CONSENT_RETRY_MS, CONSENT_RETRY_MS) };
  }

  /**
   * The data subjects' consents for the offer and purpose, read from the
   * dashboard API, when the offer needs consent (personal data, or a Personal
   * space); undefined when it needs none, or when they cannot be read (no API
   * configured, or it does not answer: the engine then waits, ConsentUnverified).
   */
  private async consentsOf(
    ctx: Context,
    spaceName: string,
    space: DataSpace,
    offer: OfferObject,
    purpose: string,
  ): Promise<readonly ConsentFacts[] | undefined> {
    if (!consentRequired(spaceRules(space), { personalData: offer.spec.personalData === true }))
      return undefined;
    const api = this.deps.api;
    if (!api) return undefined;
    const ref = { namespace: offer.metadata.namespace ?? "", name: offer.metadata.name ?? "" };
    try {
      return await api.offerConsents(spaceName, ref, purpose);
    } catch (err) {
      ctx.log.warn("cannot read the consents of a personal-data offer", {
        offer: `${ref.namespace}/${ref.name}`,
        err: String(err),
      });
      return undefined;
    }
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
    const read = this.deps.api?.agreementAccesses.bind(this.deps.api);
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

  private partiesOf(consumer: string, provider: string): ContractParties {
    return { consumer, provider, lookup: (name) => this.parties.participant(name) };
  }
}
