// The space's evidence signing key: an Ed25519 key pair created once in the
// Secret tds-<space>/evidence-signing-key (key ed25519.pem, PKCS#8 PEM), which
// the dashboard API signs checkpoints with, and its public half published in
// the ConfigMap tds-<space>/evidence-public-key for members to verify with.
// Like the space CA: created with a POST, never overwritten; a racing or
// repeated reconcile reads the winner's key.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { dataOf, isConflict, type KubeObject, kinds } from "@tds/kube";
import type { Context } from "../../runtime/reconcile.ts";

export const EVIDENCE_KEY_SECRET = "evidence-signing-key";
export const EVIDENCE_KEY_FIELD = "ed25519.pem";
export const EVIDENCE_PUBLIC_KEY_CONFIGMAP = "evidence-public-key";
export const EVIDENCE_PUBLIC_KEY_FIELD = "ed25519.pub.pem";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

async function createOnce(ctx: Context, resource: typeof kinds.secret, obj: KubeObject): Promise<KubeObject> {
  const { name = "", namespace = "" } = obj.metadata;
  try {
    ctx.beforeWrite(`create ${obj.kind ?? ""} ${namespace}/${name}`);
    return await ctx.client.create(resource, obj);
  } catch (err) {
    if (isConflict(err)) return ctx.client.get(resource, name, namespace);
    throw new Error(`cannot create ${obj.kind ?? ""} ${namespace}/${name}`, { cause: err });
  }
}

/**
 * Ensures the space's evidence key exists and its public key is published;
 * returns the public key (SPKI PEM). `liveSecret` and `liveConfigMap` come from
 * the cache; a miss only costs a POST that answers 409.
 */
export async function ensureEvidenceKey(
  ctx: Context,
  namespace: string,
  objectLabels: Record<string, string>,
  liveSecret: KubeObject | undefined,
  liveConfigMap: KubeObject | undefined,
): Promise<string> {
  let secret = liveSecret;
  if (!secret) {
    const { privateKey } = generateKeyPairSync("ed25519");
    secret = await createOnce(ctx, kinds.secret, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: EVIDENCE_KEY_SECRET, namespace, labels: objectLabels },
      type: "Opaque",
      data: { [EVIDENCE_KEY_FIELD]: b64(privateKey.export({ format: "pem", type: "pkcs8" }).toString()) },
    });
  }
  const pem = Buffer.from(dataOf(secret)[EVIDENCE_KEY_FIELD] ?? "", "base64").toString("utf8");
  if (!pem) throw new Error(`Secret ${namespace}/${EVIDENCE_KEY_SECRET} lacks ${EVIDENCE_KEY_FIELD}`);
  const publicPem = createPublicKey(createPrivateKey(pem)).export({ format: "pem", type: "spki" }).toString();
  if (dataOf(liveConfigMap)[EVIDENCE_PUBLIC_KEY_FIELD] !== publicPem) {
    if (liveConfigMap) {
      // Published by someone else with a different key: the Secret is the truth.
      ctx.beforeWrite(`replace ConfigMap ${namespace}/${EVIDENCE_PUBLIC_KEY_CONFIGMAP}`);
      await ctx.client.request(
        "PUT",
        `/api/v1/namespaces/${namespace}/configmaps/${EVIDENCE_PUBLIC_KEY_CONFIGMAP}`,
        {
          body: {
            ...liveConfigMap,
            data: { ...dataOf(liveConfigMap), [EVIDENCE_PUBLIC_KEY_FIELD]: publicPem },
          },
        },
      );
    } else {
      await createOnce(ctx, kinds.configMap, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: EVIDENCE_PUBLIC_KEY_CONFIGMAP, namespace, labels: objectLabels },
        data: { [EVIDENCE_PUBLIC_KEY_FIELD]: publicPem },
      });
    }
  }
  return publicPem;
}
