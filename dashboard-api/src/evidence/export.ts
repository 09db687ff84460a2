// The full export of a space's log for offline checking: every leaf hash, the
// entries the reader may see, and every signed checkpoint. Entries a reader may
// not see are exported as their leaf hash alone, so every member can still
// recompute the whole tree and check every checkpoint.
//
// The export is produced as a stream of JSON text, page by page (keyset on the
// leaf index, then on the checkpoint's tree size), so the server's memory does
// not grow with the log: a consumer pulls, and the next page is read only when
// the previous one has been taken. The tree size is fixed when the export
// starts; the log is append-only, so later appends change nothing below it.
import { Readable } from "node:stream";
import type { EvidenceEntry } from "@tds/wire";
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

export interface ExportOptions {
  /**
   * Leaves read per query. Pages of 500 to 2000 cost the same; at 10,000 a
   * 1M-entry export peaked 2.6 times higher (docs/performance.md).
   */
  pageSize?: number;
  /** Checkpoints read per query. */
  checkpointPageSize?: number;
}

const PAGE = 1_000;
const CHECKPOINT_PAGE = 1_000;

/**
 * The export as JSON text in chunks (one per page), for a log of `treeSize`
 * leaves. The bytes are those of `JSON.stringify` of an `EvidenceExport` with
 * its members in the order above (what the route answered when it built the
 * document in memory): the stored entry bytes are RFC 8785 canonical JSON of
 * a fixed set of non-numeric keys, which is exactly what
 * `JSON.stringify(JSON.parse(bytes))` gives, so they are written as stored.
 */
export async function* exportChunks(
  store: EvidenceStore,
  space: string,
  treeSize: number,
  filter?: EntryFilter,
  opts: ExportOptions = {},
): AsyncGenerator<Buffer> {
  const page = opts.pageSize ?? PAGE;
  yield Buffer.from(
    `{"format":${JSON.stringify(EXPORT_FORMAT)},"space":${JSON.stringify(space)},` +
      `"origin":${JSON.stringify(store.origin(space))},"treeSize":${String(treeSize)},"entries":[`,
  );
  let sep = "";
  for (let start = 0; start < treeSize; start += page) {
    // Rows are written as stored, gaps included: judging a damaged log is the verifier's job.
    const rows = await store.leafTexts(space, start, Math.min(treeSize, start + page), filter);
    let text = "";
    for (const r of rows) {
      text += `${sep}{"leafIndex":${String(r.leafIndex)},"leafHash":"${r.leafHash}"`;
      text += r.entry === undefined ? "}" : `,"entry":${r.entry}}`;
      sep = ",";
    }
    if (text) yield Buffer.from(text);
  }
  yield Buffer.from(`],"checkpoints":[`);
  sep = "";
  for (let after = -1; ;) {
    const notes = await store.checkpointNotes(
      space,
      after,
      treeSize,
      opts.checkpointPageSize ?? CHECKPOINT_PAGE,
    );
    if (notes.length === 0) break;
    yield Buffer.from(sep + notes.map((n) => JSON.stringify(n.note)).join(","));
    sep = ",";
    after = notes.at(-1)?.treeSize ?? treeSize;
  }
  yield Buffer.from("]}");
}

/**
 * The export as a byte stream with backpressure: a page is read from the
 * database only when the consumer has taken what came before. An error while
 * streaming (the database gone) destroys the stream, so the reader sees a
 * cut, invalid document rather than a short valid one.
 */
export function exportStream(
  store: EvidenceStore,
  space: string,
  treeSize: number,
  filter?: EntryFilter,
  opts?: ExportOptions,
): Readable {
  return Readable.from(exportChunks(store, space, treeSize, filter, opts), {
    objectMode: false,
    highWaterMark: 64 * 1024,
  });
}

/** The whole export in memory, for small logs and in-process checks (the HTTP route streams). */
export async function exportLog(
  store: EvidenceStore,
  space: string,
  filter?: EntryFilter,
  opts?: ExportOptions,
): Promise<EvidenceExport> {
  const { treeSize } = await store.head(space);
  const chunks: Buffer[] = [];
  for await (const c of exportChunks(store, space, treeSize, filter, opts)) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as EvidenceExport;
}
