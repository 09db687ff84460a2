// The fingerprints of the inputs a SandboxJob can read (the objects of its
// offer's asset), for scanning its outputs (sandbox-scan.ts). Each
// object version (bucket, key, ETag) is read and fingerprinted once; the
// cache keeps the most recently used fingerprints up to a size bound, and
// concurrent requests for one version share one read.
import type { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { withinAsset } from "./grants.ts";
import { fingerprint, fingerprintBytes, type InputFingerprint } from "./sandbox-fingerprint.ts";
import type { ScanInput } from "./sandbox-scan.ts";

/** Default bound of the cache: 24 bytes a 4 KiB block, so 256 MiB of fingerprints cover about 45 GB of inputs. */
const MAX_CACHE_BYTES = 256 * 1024 * 1024;

export class InputFingerprints {
  /** By `bucket \n key \n etag`, least recently used first. */
  private readonly cache = new Map<string, { fingerprint: Promise<InputFingerprint>; bytes: number }>();
  private total = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly maxBytes = MAX_CACHE_BYTES,
  ) {}

  /** The fingerprint of every object of the asset in the bucket. */
  async of(bucket: string, asset: { key?: string; prefix?: string }): Promise<ScanInput[]> {
    const objects: { key: string; etag: string }[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: asset.key ?? asset.prefix ?? "",
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of page.Contents ?? [])
        if (o.Key !== undefined && withinAsset(o.Key, asset))
          objects.push({ key: o.Key, etag: o.ETag ?? "" });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const out: ScanInput[] = [];
    for (const { key, etag } of objects) out.push({ key, fingerprint: await this.get(bucket, key, etag) });
    return out;
  }

  private get(bucket: string, key: string, etag: string): Promise<InputFingerprint> {
    const id = `${bucket}\n${key}\n${etag}`;
    const hit = this.cache.get(id);
    if (hit) {
      this.cache.delete(id);
      this.cache.set(id, hit);
      return hit.fingerprint;
    }
    const entry = { fingerprint: this.read(bucket, key, etag), bytes: 0 };
    this.cache.set(id, entry);
    entry.fingerprint.then(
      (f) => {
        if (this.cache.get(id) !== entry) return;
        entry.bytes = fingerprintBytes(f);
        this.total += entry.bytes;
        for (const [other, e] of this.cache) {
          if (this.total <= this.maxBytes) break;
          if (other === id) continue;
          this.cache.delete(other);
          this.total -= e.bytes;
        }
      },
      () => {
        if (this.cache.get(id) === entry) this.cache.delete(id);
      },
    );
    return entry.fingerprint;
  }

  /** Reads the version the listing named (If-Match), so a fingerprint never lands under another ETag. */
  private async read(bucket: string, key: string, etag: string): Promise<InputFingerprint> {
    try {
      const o = await this.s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ...(etag ? { IfMatch: etag } : {}) }),
      );
      return await fingerprint(o.Body as Readable);
    } catch (err) {
      throw new Error(`cannot fingerprint input object ${key}`, { cause: err });
    }
  }
}
