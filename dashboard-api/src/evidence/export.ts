// The full export of a space's log for offline checking: every leaf hash, the
// entries the reader may see, and every signed checkpoint. Entries a reader may
// not see are exported as their leaf hash alone, so every member can still
// recompute the whole tree and check every checkpoint.
import type { EvidenceEntry } from "./entry.ts";
import type { EntryFilter, EvidenceStore } from "./store.ts";

export const EXPORT_FORMAT = "tds.dev/evidence-export/v1";

export interface ExportedLeaf {
  leafIndex: number;
  /** base64 SHA-256(0x00 || canonical entry). */
  leafHash: string;
  /** Absent when the reader may not see this entry. */
  entry?: EvidenceEntry;
}

export interface EvidenceExport {
  format: typeof EXPORT_FORMAT;
  space: string;
  origin: string;
  treeSize: number;
  entries: ExportedLeaf[];
  /** Signed notes, oldest first, none beyond treeSize. */
  checkpoints: string[];
}

const PAGE = 10_000;

export async function exportLog(
  store: EvidenceStore,
  space: string,
  filter?: EntryFilter,
): Promise<EvidenceExport> {
  const { treeSize } = await store.head(space);
  const entries: ExportedLeaf[] = [];
  for (let start = 0; start < treeSize; start += PAGE) {
    const end = Math.min(treeSize, start + PAGE);
    for (const e of await store.leaves(space, start, end, filter)) {
      const leaf: ExportedLeaf = {
        leafIndex: e.leafIndex,
        leafHash: Buffer.from(e.leafHash).toString("base64"),
      };
      if (e.entry) leaf.entry = JSON.parse(e.entry.toString("utf8")) as EvidenceEntry;
      entries.push(leaf);
    }
  }
  const checkpoints = (await store.checkpoints(space))
    .filter((c) => c.treeSize <= treeSize)
    .map((c) => c.note);
  return { format: EXPORT_FORMAT, space, origin: store.origin(space), treeSize, entries, checkpoints };
}
