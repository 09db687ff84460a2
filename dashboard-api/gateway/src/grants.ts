// The gateway's rules, as pure functions: what a contract grant is, whether a
// request may proceed (state, validity, the space's current rules through the
// policy engine the operator decides contracts with, access mode, asset path), the
// deterministic transfer id, and the constant-time token comparison. The
// grant itself comes from Kubernetes (kube.ts); its type is the ledger's
// (@tds/dashboard-api/grant). Nothing here does I/O.
import { createHash, timingSafeEqual } from "node:crypto";
import { destinationsOf, exportRule, reassess, regionWithin } from "@tds/crds/policy";
import {
  AGREEMENT_ID,
  type AccessMode,
  type ContractGrant,
  type ExportCheck,
  type Refusal,
  type TransferTokenGate,
} from "@tds/dashboard-api/grant";

export {
  AGREEMENT_ID,
  type AccessMode,
  type ContractGrant,
  type ExportCheck,
  type Refusal,
  type TransferTokenGate,
};

/** A client's Idempotency-Key: printable, no spaces, at most 200 characters. */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:~+/=-]{1,200}$/;

export function digestToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** Constant-time: compares fixed-length digests, so neither length nor content leaks through timing. */
export function tokenMatches(presented: string | undefined, expectedDigest: Buffer): boolean {
  if (presented === undefined || presented === "") return false;
  const got = digestToken(presented);
  return got.length === expectedDigest.length && timingSafeEqual(got, expectedDigest);
}

export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Why the contract does not allow access now, or undefined when it does. */
export function contractRefusal(grant: ContractGrant, now: Date): Refusal | undefined {
  const c = grant.contract;
  if (c.state === "Revoked") {
    return { status: 403, code: "TDS_ERR_CONTRACT_REVOKED", message: `Contract ${c.name} was revoked` };
  }
  if (c.state === "Expired") {
    return { status: 403, code: "TDS_ERR_CONTRACT_EXPIRED", message: `Contract ${c.name} has expired` };
  }
  if (c.state === "Suspended") {
    return {
      status: 403,
      code: "TDS_ERR_CONTRACT_SUSPENDED",
      message: `Contract ${c.name} is suspended: the space's rules no longer allow it`,
    };
  }
  if (c.state !== "Active") {
    return {
      status: 403,
      code: "TDS_ERR_CONTRACT_NOT_ACTIVE",
      message: `Contract ${c.name} is ${c.state || "not decided"}, not Active`,
    };
  }
  if (c.notAfter !== undefined && now.getTime() >= Date.parse(c.notAfter)) {
    return {
      status: 403,
      code: "TDS_ERR_CONTRACT_EXPIRED",
      message: `Contract ${c.name} expired at ${c.notAfter}`,
    };
  }
  if (c.notBefore !== undefined && now.getTime() < Date.parse(c.notBefore)) {
    return {
      status: 403,
      code: "TDS_ERR_CONTRACT_NOT_ACTIVE",
      message: `Contract ${c.name} is valid from ${c.notBefore}`,
    };
  }
  return policyRefusal(grant, now);
}

/**
 * The space's rules as they are now, re-decided by the same engine that
 * agreed the contract: a negative-list entry, a classification level, the
 * consumer's standing or the offer's policy changed since agreement refuses
 * at once, before the operator has suspended the contract. The access count
 * is the ledger's (it claims each access atomically), so it is not re-checked here.
 */
export function policyRefusal(grant: ContractGrant, now: Date): Refusal | undefined {
  if (!grant.policy) return undefined;
  const v = reassess({ ...grant.policy, now });
  if (v.lawful) return undefined;
  return {
    status: 403,
    code: "TDS_ERR_POLICY_REFUSED",
    message: `Contract ${grant.contract.name} is no longer allowed by rule ${v.rule}: ${v.message}`,
  };
}

/** True when the key names the offer's object, or an object under the offer's prefix. */
export function withinAsset(key: string, asset: { key?: string; prefix?: string }): boolean {
  if (key === "" || key.startsWith("/")) return false;
  if (key.split("/").some((s) => s === "." || s === "..")) return false;
  if (asset.key !== undefined) return key === asset.key;
  if (asset.prefix !== undefined) return key.startsWith(asset.prefix) && key.length > asset.prefix.length;
  return false;
}

/** Everything a download request must satisfy before the object is opened. */
export function downloadRefusal(grant: ContractGrant, key: string, now: Date): Refusal | undefined {
  const refused = contractRefusal(grant, now);
  if (refused) return refused;
  if (grant.offer.accessMode !== "download") {
    return {
      status: 403,
      code: "TDS_ERR_ACCESS_MODE",
      message: `Offer ${grant.offer.name} is ${grant.offer.accessMode}: its data is used only in SandboxJobs`,
    };
  }
  if (!withinAsset(key, grant.offer)) {
    return {
      status: 403,
      code: "TDS_ERR_OUTSIDE_ASSET",
      message: `${key} is not part of offer ${grant.offer.name}`,
    };
  }
  return undefined;
}

/**
 * The transfer id. With an Idempotency-Key it is derived from the agreement
 * and the key, so every retry of one download is the same transfer: counted
 * as one access, and its bytes metered once. Without a key the gateway issues
 * a fresh id (returned in TDS-Transfer-Id; send it back as the
 * Idempotency-Key to resume).
 */
export function transferId(agreementId: string, idempotencyKey: string): string {
  return createHash("sha256").update(`${agreementId}\n${idempotencyKey}`).digest("hex").slice(0, 40);
}

/** The first byte of a 206 answer, from its Content-Range (bytes a-b/n); 0 otherwise. */
export function rangeStart(contentRange: string | undefined): number {
  if (!contentRange) return 0;
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(contentRange);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

/** The documented answers of a route that streams an object's bytes (its own content type, passed through). */
export const objectResponses = {
  200: { description: "The object", content: { "*/*": { schema: { type: "string", format: "binary" } } } },
  206: {
    description: "The requested range",
    content: { "*/*": { schema: { type: "string", format: "binary" } } },
  },
  304: { description: "Not modified (If-None-Match)", type: "null" },
} as const;

/**
 * The cross-border exports a transfer to the grant's consumer would be: one
 * per destination outside the home region (verified and declared), each with
 * the negative list's and the level's verdict as they are now. Empty for a
 * domestic consumer or a grant without policy facts.
 */
export function exportsOf(grant: ContractGrant): ExportCheck[] {
  const p = grant.policy;
  if (!p?.consumer) return [];
  const consumer = p.consumer;
  const level = p.space.levels.find((l) => l.name === p.offer.classification);
  return destinationsOf(consumer)
    .filter((d) => !regionWithin(d, p.space.homeRegion))
    .map((destination) => {
      const regionSource =
        consumer.verifiedRegion !== undefined && regionWithin(destination, consumer.verifiedRegion)
          ? "certificate"
          : "declared";
      if (!level)
        return {
          destination,
          regionSource,
          allowed: false,
          rule: "UnknownClassification",
          message: `Level ${p.offer.classification} is no longer a level of the space; nothing of it is exported`,
        };
      const e = exportRule(p.space, level, p.offer.dataCategory, destination, p.contract.exportDecision);
      return { destination, regionSource, allowed: e.kind === "allowed", rule: e.rule, message: e.message };
    });
}

/**
 * A released sandbox output leaves the space as the consumer's download: it
 * is checked against the negative list and the level's export rule for each
 * of the consumer's destinations (verified and declared), as they are now,
 * even after the contract ended.
 */
export function outputExportRefusal(grant: ContractGrant): Refusal | undefined {
  const refused = exportsOf(grant).find((e) => !e.allowed);
  return refused ? exportRefusal(refused) : undefined;
}

/** The answer to a request refused by an export check, naming its rule. */
export const exportRefusal = (refused: ExportCheck): Refusal => ({
  status: 403,
  code: "TDS_ERR_EXPORT_REFUSED",
  message: `Rule ${refused.rule}: ${refused.message}`,
});
