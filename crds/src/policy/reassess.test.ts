// The check at every access and the supervision of agreed contracts: an
// agreed contract is re-decided against the rules as they are now; one the
// rules no longer allow is Suspended with the failing rule, and comes back
// only when the rules allow it and the provider asks.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decide,
  destinationsOf,
  exportRule,
  frozenBy,
  reassess,
  superviseContract,
  type SupervisedInput,
  type SpaceRules,
} from "./engine.ts";
import { subjectCountry } from "./facts.ts";

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
  ],
  negativeList: [],
};
const internal = {
  name: "internal",
  defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "RequiresApproval" },
};
const consumer = {
  admitted: true,
  suspended: false,
  labels: {},
  region: "DE",
  name: "c",
  roles: ["consumer"],
};
const participant = {
  admitted: true,
  suspended: false,
  labels: {},
  region: "DE",
};
const base: SupervisedInput = {
  now: NOW,
  space,
  offer: {
    name: "telemetry",
    classification: "public",
    dataCategory: "industrial.telemetry",
    policy: { purposes: ["research"], accessMode: "download", contractApproval: "Manual" },
  },
  provider: { ...participant, name: "p", roles: ["provider"], region: "CN-SH" },
  consumer,
  contract: { purpose: "research", createdAt: "2026-05-01T00:00:00Z" },
  current: "Active",
  agreed: { notBefore: "2026-05-01T00:00:00Z", notAfter: "2026-12-01T00:00:00Z" },
};
const negativeListed: Partial<SpaceRules> = {
  negativeList: [
    { dataCategory: "industrial.telemetry", destinationRegions: ["DE"], reason: "export control" },
  ],
};
const with_ = (space2: Partial<SpaceRules>, more: Partial<SupervisedInput> = {}): SupervisedInput => ({
  ...base,
  space: { ...space, ...space2 },
  ...more,
});

test("reassess: an agreed contract under unchanged rules is lawful, the provider's approval taken as given", () => {
  const v = reassess(base);
  assert.ok(v.lawful, v.lawful ? "" : v.message);
  assert.ok(v.checks.some((c) => c.rule === "CrossBorderAllowed" && c.passed));
});

const cases: { name: string; input: SupervisedInput; rule: string }[] = [
  {
    name: "a negative-list entry added for the destination",
    input: with_(negativeListed),
    rule: "ExportNegativeListed",
  },
  {
    name: "the level tightened to Forbidden",
    input: with_({
      levels: [
        {
          name: "public",
          defaultPolicy: { allowedAccessModes: ["download"], crossBorderTransfer: "Forbidden" },
        },
      ],
    }),
    rule: "CrossBorderForbidden",
  },
  {
    name: "the level no longer allows downloads",
    input: with_({
      levels: [
        {
          name: "public",
          defaultPolicy: { allowedAccessModes: ["computeOnly"], crossBorderTransfer: "Allowed" },
        },
      ],
    }),
    rule: "AccessModeNotAllowed",
  },
  {
    name: "the offer's level removed from the space",
    input: with_({ levels: [internal] }),
    rule: "UnknownClassification",
  },
  {
    name: "the consumer suspended",
    input: { ...base, consumer: { ...consumer, suspended: true } },
    rule: "ConsumerSuspended",
  },
  {
    name: "the consumer no longer a member",
    input: { ...base, consumer: undefined },
    rule: "ConsumerNotAdmitted",
  },
  {
    name: "the purpose withdrawn from the offer",
    input: { ...base, offer: { ...base.offer, policy: { ...base.offer.policy, purposes: ["audit"] } } },
    rule: "PurposeNotPermitted",
  },
  {
    name: "the consumer's region no longer allowed",
    input: { ...base, offer: { ...base.offer, policy: { ...base.offer.policy, allowedRegions: ["CN"] } } },
    rule: "RegionNotAllowed",
  },
  {
    name: "the agreed window over",
    input: { ...base, now: new Date("2026-12-01T00:00:00Z") },
    rule: "ValidityEnded",
  },
  {
    name: "the accesses used up",
    input: { ...base, accesses: 3, accessLimit: 3 },
    rule: "AccessesExhausted",
  },
];
for (const c of cases) {
  test(`reassess: ${c.name} → ${c.rule}`, () => {
    const v = reassess(c.input);
    assert.ok(!v.lawful, "lawful");
    assert.equal(v.rule, c.rule);
    assert.ok(v.message.length > 0);
  });
}

test("reassess: a level that now needs export approval holds a contract without one, not one with it", () => {
  const level = { levels: [{ ...internal, name: "public" }] };
  const v = reassess(with_(level));
  assert.ok(!v.lawful && v.rule === "AwaitingExportApproval");
  const approved = reassess(with_(level, { contract: { ...base.contract, exportDecision: "approve" } }));
  assert.ok(approved.lawful);
});

test("supervise: a rule change suspends an Active contract with the failing rule", () => {
  const out = superviseContract(with_(negativeListed));
  assert.equal(out.state, "Suspended");
  assert.equal(out.reason, "ExportNegativeListed");
  assert.match(out.message, /export control/);
});

test("supervise: expiry and revocation still win over a suspension", () => {
  assert.equal(superviseContract(with_(negativeListed, { revoke: "gone" })).state, "Revoked");
  const late = superviseContract(with_(negativeListed, { now: new Date("2027-01-01T00:00:00Z") }));
  assert.equal(late.state, "Expired");
  const suspendedLate = superviseContract({
    ...base,
    current: "Suspended",
    now: new Date("2027-01-01T00:00:00Z"),
  });
  assert.equal(suspendedLate.state, "Expired");
  assert.equal(superviseContract({ ...base, current: "Suspended", revoke: "no" }).state, "Revoked");
});

test("supervise: a restored rule does not reopen access by itself; the provider's reinstatement does", () => {
  const waiting = superviseContract({ ...base, current: "Suspended" });
  assert.equal(waiting.state, "Suspended");
  assert.equal(waiting.reason, "AwaitingReinstatement");
  const back = superviseContract({ ...base, current: "Suspended", reinstate: "rule restored" });
  assert.equal(back.state, "Active");
  assert.equal(back.reason, "Reinstated");
  const refused = superviseContract({ ...with_(negativeListed), current: "Suspended", reinstate: "please" });
  assert.equal(refused.state, "Suspended");
  assert.equal(refused.reason, "ExportNegativeListed");
});

test("supervise: requested and terminal contracts are the lifecycle's alone", () => {
  assert.equal(superviseContract({ ...base, current: "Revoked" }).state, "Revoked");
  const fresh = superviseContract({ ...with_(negativeListed), current: undefined });
  assert.equal(fresh.state, "Rejected");
  assert.equal(fresh.reason, "ExportNegativeListed");
});

test("destinations: the verified region, and the declared one when it names another place", () => {
  assert.deepEqual(destinationsOf({ ...consumer, region: "DE-BY", verifiedRegion: "DE" }), ["DE-BY"]);
  assert.deepEqual(destinationsOf({ ...consumer, region: "CN-SH", verifiedRegion: "DE" }), ["DE", "CN-SH"]);
  assert.deepEqual(destinationsOf({ ...consumer, region: "CN-SH" }), ["CN-SH"]);
  // A consumer declaring a home region but certified abroad is judged abroad.
  const d = decide({
    ...base,
    consumer: { ...consumer, region: "CN-SH", verifiedRegion: "DE" },
    space: { ...space, ...negativeListed },
  });
  assert.equal(d.kind, "reject");
  assert.equal(d.reason, "ExportNegativeListed");
});

test("the country of a certificate subject", () => {
  assert.equal(subjectCountry("CN=acme,O=Acme Ltd,C=de"), "DE");
  assert.equal(subjectCountry("C=CN, O=x, CN=y"), "CN");
  assert.equal(subjectCountry("CN=C=DE trick,O=x"), undefined);
  assert.equal(subjectCountry("CN=acme"), undefined);
});

test("export rules name the rule that allowed or refused", () => {
  const level = {
    name: "internal",
    defaultPolicy: { allowedAccessModes: ["download"], crossBorderTransfer: "RequiresApproval" },
  };
  assert.equal(exportRule(space, level, "x", "DE", "approve").rule, "ExportApproved");
  assert.equal(exportRule(space, level, "x", "DE", undefined).kind, "pending");
  assert.equal(
    exportRule({ ...space, ...negativeListed }, level, "industrial.telemetry", "DE-BY", "approve").rule,
    "ExportNegativeListed",
  );
});

test("freeze: a space freeze suspends every agreed contract and holds new requests; a participant freeze only its parties'", () => {
  const space_ = { freeze: { reason: "incident response", incident: "INC-7" } };
  const out = superviseContract(with_(space_));
  assert.equal(out.state, "Suspended");
  assert.equal(out.reason, "SpaceFrozen");
  assert.match(out.message, /incident response \(incident INC-7\)/);
  const request = decide(with_(space_));
  assert.equal(request.kind, "pending", "a request during a freeze waits; it is not rejected");
  assert.equal(request.reason, "SpaceFrozen");

  const consumerFrozen = reassess(with_({ freeze: { reason: "leak", participants: ["c"] } }));
  assert.ok(!consumerFrozen.lawful && consumerFrozen.rule === "ParticipantFrozen");
  assert.match(consumerFrozen.message, /Participant c is frozen: leak/);
  const providerFrozen = reassess(with_({ freeze: { reason: "leak", participants: ["p"] } }));
  assert.ok(!providerFrozen.lawful && providerFrozen.rule === "ParticipantFrozen");
  const others = reassess(with_({ freeze: { reason: "leak", participants: ["someone-else"] } }));
  assert.ok(others.lawful);
  assert.ok(others.checks.some((c) => c.rule === "NotFrozen" && c.passed));
  assert.equal(
    frozenBy({ ...space, freeze: { reason: "x", participants: ["a", "b"] } }, ["b", "a"])?.message.startsWith(
      "Participant b",
    ),
    true,
  );
});

test("freeze: lifting it reopens the contracts it suspended, and only those", () => {
  const lifted = superviseContract({ ...base, current: "Suspended", suspendedBy: "SpaceFrozen" });
  assert.equal(lifted.state, "Active");
  assert.equal(lifted.reason, "FreezeLifted");
  assert.equal(
    superviseContract({ ...base, current: "Suspended", suspendedBy: "ParticipantFrozen" }).state,
    "Active",
  );
  // A contract a rule suspended still waits for its provider, freeze or not.
  const rule = superviseContract({ ...base, current: "Suspended", suspendedBy: "ExportNegativeListed" });
  assert.equal(rule.reason, "AwaitingReinstatement");
  // Lifted while another rule now fails: still Suspended, by that rule.
  const other = superviseContract({
    ...with_(negativeListed),
    current: "Suspended",
    suspendedBy: "SpaceFrozen",
  });
  assert.equal(other.state, "Suspended");
  assert.equal(other.reason, "ExportNegativeListed");
  // Still frozen: still Suspended.
  const still = superviseContract({
    ...with_({ freeze: { reason: "x" } }),
    current: "Suspended",
    suspendedBy: "SpaceFrozen",
  });
  assert.equal(still.reason, "SpaceFrozen");
});

test("standing: a suspension by a party's lapsed standing lifts when it returns; a suspended participant's waits for its provider", () => {
  for (const rule of ["ConsumerNotAdmitted", "ProviderUnavailable"]) {
    const back = superviseContract({ ...base, current: "Suspended", suspendedBy: rule });
    assert.equal(back.state, "Active", rule);
    assert.equal(back.reason, "StandingRestored", rule);
  }
  // Still unverified: still Suspended, by the same rule.
  const still = superviseContract({
    ...base,
    consumer: undefined,
    current: "Suspended",
    suspendedBy: "ConsumerNotAdmitted",
  });
  assert.equal(still.state, "Suspended");
  assert.equal(still.reason, "ConsumerNotAdmitted");
  const judged = superviseContract({ ...base, current: "Suspended", suspendedBy: "ConsumerSuspended" });
  assert.equal(judged.reason, "AwaitingReinstatement");
});
