// The operator's identity verifier without I/O: what it caches, when a result
// counts as changed (an Event), and the condition it makes.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Participant } from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import { DID_PROOF_ANNOTATION, didChallenge } from "./did.ts";
import { identityCondition, IdentityVerifier } from "./oidc.ts";

const participant = (
  identity: Participant["spec"]["identity"],
  proof?: string,
): Participant & KubeObject => ({
  apiVersion: "tds.dev/v1alpha1",
  kind: "Participant",
  metadata: {
    name: "acme",
    uid: "u-1",
    ...(proof ? { annotations: { [DID_PROOF_ANNOTATION]: proof } } : {}),
  },
  spec: {
    dataSpace: "s1",
    organization: { legalName: "Acme", registrationId: "R1", region: "CN" },
    identity,
    roles: ["consumer"],
  },
});

test("a certificate identity needs no verification", async () => {
  const v = new IdentityVerifier(60_000);
  assert.equal(await v.verify("u-1", participant({ certificate: { subject: "CN=acme" } })), undefined);
});

test("results are reused until recheckMs or a change of what is declared, and only a new result is 'changed'", async () => {
  let now = 0;
  const v = new IdentityVerifier(1_000, () => now);
  const p = participant({ did: "did:example:acme" });
  const first = await v.verify("u-1", p);
  assert.ok(first && !first.ok);
  assert.equal(first.reason, "DidMethodUnsupported");
  assert.equal(first.changed, true);
  assert.equal((await v.verify("u-1", p))?.changed, false, "cached");
  now = 1_000;
  assert.equal((await v.verify("u-1", p))?.changed, false, "checked again, same result");
  const proved = await v.verify("u-1", participant({ did: "did:example:acme" }, "a.b.c"));
  assert.equal(proved?.changed, false, "a new proof is checked at once (same reason here)");
  const c = identityCondition(first, 3);
  assert.deepEqual(
    { type: c.type, status: c.status, reason: c.reason, observedGeneration: c.observedGeneration },
    { type: "IdentityVerified", status: "False", reason: "DidMethodUnsupported", observedGeneration: 3 },
  );
  assert.match(c.message, /^spec\.identity\.did: method did:example is not supported/);
});

test("the DID challenge is bound to the space, the name and the uid", () => {
  assert.equal(didChallenge(participant({ did: "did:key:z" })), "urn:tds:space:s1:participant:acme:u-1");
});
