// A granting contract's credentials, what the gateway authenticates it by:
// the agreement label on the DataContract (the gateway finds the contract by
// it) and the credentials Secret with its token, issued once and kept. The
// status carries the token's digest. When the contract ends (expired,
// revoked, rejected) the Secret is deleted and the token stops working.
import { createHash, randomBytes } from "node:crypto";
import { AGREEMENT_LABEL, type DataContract } from "@tds/crds";
import { dataOf, isConflict, type KubeObject, kinds } from "@tds/kube";
import type { Context } from "../../runtime/reconcile.ts";
import type { Deps } from "../deps.ts";
import { buildCredentialsSecret, credentialsSecretName } from "./datacontract.builders.ts";

type ContractObject = DataContract & KubeObject;

/**
 * The agreement label (the gateway finds the contract by it) and the
 * credentials Secret; returns the digest of its token for status, which is
 * what the gateway authenticates against.
 */
export async function ensureCredentials(
  ctx: Context,
  deps: Deps,
  c: ContractObject,
  space: string,
  agreementId: string,
): Promise<string> {
  const name = c.metadata.name ?? "";
  const ns = c.metadata.namespace ?? "";
  if (c.metadata.labels?.[AGREEMENT_LABEL] !== agreementId) {
    ctx.beforeWrite(`label DataContract ${ns}/${name}`);
    const patched = await ctx.client.mergePatch<ContractObject>(kinds.dataContract, name, ns, {
      metadata: { labels: { [AGREEMENT_LABEL]: agreementId } },
    });
    c.metadata.resourceVersion = patched.metadata.resourceVersion;
  }
  const secretName = credentialsSecretName(name);
  const cached = deps.cache.get(kinds.secret, secretName, ns);
  if (cached) return tokenDigestOf(cached);
  const token = randomBytes(32).toString("base64url");
  const secret = buildCredentialsSecret(c, space, agreementId, token, deps.gatewayUrl ?? "");
  try {
    ctx.beforeWrite(`create Secret ${ns}/${secretName}`);
    await ctx.client.create(kinds.secret, secret);
    return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
  } catch (err) {
    // Created by an earlier attempt: the token stays as first issued.
    if (!isConflict(err))
      throw new Error(`cannot create the credentials Secret of contract ${ns}/${name}`, { cause: err });
    return tokenDigestOf(await ctx.client.get(kinds.secret, secretName, ns));
  }
}

/** Expired, revoked or rejected: the token stops working because its Secret is gone. */
export async function removeCredentials(ctx: Context, deps: Deps, c: ContractObject): Promise<void> {
  const ns = c.metadata.namespace ?? "";
  const secretName = credentialsSecretName(c.metadata.name ?? "");
  const live =
    deps.cache.get(kinds.secret, secretName, ns) ??
    (c.status?.credentialsSecret ? await ctx.client.find(kinds.secret, secretName, ns) : undefined);
  if (!live) return;
  ctx.beforeWrite(`delete Secret ${ns}/${secretName}`);
  await ctx.client.delete(kinds.secret, secretName, ns, { uid: live.metadata.uid });
}

/** `sha256:<hex>` of the token a credentials Secret holds. */
function tokenDigestOf(secret: KubeObject): string {
  const token = Buffer.from(dataOf(secret).token ?? "", "base64").toString("utf8");
  if (!token) throw new Error(`credentials Secret ${secret.metadata.name ?? ""} has no token`);
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}
