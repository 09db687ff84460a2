// The content identifier of an asset and the objects it is made of.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assetManifest, assetObjects } from "./dataoffer.asset.ts";

test("the content identifier depends on keys, sizes and ETags only, not on listing order", () => {
  const a = { key: "a/1.csv", size: 10, etag: "e1" };
  const b = { key: "a/2.csv", size: 20, etag: "e2" };
  const m = assetManifest([a, b]);
  assert.match(m.contentId, /^sha256:[0-9a-f]{64}$/);
  assert.equal(assetManifest([b, a]).contentId, m.contentId);
  assert.deepEqual([m.objects, m.bytes], [2, 30]);
  assert.notEqual(assetManifest([a, { ...b, etag: "e3" }]).contentId, m.contentId);
  assert.notEqual(assetManifest([a, { ...b, size: 21 }]).contentId, m.contentId);
  assert.notEqual(assetManifest([a]).contentId, m.contentId);
  assert.notEqual(assetManifest([a, b, { key: "a/3.csv", size: 0, etag: "e" }]).contentId, m.contentId);
});

test("a key asset is that object only; a prefix asset skips folder markers", () => {
  const listed = [
    { key: "a/", size: 0, etag: "x" },
    { key: "a/1.csv", size: 1, etag: "y" },
    { key: "a/1.csv.bak", size: 1, etag: "z" },
  ];
  assert.deepEqual(
    assetObjects({ key: "a/1.csv", format: "text/csv" }, listed).map((o) => o.key),
    ["a/1.csv"],
  );
  assert.deepEqual(
    assetObjects({ prefix: "a/", format: "text/csv" }, listed).map((o) => o.key),
    ["a/1.csv", "a/1.csv.bak"],
  );
});
