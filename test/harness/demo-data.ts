// Sample data for `make demo`: before the sample offers are applied, each
// provider's bucket gets the objects its offers point at (generated, a few
// hundred kilobytes each), uploaded with the provider's own scoped credentials.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
import { parseAllDocuments } from "yaml";
import type { EnvironmentInfo } from "./environment.ts";

interface OfferDoc {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: { asset?: { key?: string; prefix?: string } };
}

/** Deterministic bytes that look like data: CSV rows for .csv, JSON for .json, else a pseudo-random block. */
function content(key: string, size: number): Buffer {
  if (key.endsWith(".csv")) {
    const rows = ["unit,opened,part,cause"];
    for (let i = 0; rows.join("\n").length < size; i++) {
      rows.push(`GT-${(i % 40) + 1},2025-${String((i % 12) + 1).padStart(2, "0")}-01,part-${i % 97},wear`);
    }
    return Buffer.from(rows.join("\n") + "\n");
  }
  if (key.endsWith(".json"))
    return Buffer.from(JSON.stringify({ setpoints: [{ zone: 1, celsius: 1450 }] }, null, 2));
  const out = Buffer.alloc(size);
  let block = createHash("sha256").update(key).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

function secret(info: EnvironmentInfo, namespace: string, name: string): Record<string, string> {
  const json = execFileSync(
    `${info.TDS_BIN_DIR}/kubectl`,
    ["get", "secret", name, "-n", namespace, "-o", "jsonpath={.data}"],
    { encoding: "utf8", env: { ...process.env, KUBECONFIG: info.KUBECONFIG } },
  );
  const data = JSON.parse(json) as Record<string, string>;
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}

/** Uploads the assets of every DataOffer in the files; returns how many objects were written. */
export async function seedOfferAssets(info: EnvironmentInfo, files: readonly string[]): Promise<number> {
  let written = 0;
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      const offer = doc.toJS() as OfferDoc | null;
      if (offer?.kind !== "DataOffer" || !offer.metadata?.namespace) continue;
      const creds = secret(info, offer.metadata.namespace, "storage-credentials");
      const s3 = new S3Client({
        endpoint: creds.S3_ENDPOINT,
        region: creds.AWS_REGION,
        forcePathStyle: true,
        credentials: {
          accessKeyId: creds.AWS_ACCESS_KEY_ID ?? "",
          secretAccessKey: creds.AWS_SECRET_ACCESS_KEY ?? "",
        },
      });
      const asset = offer.spec?.asset ?? {};
      const keys = asset.key
        ? [asset.key]
        : [1, 2, 3].map((m) => `${asset.prefix ?? ""}month=${String(m).padStart(2, "0")}/readings.parquet`);
      for (const key of keys) {
        await s3.send(
          new PutObjectCommand({ Bucket: creds.BUCKET, Key: key, Body: content(key, 256 * 1024) }),
        );
        written++;
      }
    }
  }
  return written;
}
