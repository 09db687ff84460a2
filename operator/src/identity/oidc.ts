// Verifies a participant's declared OpenID Connect issuer at onboarding and
// again every `recheckMs`: its discovery document names exactly the declared
// issuer, and its JWKS serves a usable signing key (discoverIssuer in
// @tds/dashboard-api/oidc, which the API's token verifier also uses). The
// result is the participant's IdentityVerified condition; a failure names
// what failed (IssuerUnreachable, IssuerMismatch, DiscoveryInvalid,
// JwksUnreachable, JwksInvalid) and keeps the participant from becoming Active.
import type { Participant } from "@tds/crds";
import { discoverIssuer, IDENTITY_VERIFIED, IssuerError } from "@tds/dashboard-api/oidc";
import type { Condition } from "../runtime/reconcile.ts";

export { IDENTITY_VERIFIED };

export type IssuerVerification = (
  | { readonly ok: true; readonly message: string }
  | { readonly ok: false; readonly reason: string; readonly message: string }
) & {
  /** True when this result was just checked and differs from the last one this operator saw. */
  readonly changed: boolean;
};

/** Verifies declared issuers, remembering each participant's last result for `recheckMs`. */
export class IssuerVerifier {
  private readonly last = new Map<string, { key: string; at: number; result: IssuerVerification }>();

  constructor(
    private readonly recheckMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The verification of the participant's OIDC issuer, or undefined when it declares none. */
  async verify(uid: string, p: Participant): Promise<IssuerVerification | undefined> {
    const oidc = p.spec.identity.oidc;
    if (!oidc) {
      this.last.delete(uid);
      return undefined;
    }
    const key = `${oidc.issuer}\n${oidc.subject}`;
    const hit = this.last.get(uid);
    if (hit && hit.key === key && this.now() - hit.at < this.recheckMs)
      return { ...hit.result, changed: false };
    let result: IssuerVerification;
    const changed = (ok: boolean, reason?: string) =>
      !hit || hit.result.ok !== ok || (!hit.result.ok && hit.result.reason !== reason);
    try {
      const m = await discoverIssuer(oidc.issuer);
      result = {
        ok: true,
        changed: changed(true),
        message: `Issuer ${oidc.issuer} verified: discovery names it exactly, ${m.jwksUri} serves ${String(m.jwks.keys.length)} signing key(s); tokens for subject ${oidc.subject} with audience urn:tds:space:${p.spec.dataSpace} are accepted`,
      };
    } catch (err) {
      if (!(err instanceof IssuerError)) throw err;
      result = {
        ok: false,
        reason: err.reason,
        message: `spec.identity.oidc.issuer: ${err.message}`,
        changed: changed(false, err.reason),
      };
    }
    this.last.set(uid, { key, at: this.now(), result });
    return result;
  }

  forget(uid: string): void {
    this.last.delete(uid);
  }
}

/** The IdentityVerified condition for a verification. */
export function identityCondition(
  v: IssuerVerification,
  generation: number,
): Omit<Condition, "lastTransitionTime"> {
  return {
    type: IDENTITY_VERIFIED,
    status: v.ok ? "True" : "False",
    reason: v.ok ? "IssuerVerified" : v.reason,
    message: v.message,
    observedGeneration: generation,
  };
}
