// PKI primitives: certificate authorities, leaf certificates and revocation lists.
// Used by the operator for each space's CA and participant certificates, and by
// the local control plane harness for its cluster PKI. Keys are ECDSA P-256.
import { webcrypto, randomBytes } from "node:crypto";
import * as x509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const keyAlgorithm: webcrypto.EcKeyGenParams & webcrypto.EcKeyImportParams = {
  name: "ECDSA",
  namedCurve: "P-256",
};
const signingAlgorithm: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const dayMs = 24 * 60 * 60 * 1000;

export interface KeyedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface IssuedCertificate extends KeyedCertificate {
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface IssueOptions {
  /** Distinguished name, for example "CN=acme,O=Acme Ltd,C=CN". */
  readonly subject: string;
  readonly usage: "server" | "client" | "both";
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly validForDays: number;
  readonly now?: Date;
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function fromPem(pem: string, label: string): ArrayBuffer {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(pem);
  if (!match?.[1]) throw new Error(`PEM block ${label} not found`);
  const buf = Buffer.from(match[1].replace(/\s+/g, ""), "base64");
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive INTEGER
  return bytes.toString("hex");
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
}

async function exportPrivateKey(key: CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  return webcrypto.subtle.importKey("pkcs8", fromPem(pem, "PRIVATE KEY"), keyAlgorithm, true, ["sign"]);
}

/** Creates a self-signed certificate authority. */
export async function createCertificateAuthority(
  commonName: string,
  validForDays: number,
  now: Date = new Date(),
): Promise<IssuedCertificate> {
  const keys = await generateKeys();
  const serialNumber = randomSerial();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + validForDays * dayMs);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    name: `CN=${commonName}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: await exportPrivateKey(keys.privateKey),
    serialNumber,
    notBefore,
    notAfter,
  };
}

/** Issues a leaf certificate signed by the given authority. */
export async function issueCertificate(ca: KeyedCertificate, opts: IssueOptions): Promise<IssuedCertificate> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importPrivateKey(ca.keyPem);
  const keys = await generateKeys();
  const now = opts.now ?? new Date();
  const serialNumber = randomSerial();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(Math.min(now.getTime() + opts.validForDays * dayMs, caCert.notAfter.getTime()));
  const usages: string[] = [];
  if (opts.usage !== "client") usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.usage !== "server") usages.push(x509.ExtendedKeyUsage.clientAuth);
  const altNames: x509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
  ];
  if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: opts.subject,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm,
    extensions,
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: await exportPrivateKey(keys.privateKey),
    serialNumber,
    notBefore,
    notAfter,
  };
}

export interface RevokedEntry {
  readonly serialNumber: string;
  readonly revokedAt: Date;
}

/** Builds a certificate revocation list signed by the authority. */
export async function createRevocationList(
  ca: KeyedCertificate,
  revoked: readonly RevokedEntry[],
  now: Date = new Date(),
  nextUpdateInDays = 7,
): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + nextUpdateInDays * dayMs),
    entries: revoked.map((r) => ({ serialNumber: r.serialNumber, revocationDate: r.revokedAt })),
    signingKey: await importPrivateKey(ca.keyPem),
    signingAlgorithm,
  });
  // RFC 7468 labels a CRL "X509 CRL" (openssl crl expects it).
  return toPem(crl.rawData, "X509 CRL");
}

/** Reads the validity window and serial of a PEM certificate. */
export function describeCertificate(certPem: string): {
  serialNumber: string;
  subject: string;
  notAfter: Date;
} {
  const cert = new x509.X509Certificate(certPem);
  return { serialNumber: cert.serialNumber, subject: cert.subject, notAfter: cert.notAfter };
}

/** Verifies that a certificate was signed by the authority and is valid at `at`. */
export async function verifyIssuedBy(
  certPem: string,
  caPem: string,
  at: Date = new Date(),
): Promise<boolean> {
  const cert = new x509.X509Certificate(certPem);
  const caCert = new x509.X509Certificate(caPem);
  return cert.verify({ publicKey: caCert, date: at });
}

/** Creates a standalone ECDSA key pair in PEM (for service-account token signing and the like). */
export async function createKeyPairPem(): Promise<{ publicKeyPem: string; privateKeyPem: string }> {
  const keys = await generateKeys();
  return {
    publicKeyPem: toPem(await webcrypto.subtle.exportKey("spki", keys.publicKey), "PUBLIC KEY"),
    privateKeyPem: await exportPrivateKey(keys.privateKey),
  };
}
