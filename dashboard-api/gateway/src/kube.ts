// Where grants come from: the DataContract carrying the agreement label (its
// status has the digest of its credentials token, so no Secret is read, and
// the agreed terms and window), the DataOffer and the provider Participant's
// bucket.
// KubeGrantSource reads them from the Kubernetes API on each call (the shared
// client, @tds/kube); the gateway serves requests from the
// watch-backed GrantCache (grant-cache.ts) and uses this live read only where
// the cache may lag a write it has not seen yet. Read-only; the operator owns
// writes.
import {
  AGREEMENT_LABEL,
  splitParticipantNamespace,
  type DataContract,
  type DataOffer,
  type DataSpace,
  type Participant,
} from "@tds/crds";
import { contractPolicyFacts } from "@tds/crds/policy";
import { kinds, type KubeClient, type KubeObject } from "@tds/kube";
import type { AccessMode, ContractGrant } from "./grants.ts";

export interface GrantSource {
  /** The grant of an agreement, or undefined when no contract carries it. */
  resolve(agreementId: string): Promise<ContractGrant | undefined>;
  /** The contract's current state and end of validity, or undefined when it is gone. */
  contractState(namespace: string, name: string): Promise<ContractState | undefined>;
  /**
   * Calls `listener` whenever a contract may have changed, so the monitor can
   * cut streams at once instead of at its next tick. Optional: a source
   * without change notifications is polled by the monitor only.
   */
  subscribe?(listener: (namespace: string, name: string) => void): () => void;
}

interface Obj {
  metadata: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string> };
}

export type ContractObj = DataContract & Obj;
export type OfferObj = DataOffer & Obj;

/**
 * The grant of an agreement from the three objects it is made of: the
 * contract (whose status carries the agreement id and the digest of its
 * token), the offer and the provider Participant. Undefined when a piece is
 * missing.
 */
export function grantFrom(
  agreementId: string,
  c: ContractObj,
  offer: OfferObj | undefined,
  participant: (Participant & Obj) | undefined,
  rules?: { readonly space: DataSpace | undefined; readonly consumer: (Participant & Obj) | undefined },
): ContractGrant | undefined {
  const ns = c.metadata.namespace ?? "";
  const consumer = splitParticipantNamespace(ns);
  const offerRef = c.spec.offerRef;
  const provider = splitParticipantNamespace(offerRef.namespace);
  const digest = /^sha256:([0-9a-f]{64})$/.exec(c.status?.credentialsDigest ?? "")?.[1];
  const bucket = participant?.status?.bucket;
  // The agreed terms are the operator's record in status, fixed at agreement;
  // the spec is the consumer's and is never read for limits. No terms: no grant.
  const terms = c.status?.terms;
  if (
    c.status?.agreementId !== agreementId ||
    !terms ||
    !consumer ||
    !provider ||
    !digest ||
    !offer ||
    !bucket
  ) {
    return undefined;
  }
  const policy = offer.spec.policy;
  const accessMode: AccessMode = offer.status?.effectivePolicy?.accessMode ?? policy.accessMode ?? "download";
  const validity = c.status.validity;
  return {
    agreementId,
    space: consumer.space,
    consumer: consumer.participant,
    provider: provider.participant,
    contract: {
      namespace: ns,
      name: c.metadata.name ?? "",
      uid: c.metadata.uid ?? "",
      state: c.status.state ?? "",
      ...(validity?.notBefore ? { notBefore: validity.notBefore } : {}),
      ...(validity?.notAfter ? { notAfter: validity.notAfter } : {}),
    },
    offer: {
      namespace: offerRef.namespace,
      name: offerRef.name,
      uid: offer.metadata.uid ?? "",
      ...(offer.spec.asset.key ? { key: offer.spec.asset.key } : {}),
      ...(offer.spec.asset.prefix ? { prefix: offer.spec.asset.prefix } : {}),
      accessMode,
    },
    ...(terms.maxAccesses === undefined ? {} : { maxAccesses: terms.maxAccesses }),
    bucket,
    tokenDigest: Buffer.from(digest, "hex"),
    // The facts the operator decided the contract on (@tds/crds/policy), re-checked at every access.
    ...(rules?.space
      ? {
          policy: contractPolicyFacts(c, offer, rules.space, {
            provider: { name: provider.participant, participant },
            consumer: { name: consumer.participant, participant: rules.consumer },
          }),
        }
      : {}),
  };
}

/** What the stream monitor re-checks of a contract. */
export interface ContractState {
  readonly state: string;
  readonly uid: string;
  readonly notAfter?: string;
  /** The policy facts as they are now (the watch cache gives them), so the monitor re-decides on current rules. */
  readonly policy?: ContractGrant["policy"];
}

export function contractStateOf(c: ContractObj): ContractState {
  const notAfter = c.status?.validity?.notAfter;
  return { state: c.status?.state ?? "", uid: c.metadata.uid ?? "", ...(notAfter ? { notAfter } : {}) };
}

export class KubeGrantSource implements GrantSource {
  constructor(private readonly kube: KubeClient) {}

  async resolve(agreementId: string): Promise<ContractGrant | undefined> {
    const list = await this.kube.list<ContractObj & KubeObject>(kinds.dataContract, undefined, {
      labelSelector: `${AGREEMENT_LABEL}=${agreementId}`,
    });
    // The label only finds candidates; the status is what the operator decided.
    const contracts = list.items.filter((c) => c.status?.agreementId === agreementId);
    if (contracts.length !== 1) return undefined;
    const c = contracts[0];
    const offerRef = c?.spec.offerRef;
    const provider = offerRef && splitParticipantNamespace(offerRef.namespace);
    if (!c || !offerRef || !provider) return undefined;
    const consumer = splitParticipantNamespace(c.metadata.namespace);
    const [offer, participant, space, consumerObj] = await Promise.all([
      this.kube.find<OfferObj & KubeObject>(kinds.dataOffer, offerRef.name, offerRef.namespace),
      this.kube.find<Participant & KubeObject>(kinds.participant, provider.participant),
      this.kube.find<DataSpace & KubeObject>(kinds.dataSpace, provider.space),
      consumer
        ? this.kube.find<Participant & KubeObject>(kinds.participant, consumer.participant)
        : undefined,
    ]);
    return grantFrom(agreementId, c, offer, participant, { space, consumer: consumerObj });
  }

  async contractState(namespace: string, name: string): Promise<ContractState | undefined> {
    const c = await this.kube.find<ContractObj & KubeObject>(kinds.dataContract, name, namespace);
    return c ? contractStateOf(c) : undefined;
  }
}
