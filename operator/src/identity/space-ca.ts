// The space certificate authority: a key pair in a Secret in the space's
// control namespace (created once, never logged, never overwritten), and the
// revocation list in a ConfigMap beside it.
import { dataOf, isConflict, type KubeObject, kinds } from "@tds/kube";
import type { Context } from "../runtime/reconcile.ts";
import {
  createCertificateAuthority,
  createRevocationList,
  describeCertificate,
  type KeyedCertificate,
} from "./pki.ts";

export const CA_SECRET = "space-ca";
export const CRL_CONFIGMAP = "space-crl";

interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

interface ConfigMapObject extends KubeObject {
  data?: Record<string, string>;
}

export interface SpaceCA extends KeyedCertificate {
  readonly serialNumber: string;
  readonly notAfter: Date;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

function fromSecret(secret: SecretObject): SpaceCA {
  const certPem = unb64(dataOf(secret)["tls.crt"]);
  const keyPem = unb64(dataOf(secret)["tls.key"]);
  if (!certPem || !keyPem) throw new Error(`Secret ${secret.metadata.name ?? ""} lacks tls.crt or tls.key`);
  const d = describeCertificate(certPem);
  return { certPem, keyPem, serialNumber: d.serialNumber, notAfter: d.notAfter };
}

/**
 * Returns the space CA, creating it if absent. Creation is a POST: when two
 * reconciles race (or a crash repeats the step) the loser reads the winner's
 * Secret, so there is only ever one CA per space.
 */
export async function ensureSpaceCA(
  ctx: Context,
  namespace: string,
  space: string,
  validityDays: number,
  objectLabels: Record<string, string>,
  live: KubeObject | undefined,
): Promise<SpaceCA> {
  if (live) return fromSecret(live);
  const ca = await createCertificateAuthority(`TDS space ${space} CA`, validityDays);
  const secret: SecretObject = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: CA_SECRET, namespace, labels: objectLabels },
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(ca.certPem), "tls.key": b64(ca.keyPem), "ca.crt": b64(ca.certPem) },
  };
  try {
    ctx.beforeWrite(`create Secret ${namespace}/${CA_SECRET}`);
    return fromSecret(await ctx.client.create(kinds.secret, secret));
  } catch (err) {
    if (isConflict(err)) {
      return fromSecret(await ctx.client.get<SecretObject>(kinds.secret, CA_SECRET, namespace));
    }
    throw new Error(`cannot create the CA Secret of space ${space}`, { cause: err });
  }
}

export interface RevokedCertificate {
  readonly serialNumber: string;
  readonly revokedAt: string;
  readonly subject: string;
  readonly reason: string;
}

export function revokedList(cm: KubeObject | undefined): RevokedCertificate[] {
  const raw = dataOf(cm)["revoked.json"];
  return raw ? (JSON.parse(raw) as RevokedCertificate[]) : [];
}

/**
 * Adds certificates to the space's revocation list and re-signs the CRL. The
 * ConfigMap is replaced with its resourceVersion as a precondition, so
 * concurrent revocations cannot drop each other (the loser gets a 409 and retries).
 */
export async function revokeCertificates(
  ctx: Context,
  namespace: string,
  ca: SpaceCA,
  entries: readonly RevokedCertificate[],
  objectLabels: Record<string, string>,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const live = await ctx.client.find<ConfigMapObject>(kinds.configMap, CRL_CONFIGMAP, namespace);
    const list = revokedList(live);
    const fresh = entries.filter((e) => !list.some((r) => r.serialNumber === e.serialNumber));
    if (fresh.length === 0 && live) return;
    const next = [...list, ...fresh].sort((a, b) => a.serialNumber.localeCompare(b.serialNumber));
    const crl = await createRevocationList(
      ca,
      next.map((r) => ({ serialNumber: r.serialNumber, revokedAt: new Date(r.revokedAt) })),
    );
    const body: ConfigMapObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: CRL_CONFIGMAP,
        namespace,
        labels: objectLabels,
        ...(live?.metadata.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}),
      },
      data: { "revoked.json": JSON.stringify(next, null, 2), "ca.crl": crl },
    };
    try {
      ctx.beforeWrite(`revoke certificates in ${namespace}/${CRL_CONFIGMAP}`);
      if (live) {
        await ctx.client.request("PUT", `/api/v1/namespaces/${namespace}/configmaps/${CRL_CONFIGMAP}`, {
          body,
        });
      } else {
        await ctx.client.create(kinds.configMap, body);
      }
      return;
    } catch (err) {
      if (!isConflict(err) || attempt >= 5) throw err;
    }
  }
}
