// A data subject's consent as the API answers it (GET
// /v1/spaces/{space}/consents, POST …/consents, …/consents/{id}/revoke), and
// as the operator reads the consents of an offer for a contract decision
// (ApiClient.offerConsents). docs/governance.md "Personal data under consent".
import { Type, type Static } from "@sinclair/typebox";
import { DNS1123_LABEL, DNS1123_SUBDOMAIN, TOKEN } from "@tds/crds";
import type { ConsentFacts } from "@tds/crds/policy";
import { RFC3339 } from "./catalog.ts";

/** A consent's id: cst- and 32 lowercase hex digits. */
export const CONSENT_ID = "^cst-[0-9a-f]{32}$";

export const ConsentConsumerSchema = Type.Union(
  [
    Type.Object(
      { participant: Type.String({ pattern: DNS1123_LABEL, maxLength: 59, description: "One consumer" }) },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        participantSelector: Type.Object(
          {
            matchLabels: Type.Record(
              Type.String({ minLength: 1, maxLength: 317 }),
              Type.String({ maxLength: 63 }),
              {
                minProperties: 1,
                maxProperties: 16,
                description: "A class of consumers: the labels a Participant must carry, all of them",
              },
            ),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
  ],
  { description: "The consumer the consent allows: one participant, or a class of them by labels" },
);

export const ConsentValiditySchema = Type.Object(
  {
    notBefore: Type.String({ pattern: RFC3339, description: "In force from (inclusive)" }),
    notAfter: Type.String({ pattern: RFC3339, description: "In force until (exclusive)" }),
  },
  { additionalProperties: false },
);

const recorded = Type.Object({
  eventId: Type.String(),
  leafIndex: Type.Integer({ minimum: 0 }),
});

export const ConsentSchema = Type.Object({
  id: Type.String({ pattern: CONSENT_ID }),
  space: Type.String(),
  /** Shown to the subject, the holder, administrators and compliance reviewers; not to the operator or auditors. */
  subject: Type.Optional(Type.String({ description: "The data subject (shown to those who act on it)" })),
  holder: Type.String({ description: "The participant that holds the subject's data: the offer's provider" }),
  offer: Type.Object({
    namespace: Type.String({ pattern: DNS1123_LABEL }),
    name: Type.String({ pattern: DNS1123_SUBDOMAIN }),
  }),
  purpose: Type.String({ pattern: TOKEN }),
  consumer: ConsentConsumerSchema,
  validity: ConsentValiditySchema,
  givenAs: Type.Union([Type.Literal("data-subject"), Type.Literal("participant")], {
    description: "Who recorded it: the subject itself, or the holder as the subject's agent",
  }),
  givenAt: Type.String({ pattern: RFC3339 }),
  state: Type.Union(
    [Type.Literal("Recording"), Type.Literal("Granted"), Type.Literal("Revoked"), Type.Literal("Expired")],
    {
      description:
        "Recording: its grant is not in the evidence log yet, so it allows nothing; Granted: in force or to come; " +
        "Revoked; Expired: its window is over",
    },
  ),
  revocation: Type.Optional(
    Type.Object({
      revokedAt: Type.String({ pattern: RFC3339 }),
      revokedAs: Type.String({ description: "The role of who revoked it" }),
      reason: Type.Optional(Type.String()),
    }),
  ),
  evidence: Type.Object({
    granted: Type.Optional(recorded),
    revoked: Type.Optional(recorded),
  }),
});
export type Consent = Static<typeof ConsentSchema>;

export const ConsentListSchema = Type.Object({
  items: Type.Array(ConsentSchema),
  /** More consents matched than the limit; those in force come first. */
  truncated: Type.Boolean(),
});
export type ConsentList = Static<typeof ConsentListSchema>;

/**
 * What the policy engine judges of a consent. One still being recorded (its
 * grant not yet in the evidence log) allows nothing, so it is left out.
 */
export function consentFactsOf(consents: readonly Consent[]): ConsentFacts[] {
  return consents
    .filter((c) => c.state !== "Recording")
    .map((c) => ({
      id: c.id,
      purpose: c.purpose,
      consumer: c.consumer,
      notBefore: c.validity.notBefore,
      notAfter: c.validity.notAfter,
      ...(c.revocation ? { revokedAt: c.revocation.revokedAt } : {}),
    }));
}
