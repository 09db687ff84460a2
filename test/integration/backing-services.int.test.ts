// PostgreSQL and the S3 store of the embedded default are real servers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import pg from "pg";
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  DeleteObjectCommand,
  DeleteBucketCommand,
} from "@aws-sdk/client-s3";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through the harness (make test)`);
  return v;
}

test("PostgreSQL answers queries and keeps numeric exact", async () => {
  const client = new pg.Client({ connectionString: env("DATABASE_URL") });
  await client.connect();
  try {
    const r = await client.query<{ sum: string; version: string }>(
      "select (0.1::numeric + 0.2::numeric)::text as sum, current_setting('server_version') as version",
    );
    const row = r.rows[0];
    assert.ok(row);
    assert.equal(row.sum, "0.3");
    assert.ok(Number.parseInt(row.version, 10) >= 15);
  } finally {
    await client.end();
  }
});

test("the S3 store creates buckets and round-trips objects with ETags", async () => {
  const s3 = new S3Client({
    endpoint: env("TDS_S3_ENDPOINT"),
    region: env("TDS_S3_REGION"),
    forcePathStyle: true,
    credentials: {
      accessKeyId: env("TDS_S3_ACCESS_KEY_ID"),
      secretAccessKey: env("TDS_S3_SECRET_ACCESS_KEY"),
    },
  });
  const bucket = `smoke-${randomBytes(4).toString("hex")}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  try {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a/b.txt", Body: "hello" }));
    assert.equal(put.ETag, '"5d41402abc4b2a76b9719d911017c592"');
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a/b.txt" }));
    assert.equal(await got.Body?.transformToString(), "hello");
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "a/b.txt" }));
  } finally {
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  }
});
