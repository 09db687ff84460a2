// The storage driver against the real S3 server of the local environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { S3Client, PutObjectCommand, ListBucketsCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { VersityGatewayStore, bucketName, accountId } from "./objectstore.ts";

const store = VersityGatewayStore.fromEnv();

function clientFor(accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    endpoint: store.endpoint,
    region: store.region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
}

test("a participant account sees and writes only its own bucket, and cleanup removes it", async () => {
  const space = `st${randomBytes(3).toString("hex")}`;
  const a = { accessKeyId: accountId(space, "acme"), secretAccessKey: randomBytes(20).toString("hex") };
  const b = { accessKeyId: accountId(space, "beta"), secretAccessKey: randomBytes(20).toString("hex") };
  const bucketA = bucketName(space, "acme");
  const bucketB = bucketName(space, "beta");
  await store.ensureAccount(a);
  await store.ensureAccount(a); // idempotent after a crash
  await store.ensureAccount(b);
  await store.ensureBucket(bucketA, a.accessKeyId);
  await store.ensureBucket(bucketA, a.accessKeyId);
  await store.ensureBucket(bucketB, b.accessKeyId);
  try {
    const s3a = clientFor(a.accessKeyId, a.secretAccessKey);
    await s3a.send(new PutObjectCommand({ Bucket: bucketA, Key: "data/x.csv", Body: "1,2,3\n" }));
    const listed = await s3a.send(new ListBucketsCommand({}));
    assert.deepEqual(
      (listed.Buckets ?? []).map((x) => x.Name),
      [bucketA],
    );
    await assert.rejects(s3a.send(new GetObjectCommand({ Bucket: bucketB, Key: "anything" })));
    assert.deepEqual(await store.bucketUsage(bucketA), { bytes: 6n, objects: 1 });
  } finally {
    await store.deleteBucket(bucketA);
    await store.deleteBucket(bucketB);
    await store.deleteAccount(a.accessKeyId);
    await store.deleteAccount(b.accessKeyId);
    await store.deleteAccount(b.accessKeyId);
  }
  assert.equal(await store.bucketExists(bucketA), false);
});

test("bucket names are deterministic, valid and bounded", () => {
  assert.equal(bucketName("industry", "acme"), "tds--industry--acme");
  // A space and participant that differ only in where a "-" falls get different buckets.
  assert.notEqual(bucketName("a-b", "c"), bucketName("a", "b-c"));
  assert.notEqual(bucketName("b", "c", "tds-a"), bucketName("a-b", "c", "tds"));
  // S3's reserved endings are hashed away.
  assert.doesNotMatch(bucketName("s", "x-s3alias"), /-s3alias$/);
  const long = bucketName("a".repeat(40), "b".repeat(40));
  assert.equal(long.length <= 63, true);
  assert.equal(long, bucketName("a".repeat(40), "b".repeat(40)));
  assert.match(long, /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
});
