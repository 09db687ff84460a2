// Offline verification of a filing record (record.ts): the signature of its
// note by the space's published key, the note's digest against the record,
// the embedded checkpoint's signature, the export report's totals, and, with
// the space's evidence export, that the checkpoint is a root of that log and
// that every reported transfer is the log's entry at its position. The logic
// behind `tds evidence verify --filing`. Pure: no I/O.
import {
  CheckpointError,
  openNote,
  type SignedCheckpoint,
  verifyCheckpoint,
} from "../evidence/checkpoint.ts";
import { entryLeafHash } from "../evidence/entry.ts";
import type { EvidenceExport } from "../evidence/export.ts";
import { hashEquals, MemoryTree } from "../evidence/merkle.ts";
import type { Check } from "../evidence/verifier.ts";
import { REPORT_FORMAT } from "../exports/report.ts";
import { FILING_FORMAT, filingNoteBody, type FilingDocument, recordDigest } from "./record.ts";

export interface FilingVerifyOptions {
  readonly document: FilingDocument;
  /** Raw Ed25519 public key the space publishes (ConfigMap tds-<space>/evidence-public-key). */
  readonly publicKey: Uint8Array;
  /** Defaults to the record's evidence origin. */
  readonly keyName?: string;
  /** The space's evidence export: the checkpoint and the reported entries are checked against the log. */
  readonly export?: EvidenceExport;
}

const message = (err: unknown): string => (err instanceof CheckpointError ? err.message : String(err));

export function verifyFiling(opts: FilingVerifyOptions): Check[] {
  const checks: Check[] = [];
  const check = (ok: boolean, what: string): boolean => {
    checks.push({ ok, what });
    return ok;
  };
  const { record, note } = opts.document;
  // The document comes from outside: its declared type is a claim, not a fact.
  const format: string = record.format;
  if (!check(format === FILING_FORMAT, `filing format is ${FILING_FORMAT}`)) return checks;
  const keyName = opts.keyName ?? record.evidence.origin;

  let body: string | undefined;
  try {
    body = openNote(note, keyName, opts.publicKey);
    check(true, `filing note: signature by ${keyName} valid`);
  } catch (err) {
    check(false, `filing note rejected: ${message(err)}`);
  }
  if (body !== undefined) {
    let digest: string | undefined;
    try {
      digest = recordDigest(record);
    } catch (err) {
      check(false, `the record cannot be canonicalised: ${message(err)}`);
    }
    if (digest !== undefined)
      check(
        body === filingNoteBody(record, digest),
        body === filingNoteBody(record, digest)
          ? `the note signs this record (space ${record.space}, period ${record.period}, SHA-256 ${digest}, issued ${record.issuedAt})`
          : "the note does not sign this record: the record was altered after signing",
      );
  }

  let checkpoint: SignedCheckpoint | undefined;
  try {
    checkpoint = verifyCheckpoint(
      record.evidence.checkpoint,
      keyName,
      opts.publicKey,
      record.evidence.origin,
    );
    check(
      checkpoint.treeSize === record.evidence.treeSize &&
        Buffer.from(checkpoint.rootHash).toString("base64") === record.evidence.rootHash,
      `embedded checkpoint: signature valid, size ${checkpoint.treeSize} (${checkpoint.time}), ` +
        (checkpoint.treeSize === record.evidence.treeSize &&
        Buffer.from(checkpoint.rootHash).toString("base64") === record.evidence.rootHash
          ? "as the record states"
          : "NOT the size and root the record states"),
    );
  } catch (err) {
    check(false, `embedded checkpoint rejected: ${message(err)}`);
  }

  const report = record.exports;
  const reportFormat: string = report.format;
  check(
    reportFormat === REPORT_FORMAT && report.space === record.space && report.period === record.period,
    `export report of space ${report.space}, period ${report.period}`,
  );
  const allowed = report.transfers.filter((t) => t.outcome === "allowed").length;
  const bytes = report.transfers.reduce((n, t) => n + t.bytes, 0);
  check(
    report.totals.allowed === allowed &&
      report.totals.refused === report.transfers.length - allowed &&
      report.totals.bytes === bytes,
    `export report: ${report.transfers.length} transfers (${allowed} allowed, ${report.transfers.length - allowed} refused, ${bytes} bytes) sum to its totals`,
  );
  if (checkpoint) {
    const size = checkpoint.treeSize;
    const beyond = report.transfers.filter(
      (t) => t.evidence.leafIndex !== null && t.evidence.leafIndex >= size,
    );
    const pending = report.transfers.filter((t) => t.evidence.leafIndex === null).length;
    check(
      beyond.length === 0,
      beyond.length === 0
        ? `every reported transfer's evidence entry lies under the checkpoint (size ${size})` +
            (pending > 0 ? `; ${pending} were not yet appended when it was issued` : "")
        : `${beyond.length} reported entries lie beyond the checkpoint (size ${size})`,
    );
  }

  const ex = opts.export;
  if (ex && checkpoint) {
    const leaves = ex.entries.map((e) =>
      e.entry === undefined ? new Uint8Array(Buffer.from(e.leafHash, "base64")) : entryLeafHash(e.entry),
    );
    const tree = new MemoryTree(leaves);
    check(
      checkpoint.treeSize <= tree.size && hashEquals(tree.root(checkpoint.treeSize), checkpoint.rootHash),
      checkpoint.treeSize <= tree.size && hashEquals(tree.root(checkpoint.treeSize), checkpoint.rootHash)
        ? `the filing's checkpoint is the root of the exported log at size ${checkpoint.treeSize}`
        : `the filing's checkpoint is not a root of the exported log (size ${tree.size})`,
    );
    const mismatched: string[] = [];
    let seen = 0;
    for (const t of report.transfers) {
      if (t.evidence.leafIndex === null) continue;
      const leaf = ex.entries[t.evidence.leafIndex];
      if (leaf?.entry === undefined) continue;
      seen++;
      const action = t.outcome === "allowed" ? "data.export-allowed" : "data.export-refused";
      if (
        leaf.entry.eventId !== t.evidence.eventId ||
        leaf.entry.action !== action ||
        leaf.entry.time !== t.time ||
        leaf.entry.object.uid !== t.contract.uid
      )
        mismatched.push(t.evidence.eventId);
    }
    check(
      mismatched.length === 0,
      mismatched.length === 0
        ? `${seen} reported transfers are the log's entries at their positions (event, action, time, contract)`
        : `reported transfers differ from the log's entries: ${mismatched.slice(0, 5).join(", ")}`,
    );
  }
  return checks;
}
