// The export of signed evidence checkpoints outside the database, to S3: the
// gateway holds the object store's credentials, the API signs (its
// checkpointer, @tds/dashboard-api/evidence-checkpointer), so the identity that
// signs a checkpoint is not the one that writes its copy. Every pass writes each
// space's checkpoints not yet exported, oldest first, as
// `evidence/<space>/checkpoints/<size>` (immutable by convention) and
// `evidence/<space>/checkpoint` (the latest), and marks them exported; one
// space's failure (S3 down) does not stop the others, and the next pass retries.
// A rewrite of the database is then caught against these copies (docs/evidence.md).
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SignedCheckpoint } from "@tds/dashboard-api/evidence-checkpoint";
import { startPeriodic, type Periodic } from "@tds/dashboard-api/periodic";
import type { EvidenceStore } from "@tds/dashboard-api/evidence-store";

export interface CheckpointExporter {
  /** Stores a checkpoint outside the database and returns where. */
  put(space: string, checkpoint: SignedCheckpoint): Promise<string>;
}

export function checkpointKey(space: string, treeSize: number, prefix = "evidence"): string {
  // Zero-padded so a listing sorts by size.
  return `${prefix}/${space}/checkpoints/${String(treeSize).padStart(16, "0")}`;
}

/**
 * Writes `<prefix>/<space>/checkpoints/<size>` and `<prefix>/<space>/checkpoint`
 * as text/plain signed notes to the space's bucket.
 */
export function s3CheckpointExporter(opts: {
  client: S3Client;
  bucketFor: (space: string) => string;
  prefix?: string;
}): CheckpointExporter {
  const prefix = opts.prefix ?? "evidence";
  return {
    async put(space, checkpoint) {
      const bucket = opts.bucketFor(space);
      const key = checkpointKey(space, checkpoint.treeSize, prefix);
      try {
        for (const k of [key, `${prefix}/${space}/checkpoint`]) {
          await opts.client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: k,
              Body: checkpoint.note,
              ContentType: "text/plain; charset=utf-8",
            }),
          );
        }
      } catch (cause) {
        throw new Error(
          `cannot export checkpoint ${checkpoint.treeSize} of space ${space} to s3://${bucket}/${key}`,
          { cause },
        );
      }
      return `s3://${bucket}/${key}`;
    },
  };
}

/** Exports checkpoints to one evidence bucket (created on first use), under evidence/<space>/. */
export function bucketExporter(client: S3Client, bucket: string): CheckpointExporter {
  const inner = s3CheckpointExporter({ client, bucketFor: () => bucket });
  let ensured: Promise<void> | undefined;
  const ensure = async (): Promise<void> => {
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const name = (err as { name?: unknown }).name;
      if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw err;
    }
  };
  return {
    async put(space, checkpoint) {
      ensured ??= ensure().catch((err: unknown) => {
        ensured = undefined;
        throw new Error(`cannot create the evidence bucket ${bucket}`, { cause: err });
      });
      await ensured;
      return inner.put(space, checkpoint);
    },
  };
}

/** Exports every checkpoint of the space not yet exported, oldest first; returns how many. */
export async function exportCheckpoints(
  store: EvidenceStore,
  exporter: CheckpointExporter,
  space: string,
): Promise<number> {
  const pending = await store.unexportedCheckpoints(space);
  for (const cp of pending) {
    const where = await exporter.put(space, cp);
    await store.markExported(space, cp.treeSize, where);
  }
  return pending.length;
}

/** Exports on an interval, every space with a log; the first pass at once. */
export function startCheckpointExport(opts: {
  store: EvidenceStore;
  exporter: CheckpointExporter;
  intervalMs: number;
  onError: (err: unknown, space: string) => void;
}): Periodic<void> {
  return startPeriodic({
    intervalMs: opts.intervalMs,
    firstDelayMs: 0,
    onError: (err) => {
      opts.onError(err, "*");
    },
    pass: async (signal) => {
      for (const space of await opts.store.spaces()) {
        if (signal.aborted) return;
        try {
          await exportCheckpoints(opts.store, opts.exporter, space);
        } catch (err) {
          opts.onError(err, space);
        }
      }
    },
  });
}
