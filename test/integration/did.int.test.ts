// DID identities on the real control plane: a participant declaring did:key
// or did:web is onboarded only once its DID resolves and it has proved
// control of an authentication key by signing the challenge of its own
// Participant object; a proof by another key, or one made for another
// participant, is refused with the reason, and so is a DID that does not
// resolve. The did:web document is served over HTTPS on loopback, as the
// participant's own web server would.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey } from "jose";
import { base58btc } from "multiformats/bases/base58";
import { DID_PROOF_ANNOTATION, didChallenge } from "../../operator/src/identity/did.ts";
import { issueCertificate } from "@tds/operator/pki";
import {
  participantManifest,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";
import type { Participant } from "@tds/crds";
import { loopbackCa } from "../harness/oidc-provider.ts";
import { freePort } from "../harness/processes.ts";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";

const run = runId();
const space = `did-${run}`;
const client = new KubeClient(kubeConfig());
let operator: TestOperator;
let web: Server;
let webPort: number;

type Obj = Participant & KubeObject;
const condition = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);

/** A did:key for an Ed25519 key (multicodec 0xed01, base58btc), and its verification method's DID URL. */
async function didKey(): Promise<{ did: string; kid: string; privateKey: CryptoKey }> {
  const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const raw = Buffer.from((await exportJWK(publicKey)).x ?? "", "base64url");
  const id = base58btc.encode(Uint8Array.from([0xed, 0x01, ...raw]));
  return { did: `did:key:${id}`, kid: `did:key:${id}#${id}`, privateKey };
}

const sign = (challenge: string, alg: string, kid: string, key: CryptoKey) =>
  new CompactSign(new TextEncoder().encode(JSON.stringify({ challenge })))
    .setProtectedHeader({ alg, kid })
    .sign(key);

async function create(name: string, did: string): Promise<Obj> {
  await client.create(
    kinds.participant,
    participantManifest(name, space, { identity: { did } }) as KubeObject,
  );
  return client.get<Obj>(kinds.participant, name);
}

const annotate = (name: string, proof: string) =>
  client.mergePatch(kinds.participant, name, undefined, {
    metadata: { annotations: { [DID_PROOF_ANNOTATION]: proof } },
  });

async function settles(name: string, phase: string, reason: string): Promise<Obj> {
  return until(`${name} ${phase} with ${reason}`, async () => {
    const o = await client.get<Obj>(kinds.participant, name);
    return o.status?.phase === phase && condition(o, "IdentityVerified")?.reason === reason ? o : undefined;
  });
}

// did:web's document, served by the participant's own HTTPS server on loopback.
const webKey = await generateKeyPair("ES256", { extractable: true });
let webDid = "";

before(async () => {
  installCrds();
  const ca = await loopbackCa();
  const tls = await issueCertificate(ca, {
    subject: "CN=127.0.0.1",
    usage: "server",
    ipAddresses: ["127.0.0.1"],
    validForDays: 1,
  });
  webPort = await freePort();
  webDid = `did:web:127.0.0.1%3A${String(webPort)}`;
  const doc = {
    "@context": ["https://www.w3.org/ns/did/v1"],
    id: webDid,
    verificationMethod: [
      {
        id: `${webDid}#k1`,
        type: "JsonWebKey2020",
        controller: webDid,
        publicKeyJwk: await exportJWK(webKey.publicKey),
      },
    ],
    authentication: [`${webDid}#k1`],
  };
  web = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    if (req.url === "/.well-known/did.json") {
      res.writeHead(200, { "content-type": "application/did+json" }).end(JSON.stringify(doc));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => web.listen(webPort, "127.0.0.1", r));
  operator = await startOperator(run, { settings: { identityRecheckMs: 2_000 } });
  await client.create(kinds.dataSpace, spaceManifest(space, run) as KubeObject);
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  web.close();
});

test("did:key: the participant waits for its proof, and is onboarded once it signs its challenge", async () => {
  const key = await didKey();
  const name = `${space}-key`;
  const created = await create(name, key.did);
  const pending = await settles(name, "Pending", "DidProofRequired");
  const challenge = didChallenge(created);
  assert.match(
    condition(pending, "IdentityVerified")?.message ?? "",
    new RegExp(`sign \\{"challenge":"${challenge}"\\}`),
  );
  await annotate(name, await sign(challenge, "EdDSA", key.kid, key.privateKey));
  const active = await settles(name, "Active", "DidVerified");
  assert.equal(condition(active, "Ready")?.status, "True");
  assert.match(condition(active, "IdentityVerified")?.message ?? "", /proved control of did:key:/);

  // The same DID declared by another participant: that proof is for the first one's challenge.
  const replay = `${space}-replay`;
  await create(replay, key.did);
  await annotate(replay, await sign(challenge, "EdDSA", key.kid, key.privateKey));
  const refused = await settles(replay, "Failed", "DidProofInvalid");
  assert.match(condition(refused, "IdentityVerified")?.message ?? "", /it signs challenge .*, not /);
});

test("did:key: a proof by another key is refused", async () => {
  const key = await didKey();
  const other = await didKey();
  const name = `${space}-forged`;
  const created = await create(name, key.did);
  await annotate(name, await sign(didChallenge(created), "EdDSA", key.kid, other.privateKey));
  const refused = await settles(name, "Failed", "DidProofInvalid");
  assert.match(condition(refused, "IdentityVerified")?.message ?? "", /signature does not verify/);
  await assert.rejects(client.get(kinds.namespace, `${space}--${name}`), "nothing is provisioned");
});

test("did:web: the document is resolved over HTTPS and the proof checked against its key", async () => {
  const name = `${space}-web`;
  const created = await create(name, webDid);
  await settles(name, "Pending", "DidProofRequired");
  await annotate(name, await sign(didChallenge(created), "ES256", `${webDid}#k1`, webKey.privateKey));
  await settles(name, "Active", "DidVerified");
});

test("did:web that does not resolve fails with DidUnresolvable", async () => {
  const name = `${space}-gone`;
  await create(name, `did:web:127.0.0.1%3A${String(await freePort())}`);
  const failed = await settles(name, "Failed", "DidUnresolvable");
  assert.match(
    condition(failed, "IdentityVerified")?.message ?? "",
    /^spec\.identity\.did: .* does not resolve/,
  );
});
