// A space's trust bundle: the certificate authorities whose client
// certificates identify its participants. The space's own CA, each
// spec.trustAnchors.caBundles entry and the CA of each trusted space,
// checked (every PEM block a valid, unexpired CA certificate) and published
// in the ConfigMap tds-<space>/trust-bundle (ca.crt for verifiers, anchors.json
// for people), so an mTLS endpoint of the space has one file to trust.
// Pure: the caller resolves trusted spaces to their CA certificates.
import * as x509 from "@peculiar/x509";
import { type DataSpace, rfc3339 } from "@tds/crds";

export const TRUST_BUNDLE_CONFIGMAP = "trust-bundle";

export interface AnchorSummary {
  readonly name: string;
  readonly kind: "spaceCA" | "caBundle" | "trustedSpace";
  readonly certificates: number;
  /** The earliest expiry among the anchor's certificates. */
  readonly notAfter?: string;
}

export interface TrustProblem {
  /** The spec field at fault, e.g. spec.trustAnchors.caBundles[name=partner].pem */
  readonly field: string;
  readonly reason: "InvalidTrustAnchor" | "TrustedSpaceNotFound";
  readonly message: string;
}

export interface TrustBundle {
  /** Concatenated PEM of every accepted CA certificate, the space's own first. */
  readonly pem: string;
  readonly anchors: readonly AnchorSummary[];
  readonly problems: readonly TrustProblem[];
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The CA certificates of a PEM text, or why it is not acceptable. */
export function caCertificates(
  pem: string,
  now: Date,
): { certs: x509.X509Certificate[]; error?: undefined } | { certs?: undefined; error: string } {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) return { error: "contains no PEM certificate" };
  const certs: x509.X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(block);
    } catch {
      return { error: `certificate ${String(i + 1)} of ${String(blocks.length)} does not parse` };
    }
    const constraints = cert.getExtension(x509.BasicConstraintsExtension);
    if (!constraints?.ca) {
      return {
        error: `certificate ${String(i + 1)} (${cert.subject}) is not a CA (basicConstraints cA is not true)`,
      };
    }
    if (cert.notAfter.getTime() <= now.getTime()) {
      return {
        error: `certificate ${String(i + 1)} (${cert.subject}) expired at ${cert.notAfter.toISOString()}`,
      };
    }
    certs.push(cert);
  }
  return { certs };
}

const earliest = (certs: readonly x509.X509Certificate[]): string | undefined => {
  const t = Math.min(...certs.map((c) => c.notAfter.getTime()));
  return Number.isFinite(t) ? rfc3339(t) : undefined;
};

/**
 * The bundle of a space. `spaceCaOf` gives the CA certificate (PEM) of a
 * trusted space on this cluster, or undefined when there is none. An anchor
 * with a problem is left out of the bundle and reported with its field.
 */
export function buildTrustBundle(
  space: DataSpace,
  ownCaPem: string,
  spaceCaOf: (name: string) => string | undefined,
  now: Date = new Date(),
): TrustBundle {
  const pems: string[] = [];
  const anchors: AnchorSummary[] = [];
  const problems: TrustProblem[] = [];
  const accept = (name: string, kind: AnchorSummary["kind"], certs: x509.X509Certificate[]) => {
    pems.push(...certs.map((c) => c.toString("pem")));
    const notAfter = earliest(certs);
    anchors.push({ name, kind, certificates: certs.length, ...(notAfter ? { notAfter } : {}) });
  };
  const own = caCertificates(ownCaPem, now);
  if (own.certs) accept(space.metadata.name ?? "", "spaceCA", own.certs);

  for (const b of space.spec.trustAnchors?.caBundles ?? []) {
    const r = caCertificates(b.pem, now);
    if (r.certs) accept(b.name, "caBundle", r.certs);
    else
      problems.push({
        field: `spec.trustAnchors.caBundles[name=${b.name}].pem`,
        reason: "InvalidTrustAnchor",
        message: r.error,
      });
  }
  for (const t of space.spec.trustAnchors?.trustedSpaces ?? []) {
    const field = `spec.trustAnchors.trustedSpaces[name=${t.name}]`;
    const pem = t.caBundle ?? spaceCaOf(t.name);
    if (pem === undefined) {
      problems.push({
        field,
        reason: "TrustedSpaceNotFound",
        message: `no DataSpace ${t.name} with a CA on this cluster; give its caBundle when it runs elsewhere`,
      });
      continue;
    }
    const r = caCertificates(pem, now);
    if (r.certs) accept(t.name, "trustedSpace", r.certs);
    else
      problems.push({
        field: `${field}${t.caBundle ? ".caBundle" : ""}`,
        reason: "InvalidTrustAnchor",
        message: r.error,
      });
  }
  return { pem: pems.join(""), anchors, problems };
}

/** The names a participant's certificate.issuedBy may take in a space. */
export function trustAnchorNames(space: DataSpace): string[] {
  return [
    ...(space.spec.trustAnchors?.caBundles ?? []).map((b) => b.name),
    ...(space.spec.trustAnchors?.trustedSpaces ?? []).map((t) => t.name),
  ];
}
