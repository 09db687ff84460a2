// Checkpoints on an interval: each space's log is signed with its key when the
// tree has grown (EvidenceStore.checkpoint). Signing is the API's, with the
// space's key (wiring.ts); the export of the signed checkpoints outside the
// database, to S3, is the gateway's, which holds the object store's
// credentials (@tds/gateway, evidence-export.ts): the identity that signs a
// checkpoint is not the one that writes its copy.
import { startPeriodic, type Periodic } from "../periodic.ts";
import type { CheckpointSigner } from "./checkpoint.ts";
import type { EvidenceStore } from "./store.ts";

export type SignerFor = (space: string) => Promise<CheckpointSigner>;

export function startCheckpointer(opts: {
  store: EvidenceStore;
  signerFor: SignerFor;
  intervalMs: number;
  /** Spaces to checkpoint; defaults to every space with a log. */
  spaces?: () => Promise<string[]>;
  onError?: (err: unknown, space: string) => void;
  now?: () => Date;
}): Periodic<void> {
  return startPeriodic({
    intervalMs: opts.intervalMs,
    onError: (err) => opts.onError?.(err, "*"),
    pass: async (signal) => {
      const spaces = await (opts.spaces ?? (() => opts.store.spaces()))();
      for (const space of spaces) {
        if (signal.aborted) return;
        try {
          await opts.store.checkpoint(space, await opts.signerFor(space), opts.now?.());
        } catch (err) {
          // One space's failure (a missing key) must not stop the others; the next pass retries.
          opts.onError?.(err, space);
        }
      }
    },
  });
}
