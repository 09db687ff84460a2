// Client certificates as identities (mTLS): the decision, pure, for one
// certificate chain at one space's door, and the view of the cluster it is
// decided against (certificate-trust.ts keeps that view fed by watches).
//
// A chain is accepted at space D's door when, in this order:
//   1. it is at most MAX_CHAIN_CERTIFICATES certificates of at most
//      MAX_CERTIFICATE_BYTES each, and each parses (else 400);
//   2. the leaf chains (through presented CA certificates) to a CA certificate
//      of one of D's trust anchors: its own space CA, a caBundle or a trusted
//      space's CA (the operator's trust bundle, ConfigMap tds-<D>/trust-bundle).
//      A chain that ends at another space's CA that D does not trust is named
//      as such; anything else is an unknown CA (401);
//   3. every certificate on the path is valid now (401 expired / not yet valid);
//   4. the leaf may authenticate a client (extended key usage clientAuth when
//      it has one) (401);
//   5. the leaf is not in the anchor's revocation list: the space CRL of the
//      space that issued it (tds-<space>/space-crl), verified against the CA;
//      an anchor whose CRL is present but does not verify refuses every
//      certificate (fail closed) (401);
//   6. the leaf's subject maps to exactly one Participant: for the space CA,
//      D's participants whose spec.identity.certificate.subject is the leaf's
//      and that name no issuedBy; for a caBundle, D's participants with
//      issuedBy set to its name; for a trusted space T, T's participants that
//      the T CA issues, and D's participants whose issuedBy names T (403);
//   7. that participant is not suspended (403).
// Signatures are checked by Node's crypto.X509Certificate (checkIssued and
// verify); names are compared as @peculiar/x509 renders them. Nothing here
// compares serials to a "current" one: a renewed certificate and the one it
// replaces are both accepted until the old one expires or is revoked.
import { createHash, X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { rfc3339 } from "@tds/crds";

/** The largest certificate (DER bytes) accepted; the operator's are under 1 KiB. */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;
/** The most certificates a client may present (leaf and intermediates). */
export const MAX_CHAIN_CERTIFICATES = 4;

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

export type AnchorKind = "spaceCA" | "caBundle" | "trustedSpace";

export interface TrustAnchor {
  readonly name: string;
  readonly kind: AnchorKind;
  readonly certificates: readonly X509Certificate[];
  /** Revoked serial numbers (normalised, see serialKey) from a verified CRL. */
  readonly revoked: ReadonlySet<string>;
  /** Set when a revocation list is published for the anchor but cannot be used: every certificate is refused. */
  readonly crlProblem?: string;
}

export interface SpaceTrust {
  readonly space: string;
  readonly uid: string;
  readonly anchors: readonly TrustAnchor[];
}

export interface CertificateParticipant {
  readonly name: string;
  readonly space: string;
  readonly uid: string;
  /** spec.identity.certificate.subject, as @peculiar/x509 renders it (see canonicalName). */
  readonly subject: string;
  readonly issuedBy?: string;
  readonly suspended: boolean;
}

/** What a chain is decided against: the spaces' trust and the participants. */
export interface TrustView {
  space(name: string): SpaceTrust | undefined;
  /** Every space's own CA on the cluster, to name an untrusted space in a refusal. */
  spaceCAs(): Iterable<{ readonly space: string; readonly certificate: X509Certificate }>;
  participants(): Iterable<CertificateParticipant>;
}

export type RefusalReason =
  | "malformed"
  | "tooLarge"
  | "unknownSpace"
  | "unknownCA"
  | "untrustedSpace"
  | "expired"
  | "notYetValid"
  | "notForClientAuth"
  | "revocationUnknown"
  | "revoked"
  | "unknownParticipant"
  | "ambiguousParticipant"
  | "suspended";

/** The HTTP status of each refusal: bad input 400, not a valid credential 401, a valid one without access 403. */
export const refusalStatus: Record<RefusalReason, 400 | 401 | 403> = {
  malformed: 400,
  tooLarge: 400,
  unknownSpace: 403,
  unknownCA: 401,
  untrustedSpace: 403,
  expired: 401,
  notYetValid: 401,
  notForClientAuth: 401,
  revocationUnknown: 401,
  revoked: 401,
  unknownParticipant: 403,
  ambiguousParticipant: 403,
  suspended: 403,
};

export interface Acceptance {
  readonly accepted: true;
  readonly door: string;
  readonly participant: CertificateParticipant;
  readonly anchor: { readonly name: string; readonly kind: AnchorKind };
  readonly subject: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly notAfter: Date;
}

export interface Refusal {
  readonly accepted: false;
  readonly door: string;
  readonly reason: RefusalReason;
  readonly message: string;
  /** The leaf's subject and fingerprint when it parsed. */
  readonly subject?: string;
  readonly fingerprint256?: string;
  readonly anchor?: { readonly name: string; readonly kind: AnchorKind };
}

export type CertificateVerdict = Acceptance | Refusal;

/** A serial number as compared with CRL entries: upper-case hex without leading zeros. */
export function serialKey(serial: string): string {
  return serial
    .replace(/[^0-9a-fA-F]/g, "")
    .toUpperCase()
    .replace(/^0+(?=.)/, "");
}

/** A distinguished name as @peculiar/x509 renders it, or undefined when it does not parse. */
export function canonicalName(dn: string): string | undefined {
  try {
    return new x509.Name(dn).toString();
  } catch {
    return undefined;
  }
}

function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** The subject of a parsed certificate as canonicalName renders names. */
function subjectOf(der: Buffer): string | undefined {
  try {
    return new x509.X509Certificate(der).subject;
  } catch {
    return undefined;
  }
}

/** Decides one chain (DER, leaf first) at the door of space `door`. */
export function verifyCertificateChain(
  chain: readonly Buffer[],
  door: string,
  view: TrustView,
  now: Date,
): CertificateVerdict {
  const refuse = (
    reason: RefusalReason,
    message: string,
    extra: Partial<Pick<Refusal, "subject" | "fingerprint256" | "anchor">> = {},
  ): Refusal => ({ accepted: false, door, reason, message, ...extra });

  if (chain.length === 0) return refuse("malformed", "no client certificate was presented");
  if (chain.length > MAX_CHAIN_CERTIFICATES) {
    return refuse(
      "tooLarge",
      `the client presented ${String(chain.length)} certificates; at most ${String(MAX_CHAIN_CERTIFICATES)} are accepted`,
    );
  }
  const certs: X509Certificate[] = [];
  for (const [i, der] of chain.entries()) {
    if (der.length > MAX_CERTIFICATE_BYTES) {
      return refuse(
        "tooLarge",
        `certificate ${String(i + 1)} is ${String(der.length)} bytes; at most ${String(MAX_CERTIFICATE_BYTES)} are accepted`,
      );
    }
    try {
      certs.push(new X509Certificate(der));
    } catch {
      return refuse(
        "malformed",
        `certificate ${String(i + 1)} of ${String(chain.length)} is not a DER X.509 certificate`,
      );
    }
  }
  const leaf = certs[0];
  const leafDer = chain[0];
  if (!leaf || !leafDer) return refuse("malformed", "no client certificate was presented");
  const subject = subjectOf(leafDer) ?? leaf.subject.replaceAll("\n", ", ");
  const fingerprint256 = leaf.fingerprint256;
  const who = { subject, fingerprint256 };

  const trust = view.space(door);
  if (!trust) {
    // No door named by the route, and no space's own CA or caBundle issued it.
    if (door === "")
      return refuse(
        "unknownCA",
        `issued by ${leaf.issuer.replaceAll("\n", ", ")}, which is not a CA of any data space on this cluster`,
        who,
      );
    return refuse("unknownSpace", `no data space ${door} with a trust bundle on this cluster`, who);
  }

  // The path: leaf, then presented CA certificates, up to a CA of one of the door's anchors.
  const path: X509Certificate[] = [leaf];
  let found: { anchor: TrustAnchor; ca: X509Certificate } | undefined;
  for (let current = leaf; path.length <= MAX_CHAIN_CERTIFICATES;) {
    for (const anchor of trust.anchors) {
      const ca = anchor.certificates.find((c) => issuedBy(current, c));
      if (ca) {
        found = { anchor, ca };
        break;
      }
    }
    if (found) break;
    const next = certs.slice(1).find((c) => c.ca && !path.includes(c) && issuedBy(current, c));
    if (!next) break;
    path.push(next);
    current = next;
  }
  if (!found) {
    const top = path[path.length - 1] ?? leaf;
    const foreign = [...view.spaceCAs()].find((s) => s.space !== door && issuedBy(top, s.certificate));
    if (foreign) {
      return refuse(
        "untrustedSpace",
        `issued by the CA of space ${foreign.space}, which space ${door} does not trust (spec.trustAnchors.trustedSpaces)`,
        who,
      );
    }
    return refuse(
      "unknownCA",
      `issued by ${leaf.issuer.replaceAll("\n", ", ")}, which is not a CA of space ${door}'s trust bundle`,
      who,
    );
  }
  const anchor = { name: found.anchor.name, kind: found.anchor.kind };
  const by = { ...who, anchor };

  for (const c of path) {
    const what = c === leaf ? "the certificate" : `its issuer ${c.subject.replaceAll("\n", ", ")}`;
    if (c.validToDate.getTime() <= now.getTime()) {
      return refuse("expired", `${what} expired at ${rfc3339(c.validToDate)}`, by);
    }
    if (c.validFromDate.getTime() > now.getTime()) {
      return refuse("notYetValid", `${what} is not valid before ${rfc3339(c.validFromDate)}`, by);
    }
  }
  // Undefined when the certificate has no extendedKeyUsage extension (any use).
  const usages = leaf.keyUsage as readonly string[] | undefined;
  if (usages !== undefined && !usages.includes(CLIENT_AUTH)) {
    return refuse("notForClientAuth", "the certificate's extended key usage does not include clientAuth", by);
  }

  if (found.anchor.crlProblem) {
    return refuse(
      "revocationUnknown",
      `the revocation list of ${anchor.kind} ${anchor.name} cannot be used: ${found.anchor.crlProblem}`,
      by,
    );
  }
  // Revocation of the certificate the anchor's CA signed (the leaf, or the first intermediate).
  const signedByAnchor = path[path.length - 1] ?? leaf;
  if (found.anchor.revoked.has(serialKey(signedByAnchor.serialNumber))) {
    const what = signedByAnchor === leaf ? "serial" : "its intermediate CA, serial";
    return refuse(
      "revoked",
      `${what} ${signedByAnchor.serialNumber} was revoked by ${anchor.kind} ${anchor.name} (its certificate revocation list)`,
      by,
    );
  }

  const all = [...view.participants()];
  const candidates = all.filter((p) => {
    if (p.subject !== subject) return false;
    switch (found.anchor.kind) {
      case "spaceCA":
        return p.space === door && p.issuedBy === undefined;
      case "caBundle":
        return p.space === door && p.issuedBy === found.anchor.name;
      case "trustedSpace":
        return (
          (p.space === found.anchor.name && p.issuedBy === undefined) ||
          (p.space === door && p.issuedBy === found.anchor.name)
        );
    }
    return false;
  });
  if (candidates.length === 0) {
    return refuse(
      "unknownParticipant",
      `no participant recognised by ${anchor.kind} ${anchor.name} has the certificate subject ${subject}`,
      by,
    );
  }
  if (candidates.length > 1) {
    return refuse(
      "ambiguousParticipant",
      `the certificate subject ${subject} is declared by several participants (${candidates.map((p) => `${p.space}/${p.name}`).join(", ")})`,
      by,
    );
  }
  const participant = candidates[0];
  if (!participant) return refuse("unknownParticipant", `no participant has the subject ${subject}`, by);
  if (participant.suspended) {
    return refuse("suspended", `participant ${participant.space}/${participant.name} is suspended`, by);
  }
  return {
    accepted: true,
    door,
    participant,
    anchor,
    subject,
    serialNumber: leaf.serialNumber,
    fingerprint256,
    notAfter: leaf.validToDate,
  };
}

/** A digest of a chain, the key its verdict is cached under. */
export function chainDigest(chain: readonly Buffer[]): string {
  const h = createHash("sha256");
  for (const der of chain) h.update(String(der.length)).update(":").update(der);
  return h.digest("hex");
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** The DER certificates of a PEM text (a trust bundle, a forwarded client certificate). */
export function pemCertificates(pem: string): Buffer[] {
  return [...pem.matchAll(PEM_BLOCK)].map((m) => Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64"));
}

/**
 * The serial numbers a PEM CRL revokes, after checking it is signed by one of
 * `cas`; throws with the reason when it does not parse or verify.
 */
export async function revokedSerials(crlPem: string, cas: readonly X509Certificate[]): Promise<Set<string>> {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(crlPem);
  } catch (err) {
    throw new Error("the CRL does not parse", { cause: err });
  }
  for (const ca of cas) {
    const publicKey = new x509.X509Certificate(ca.raw);
    if (await crl.verify({ publicKey }).catch(() => false)) {
      return new Set(crl.entries.map((e) => serialKey(e.serialNumber)));
    }
  }
  throw new Error(`the CRL issued by ${crl.issuer} is not signed by the anchor's CA`);
}
