// Verifies a participant's declared DID at onboarding: the DID resolves
// (did:key with Ceramic's key-did-resolver, did:web with web-did-resolver,
// both through the did-resolver package), and the participant proves control
// of one of its authentication keys by signing a challenge. The challenge is
// bound to this Participant object (space, name and the uid the API server
// gave it), so a proof cannot be replayed for another participant or a
// recreated one: the participant signs a compact JWS whose header `kid` is
// the verification method's DID URL and whose payload is
// {"challenge": "<challenge>"}, and sets it as annotation tds.dev/did-proof.
import type { Participant } from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import { Resolver, type DIDDocument, type VerificationMethod } from "did-resolver";
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from "jose";
import { getResolver as keyResolver } from "key-did-resolver";
import { base58btc } from "multiformats/bases/base58";
import { getResolver as webResolver } from "web-did-resolver";
import { oidcAlgorithms } from "@tds/oidc";
import type { Verification } from "./oidc.ts";

export const DID_PROOF_ANNOTATION = "tds.dev/did-proof";
const MAX_PROOF_LENGTH = 4096;
const RESOLVE_TIMEOUT_MS = 5_000;

const resolver = new Resolver({ ...keyResolver(), ...webResolver() });

/** What the participant signs to prove control of its DID's key. */
export function didChallenge(p: Participant & KubeObject): string {
  return `urn:tds:space:${p.spec.dataSpace}:participant:${p.metadata.name ?? ""}:${p.metadata.uid ?? ""}`;
}

type Failure = Extract<Verification, { ok: false }>;

async function resolve(did: string): Promise<DIDDocument | Failure> {
  const method = did.split(":")[1] ?? "";
  if (method !== "key" && method !== "web")
    return {
      ok: false,
      reason: "DidMethodUnsupported",
      message: `spec.identity.did: method did:${method} is not supported (did:key, did:web)`,
    };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer in ${String(RESOLVE_TIMEOUT_MS)} ms`));
    }, RESOLVE_TIMEOUT_MS);
  });
  try {
    const res = await Promise.race([resolver.resolve(did), timeout]);
    const doc = res.didDocument;
    if (!doc || res.didResolutionMetadata.error) {
      const m = res.didResolutionMetadata as { error?: string; message?: string };
      return {
        ok: false,
        reason: "DidUnresolvable",
        message: `spec.identity.did: ${did} does not resolve (${m.error ?? "no document"}${m.message ? `: ${m.message}` : ""})`,
      };
    }
    if (doc.id !== did)
      return {
        ok: false,
        reason: "DidDocumentInvalid",
        message: `spec.identity.did: the document of ${did} names ${doc.id}`,
      };
    return doc;
  } catch (err) {
    return {
      ok: false,
      reason: "DidUnresolvable",
      message: `spec.identity.did: ${did} does not resolve (${(err as Error).message})`,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** The verification method a DID URL names, if the document lists it for authentication. */
function authenticationKey(doc: DIDDocument, kid: string): VerificationMethod | undefined {
  const absolute = (id: string) => (id.startsWith("#") ? `${doc.id}${id}` : id);
  const methods = doc.verificationMethod ?? [];
  for (const a of doc.authentication ?? []) {
    const vm = typeof a === "string" ? methods.find((m) => absolute(m.id) === absolute(a)) : a;
    if (vm && absolute(vm.id) === kid) return vm;
  }
  return undefined;
}

/** The public JWK of a verification method: publicKeyJwk, or an Ed25519 key in base58. */
function jwkOf(vm: VerificationMethod): JWK | undefined {
  if (vm.publicKeyJwk) return vm.publicKeyJwk;
  if (vm.publicKeyBase58 && vm.type.startsWith("Ed25519VerificationKey")) {
    const raw = base58btc.baseDecode(vm.publicKeyBase58);
    return { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") };
  }
  return undefined;
}

/** Resolves the participant's DID and checks its proof of key control. */
export async function verifyDid(p: Participant & KubeObject): Promise<Verification | undefined> {
  const did = p.spec.identity.did;
  if (!did) return undefined;
  const doc = await resolve(did);
  if ("ok" in doc) return doc;
  const challenge = didChallenge(p);
  const proof = p.metadata.annotations?.[DID_PROOF_ANNOTATION];
  const fail = (reason: string, message: string): Failure => ({
    ok: false,
    reason,
    message: `metadata.annotations["${DID_PROOF_ANNOTATION}"]: ${message}`,
  });
  if (!proof)
    return {
      ...fail(
        "DidProofRequired",
        `${did} resolves; prove control of one of its authentication keys: sign {"challenge":"${challenge}"} as a compact JWS with the key's DID URL as kid, and set it here`,
      ),
      pending: true,
    };
  if (proof.length > MAX_PROOF_LENGTH)
    return fail("DidProofInvalid", `longer than ${String(MAX_PROOF_LENGTH)} characters`);
  let kid: string | undefined;
  let alg: string | undefined;
  try {
    ({ kid, alg } = decodeProtectedHeader(proof));
  } catch {
    return fail("DidProofInvalid", "not a compact JWS");
  }
  if (!alg || !(oidcAlgorithms as readonly string[]).includes(alg))
    return fail("DidProofInvalid", `algorithm ${JSON.stringify(alg ?? null)} is not accepted`);
  const vm = kid ? authenticationKey(doc, kid) : undefined;
  if (!vm)
    return fail(
      "DidProofInvalid",
      `kid ${JSON.stringify(kid ?? null)} is not an authentication key of ${did}`,
    );
  const jwk = jwkOf(vm);
  if (!jwk) return fail("DidProofInvalid", `the key ${vm.id} (${vm.type}) has no usable public key`);
  try {
    const { payload } = await compactVerify(proof, await importJWK(jwk, alg), { algorithms: [alg] });
    const signed = (JSON.parse(new TextDecoder().decode(payload)) as { challenge?: unknown }).challenge;
    if (signed !== challenge)
      return fail(
        "DidProofInvalid",
        `it signs challenge ${JSON.stringify(signed)}, not ${JSON.stringify(challenge)}`,
      );
  } catch (err) {
    return fail("DidProofInvalid", `its signature does not verify with ${vm.id} (${(err as Error).message})`);
  }
  return {
    ok: true,
    reason: "DidVerified",
    message: `${did} resolves and the participant proved control of ${vm.id}`,
  };
}
