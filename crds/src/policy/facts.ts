// The facts the policy engine reads, built from the API objects: the space's
// rules from a DataSpace, a participant's standing from a Participant, and a
// contract's facts from the DataContract, its offer, space and parties.
// Shared by the operator (contract decisions) and the gateway (the check at
// every access), so both judge by the same facts.
import type { DataContract } from "../datacontract.types.ts";
import type { DataOffer } from "../dataoffer.types.ts";
import { DEFAULT_CLASSIFICATION_LEVELS, type DataSpace } from "../dataspace.types.ts";
import { DECISION_ANNOTATION, EXPORT_DECISION_ANNOTATION, REINSTATE_ANNOTATION } from "../labels.ts";
import type { Participant } from "../participant.types.ts";
import type { Freeze, ParticipantFacts, SpaceRules, SupervisedInput } from "./engine.ts";

interface Meta {
  readonly metadata: { readonly labels?: Readonly<Record<string, string>> };
}

export function spaceRules(space: DataSpace): SpaceRules {
  const levels = space.spec.classification?.levels ?? DEFAULT_CLASSIFICATION_LEVELS;
  return {
    homeRegion: space.spec.crossBorder.homeRegion,
    levels: levels.map((l) => ({
      name: l.name,
      rank: l.rank,
      defaultPolicy: {
        allowedAccessModes: [...l.defaultPolicy.allowedAccessModes],
        ...(l.defaultPolicy.crossBorderTransfer
          ? { crossBorderTransfer: l.defaultPolicy.crossBorderTransfer }
          : {}),
        ...("maxContractDurationSeconds" in l.defaultPolicy &&
        l.defaultPolicy.maxContractDurationSeconds !== undefined
          ? { maxContractDurationSeconds: l.defaultPolicy.maxContractDurationSeconds }
          : {}),
        ...("requireProviderApproval" in l.defaultPolicy &&
        l.defaultPolicy.requireProviderApproval !== undefined
          ? { requireProviderApproval: l.defaultPolicy.requireProviderApproval }
          : {}),
      },
    })),
    negativeList: (space.spec.crossBorder.negativeList ?? []).map((e) => ({
      dataCategory: e.dataCategory,
      ...(e.destinationRegions ? { destinationRegions: [...e.destinationRegions] } : {}),
      ...(e.reason ? { reason: e.reason } : {}),
    })),
    recordExports: space.spec.crossBorder.recordExports ?? true,
    currency: space.spec.metering.currency,
    spaceType: space.spec.spaceType ?? "Industry",
    ...(space.spec.freeze ? { freeze: freezeOf(space.spec.freeze) } : {}),
  };
}

function freezeOf(f: NonNullable<DataSpace["spec"]["freeze"]>): Freeze {
  return {
    reason: f.reason,
    ...(f.incident ? { incident: f.incident } : {}),
    ...(f.participants ? { participants: [...f.participants] } : {}),
  };
}

export function participantFacts(
  p: (Participant & Meta) | undefined,
  name: string,
): ParticipantFacts | undefined {
  if (!p) return undefined;
  const phase = p.status?.phase;
  return {
    name,
    admitted: phase === "Active" || phase === "Suspended",
    suspended: p.spec.suspended === true || phase === "Suspended",
    roles: [...p.spec.roles],
    labels: { ...(p.metadata.labels ?? {}) },
    region: p.spec.organization.region,
    ...verified(p),
  };
}

/** The country (C=) of a distinguished name such as CN=acme,O=Acme Ltd,C=DE, upper-cased. */
export function subjectCountry(subject: string): string | undefined {
  const m = /(?:^|[,/+]\s*)C\s*=\s*([A-Za-z]{2})\s*(?:[,/+]|$)/.exec(subject);
  return m?.[1]?.toUpperCase();
}

/**
 * The verified region: the country of the participant's certificate subject,
 * when a certificate with that subject is vouched for, by the space CA (the
 * operator issued it: status.certificate) or by a named trust anchor
 * (issuedBy; the gateway's door accepts only that anchor's certificates with
 * exactly that subject). OIDC and DID identities carry no region: declared only.
 */
function verified(p: Participant): { verifiedRegion?: string } {
  const cert = p.spec.identity.certificate;
  if (!cert) return {};
  const vouched = cert.issuedBy !== undefined || p.status?.certificate?.serial !== undefined;
  const country = vouched ? subjectCountry(cert.subject) : undefined;
  return country === undefined ? {} : { verifiedRegion: country };
}

/** A party to a contract: its name (from the contract's and the offer's namespaces) and its Participant, if the space has it. */
export interface ContractParty {
  readonly name: string;
  readonly participant: (Participant & Meta) | undefined;
}

/** What a contract's own objects say; the caller adds the clock, the revocation and the access counts. */
export type ContractPolicyFacts = Omit<SupervisedInput, "now" | "revoke" | "accesses" | "accessLimit">;

/**
 * The engine's facts about a DataContract: its request and the parties'
 * annotations, the offer, the space's rules and both participants' standing,
 * the agreed window and the suspension. The operator decides and supervises the
 * contract on them; the gateway re-checks an agreed contract on them at every
 * access (reassess). A contract the API server has not stamped has no
 * creationTimestamp: the engine then starts its validity at `now`.
 */
export function contractPolicyFacts(
  c: DataContract,
  offer: DataOffer,
  space: DataSpace,
  parties: { readonly provider: ContractParty; readonly consumer: ContractParty },
): ContractPolicyFacts {
  const a = c.metadata.annotations ?? {};
  const providerDecision = a[DECISION_ANNOTATION];
  const exportDecision = a[EXPORT_DECISION_ANNOTATION];
  const reinstate = a[REINSTATE_ANNOTATION];
  return {
    space: spaceRules(space),
    offer: {
      name: offer.metadata.name ?? "",
      classification: offer.spec.classification,
      dataCategory: offer.spec.dataCategory,
      personalData: offer.spec.personalData === true,
      policy: offer.spec.policy,
    },
    provider: participantFacts(parties.provider.participant, parties.provider.name),
    consumer: participantFacts(parties.consumer.participant, parties.consumer.name),
    contract: {
      purpose: c.spec.purpose,
      ...(c.spec.requestedValidity ? { requestedValidity: c.spec.requestedValidity } : {}),
      ...(c.spec.requestedAccesses === undefined ? {} : { requestedAccesses: c.spec.requestedAccesses }),
      createdAt: c.metadata.creationTimestamp ?? "",
      ...(providerDecision === undefined ? {} : { providerDecision }),
      ...(exportDecision === undefined ? {} : { exportDecision }),
    },
    current: c.status?.state,
    ...(c.status?.validity ? { agreed: c.status.validity } : {}),
    ...(reinstate === undefined ? {} : { reinstate }),
    ...(c.status?.suspension ? { suspendedBy: c.status.suspension.rule } : {}),
  };
}
