// What the policy engine (@tds/crds/policy: superviseContract) is asked about
// a DataContract: the contract's own facts (@tds/crds/policy:
// contractPolicyFacts, the builder the gateway re-checks accesses by), with
// the clock, the revocation, the accesses counted so far, the agreed limit
// and the data subjects' consents for a personal-data offer. Pure: the
// contract controller gathers the objects, this turns them into the
// engine's facts.
import {
  rfc3339,
  type DataContract,
  type DataContractStatus,
  type DataOffer,
  type DataSpace,
  type Participant,
} from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import {
  contractPolicyFacts,
  spaceRules,
  type ConsentFacts,
  type LifecycleInput,
  type SupervisedInput,
} from "@tds/crds/policy";

type ContractObject = DataContract & KubeObject;
type OfferObject = DataOffer & KubeObject;
export type ContractTerms = NonNullable<DataContractStatus["terms"]>;

export interface ContractParties {
  readonly consumer: string;
  readonly provider: string;
  /** The Participant of a name, as the controller knows it (undefined: not a member). */
  readonly lookup: (name: string) => (Participant & KubeObject) | undefined;
}

/** The engine's input for a contract whose offer exists. */
export function contractFacts(
  c: ContractObject,
  space: DataSpace,
  offer: OfferObject,
  parties: ContractParties,
  now: Date,
  revoke: string | undefined,
  accesses: number | undefined = c.status?.accesses,
  consents?: readonly ConsentFacts[],
): SupervisedInput {
  const limit = accessLimit(c, offer);
  return {
    ...contractPolicyFacts(c, offer, space, {
      provider: { name: parties.provider, participant: parties.lookup(parties.provider) },
      consumer: { name: parties.consumer, participant: parties.lookup(parties.consumer) },
    }),
    now,
    ...(revoke === undefined ? {} : { revoke }),
    ...(accesses === undefined ? {} : { accesses }),
    ...(limit === undefined ? {} : { accessLimit: limit }),
    ...(consents === undefined ? {} : { consents }),
  };
}

/** The engine's input for a contract whose offer is gone: only the lifecycle (expiry, revocation) applies. */
export function orphanFacts(
  c: ContractObject,
  space: DataSpace,
  now: Date,
  revoke: string | undefined,
): LifecycleInput {
  return {
    now,
    space: spaceRules(space),
    offer: { name: c.spec.offerRef.name, classification: "", dataCategory: "", policy: {} },
    provider: undefined,
    consumer: undefined,
    contract: { purpose: c.spec.purpose, createdAt: c.metadata.creationTimestamp ?? rfc3339(now) },
    current: c.status?.state,
    ...(c.status?.validity ? { agreed: c.status.validity } : {}),
    ...(revoke === undefined ? {} : { revoke }),
  };
}

/**
 * The terms of the agreement: status.terms once agreed (fixed then, whatever
 * the offer says later); before that, what agreement would fix: the
 * contract's request, else the offer's maximum (policy rule 9 keeps the first
 * ≤ the second). Undefined when neither is known (the offer is gone).
 */
export function agreedTerms(c: ContractObject, offer: OfferObject | undefined): ContractTerms | undefined {
  if (c.status?.terms) return c.status.terms;
  const max = c.spec.requestedAccesses ?? offer?.spec.policy.maxAccesses;
  if (max === undefined) return offer ? {} : undefined;
  return { maxAccesses: max };
}

/** The agreed maximum of accesses, or undefined for no limit. */
export function accessLimit(c: ContractObject, offer: OfferObject): number | undefined {
  return agreedTerms(c, offer)?.maxAccesses;
}
