// The facts the policy engine reads, built from the API objects: the space's
// rules from a DataSpace and a participant's standing from a Participant.
// Shared by the operator (contract decisions) and the gateway (the check at
// every access), so both judge by the same facts.
import { DEFAULT_CLASSIFICATION_LEVELS, type DataSpace } from "../dataspace.types.ts";
import type { Participant } from "../participant.types.ts";
import type { Freeze, ParticipantFacts, SpaceRules } from "./engine.ts";

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
