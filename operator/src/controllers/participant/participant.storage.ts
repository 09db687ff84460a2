// A participant's storage: the credentials Secret (written first, so a crash
// can never leave an account whose secret nobody knows), the scoped account,
// and the bucket it owns. Suspension removes the account; the data stays.
import { randomBytes } from "node:crypto";
import type { Participant } from "@tds/crds";
import { participantNamespace } from "@tds/crds";
import { dataOf, isConflict, type KubeObject, kinds } from "@tds/kube";
import type { Context } from "../../runtime/reconcile.ts";
import { accountId, bucketName, type ObjectStore, type StoreAccount } from "../../storage/objectstore.ts";

export const STORAGE_SECRET = "storage-credentials";

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const b64 = (s: string) => Buffer.from(s).toString("base64");

function credentialsOf(secret: SecretObject): StoreAccount {
  return {
    accessKeyId: unb64(dataOf(secret).AWS_ACCESS_KEY_ID),
    secretAccessKey: unb64(dataOf(secret).AWS_SECRET_ACCESS_KEY),
  };
}

export interface StorageState {
  readonly bucket: string;
  readonly account: string;
  readonly secretName: string;
}

/** Remembers what was provisioned for which Secret version, so resyncs do not call the store again. */
const provisioned = new Set<string>();

export async function ensureStorage(
  ctx: Context,
  store: ObjectStore,
  p: Participant & KubeObject,
  bucketPrefix: string,
  live: KubeObject | undefined,
  objectLabels: Record<string, string>,
): Promise<StorageState> {
  const space = p.spec.dataSpace;
  const name = p.metadata.name ?? "";
  const ns = participantNamespace(space, name);
  const bucket = bucketName(space, name, bucketPrefix);
  const account = accountId(space, name);
  let secret = live;
  if (!secret) {
    const body: SecretObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: STORAGE_SECRET, namespace: ns, labels: objectLabels },
      type: "Opaque",
      data: {
        AWS_ACCESS_KEY_ID: b64(account),
        AWS_SECRET_ACCESS_KEY: b64(randomBytes(30).toString("base64url")),
        AWS_REGION: b64(store.region),
        S3_ENDPOINT: b64(store.endpoint),
        BUCKET: b64(bucket),
      },
    };
    try {
      ctx.beforeWrite(`create Secret ${ns}/${STORAGE_SECRET}`);
      secret = await ctx.client.create(kinds.secret, body);
    } catch (err) {
      if (!isConflict(err)) {
        throw new Error(`cannot store the storage credentials of participant ${name}`, { cause: err });
      }
      secret = await ctx.client.get<SecretObject>(kinds.secret, STORAGE_SECRET, ns);
    }
  }
  const creds = credentialsOf(secret);
  const mark = `${p.metadata.uid ?? ""}/${secret.metadata.resourceVersion ?? ""}/${p.spec.suspended ? "s" : "a"}`;
  if (provisioned.has(mark)) return { bucket, account, secretName: STORAGE_SECRET };
  try {
    if (p.spec.suspended) {
      ctx.beforeWrite(`suspend storage account ${account}`);
      await store.deleteAccount(creds.accessKeyId);
      // The bucket stays, owned by the (now absent) account: nobody but the operator can reach it.
    } else {
      ctx.beforeWrite(`ensure storage account ${account}`);
      await store.ensureAccount(creds);
      ctx.beforeWrite(`ensure bucket ${bucket}`);
      await store.ensureBucket(bucket, creds.accessKeyId);
    }
  } catch (err) {
    throw new Error(`cannot provision storage for participant ${name}`, { cause: err });
  }
  provisioned.add(mark);
  return { bucket, account, secretName: STORAGE_SECRET };
}

/** Removes the participant's account and, unless retained, its bucket and data. */
export async function removeStorage(
  ctx: Context,
  store: ObjectStore,
  p: Participant,
  bucketPrefix: string,
  retainBucket: boolean,
): Promise<void> {
  const space = p.spec.dataSpace;
  const name = p.metadata.name ?? "";
  if (!retainBucket) {
    ctx.beforeWrite(`delete bucket of ${name}`);
    await store.deleteBucket(bucketName(space, name, bucketPrefix));
  }
  ctx.beforeWrite(`delete storage account of ${name}`);
  await store.deleteAccount(accountId(space, name));
}
