// The grant model the gateway and the ledger share: what the gateway knows
// of an agreement when it serves a transfer (read from the cluster by the
// gateway, @tds/gateway), a refusal as the routes answer it, a transfer's
// cross-border export checks, and the gate of the DSP's per-transfer tokens.
// Types and the agreement id's syntax only; the rules that decide a request
// are the gateway's (dashboard-api/gateway/src/grants.ts).
import type { ContractPolicyFacts } from "@tds/crds/policy";

export type AccessMode = "download" | "computeOnly";

/** Everything the gateway needs to know about an agreement, read from the cluster. */
export interface ContractGrant {
  readonly agreementId: string;
  readonly space: string;
  readonly consumer: string;
  readonly provider: string;
  readonly contract: {
    readonly namespace: string;
    readonly name: string;
    readonly uid: string;
    readonly state: string;
    readonly notBefore?: string;
    readonly notAfter?: string;
  };
  readonly offer: {
    readonly namespace: string;
    readonly name: string;
    readonly uid: string;
    readonly key?: string;
    readonly prefix?: string;
    readonly accessMode: AccessMode;
  };
  /** The agreed maximum number of accesses; undefined means unlimited. */
  readonly maxAccesses?: number;
  /** The provider's bucket. */
  readonly bucket: string;
  /** SHA-256 of the contract token, so the token itself is not kept around. */
  readonly tokenDigest: Buffer;
  /**
   * The facts the policy engine re-decides the contract on at every access
   * (@tds/crds/policy: contractPolicyFacts, as the operator decides it): the
   * space's rules, the offer, both participants and the request, as the watch
   * cache holds them now. Undefined when the space is unknown (then only
   * the contract's state and window apply, and the operator's decision stands).
   */
  readonly policy?: ContractPolicyFacts;
}

export interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Agreement ids are label values: the lookup uses the tds.dev/agreement-id label. */
export const AGREEMENT_ID = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/**
 * Tokens scoped to one transfer process (the DSP's PULL transfers,
 * dsp/transfer-tokens.ts): accepted for their agreement in place of the
 * contract token while their transfer runs, and their streams cut when it stops.
 */
export interface TransferTokenGate {
  /** The transfer a token was issued for, a refusal, or undefined when the token is not one of these. */
  authorize(agreementId: string, token: string): Promise<{ pid: string } | Refusal | undefined>;
  watch(pid: string, cut: (why: Refusal) => void): () => void;
}

/** One destination of a transfer outside the home region, and the rule that allows or refuses it. */
export interface ExportCheck {
  readonly destination: string;
  /** certificate: the country the consumer's certificate issuer vouches for; declared: organization.region. */
  readonly regionSource: "certificate" | "declared";
  readonly allowed: boolean;
  readonly rule: string;
  readonly message: string;
}
