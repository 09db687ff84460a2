import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { InputFingerprints } from "./sandbox-inputs.ts";

/** A store of objects by key (body, ETag) that counts its reads; enough of S3Client for InputFingerprints. */
function store(objects: Record<string, { body: string; etag: string }>) {
  const reads: string[] = [];
  const state = { failNext: false };
  const s3 = {
    send: (command: unknown) => {
      if (command instanceof ListObjectsV2Command) {
        const prefix = command.input.Prefix ?? "";
        const contents = Object.entries(objects)
          .filter(([key]) => key.startsWith(prefix))
          .map(([Key, o]) => ({ Key, ETag: o.etag }));
        return Promise.resolve({ Contents: contents, IsTruncated: false });
      }
      if (command instanceof GetObjectCommand) {
        const key = command.input.Key ?? "";
        const o = objects[key];
        if (!o || command.input.IfMatch !== o.etag) return Promise.reject(new Error(`412 ${key}`));
        if (state.failNext) {
          state.failNext = false;
          return Promise.reject(new Error("store down"));
        }
        reads.push(key);
        return Promise.resolve({ Body: Readable.from([Buffer.from(o.body)]) });
      }
      return Promise.reject(new Error("unexpected command"));
    },
  };
  return { s3: s3 as unknown as S3Client, reads, objects, state };
}

test("each object version is read once; concurrent scans share the read; a new ETag is read again", async () => {
  const { s3, reads, objects } = store({
    "data/a.csv": { body: "a".repeat(100) + "b", etag: '"1"' },
    "data/b.csv": { body: "b", etag: '"2"' },
    "other/c.csv": { body: "c", etag: '"3"' },
  });
  const f = new InputFingerprints(s3);
  const [one, two] = await Promise.all([
    f.of("bucket", { prefix: "data/" }),
    f.of("bucket", { prefix: "data/" }),
  ]);
  assert.deepEqual(
    one.map((i) => i.key),
    ["data/a.csv", "data/b.csv"],
  );
  assert.deepEqual(two, one);
  assert.deepEqual(reads, ["data/a.csv", "data/b.csv"]);
  await f.of("bucket", { key: "data/a.csv" });
  assert.equal(reads.length, 2);
  objects["data/a.csv"] = { body: "changed", etag: '"4"' };
  const [changed] = await f.of("bucket", { key: "data/a.csv" });
  assert.equal(changed?.fingerprint.bytes, 7);
  assert.deepEqual(reads, ["data/a.csv", "data/b.csv", "data/a.csv"]);
});

test("the cache keeps the most recently used fingerprints within its bound; a failed read is not kept", async () => {
  const { s3, reads, objects, state } = store({
    "a.csv": { body: "a", etag: '"1"' },
    "b.csv": { body: "b", etag: '"2"' },
  });
  // Room for one fingerprint: reading b evicts a.
  const f = new InputFingerprints(s3, 300);
  await f.of("bucket", { key: "a.csv" });
  await f.of("bucket", { key: "b.csv" });
  await f.of("bucket", { key: "b.csv" });
  await f.of("bucket", { key: "a.csv" });
  assert.deepEqual(reads, ["a.csv", "b.csv", "a.csv"]);
  objects["c.csv"] = { body: "c", etag: '"5"' };
  state.failNext = true;
  await assert.rejects(f.of("bucket", { key: "c.csv" }), /cannot fingerprint input object c\.csv/);
  assert.equal((await f.of("bucket", { key: "c.csv" }))[0]?.fingerprint.bytes, 1);
  assert.deepEqual(reads, ["a.csv", "b.csv", "a.csv", "c.csv"]);
});
