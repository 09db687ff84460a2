// The policy matrix: every rule of the engine, one case per row, each with
// the expected state and reason. The base case is agreed; each row changes
// one fact.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  agreementIdOf,
  decide,
  evaluateContract,
  unknownPolicyTerms,
  type LifecycleInput,
  type ParticipantFacts,
  type PolicyInput,
  type SpaceRules,
} from "./engine.ts";

const NOW = new Date("2026-06-01T00:00:00Z");

const space: SpaceRules = {
  homeRegion: "CN",
  recordExports: true,
  levels: [
    {
      name: "public",
      defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "Allowed" },
    },
    {
      name: "internal",
      defaultPolicy: {
        allowedAccessModes: ["download", "computeOnly"],
        crossBorderTransfer: "RequiresApproval",
      },
    },
    {
      name: "important",
      defaultPolicy: {
        allowedAccessModes: ["download", "computeOnly"],
        crossBorderTransfer: "Forbidden",
        maxContractDurationSeconds: 31_536_000,
      },
    },
    {
      name: "core",
      defaultPolicy: {
        allowedAccessModes: ["computeOnly"],
        crossBorderTransfer: "Forbidden",
        requireProviderApproval: true,
      },
    },
  ],
  negativeList: [
    { dataCategory: "geospatial.survey", reason: "Surveying data must not be exported" },
    { dataCategory: "industrial.process-parameters", destinationRegions: ["US"] },
  ],
};

const consumer: ParticipantFacts = {
  name: "wuhan-analytics",
  admitted: true,
  suspended: false,
  roles: ["consumer"],
  labels: { "tds.dev/industry": "analytics" },
  region: "CN-HB",
};
const provider: ParticipantFacts = {
  ...consumer,
  name: "shanghai-turbines",
  roles: ["provider"],
  labels: {},
};

const base: PolicyInput = {
  now: NOW,
  space,
  provider,
  consumer,
  offer: {
    name: "telemetry",
    classification: "public",
    dataCategory: "industrial.telemetry",
    policy: { purposes: ["research", "predictive-maintenance"], accessMode: "download" },
  },
  contract: { purpose: "research", createdAt: "2026-05-01T00:00:00Z" },
};

type Tweak = {
  offer?: Partial<PolicyInput["offer"]>;
  policy?: Record<string, unknown>;
  consumer?: Partial<ParticipantFacts> | null;
  provider?: Partial<ParticipantFacts>;
  contract?: Partial<PolicyInput["contract"]>;
  space?: Partial<SpaceRules>;
  lifecycle?: Partial<LifecycleInput>;
};

function input(t: Tweak): LifecycleInput {
  return {
    ...base,
    current: undefined,
    space: { ...space, ...t.space },
    consumer: t.consumer === null ? undefined : { ...consumer, ...t.consumer },
    provider: { ...provider, ...t.provider },
    offer: { ...base.offer, ...t.offer, policy: { ...base.offer.policy, ...t.policy } },
    contract: { ...base.contract, ...t.contract },
    ...t.lifecycle,
  };
}

const cases: { name: string; tweak: Tweak; state: string; reason: string }[] = [
  // The consumer.
  { name: "base case is agreed and active", tweak: {}, state: "Active", reason: "Active" },
  { name: "unknown consumer", tweak: { consumer: null }, state: "Rejected", reason: "ConsumerNotAdmitted" },
  {
    name: "consumer not admitted",
    tweak: { consumer: { admitted: false } },
    state: "Rejected",
    reason: "ConsumerNotAdmitted",
  },
  {
    name: "suspended consumer",
    tweak: { consumer: { suspended: true } },
    state: "Rejected",
    reason: "ConsumerSuspended",
  },
  {
    name: "provider-only participant",
    tweak: { consumer: { roles: ["provider"] } },
    state: "Rejected",
    reason: "ConsumerRoleMissing",
  },
  {
    name: "suspended provider",
    tweak: { provider: { suspended: true } },
    state: "Rejected",
    reason: "ProviderUnavailable",
  },
  // Unknown terms fail closed.
  {
    name: "unknown top-level term",
    tweak: { policy: { maxDownloadsPerDay: 3 } },
    state: "Rejected",
    reason: "UnknownPolicyTerm",
  },
  {
    name: "unknown nested term",
    tweak: { policy: { allowedConsumers: { participants: ["wuhan-analytics"], attestation: "x" } } },
    state: "Rejected",
    reason: "UnknownPolicyTerm",
  },
  {
    name: "unknown selector operator",
    tweak: { policy: { allowedConsumers: { participantSelector: { matchExpressions: [] } } } },
    state: "Rejected",
    reason: "UnknownPolicyTerm",
  },
  {
    name: "unknown access mode",
    tweak: { policy: { accessMode: "stream" } },
    state: "Rejected",
    reason: "UnknownPolicyTerm",
  },
  {
    name: "unknown approval mode",
    tweak: { policy: { contractApproval: "Vote" } },
    state: "Rejected",
    reason: "UnknownPolicyTerm",
  },
  {
    name: "unknown cross-border rule on the level",
    tweak: {
      space: {
        levels: [
          {
            name: "public",
            defaultPolicy: { allowedAccessModes: ["download"], crossBorderTransfer: "Sometimes" },
          },
        ],
      },
    },
    state: "Rejected",
    reason: "UnknownPolicyTerm",
  },
  {
    name: "unknown classification",
    tweak: { offer: { classification: "secret" } },
    state: "Rejected",
    reason: "UnknownClassification",
  },
  // Purpose.
  {
    name: "purpose not permitted",
    tweak: { contract: { purpose: "marketing" } },
    state: "Rejected",
    reason: "PurposeNotPermitted",
  },
  {
    name: "second listed purpose",
    tweak: { contract: { purpose: "predictive-maintenance" } },
    state: "Active",
    reason: "Active",
  },
  // Who may use it: name, attribute, region.
  {
    name: "consumer named",
    tweak: { policy: { allowedConsumers: { participants: ["wuhan-analytics"] } } },
    state: "Active",
    reason: "Active",
  },
  {
    name: "consumer not named",
    tweak: { policy: { allowedConsumers: { participants: ["someone-else"] } } },
    state: "Rejected",
    reason: "ConsumerNotAllowed",
  },
  {
    name: "consumer matches the industry attribute",
    tweak: {
      policy: {
        allowedConsumers: { participantSelector: { matchLabels: { "tds.dev/industry": "analytics" } } },
      },
    },
    state: "Active",
    reason: "Active",
  },
  {
    name: "consumer lacks the industry attribute",
    tweak: {
      policy: { allowedConsumers: { participantSelector: { matchLabels: { "tds.dev/industry": "steel" } } } },
    },
    state: "Rejected",
    reason: "ConsumerNotAllowed",
  },
  {
    name: "named though not matching the selector",
    tweak: {
      policy: {
        allowedConsumers: {
          participants: ["wuhan-analytics"],
          participantSelector: { matchLabels: { x: "y" } },
        },
      },
    },
    state: "Active",
    reason: "Active",
  },
  {
    name: "region allowed by country",
    tweak: { policy: { allowedRegions: ["CN"] } },
    state: "Active",
    reason: "Active",
  },
  {
    name: "region allowed exactly",
    tweak: { policy: { allowedRegions: ["CN-HB"] } },
    state: "Active",
    reason: "Active",
  },
  {
    name: "region not allowed",
    tweak: { policy: { allowedRegions: ["CN-SH"] } },
    state: "Rejected",
    reason: "RegionNotAllowed",
  },
  // Classification.
  {
    name: "core offer asking for download",
    tweak: { offer: { classification: "core" } },
    state: "Rejected",
    reason: "AccessModeNotAllowed",
  },
  {
    name: "core compute-only needs the provider's approval",
    tweak: { offer: { classification: "core" }, policy: { accessMode: "computeOnly" } },
    state: "Requested",
    reason: "AwaitingProviderApproval",
  },
  {
    name: "core compute-only approved",
    tweak: {
      offer: { classification: "core" },
      policy: { accessMode: "computeOnly" },
      contract: { providerDecision: "approve" },
    },
    state: "Active",
    reason: "Active",
  },
  // Cross-border: negative list and classification.
  {
    name: "negative list, every destination",
    tweak: { offer: { dataCategory: "geospatial.survey" }, consumer: { region: "DE-BY" } },
    state: "Rejected",
    reason: "ExportNegativeListed",
  },
  {
    name: "negative list, listed destination",
    tweak: { offer: { dataCategory: "industrial.process-parameters" }, consumer: { region: "US-CA" } },
    state: "Rejected",
    reason: "ExportNegativeListed",
  },
  {
    name: "negative list, other destination, public level: export recorded",
    tweak: { offer: { dataCategory: "industrial.process-parameters" }, consumer: { region: "DE" } },
    state: "Active",
    reason: "Active",
  },
  {
    name: "negative-listed category inside the home region",
    tweak: { offer: { dataCategory: "geospatial.survey" } },
    state: "Active",
    reason: "Active",
  },
  {
    name: "important level abroad",
    tweak: { offer: { classification: "important" }, consumer: { region: "DE-BY" } },
    state: "Rejected",
    reason: "CrossBorderForbidden",
  },
  {
    name: "internal level abroad awaits the space operator",
    tweak: { offer: { classification: "internal" }, consumer: { region: "DE-BY" } },
    state: "Requested",
    reason: "AwaitingExportApproval",
  },
  {
    name: "internal level abroad, export approved",
    tweak: {
      offer: { classification: "internal" },
      consumer: { region: "DE-BY" },
      contract: { exportDecision: "approve" },
    },
    state: "Active",
    reason: "Active",
  },
  {
    name: "internal level abroad, export rejected",
    tweak: {
      offer: { classification: "internal" },
      consumer: { region: "DE-BY" },
      contract: { exportDecision: "reject" },
    },
    state: "Rejected",
    reason: "ExportApprovalRejected",
  },
  {
    name: "offer limits regions, consumer abroad",
    tweak: { policy: { allowedRegions: ["CN"] }, consumer: { region: "DE-BY" } },
    state: "Rejected",
    reason: "RegionNotAllowed",
  },
  // Validity.
  {
    name: "requested window inside the offer's",
    tweak: {
      policy: { validity: { notBefore: "2026-01-01T00:00:00Z", notAfter: "2027-01-01T00:00:00Z" } },
      contract: {
        requestedValidity: { notBefore: "2026-02-01T00:00:00Z", notAfter: "2026-12-01T00:00:00Z" },
      },
    },
    state: "Active",
    reason: "Active",
  },
  {
    name: "requested end after the offer's",
    tweak: {
      policy: { validity: { notAfter: "2026-12-01T00:00:00Z" } },
      contract: { requestedValidity: { notAfter: "2027-02-01T00:00:00Z" } },
    },
    state: "Rejected",
    reason: "ValidityOutsideOfferWindow",
  },
  {
    name: "requested start before the offer's",
    tweak: {
      policy: { validity: { notBefore: "2026-03-01T00:00:00Z" } },
      contract: {
        requestedValidity: { notBefore: "2026-02-01T00:00:00Z", notAfter: "2026-12-01T00:00:00Z" },
      },
    },
    state: "Rejected",
    reason: "ValidityOutsideOfferWindow",
  },
  {
    name: "window in the future is agreed, not active",
    tweak: {
      contract: {
        requestedValidity: { notBefore: "2026-09-01T00:00:00Z", notAfter: "2026-12-01T00:00:00Z" },
      },
    },
    state: "Agreed",
    reason: "NotYetValid",
  },
  {
    name: "window already over",
    tweak: {
      contract: {
        requestedValidity: { notBefore: "2026-01-01T00:00:00Z", notAfter: "2026-02-01T00:00:00Z" },
      },
    },
    state: "Rejected",
    reason: "ValidityEnded",
  },
  {
    name: "longer than the level allows",
    tweak: {
      offer: { classification: "important" },
      contract: {
        requestedValidity: { notBefore: "2026-05-01T00:00:00Z", notAfter: "2028-05-01T00:00:00Z" },
      },
    },
    state: "Rejected",
    reason: "ValidityExceedsClassMaximum",
  },
  {
    name: "more accesses than the offer allows",
    tweak: { policy: { maxAccesses: 10 }, contract: { requestedAccesses: 11 } },
    state: "Rejected",
    reason: "AccessesExceedOfferMaximum",
  },
  // Approval.
  {
    name: "manual approval pending",
    tweak: { policy: { contractApproval: "Manual" } },
    state: "Requested",
    reason: "AwaitingProviderApproval",
  },
  {
    name: "manual approval granted",
    tweak: { policy: { contractApproval: "Manual" }, contract: { providerDecision: "approve" } },
    state: "Active",
    reason: "Active",
  },
  {
    name: "manual approval refused",
    tweak: { policy: { contractApproval: "Manual" }, contract: { providerDecision: "reject" } },
    state: "Rejected",
    reason: "ProviderRejected",
  },
  {
    name: "garbled decision is not approval",
    tweak: { policy: { contractApproval: "Manual" }, contract: { providerDecision: "yes" } },
    state: "Requested",
    reason: "UnrecognisedDecision",
  },
  {
    name: "approval never overrides a rule",
    tweak: {
      policy: { contractApproval: "Manual" },
      contract: { purpose: "marketing", providerDecision: "approve" },
    },
    state: "Rejected",
    reason: "PurposeNotPermitted",
  },
  // Lifecycle: revocation, expiry, terminal states.
  {
    name: "revocation of an active contract",
    tweak: { lifecycle: { current: "Active", revoke: "Misuse reported" } },
    state: "Revoked",
    reason: "Revoked",
  },
  {
    name: "revocation with an empty reason",
    tweak: { lifecycle: { current: "Agreed", revoke: "" } },
    state: "Revoked",
    reason: "Revoked",
  },
  {
    name: "active contract expires at notAfter",
    tweak: {
      lifecycle: {
        current: "Active",
        agreed: { notBefore: "2026-01-01T00:00:00Z", notAfter: "2026-06-01T00:00:00Z" },
      },
    },
    state: "Expired",
    reason: "ValidityEnded",
  },
  {
    name: "agreed contract becomes active at notBefore",
    tweak: {
      lifecycle: {
        current: "Agreed",
        agreed: { notBefore: "2026-06-01T00:00:00Z", notAfter: "2026-07-01T00:00:00Z" },
      },
    },
    state: "Active",
    reason: "Active",
  },
  {
    name: "accesses used up",
    tweak: {
      lifecycle: {
        current: "Active",
        agreed: { notBefore: "2026-01-01T00:00:00Z" },
        accesses: 5,
        accessLimit: 5,
      },
    },
    state: "Expired",
    reason: "AccessesExhausted",
  },
  {
    name: "an agreement survives a later policy change",
    tweak: {
      contract: { purpose: "marketing" },
      lifecycle: { current: "Active", agreed: { notBefore: "2026-01-01T00:00:00Z" } },
    },
    state: "Active",
    reason: "Active",
  },
  {
    name: "rejected stays rejected",
    tweak: { lifecycle: { current: "Rejected" } },
    state: "Rejected",
    reason: "Rejected",
  },
  {
    name: "expired stays expired, even when revoked",
    tweak: { lifecycle: { current: "Expired", revoke: "late" } },
    state: "Expired",
    reason: "Expired",
  },
  {
    name: "revoked stays revoked",
    tweak: { lifecycle: { current: "Revoked" } },
    state: "Revoked",
    reason: "Revoked",
  },
];

for (const c of cases) {
  test(`policy: ${c.name} → ${c.state} (${c.reason})`, () => {
    const out = evaluateContract(input(c.tweak));
    assert.equal(out.state, c.state, out.message);
    assert.equal(out.reason, c.reason, out.message);
    assert.ok(out.message.length > 0);
  });
}

test("the same facts give the same decision, message and trail", () => {
  const a = decide(input({ offer: { classification: "internal" }, consumer: { region: "DE-BY" } }));
  const b = decide(input({ offer: { classification: "internal" }, consumer: { region: "DE-BY" } }));
  assert.deepEqual(a, b);
});

test("a decision explains itself: the trail lists every rule that held and the one that failed", () => {
  const d = decide(input({ policy: { allowedRegions: ["CN-SH"] } }));
  assert.equal(d.kind, "reject");
  const rules = d.checks.map((c) => `${c.rule}:${String(c.passed)}`);
  assert.deepEqual(rules, [
    "ConsumerAdmitted:true",
    "ProviderAvailable:true",
    "PolicyUnderstood:true",
    "PurposePermitted:true",
    "ConsumerAllowed:true",
    "RegionNotAllowed:false",
  ]);
  assert.match(d.message, /CN-HB.*CN-SH/);
});

test("a cross-border agreement is flagged as an export; a domestic one is not", () => {
  const abroad = decide(input({ consumer: { region: "DE" } }));
  assert.ok(abroad.kind === "agree" && abroad.crossBorderExport);
  const home = decide(input({}));
  assert.equal(home.kind === "agree" && home.crossBorderExport, false);
});

test("the agreed window: requested, else the offer's, capped by the level's maximum", () => {
  const d = decide(input({ offer: { classification: "important" } }));
  assert.ok(d.kind === "agree", d.message);
  assert.equal(d.validity.notBefore, "2026-05-01T00:00:00Z");
  assert.equal(d.validity.notAfter, "2027-05-01T00:00:00Z");
  const open = decide(input({}));
  assert.ok(open.kind === "agree" && open.validity.notAfter === undefined);
  // No requested end and an offer that runs longer than the level allows: the level's maximum,
  // not a rejection (the samples ask for no dates, so they stay valid whatever the day).
  const longOffer = decide(
    input({
      offer: { classification: "important" },
      policy: { validity: { notBefore: "2026-01-01T00:00:00Z", notAfter: "2031-01-01T00:00:00Z" } },
    }),
  );
  assert.ok(longOffer.kind === "agree", longOffer.message);
  assert.equal(longOffer.validity.notAfter, "2027-05-01T00:00:00Z");
  // The offer's end, when it comes first.
  const shortOffer = decide(
    input({
      offer: { classification: "important" },
      policy: { validity: { notAfter: "2026-09-01T00:00:00Z" } },
    }),
  );
  assert.ok(shortOffer.kind === "agree" && shortOffer.validity.notAfter === "2026-09-01T00:00:00Z");
});

test("unknown terms are listed by path", () => {
  assert.deepEqual(
    unknownPolicyTerms({
      purposes: ["x"],
      geoFence: true,
      validity: { notAfter: "x", timezone: "UTC" },
      accessMode: "computeOnly",
    }),
    ["geoFence", "validity.timezone"],
  );
});

test("the agreement id is derived from the uid and is a valid label value", () => {
  const id = agreementIdOf("0b9c6a1e-3f3c-4b8e-9d51-6f1f0f5a2c11");
  assert.equal(id, "agr-0b9c6a1e3f3c4b8e9d516f1f0f5a2c11");
  assert.ok(id.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(id));
});
