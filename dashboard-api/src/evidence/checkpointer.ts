// Checkpoints on demand and on an interval, and their export outside the
// database: each signed checkpoint is written as an object to S3 (the space's
// bucket), so that a rewrite of the database is caught against them.
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { CheckpointSigner, SignedCheckpoint } from "./checkpoint.ts";
import type { EvidenceStore } from "./store.ts";

export interface CheckpointExporter {
  /** Stores a checkpoint outside the database and returns where. */
  put(space: string, checkpoint: SignedCheckpoint): Promise<string>;
}

export type SignerFor = (space: string) => Promise<CheckpointSigner>;

export function checkpointKey(space: string, treeSize: number, prefix = "evidence"): string {
  // Zero-padded so a listing sorts by size.
  return `${prefix}/${space}/checkpoints/${String(treeSize).padStart(16, "0")}`;
}

/**
 * Writes `<prefix>/<space>/checkpoints/<size>` (immutable by convention) and
 * `<prefix>/<space>/checkpoint` (the latest) as text/plain signed notes.
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
          {
            cause,
          },
        );
      }
      return `s3://${bucket}/${key}`;
    },
  };
}

/**
 * Signs a checkpoint of the log as it is now (or returns the one of this size)
 * and exports every checkpoint of the space not yet exported, oldest first.
 */
export async function checkpointNow(
  store: EvidenceStore,
  space: string,
  signer: CheckpointSigner,
  exporter?: CheckpointExporter,
  now: Date = new Date(),
): Promise<SignedCheckpoint> {
  const cp = await store.checkpoint(space, signer, now);
  if (exporter) {
    for (const pending of await store.unexportedCheckpoints(space)) {
      const where = await exporter.put(space, pending);
      await store.markExported(space, pending.treeSize, where);
    }
  }
  return cp;
}

export interface Checkpointer {
  /** One pass over every space, as the timer runs it. */
  runOnce(): Promise<void>;
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

export function startCheckpointer(opts: {
  store: EvidenceStore;
  signerFor: SignerFor;
  exporter?: CheckpointExporter;
  intervalMs: number;
  /** Spaces to checkpoint; defaults to every space with a log. */
  spaces?: () => Promise<string[]>;
  onError?: (err: unknown, space: string) => void;
  now?: () => Date;
}): Checkpointer {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const pass = async (): Promise<void> => {
    const spaces = await (opts.spaces ?? (() => opts.store.spaces()))();
    for (const space of spaces) {
      if (stopped) return;
      try {
        await checkpointNow(opts.store, space, await opts.signerFor(space), opts.exporter, opts.now?.());
      } catch (err) {
        // One space's failure (a missing key, S3 down) must not stop the others; the next pass retries.
        opts.onError?.(err, space);
      }
    }
  };
  const runOnce = (): Promise<void> => {
    running = running.then(pass, pass);
    return running;
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      runOnce()
        .catch((err: unknown) => opts.onError?.(err, "*"))
        .finally(schedule);
    }, opts.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running.catch(() => undefined);
    },
  };
}
