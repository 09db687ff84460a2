// Verifies a participant's declared identity at onboarding and again every
// `recheckMs`. An OpenID Connect issuer: its discovery document names exactly
// the declared issuer, and its JWKS serves a usable signing key
// (discoverIssuer in @tds/oidc, which the API's token verifier
// also uses). A DID: did.ts. The result is the participant's
// IdentityVerified condition; a failure names what failed (IssuerUnreachable,
// IssuerMismatch, DiscoveryInvalid, JwksUnreachable, JwksInvalid, or a DID's
// reason) and keeps the participant from becoming Active.
import type { Participant } from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import { discoverIssuer, IDENTITY_VERIFIED, IssuerError } from "@tds/oidc";
import type { Condition } from "@tds/crds";
import { DID_PROOF_ANNOTATION, verifyDid } from "./did.ts";

export { IDENTITY_VERIFIED };

export type Verification =
  | { readonly ok: true; readonly reason: "IssuerVerified" | "DidVerified"; readonly message: string }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly message: string;
      /** Waiting for the participant (a DID proof), not failed. */
      readonly pending?: boolean;
    };

export type IdentityVerification = Verification & {
  /** True when this result was just checked and differs from the last one this operator saw. */
  readonly changed: boolean;
};

/** The verification of an OIDC issuer as the participant declared it. */
async function verifyIssuer(p: Participant): Promise<Verification | undefined> {
  const oidc = p.spec.identity.oidc;
  if (!oidc) return undefined;
  try {
    const m = await discoverIssuer(oidc.issuer);
    return {
      ok: true,
      reason: "IssuerVerified",
      message: `Issuer ${oidc.issuer} verified: discovery names it exactly, ${m.jwksUri} serves ${String(m.jwks.keys.length)} signing key(s); tokens for subject ${oidc.subject} with audience urn:tds:space:${p.spec.dataSpace} are accepted`,
    };
  } catch (err) {
    if (!(err instanceof IssuerError)) throw err;
    return { ok: false, reason: err.reason, message: `spec.identity.oidc.issuer: ${err.message}` };
  }
}

/**
 * Verifies declared OIDC issuers and DIDs (did.ts), remembering each
 * participant's last result for `recheckMs` unless what it declares changes.
 */
export class IdentityVerifier {
  private readonly last = new Map<string, { key: string; at: number; result: Verification }>();

  constructor(
    private readonly recheckMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The verification of the participant's OIDC issuer or DID, or undefined when it declares neither. */
  async verify(uid: string, p: Participant & KubeObject): Promise<IdentityVerification | undefined> {
    const { oidc, did } = p.spec.identity;
    const key = oidc
      ? `oidc\n${oidc.issuer}\n${oidc.subject}`
      : did
        ? `did\n${did}\n${p.metadata.annotations?.[DID_PROOF_ANNOTATION] ?? ""}`
        : undefined;
    if (key === undefined) {
      this.last.delete(uid);
      return undefined;
    }
    const hit = this.last.get(uid);
    if (hit && hit.key === key && this.now() - hit.at < this.recheckMs)
      return { ...hit.result, changed: false };
    const result = (oidc ? await verifyIssuer(p) : await verifyDid(p)) ?? {
      ok: true,
      reason: "DidVerified",
      message: "",
    };
    const changed = !hit || hit.result.reason !== result.reason;
    this.last.set(uid, { key, at: this.now(), result });
    return { ...result, changed };
  }

  forget(uid: string): void {
    this.last.delete(uid);
  }
}

/** The IdentityVerified condition for a verification. */
export function identityCondition(
  v: Verification,
  generation: number,
): Omit<Condition, "lastTransitionTime"> {
  return {
    type: IDENTITY_VERIFIED,
    status: v.ok ? "True" : "False",
    reason: v.reason,
    message: v.message,
    observedGeneration: generation,
  };
}
