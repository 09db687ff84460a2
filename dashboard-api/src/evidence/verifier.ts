// Offline verification of an exported log against a trusted checkpoint: the
// logic behind `tds evidence verify`. Needs nothing but the export, the log's
// public key and, ideally, a checkpoint the verifier saw earlier (for example
// the one exported to the space's bucket). Pure: no I/O.
import type { EvidenceEntry } from "@tds/wire";
import { entryLeafHash } from "./entry.ts";
import { EXPORT_FORMAT, type EvidenceExport } from "./export.ts";
import { type Hash, hashEquals, MemoryTree, verifyConsistency, verifyInclusion } from "./merkle.ts";
import { CheckpointError, type SignedCheckpoint, verifyCheckpoint } from "./checkpoint.ts";

export interface Check {
  ok: boolean;
  what: string;
}

/** An inclusion proof as the API returns it. */
export interface InclusionClaim {
  leafIndex: number;
  treeSize: number;
  /** base64 leaf hash; or give `entry` and the hash is computed. */
  leafHash?: string;
  entry?: EvidenceEntry;
  proof: string[];
}

export interface VerifyOptions {
  export: EvidenceExport;
  /** Raw Ed25519 public key of the space's checkpoint key. */
  publicKey: Uint8Array;
  /** Defaults to the export's origin. */
  keyName?: string;
  /** A signed note the verifier already trusts. */
  trustedCheckpoint?: string;
  inclusion?: readonly InclusionClaim[];
}

const b64 = (s: string): Hash => new Uint8Array(Buffer.from(s, "base64"));
const MAX_LISTED = 5;

function listed(indices: number[]): string {
  const head = indices.slice(0, MAX_LISTED).join(", ");
  return indices.length > MAX_LISTED ? `${head} and ${indices.length - MAX_LISTED} more` : head;
}

export function verifyExport(opts: VerifyOptions): Check[] {
  const checks: Check[] = [];
  const check = (ok: boolean, what: string): boolean => {
    checks.push({ ok, what });
    return ok;
  };
  const ex = opts.export;
  const keyName = opts.keyName ?? ex.origin;
  // The export comes from outside: its declared type is a claim, not a fact.
  const format: string = ex.format;
  if (!check(format === EXPORT_FORMAT, `export format is ${EXPORT_FORMAT}`)) return checks;

  // 1. The leaves: a gapless sequence, and each visible entry hashes to its leaf.
  const gaps = ex.entries.flatMap((e, i) => (e.leafIndex === i ? [] : [i]));
  check(
    gaps.length === 0 && ex.entries.length === ex.treeSize,
    gaps.length === 0 && ex.entries.length === ex.treeSize
      ? `${ex.treeSize} leaves numbered 0 to ${ex.treeSize - 1} without gaps`
      : `leaf numbering is broken (${ex.entries.length} leaves for tree size ${ex.treeSize}; first bad positions ${listed(gaps)})`,
  );
  const bad: number[] = [];
  const foreign: number[] = [];
  let visible = 0;
  const leaves: Hash[] = ex.entries.map((e) => {
    const exported = b64(e.leafHash);
    if (e.entry === undefined) return exported;
    visible++;
    if (e.entry.space !== ex.space) foreign.push(e.leafIndex);
    let computed: Hash;
    try {
      computed = entryLeafHash(e.entry);
    } catch {
      bad.push(e.leafIndex);
      return exported;
    }
    if (!hashEquals(computed, exported)) bad.push(e.leafIndex);
    // The tree is rebuilt from what the entries hash to, so a changed entry changes the root too.
    return computed;
  });
  check(
    bad.length === 0,
    bad.length === 0
      ? `${visible} entries recomputed to their leaf hashes (${ex.treeSize - visible} redacted leaves taken as exported)`
      : `entries at leaf ${listed(bad)} do not match their leaf hashes: they were altered`,
  );
  check(
    foreign.length === 0,
    foreign.length === 0
      ? `every entry belongs to space ${ex.space}`
      : `entries at leaf ${listed(foreign)} belong to another space`,
  );

  const tree = new MemoryTree(leaves);
  check(true, `tree recomputed: size ${tree.size}, root ${Buffer.from(tree.root()).toString("base64")}`);

  // 2. Every exported checkpoint is signed by the space's key and matches the recomputed tree.
  const signed: SignedCheckpoint[] = [];
  for (const note of ex.checkpoints) {
    let cp: SignedCheckpoint;
    try {
      cp = verifyCheckpoint(note, keyName, opts.publicKey, ex.origin);
    } catch (err) {
      check(false, `exported checkpoint rejected: ${(err as Error).message}`);
      continue;
    }
    if (cp.treeSize > tree.size) {
      check(
        false,
        `checkpoint at size ${cp.treeSize} is beyond the exported log (${tree.size}): the log was truncated`,
      );
      continue;
    }
    if (
      check(
        hashEquals(tree.root(cp.treeSize), cp.rootHash),
        `checkpoint at size ${cp.treeSize} (${cp.time}): signature valid, root ${hashEquals(tree.root(cp.treeSize), cp.rootHash) ? "matches the recomputed tree" : "DOES NOT match the recomputed tree"}`,
      )
    ) {
      signed.push(cp);
    }
  }
  const latest = signed.at(-1);
  check(
    latest !== undefined,
    latest
      ? `latest signed checkpoint is at size ${latest.treeSize}`
      : "the export holds no valid signed checkpoint",
  );

  // 3. The trusted checkpoint: signed, within the log, same root, and consistent with the latest.
  if (opts.trustedCheckpoint !== undefined) {
    let trusted: SignedCheckpoint | undefined;
    try {
      trusted = verifyCheckpoint(opts.trustedCheckpoint, keyName, opts.publicKey, ex.origin);
      check(
        true,
        `trusted checkpoint: signature by ${keyName} valid (size ${trusted.treeSize}, ${trusted.time})`,
      );
    } catch (err) {
      check(
        false,
        `trusted checkpoint rejected: ${err instanceof CheckpointError ? err.message : String(err)}`,
      );
    }
    if (trusted) {
      if (trusted.treeSize > tree.size) {
        check(
          false,
          `the log has ${tree.size} leaves but the trusted checkpoint has ${trusted.treeSize}: the log was truncated`,
        );
      } else if (!hashEquals(tree.root(trusted.treeSize), trusted.rootHash)) {
        check(
          false,
          `the first ${trusted.treeSize} leaves do not hash to the trusted root: the log was rewritten`,
        );
      } else {
        check(true, `the first ${trusted.treeSize} leaves hash to the trusted root`);
        if (latest && latest.treeSize >= trusted.treeSize) {
          const proof =
            trusted.treeSize === 0 ? [] : tree.consistencyProof(trusted.treeSize, latest.treeSize);
          check(
            verifyConsistency(trusted.treeSize, latest.treeSize, proof, trusted.rootHash, latest.rootHash),
            `consistency proof ${trusted.treeSize} -> ${latest.treeSize} (${proof.length} hashes) verifies between the trusted and the latest checkpoint`,
          );
        }
      }
    }
  }

  // 4. Inclusion proofs the caller holds, against a signed root of that size when there is one.
  for (const claim of opts.inclusion ?? []) {
    const what = `inclusion of leaf ${claim.leafIndex} in tree size ${claim.treeSize}`;
    let leaf: Hash;
    try {
      leaf = claim.entry ? entryLeafHash(claim.entry) : b64(claim.leafHash ?? "");
    } catch (err) {
      check(false, `${what}: the entry cannot be hashed (${(err as Error).message})`);
      continue;
    }
    const anchor = signed.find((c) => c.treeSize === claim.treeSize);
    if (claim.treeSize > tree.size || claim.treeSize < 1) {
      check(false, `${what}: no such tree size in the log (${tree.size})`);
      continue;
    }
    const root = anchor?.rootHash ?? tree.root(claim.treeSize);
    check(
      verifyInclusion(claim.leafIndex, claim.treeSize, leaf, claim.proof.map(b64), root),
      `${what} against the ${anchor ? "signed" : "recomputed"} root`,
    );
  }
  return checks;
}
