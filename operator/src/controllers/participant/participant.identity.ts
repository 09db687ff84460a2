// A participant's client certificate: issued by the space CA with the subject
// from its spec, kept in a kubernetes.io/tls Secret in its namespace, renewed
// before it expires, and revoked (listed in the space CRL) on suspension or
// deletion.
import type { Participant } from "@tds/crds";
import { participantNamespace } from "@tds/crds";
import { dataOf, isConflict, type KubeObject, kinds } from "@tds/kube";
import type { Context } from "../../runtime/reconcile.ts";
import { describeCertificate, issueCertificate } from "../../identity/pki.ts";
import { revokeCertificates, type SpaceCA } from "../../identity/space-ca.ts";
import { spaceControlNamespace } from "../isolation.builders.ts";

export const IDENTITY_SECRET = "participant-identity";
const SERIAL_ANNOTATION = "tds.dev/certificate-serial";
const SUBJECT_ANNOTATION = "tds.dev/certificate-subject";
const ISSUED_ANNOTATION = "tds.dev/certificate-not-before";

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

export interface IdentityState {
  readonly secretName: string;
  readonly serial: string;
  readonly notAfter: Date;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

/** Whether a certificate issued at `notBefore` and expiring at `notAfter` is due for renewal at `now`. */
export function renewalDue(notBefore: Date, notAfter: Date, now: Date, renewAtFraction: number): boolean {
  const renewAt = notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * renewAtFraction;
  return now.getTime() >= renewAt;
}

export async function ensureIdentity(
  ctx: Context,
  p: Participant & KubeObject,
  ca: SpaceCA,
  validityDays: number,
  renewAtFraction: number,
  live: KubeObject | undefined,
  objectLabels: Record<string, string>,
  now: Date = new Date(),
): Promise<IdentityState | undefined> {
  const cert = p.spec.identity.certificate;
  if (!cert || cert.issuedBy) return undefined; // OIDC, DID or an externally issued certificate
  const ns = participantNamespace(p.spec.dataSpace, p.metadata.name ?? "");
  const secret = live;
  if (secret) {
    const d = describeCertificate(unb64(dataOf(secret)["tls.crt"]));
    const notBefore = new Date(secret.metadata.annotations?.[ISSUED_ANNOTATION] ?? 0);
    const sameSubject = secret.metadata.annotations?.[SUBJECT_ANNOTATION] === cert.subject;
    const sameCA = unb64(dataOf(secret)["ca.crt"]) === ca.certPem;
    if (sameSubject && sameCA && !renewalDue(notBefore, d.notAfter, now, renewAtFraction)) {
      return { secretName: IDENTITY_SECRET, serial: d.serialNumber, notAfter: d.notAfter };
    }
  }
  const issued = await issueCertificate(ca, {
    subject: cert.subject,
    usage: "client",
    validForDays: validityDays,
    now,
  });
  const body: SecretObject = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: IDENTITY_SECRET,
      namespace: ns,
      labels: objectLabels,
      annotations: {
        [SERIAL_ANNOTATION]: issued.serialNumber,
        [SUBJECT_ANNOTATION]: cert.subject,
        [ISSUED_ANNOTATION]: issued.notBefore.toISOString(),
      },
      // Replacing (not creating) carries the read version: a stale writer gets a 409.
      ...(secret?.metadata.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
    },
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(issued.certPem), "tls.key": b64(issued.keyPem), "ca.crt": b64(ca.certPem) },
  };
  ctx.beforeWrite(`${secret ? "renew" : "issue"} certificate of ${p.metadata.name ?? ""}`);
  try {
    if (secret)
      await ctx.client.request("PUT", `/api/v1/namespaces/${ns}/secrets/${IDENTITY_SECRET}`, { body });
    else await ctx.client.create(kinds.secret, body);
  } catch (err) {
    if (isConflict(err)) throw err; // requeued quietly; the next pass reads the winner
    throw new Error(`cannot store the certificate of participant ${p.metadata.name ?? ""}`, { cause: err });
  }
  ctx.events.emit(
    p,
    "Normal",
    secret ? "CertificateRenewed" : "CertificateIssued",
    `Issued a client certificate for ${cert.subject}, serial ${issued.serialNumber}`,
  );
  return { secretName: IDENTITY_SECRET, serial: issued.serialNumber, notAfter: issued.notAfter };
}

/** Lists the participant's certificate as revoked, then deletes its Secret. */
export async function revokeIdentity(
  ctx: Context,
  p: Participant & KubeObject,
  ca: SpaceCA | undefined,
  reason: "cessationOfOperation" | "certificateHold",
  spaceLabels: Record<string, string>,
): Promise<void> {
  const ns = participantNamespace(p.spec.dataSpace, p.metadata.name ?? "");
  const secret = await ctx.client.find<SecretObject>(kinds.secret, IDENTITY_SECRET, ns);
  if (!secret) return;
  if (ca) {
    const d = describeCertificate(unb64(dataOf(secret)["tls.crt"]));
    await revokeCertificates(
      ctx,
      spaceControlNamespace(p.spec.dataSpace),
      ca,
      [{ serialNumber: d.serialNumber, subject: d.subject, revokedAt: new Date().toISOString(), reason }],
      spaceLabels,
    );
  }
  ctx.beforeWrite(`delete certificate Secret of ${p.metadata.name ?? ""}`);
  await ctx.client.delete(kinds.secret, IDENTITY_SECRET, ns, { uid: secret.metadata.uid });
}
