// Participant storage on an S3-compatible store: deterministic bucket names,
// one scoped account per participant, usage sampling and cleanup.
// `VersityGatewayStore` drives versitygw's admin API (accounts with the "user"
// role see only the buckets they own); the S3 data plane is plain S3.
import { createHash, createHmac } from "node:crypto";
import {
  S3Client,
  CreateBucketCommand,
  HeadBucketCommand,
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  PutBucketPolicyCommand,
  ListObjectsV2Command,
  DeleteObjectsCommand,
  GetObjectCommand,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";

export interface StoreAccount {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface ObjectStore {
  readonly endpoint: string;
  readonly region: string;
  /** Creates or updates the account; idempotent. */
  ensureAccount(account: StoreAccount): Promise<void>;
  /** Removes the account (its buckets and data stay); a missing account is not an error. */
  deleteAccount(accessKeyId: string): Promise<void>;
  bucketExists(bucket: string): Promise<boolean>;
  /** Creates the bucket owned by the account; an existing bucket is not an error. */
  ensureBucket(bucket: string, ownerAccessKeyId: string): Promise<void>;
  /** Deletes every object and then the bucket; a missing bucket is not an error. */
  deleteBucket(bucket: string): Promise<void>;
  /** Bytes stored and object count, by listing (a sample, not a transaction). */
  bucketUsage(bucket: string): Promise<{ bytes: bigint; objects: number }>;
  /** Every object whose key starts with `prefix`, with size and ETag; a missing bucket lists nothing. */
  listObjects(bucket: string, prefix: string): Promise<ObjectInfo[]>;
  /** A small object's content as text (the gateway's sandbox output manifests); undefined when missing. */
  getObjectText(bucket: string, key: string): Promise<string | undefined>;
  /**
   * Refuses (or allows again) every write by the bucket's owner: PutObject,
   * multipart uploads and copies. Reads, lists and deletes stay allowed, so
   * the owner can delete data to get back under its quota. Idempotent.
   */
  setWritesRefused(bucket: string, ownerAccessKeyId: string, refused: boolean): Promise<void>;
}

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** The ETag without quotes. */
  readonly etag: string;
}

/** Bucket-name endings S3 reserves for its own kinds of bucket (access point aliases, directory and table buckets). */
const RESERVED_BUCKET_SUFFIXES = ["-s3alias", "--ol-s3", "--x-s3", "--table-s3"];

/**
 * The bucket of a participant: `<prefix>--<space>--<participant>`. None of
 * the three contains "--" (the CRDs refuse it), so the name splits one way
 * only and no two participants of any spaces share a bucket. When that is
 * longer than S3's 63 characters, or ends as S3's reserved kinds do, it is a
 * truncated name plus a hash of all three. Deterministic, so a restarted
 * operator finds the same bucket.
 */
export function bucketName(space: string, participant: string, prefix = "tds"): string {
  const full = `${prefix}--${space}--${participant}`.toLowerCase();
  if (full.length <= 63 && !RESERVED_BUCKET_SUFFIXES.some((s) => full.endsWith(s))) return full;
  const hash = createHash("sha256").update(`${prefix}/${space}/${participant}`).digest("hex").slice(0, 10);
  return `${full.slice(0, 52).replace(/-+$/, "")}-${hash}`;
}

/** The storage account id of a participant (deterministic, S3 access-key friendly). */
export function accountId(space: string, participant: string): string {
  return `tds${createHash("sha256").update(`${space}/${participant}`).digest("hex").slice(0, 17)}`;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const toBytes = (d: SourceData): string | Uint8Array =>
  typeof d === "string"
    ? d
    : d instanceof ArrayBuffer
      ? new Uint8Array(d)
      : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** SHA-256 and HMAC-SHA-256 on node:crypto, in the shape the SigV4 signer expects. */
class NodeSha256 {
  private readonly h;
  constructor(secret?: SourceData) {
    this.h = secret === undefined ? createHash("sha256") : createHmac("sha256", toBytes(secret));
  }
  update(data: SourceData): void {
    this.h.update(toBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
}

export interface VersityGatewayOptions {
  readonly endpoint: string;
  readonly adminEndpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export class VersityGatewayStore implements ObjectStore {
  readonly endpoint: string;
  readonly region: string;
  private readonly s3: S3Client;
  private readonly signer: SignatureV4;
  private readonly admin: URL;

  constructor(opts: VersityGatewayOptions) {
    this.endpoint = opts.endpoint;
    this.region = opts.region;
    const credentials = { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey };
    this.s3 = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region,
      forcePathStyle: true,
      credentials,
    });
    this.signer = new SignatureV4({ credentials, region: opts.region, service: "s3", sha256: NodeSha256 });
    this.admin = new URL(opts.adminEndpoint);
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): VersityGatewayStore {
    const need = (k: string) => {
      const v = env[k];
      if (!v)
        throw new Error(`${k} is not set: the operator needs the S3 store's endpoint and admin credentials`);
      return v;
    };
    return new VersityGatewayStore({
      endpoint: need("TDS_S3_ENDPOINT"),
      adminEndpoint: need("TDS_S3_ADMIN_ENDPOINT"),
      region: env.TDS_S3_REGION ?? "us-east-1",
      accessKeyId: need("TDS_S3_ACCESS_KEY_ID"),
      secretAccessKey: need("TDS_S3_SECRET_ACCESS_KEY"),
    });
  }

  private async adminCall(
    path: string,
    query: Record<string, string>,
    body = "",
    headers: Record<string, string> = {},
  ): Promise<{ status: number; text: string }> {
    const payloadHash = createHash("sha256").update(body).digest("hex");
    const signed = await this.signer.sign({
      method: "PATCH",
      protocol: this.admin.protocol,
      hostname: this.admin.hostname,
      port: Number(this.admin.port),
      path,
      query,
      headers: { host: this.admin.host, "x-amz-content-sha256": payloadHash, ...headers },
      body,
    });
    const qs = new URLSearchParams(query).toString();
    const res = await fetch(`${this.admin.origin}${path}${qs ? `?${qs}` : ""}`, {
      method: "PATCH",
      headers: signed.headers,
      body: body || undefined,
    });
    return { status: res.status, text: await res.text() };
  }

  async ensureAccount(account: StoreAccount): Promise<void> {
    const xml =
      `<Account><Access>${account.accessKeyId}</Access><Secret>${account.secretAccessKey}</Secret>` +
      `<Role>user</Role></Account>`;
    const created = await this.adminCall("/create-user", {}, xml);
    if (created.status < 300) return;
    if (!created.text.includes("UserAlreadyExists") && !created.text.includes("already exists")) {
      throw new Error(
        `cannot create storage account ${account.accessKeyId}: HTTP ${created.status} ${created.text}`,
      );
    }
    // Exists already (a retry after a crash): make its secret match the stored one.
    const xmlUpdate = `<MutableProps><Secret>${account.secretAccessKey}</Secret><Role>user</Role></MutableProps>`;
    const updated = await this.adminCall("/update-user", { access: account.accessKeyId }, xmlUpdate);
    if (updated.status >= 300) {
      throw new Error(
        `cannot update storage account ${account.accessKeyId}: HTTP ${updated.status} ${updated.text}`,
      );
    }
  }

  async deleteAccount(accessKeyId: string): Promise<void> {
    const res = await this.adminCall("/delete-user", { access: accessKeyId });
    if (res.status >= 300 && !res.text.includes("NoSuchUser") && !res.text.includes("not found")) {
      throw new Error(`cannot delete storage account ${accessKeyId}: HTTP ${res.status} ${res.text}`);
    }
  }

  async bucketExists(bucket: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch (err) {
      if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return false;
      throw err;
    }
  }

  async ensureBucket(bucket: string, ownerAccessKeyId: string): Promise<void> {
    if (!(await this.bucketExists(bucket))) {
      try {
        await this.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (err) {
        const code = err instanceof S3ServiceException ? err.name : "";
        if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") {
          throw new Error(`cannot create bucket ${bucket}`, { cause: err });
        }
      }
    }
    const res = await this.adminCall("/change-bucket-owner", { bucket, owner: ownerAccessKeyId });
    if (res.status >= 300) {
      throw new Error(`cannot give bucket ${bucket} to ${ownerAccessKeyId}: HTTP ${res.status} ${res.text}`);
    }
  }

  /**
   * A bucket policy: with one, versitygw no longer consults the bucket's ACL,
   * so the policy allows the owner everything and then denies s3:PutObject
   * (the action versitygw checks for PutObject, multipart parts and
   * completion, CopyObject and POST uploads); an explicit deny wins. Allowing
   * writes again deletes the policy, which returns the bucket to its ACL.
   * The admin account the gateway and operator use is not subject to it.
   */
  async setWritesRefused(bucket: string, ownerAccessKeyId: string, refused: boolean): Promise<void> {
    try {
      if (!refused) {
        await this.s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
        return;
      }
      const owner = { AWS: [ownerAccessKeyId] };
      const policy = {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "OwnerAccess",
            Effect: "Allow",
            Principal: owner,
            Action: ["s3:*"],
            Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
          },
          {
            Sid: "StorageQuotaExceeded",
            Effect: "Deny",
            Principal: owner,
            Action: ["s3:PutObject"],
            Resource: [`arn:aws:s3:::${bucket}/*`],
          },
        ],
      };
      await this.s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
    } catch (err) {
      if (!refused && err instanceof S3ServiceException && err.name === "NoSuchBucketPolicy") return;
      throw new Error(`cannot ${refused ? "refuse" : "allow"} writes to bucket ${bucket}`, { cause: err });
    }
  }

  async deleteBucket(bucket: string): Promise<void> {
    if (!(await this.bucketExists(bucket))) return;
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length > 0)
        await this.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    try {
      await this.s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if (!(err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404)) throw err;
    }
  }

  async bucketUsage(bucket: string): Promise<{ bytes: bigint; objects: number }> {
    let bytes = 0n;
    let objects = 0;
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        bytes += BigInt(o.Size ?? 0);
        objects++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { bytes, objects };
  }

  async listObjects(bucket: string, prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          if (o.Key === undefined) continue;
          out.push({ key: o.Key, size: o.Size ?? 0, etag: (o.ETag ?? "").replace(/"/g, "") });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return [];
      throw new Error(`cannot list ${prefix} in bucket ${bucket}`, { cause: err });
    }
    return out;
  }

  async getObjectText(bucket: string, key: string): Promise<string | undefined> {
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return await res.Body?.transformToString("utf8");
    } catch (err) {
      if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return undefined;
      throw new Error(`cannot read ${key} in bucket ${bucket}`, { cause: err });
    }
  }
}
