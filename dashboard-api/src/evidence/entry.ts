// The leaf bytes of an evidence entry (@tds/wire's EvidenceEntry, what the
// operator appends): its RFC 8785 canonical JSON, and the leaf hash of the log.
import type { EvidenceEntry } from "@tds/wire";
import { canonicalBytes } from "./canonical.ts";
import { leafHash, type Hash } from "./merkle.ts";

/** The leaf bytes of an entry: its RFC 8785 canonical JSON in UTF-8. */
export function entryBytes(entry: EvidenceEntry): Buffer {
  return canonicalBytes(entry);
}

export function entryLeafHash(entry: EvidenceEntry): Hash {
  return leafHash(entryBytes(entry));
}
