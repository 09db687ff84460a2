// spaceDspConfig: a DataSpace's spec.dsp into the DSP configuration, and the
// counterparties it leaves out, with the field named.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Participant } from "@tds/crds";
import { spaceDspConfig, type DspClusterReads } from "./cluster.ts";
import { sha256Hex } from "./identity.ts";

const participant = (name: string, space: string, cert = true): Participant =>
  ({
    apiVersion: "tds.dev/v1alpha1",
    kind: "Participant",
    metadata: { name },
    spec: { dataSpace: space },
    status: {
      namespace: `${space}--${name}`,
      ...(cert ? { certificate: { secretName: "participant-identity" } } : {}),
    },
  }) as unknown as Participant;

function reads(
  secrets: Record<string, Record<string, string>>,
  participants: Participant[],
): DspClusterReads {
  return {
    secret: (ns, name) => Promise.resolve(secrets[`${ns}/${name}`]),
    participant: (name) => Promise.resolve(participants.find((p) => p.metadata.name === name)),
  };
}

test("credentials come from Secrets in tds-<space>, certificates from the consumer's Secret", async () => {
  const r = await spaceDspConfig(
    "s",
    {
      consumer: "buyer",
      counterparties: [
        { id: "urn:x", authorizationSecretRef: { name: "dsp", key: "in" }, presentCertificate: true },
        {
          id: "urn:y",
          certificate: { space: "other" },
          participant: "proxy",
          outgoingAuthorizationSecretRef: { name: "dsp", key: "out" },
        },
      ],
    },
    reads(
      {
        "tds-s/dsp": { in: "Bearer x", out: "Bearer y" },
        "s--buyer/participant-identity": { "tls.crt": "CERT", "tls.key": "KEY" },
      },
      [participant("buyer", "s"), participant("proxy", "s")],
    ),
  );
  assert.deepEqual(r.errors, []);
  assert.equal(r.config.participantId, "urn:tds:s");
  assert.equal(r.config.consumer, "buyer");
  assert.deepEqual(r.config.counterparties, [
    {
      id: "urn:x",
      authorizationSha256: sha256Hex("Bearer x"),
      clientCertificate: { certPem: "CERT", keyPem: "KEY" },
    },
    { id: "urn:y", certificate: { space: "other" }, participant: "proxy", outgoingAuthorization: "Bearer y" },
  ]);
});

test("a counterparty whose credential cannot be read is left out, naming the field", async () => {
  const r = await spaceDspConfig(
    "s",
    {
      consumer: "nobody",
      counterparties: [
        { id: "a", authorizationSecretRef: { name: "missing", key: "k" } },
        { id: "b", authorizationSecretRef: { name: "dsp", key: "absent" } },
        { id: "c", certificate: { space: "o" }, participant: "elsewhere" },
        { id: "d", certificate: { space: "o" }, presentCertificate: true },
        { id: "e", certificate: { space: "o" } },
      ],
    },
    reads({ "tds-s/dsp": { in: "x" } }, [participant("elsewhere", "t")]),
  );
  assert.deepEqual(
    r.config.counterparties.map((c) => c.id),
    ["e"],
  );
  assert.equal(r.config.consumer, undefined);
  assert.deepEqual(r.errors, [
    "spec.dsp.counterparties[0].authorizationSecretRef: Secret tds-s/missing does not exist",
    "spec.dsp.counterparties[1].authorizationSecretRef: Secret tds-s/dsp has no key absent",
    "spec.dsp.counterparties[2].participant: elsewhere is not a Participant of space s",
    "spec.dsp.consumer: nobody is not a Participant of space s",
    "spec.dsp.consumer: nobody is not a Participant of space s",
  ]);
});
