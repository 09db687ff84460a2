// The consent rule: personal data is used only under a data subject's
// consent for the scenario (依场景授权许可). A consent names the offer, one
// purpose, the consumer (one participant, or a class of them by labels) and a
// time window, and can be revoked. Pure: the consents are records of the
// dashboard API (PostgreSQL, docs/governance.md "Personal data under
// consent"); the operator reads them over the API, the gateway from its
// consent index, and both judge them here.
import type { ParticipantFacts } from "./engine.ts";

/** A data subject's consent as the engine sees it: what it allows, not who gave it. */
export interface ConsentFacts {
  readonly id: string;
  readonly purpose: string;
  /** The consumer it allows: one participant by name, or every participant whose labels match. */
  readonly consumer:
    | { readonly participant: string }
    | { readonly participantSelector: { readonly matchLabels: Readonly<Record<string, string>> } };
  /** RFC 3339; the consent is in force from notBefore (inclusive) to notAfter (exclusive). */
  readonly notBefore: string;
  readonly notAfter: string;
  /** When it was revoked, if it was. */
  readonly revokedAt?: string;
}

/** The rules a consent decides by. A suspension by one of them lifts when a matching consent is in force again. */
export const CONSENT_RULES: readonly string[] = [
  "ConsentMissing",
  "ConsentRevoked",
  "ConsentExpired",
  "ConsentNotYetValid",
];

/** The rule when the consents could not be read: a contract waits, an agreed one is left as it is. */
export const CONSENT_UNVERIFIED = "ConsentUnverified";

/** Whether using the offer needs a data subject's consent: it holds personal data, or the space is Personal. */
export function consentRequired(
  space: { readonly spaceType?: string },
  offer: { readonly personalData?: boolean },
): boolean {
  return offer.personalData === true || space.spaceType === "Personal";
}

/** Whether a consent names this consumer, or a class of consumers it belongs to. */
export function consentCovers(c: ConsentFacts, consumer: ParticipantFacts): boolean {
  if ("participant" in c.consumer) return c.consumer.participant === consumer.name;
  const match = Object.entries(c.consumer.participantSelector.matchLabels);
  return match.length > 0 && match.every(([k, v]) => consumer.labels[k] === v);
}

export type ConsentVerdict =
  | {
      readonly passed: true;
      readonly rule: "ConsentGiven";
      readonly consent: string;
      readonly message: string;
    }
  | { readonly passed: false; readonly rule: string; readonly message: string };

const at = (s: string): number => {
  const t = Date.parse(s);
  return Number.isNaN(t) ? NaN : t;
};

/**
 * The consent that allows this use now, or why none does. Of the consents
 * for this purpose that cover the consumer: one in force decides (the one
 * that runs longest, then the smallest id, so the answer is deterministic);
 * failing that, the reason names the latest that lapsed, revoked before
 * expired before not yet valid; with none at all, ConsentMissing.
 */
export function consentRule(
  consents: readonly ConsentFacts[] | undefined,
  offer: string,
  purpose: string,
  consumer: ParticipantFacts,
  now: Date,
): ConsentVerdict {
  if (consents === undefined)
    return {
      passed: false,
      rule: CONSENT_UNVERIFIED,
      message: `Offer ${offer} holds personal data and its data subjects' consents could not be read`,
    };
  const t = now.getTime();
  const matching = consents.filter((c) => c.purpose === purpose && consentCovers(c, consumer));
  const order = (a: ConsentFacts, b: ConsentFacts) =>
    at(b.notAfter) - at(a.notAfter) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const inForce = matching
    .filter((c) => c.revokedAt === undefined && at(c.notBefore) <= t && t < at(c.notAfter))
    .sort(order)[0];
  if (inForce)
    return {
      passed: true,
      rule: "ConsentGiven",
      consent: inForce.id,
      message: `Consent ${inForce.id} allows ${purpose} by ${consumer.name} until ${inForce.notAfter}`,
    };
  const revoked = matching
    .filter((c) => c.revokedAt !== undefined)
    .sort((a, b) => at(b.revokedAt ?? "") - at(a.revokedAt ?? "") || order(a, b))[0];
  if (revoked)
    return {
      passed: false,
      rule: "ConsentRevoked",
      message: `Consent ${revoked.id} for ${purpose} by ${consumer.name} was revoked at ${revoked.revokedAt ?? ""}`,
    };
  const ended = matching.filter((c) => at(c.notAfter) <= t).sort(order)[0];
  if (ended)
    return {
      passed: false,
      rule: "ConsentExpired",
      message: `Consent ${ended.id} for ${purpose} by ${consumer.name} ended at ${ended.notAfter}`,
    };
  const future = matching.sort((a, b) => at(a.notBefore) - at(b.notBefore) || order(a, b))[0];
  if (future)
    return {
      passed: false,
      rule: "ConsentNotYetValid",
      message: `Consent ${future.id} for ${purpose} by ${consumer.name} is in force only from ${future.notBefore}`,
    };
  return {
    passed: false,
    rule: "ConsentMissing",
    message: `Offer ${offer} holds personal data and no consent of its data subject allows ${purpose} by ${consumer.name}`,
  };
}
