// The consent rule: a personal-data offer (or any offer of a Personal space)
// is agreed and used only under a data subject's consent for the purpose and
// consumer, in force now; a revoked one suspends the contract, and a consent
// given again lifts the suspension by itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { consentCovers, consentRequired, consentRule, type ConsentFacts } from "./consent.ts";
import {
  decide,
  reassess,
  superviseContract,
  type ParticipantFacts,
  type SpaceRules,
  type SupervisedInput,
} from "./engine.ts";

const NOW = new Date("2026-06-01T00:00:00Z");
const space: SpaceRules = {
  homeRegion: "CN",
  recordExports: true,
  spaceType: "Industry",
  levels: [{ name: "internal", defaultPolicy: { allowedAccessModes: ["download", "computeOnly"] } }],
  negativeList: [],
};
const consumer: ParticipantFacts = {
  name: "clinic",
  admitted: true,
  suspended: false,
  roles: ["consumer"],
  labels: { "tds.dev/industry": "health" },
  region: "CN-SH",
};
const consent = (over: Partial<ConsentFacts> = {}): ConsentFacts => ({
  id: "cst-a",
  purpose: "care",
  consumer: { participant: "clinic" },
  notBefore: "2026-05-01T00:00:00Z",
  notAfter: "2026-09-01T00:00:00Z",
  ...over,
});
const base: SupervisedInput = {
  now: NOW,
  space,
  offer: {
    name: "records",
    classification: "internal",
    dataCategory: "health.records",
    personalData: true,
    policy: { purposes: ["care", "research"], accessMode: "download" },
  },
  provider: { ...consumer, name: "hospital", roles: ["provider"], labels: {} },
  consumer,
  contract: { purpose: "care", createdAt: "2026-05-15T00:00:00Z" },
  consents: [consent()],
  current: undefined,
};

test("consentRequired: personal data, or any offer of a Personal space", () => {
  assert.equal(consentRequired({ spaceType: "Industry" }, { personalData: true }), true);
  assert.equal(consentRequired({ spaceType: "Personal" }, {}), true);
  assert.equal(consentRequired({ spaceType: "Industry" }, { personalData: false }), false);
  assert.equal(consentRequired({}, {}), false);
});

test("consentCovers: a consumer by name, or a class by labels (an empty selector covers no one)", () => {
  assert.equal(consentCovers(consent(), consumer), true);
  assert.equal(consentCovers(consent({ consumer: { participant: "other" } }), consumer), false);
  const cls = (matchLabels: Record<string, string>) =>
    consent({ consumer: { participantSelector: { matchLabels } } });
  assert.equal(consentCovers(cls({ "tds.dev/industry": "health" }), consumer), true);
  assert.equal(consentCovers(cls({ "tds.dev/industry": "finance" }), consumer), false);
  assert.equal(consentCovers(cls({}), consumer), false);
});

const cases: { name: string; consents: ConsentFacts[] | undefined; rule: string; id?: string }[] = [
  { name: "one in force", consents: [consent()], rule: "ConsentGiven", id: "cst-a" },
  { name: "none at all", consents: [], rule: "ConsentMissing" },
  { name: "another purpose only", consents: [consent({ purpose: "research" })], rule: "ConsentMissing" },
  {
    name: "another consumer only",
    consents: [consent({ consumer: { participant: "insurer" } })],
    rule: "ConsentMissing",
  },
  {
    name: "revoked",
    consents: [consent({ revokedAt: "2026-05-20T00:00:00Z" })],
    rule: "ConsentRevoked",
    id: "cst-a",
  },
  { name: "ended", consents: [consent({ notAfter: "2026-05-31T00:00:00Z" })], rule: "ConsentExpired" },
  {
    name: "notAfter is exclusive",
    consents: [consent({ notAfter: "2026-06-01T00:00:00Z" })],
    rule: "ConsentExpired",
  },
  {
    name: "not yet in force",
    consents: [consent({ notBefore: "2026-07-01T00:00:00Z" })],
    rule: "ConsentNotYetValid",
  },
  {
    name: "a revoked one and one in force: the one in force decides",
    consents: [consent({ id: "cst-old", revokedAt: "2026-05-20T00:00:00Z" }), consent({ id: "cst-new" })],
    rule: "ConsentGiven",
    id: "cst-new",
  },
  {
    name: "two in force: the one that runs longest",
    consents: [consent({ id: "cst-b" }), consent({ id: "cst-c", notAfter: "2026-12-01T00:00:00Z" })],
    rule: "ConsentGiven",
    id: "cst-c",
  },
  {
    name: "revoked before ended",
    consents: [
      consent({ id: "cst-e", notAfter: "2026-05-31T00:00:00Z" }),
      consent({ id: "cst-r", revokedAt: "2026-05-02T00:00:00Z" }),
    ],
    rule: "ConsentRevoked",
    id: "cst-r",
  },
  { name: "not readable", consents: undefined, rule: "ConsentUnverified" },
];
for (const c of cases) {
  test(`consentRule: ${c.name} -> ${c.rule}`, () => {
    const v = consentRule(c.consents, "records", "care", consumer, NOW);
    assert.equal(v.rule, c.rule, v.message);
    assert.equal(v.passed, c.rule === "ConsentGiven");
    if (c.id) assert.match(v.message, new RegExp(`Consent ${c.id} `));
  });
}

test("decide: a personal-data offer is agreed under a consent, and the trail names it", () => {
  const d = decide(base);
  assert.equal(d.kind, "agree", d.message);
  const given = d.checks.find((x) => x.rule === "ConsentGiven");
  assert.ok(given?.passed);
  assert.match(given.detail, /^Consent cst-a allows care by clinic until 2026-09-01T00:00:00Z$/);
});

test("decide: without a consent the contract is rejected (ConsentMissing); unreadable consents wait", () => {
  const missing = decide({ ...base, consents: [] });
  assert.equal(missing.kind, "reject");
  assert.equal(missing.reason, "ConsentMissing");
  assert.equal(
    missing.message,
    "Offer records holds personal data and no consent of its data subject allows care by clinic",
  );
  const revoked = decide({ ...base, consents: [consent({ revokedAt: "2026-05-20T00:00:00Z" })] });
  assert.equal(revoked.reason, "ConsentRevoked");
  const unread = decide({ ...base, consents: undefined });
  assert.equal(unread.kind, "pending");
  assert.equal(unread.reason, "ConsentUnverified");
});

test("decide: a Personal space needs consent for every offer; other offers need none", () => {
  const plain = { ...base.offer, personalData: false };
  assert.equal(decide({ ...base, offer: plain, consents: [] }).kind, "agree");
  const personal = decide({
    ...base,
    space: { ...space, spaceType: "Personal" },
    offer: plain,
    consents: [],
  });
  assert.equal(personal.reason, "ConsentMissing");
});

test("decide: the offer's own rules come before consent (a purpose it does not offer)", () => {
  const d = decide({ ...base, contract: { ...base.contract, purpose: "marketing" }, consents: [] });
  assert.equal(d.reason, "PurposeNotPermitted");
});

const agreed: SupervisedInput = {
  ...base,
  current: "Active",
  agreed: { notBefore: "2026-05-15T00:00:00Z", notAfter: "2026-08-01T00:00:00Z" },
};

test("reassess: a revoked consent makes the agreed contract unlawful at the next access", () => {
  assert.ok(reassess(agreed).lawful);
  const v = reassess({ ...agreed, consents: [consent({ revokedAt: "2026-05-31T12:00:00Z" })] });
  assert.deepEqual(v.lawful ? {} : { rule: v.rule, message: v.message }, {
    rule: "ConsentRevoked",
    message: "Consent cst-a for care by clinic was revoked at 2026-05-31T12:00:00Z",
  });
  const expired = reassess({ ...agreed, consents: [consent({ notAfter: "2026-05-31T00:00:00Z" })] });
  assert.equal(expired.lawful ? "" : expired.rule, "ConsentExpired");
});

test("superviseContract: revocation suspends; a consent given again lifts it by itself (ConsentRestored)", () => {
  const revoked = [consent({ revokedAt: "2026-05-31T12:00:00Z" })];
  const s = superviseContract({ ...agreed, consents: revoked });
  assert.equal(s.state, "Suspended");
  assert.equal(s.reason, "ConsentRevoked");
  const back = superviseContract({
    ...agreed,
    current: "Suspended",
    suspendedBy: "ConsentRevoked",
    consents: [...revoked, consent({ id: "cst-again", notBefore: "2026-05-31T13:00:00Z" })],
  });
  assert.equal(back.state, "Active");
  assert.equal(back.reason, "ConsentRestored");
  // Still revoked: it stays suspended, naming the rule.
  const still = superviseContract({
    ...agreed,
    current: "Suspended",
    suspendedBy: "ConsentRevoked",
    consents: revoked,
  });
  assert.equal(still.state, "Suspended");
  assert.equal(still.reason, "ConsentRevoked");
  // A revocation of the contract itself still wins over everything.
  const gone = superviseContract({ ...agreed, revoke: "withdrawn", consents: revoked });
  assert.equal(gone.state, "Revoked");
});

test("superviseContract: a contract suspended by another rule waits for its provider even with consent", () => {
  const s = superviseContract({ ...agreed, current: "Suspended", suspendedBy: "ExportNegativeListed" });
  assert.equal(s.state, "Suspended");
  assert.equal(s.reason, "AwaitingReinstatement");
});
