// A DataOffer's asset: the objects it is made of in the provider's bucket and
// their content identifier. Reads nothing.
//
// Content identifier (documented in docs/contracts.md): the asset's objects
// sorted by key (byte order of the UTF-8 key), one line each
//   <key> TAB <size in decimal> TAB <ETag without quotes> LF
// prefixed by the line "tds.dev/asset-manifest/v1" LF; the identifier is
// "sha256:" + lowercase hex SHA-256 of those bytes. Keys are relative to the
// bucket. It changes when any object is added, removed, resized or rewritten
// (new ETag), and only then.
import { createHash } from "node:crypto";
import type { DataOfferSpec } from "@tds/crds";
import type { ObjectInfo } from "../../storage/objectstore.ts";

export const MANIFEST_HEADER = "tds.dev/asset-manifest/v1";

export interface Manifest {
  readonly contentId: string;
  readonly objects: number;
  readonly bytes: number;
}

export function assetManifest(objects: readonly ObjectInfo[]): Manifest {
  const sorted = [...objects].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const h = createHash("sha256").update(`${MANIFEST_HEADER}\n`);
  let bytes = 0;
  for (const o of sorted) {
    h.update(`${o.key}\t${String(o.size)}\t${o.etag}\n`);
    bytes += o.size;
  }
  return { contentId: `sha256:${h.digest("hex")}`, objects: sorted.length, bytes };
}

/** The objects that make up the asset: the exact key, or everything under the prefix. */
export function assetObjects(spec: DataOfferSpec["asset"], listed: readonly ObjectInfo[]): ObjectInfo[] {
  if (spec.key !== undefined) return listed.filter((o) => o.key === spec.key);
  return listed.filter((o) => !o.key.endsWith("/")); // folder markers are not data
}
