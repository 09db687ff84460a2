// contractPolicyFacts on the sample industrial space: the one builder the
// operator decides a contract by and the gateway re-checks each access by.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import type { DataContract } from "../datacontract.types.ts";
import type { DataOffer } from "../dataoffer.types.ts";
import type { DataSpace } from "../dataspace.types.ts";
import { DECISION_ANNOTATION, EXPORT_DECISION_ANNOTATION, REINSTATE_ANNOTATION } from "../labels.ts";
import { splitParticipantNamespace } from "../names.ts";
import type { Participant } from "../participant.types.ts";
import { reassess } from "./engine.ts";
import { contractPolicyFacts, participantFacts, spaceRules } from "./facts.ts";

const load = (file: string): { kind: string; metadata: { name: string } }[] =>
  parseAllDocuments(readFileSync(new URL(`../../samples/${file}`, import.meta.url), "utf8")).map(
    (d) => d.toJS() as { kind: string; metadata: { name: string } },
  );
const objects = [...load("industrial-space.yaml"), ...load("after-onboarding/industrial-space-usage.yaml")];
const find = (kind: string, name: string): unknown => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} in the samples`);
  return o;
};
const space = find("DataSpace", "yangtze-industrial") as DataSpace;
const offer = find("DataOffer", "turbine-telemetry") as DataOffer;
const sample = find("DataContract", "wuhan-telemetry") as DataContract;
const provider = find("Participant", "shanghai-turbines") as Participant;
const consumer = find("Participant", "wuhan-analytics") as Participant;
const parties = {
  provider: { name: "shanghai-turbines", participant: provider },
  consumer: { name: "wuhan-analytics", participant: consumer },
};

test("a contract's facts: the request, the parties' decisions, the offer, the space and both participants", () => {
  const contract: DataContract = {
    ...sample,
    metadata: {
      ...sample.metadata,
      creationTimestamp: "2026-03-01T00:00:00Z",
      annotations: {
        [DECISION_ANNOTATION]: "approve",
        [EXPORT_DECISION_ANNOTATION]: "approve",
        [REINSTATE_ANNOTATION]: "please",
      },
    },
    spec: { ...sample.spec, requestedValidity: { notAfter: "2026-09-01T00:00:00Z" } },
    status: {
      state: "Suspended",
      validity: { notBefore: "2026-03-01T00:00:00Z", notAfter: "2026-09-01T00:00:00Z" },
      suspension: { rule: "NegativeList", message: "Listed", suspendedAt: "2026-04-01T00:00:00Z" },
    },
  };
  assert.deepEqual(contractPolicyFacts(contract, offer, space, parties), {
    space: spaceRules(space),
    offer: {
      name: "turbine-telemetry",
      personalData: false,
      classification: offer.spec.classification,
      dataCategory: offer.spec.dataCategory,
      policy: offer.spec.policy,
    },
    provider: participantFacts(provider, "shanghai-turbines"),
    consumer: participantFacts(consumer, "wuhan-analytics"),
    contract: {
      purpose: "predictive-maintenance",
      requestedValidity: { notAfter: "2026-09-01T00:00:00Z" },
      requestedAccesses: 100,
      createdAt: "2026-03-01T00:00:00Z",
      providerDecision: "approve",
      exportDecision: "approve",
    },
    current: "Suspended",
    agreed: { notBefore: "2026-03-01T00:00:00Z", notAfter: "2026-09-01T00:00:00Z" },
    reinstate: "please",
    suspendedBy: "NegativeList",
  });
});

test("a requested contract has no decisions, window or suspension; a party the space lacks has no facts", () => {
  const facts = contractPolicyFacts(sample, offer, space, {
    ...parties,
    consumer: { name: "gone", participant: undefined },
  });
  assert.deepEqual(facts.contract, {
    purpose: "predictive-maintenance",
    requestedAccesses: 100,
    createdAt: "",
  });
  assert.equal(facts.consumer, undefined);
  assert.equal(facts.current, undefined);
  for (const key of ["agreed", "reinstate", "suspendedBy"]) assert.equal(key in facts, false, key);
  assert.deepEqual(splitParticipantNamespace(sample.metadata.namespace), {
    space: "yangtze-industrial",
    participant: "wuhan-analytics",
  });
  // Not a member: the engine refuses an agreed contract of a consumer the space does not have.
  const v = reassess({ ...facts, current: "Active", now: new Date("2026-03-02T00:00:00Z") });
  assert.equal(v.lawful, false);
});
