// The Merkle tree of the evidence log, as RFC 6962 / RFC 9162 §2.1 define it:
// hashing, proof generation and proof verification. Pure functions, no I/O.
//
// Proof generation is split in two so it works over any store of hashes:
// a *plan* names the perfect (complete, aligned) subtrees a proof needs, a
// source returns their hashes, and `resolvePlan` folds them into the proof.
// Every node on a proof path is either a perfect subtree or the right edge of
// the tree, and the right edge decomposes into at most log2(n) perfect
// subtrees, so a proof needs O(log n) stored hashes whatever the tree size.
import { createHash } from "node:crypto";

export const HASH_SIZE = 32;

export type Hash = Uint8Array;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** MTH({}) = SHA-256() (RFC 9162 §2.1.1). */
export function emptyRoot(): Hash {
  return createHash("sha256").digest();
}

/** MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(entry: Uint8Array): Hash {
  return createHash("sha256").update(LEAF_PREFIX).update(entry).digest();
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  return createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();
}

export function hashEquals(a: Hash, b: Hash): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** The largest power of two strictly smaller than n (n >= 2). */
export function splitPoint(n: number): number {
  if (!Number.isSafeInteger(n) || n < 2) throw new RangeError(`split point needs n >= 2, got ${n}`);
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/**
 * A perfect subtree: 2^level leaves starting at index * 2^level. Level 0 is a
 * leaf hash.
 */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** A contiguous leaf range [start, end) whose MTH is one proof element. */
export interface Range {
  readonly start: number;
  readonly end: number;
}

/**
 * The perfect subtrees whose fold is MTH(D[start:end]), left to right. MTH
 * splits off the largest power of two below the size, so the subtrees are the
 * binary digits of the size, largest first. `start` must be aligned, as every
 * range produced by the MTH recursion is.
 */
export function decomposeRange(range: Range): NodeId[] {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
    throw new RangeError(`invalid leaf range [${start}, ${end})`);
  }
  const out: NodeId[] = [];
  let pos = start;
  let remaining = end - start;
  let size = 1;
  let level = 0;
  while (size * 2 <= remaining) {
    size *= 2;
    level++;
  }
  while (remaining > 0) {
    if (size <= remaining) {
      if (pos % size !== 0) throw new RangeError(`leaf range [${start}, ${end}) is not aligned`);
      out.push({ level, index: pos / size });
      pos += size;
      remaining -= size;
    }
    size /= 2;
    level--;
  }
  return out;
}

/** Folds the hashes of decomposeRange(range) into MTH(D[start:end]): right to left. */
export function foldRange(hashes: readonly Hash[]): Hash {
  let acc = hashes[hashes.length - 1];
  if (acc === undefined) throw new RangeError("cannot fold an empty range");
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i] as Hash, acc);
  return acc;
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]) as leaf ranges, leaf to root. */
export function inclusionPlan(leafIndex: number, treeSize: number): Range[] {
  if (!Number.isSafeInteger(treeSize) || treeSize < 1) throw new RangeError("tree size must be >= 1");
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= treeSize) {
    throw new RangeError(`leaf index ${leafIndex} is outside a tree of size ${treeSize}`);
  }
  const path: Range[] = [];
  let start = 0;
  let n = treeSize;
  let m = leafIndex;
  // Walk from the root down, then reverse: siblings are listed leaf first.
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      path.push({ start: start + k, end: start + n });
      n = k;
    } else {
      path.push({ start, end: start + k });
      start += k;
      m -= k;
      n -= k;
    }
  }
  return path.reverse();
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]) as leaf ranges, for 0 < m <= n. */
export function consistencyPlan(first: number, second: number): Range[] {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 1 || first > second) {
    throw new RangeError(`consistency needs 0 < first <= second, got ${first} and ${second}`);
  }
  const proof: Range[] = [];
  // SUBPROOF(m, D[start:start+n], b), written as a loop: each step appends its
  // sibling after the recursive part, so collect siblings and reverse.
  const siblings: Range[] = [];
  let start = 0;
  let n = second;
  let m = first;
  let b = true;
  while (m !== n) {
    const k = splitPoint(n);
    if (m <= k) {
      siblings.push({ start: start + k, end: start + n });
      n = k;
    } else {
      siblings.push({ start, end: start + k });
      start += k;
      m -= k;
      n -= k;
      b = false;
    }
  }
  if (!b) proof.push({ start, end: start + n });
  proof.push(...siblings.reverse());
  return proof;
}

/** Hashes of perfect subtrees, by id. Implemented in memory and over PostgreSQL. */
export interface NodeSource {
  getNodes(ids: readonly NodeId[]): Promise<Hash[]>;
}

/** Looks up every perfect subtree a plan needs in one call and folds the ranges. */
export async function resolvePlan(plan: readonly Range[], source: NodeSource): Promise<Hash[]> {
  const parts = plan.map(decomposeRange);
  const hashes = await source.getNodes(parts.flat());
  let offset = 0;
  return parts.map((ids) => {
    const slice = hashes.slice(offset, offset + ids.length);
    offset += ids.length;
    return foldRange(slice);
  });
}

/** The perfect subtrees whose fold is the root of a tree of `size` leaves (the "frontier"). */
export function rootNodes(size: number): NodeId[] {
  return size === 0 ? [] : decomposeRange({ start: 0, end: size });
}

/**
 * Adds one leaf to a frontier (the hashes of rootNodes(size), largest first)
 * and returns the new frontier plus every perfect subtree the leaf completed,
 * so a store can persist them. This is how a log appends in O(log n).
 */
export function appendToFrontier(
  frontier: readonly Hash[],
  size: number,
  leaf: Hash,
): { frontier: Hash[]; completed: { id: NodeId; hash: Hash }[] } {
  const next = frontier.slice();
  const completed: { id: NodeId; hash: Hash }[] = [];
  let hash = leaf;
  let level = 0;
  let index = size;
  // Each trailing 1 bit of `size` is a perfect subtree that the new leaf pairs up with.
  let s = size;
  while (s % 2 === 1) {
    const left = next.pop();
    if (left === undefined) throw new Error(`frontier does not match tree size ${size}`);
    hash = nodeHash(left, hash);
    level++;
    index = Math.floor(index / 2);
    completed.push({ id: { level, index }, hash });
    s = Math.floor(s / 2);
  }
  next.push(hash);
  return { frontier: next, completed };
}

export function rootFromFrontier(frontier: readonly Hash[]): Hash {
  return frontier.length === 0 ? emptyRoot() : foldRange(frontier);
}

/**
 * An in-memory tree over leaf hashes that keeps every perfect subtree, for the
 * verifier and for tests. Memory is about 2n hashes.
 */
export class MemoryTree implements NodeSource {
  private readonly levels: Hash[][] = [[]];

  constructor(leafHashes: Iterable<Hash> = []) {
    for (const h of leafHashes) this.append(h);
  }

  get size(): number {
    return (this.levels[0] as Hash[]).length;
  }

  append(leaf: Hash): void {
    let level = 0;
    let hash = leaf;
    for (;;) {
      const row = this.levels[level] ?? (this.levels[level] = []);
      row.push(hash);
      if (row.length % 2 === 1) return;
      hash = nodeHash(row[row.length - 2] as Hash, hash);
      level++;
    }
  }

  node(id: NodeId): Hash {
    const h = this.levels[id.level]?.[id.index];
    if (h === undefined) throw new RangeError(`no subtree at level ${id.level} index ${id.index}`);
    return h;
  }

  getNodes(ids: readonly NodeId[]): Promise<Hash[]> {
    return Promise.resolve(ids.map((id) => this.node(id)));
  }

  leaf(index: number): Hash {
    return this.node({ level: 0, index });
  }

  root(size = this.size): Hash {
    if (size < 0 || size > this.size) throw new RangeError(`no root at size ${size} (tree has ${this.size})`);
    return size === 0 ? emptyRoot() : this.rangeHash({ start: 0, end: size });
  }

  rangeHash(range: Range): Hash {
    return foldRange(decomposeRange(range).map((id) => this.node(id)));
  }

  inclusionProof(leafIndex: number, treeSize = this.size): Hash[] {
    this.checkSize(treeSize);
    return inclusionPlan(leafIndex, treeSize).map((r) => this.rangeHash(r));
  }

  consistencyProof(first: number, second = this.size): Hash[] {
    this.checkSize(second);
    return consistencyPlan(first, second).map((r) => this.rangeHash(r));
  }

  private checkSize(n: number): void {
    if (n > this.size) throw new RangeError(`tree size ${n} is beyond the tree (${this.size})`);
  }
}

/** MTH over a list of leaf hashes. */
export function rootFromLeafHashes(leaves: readonly Hash[]): Hash {
  return new MemoryTree(leaves).root();
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof implies, or undefined when it is malformed. */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leaf: Hash,
  proof: readonly Hash[],
): Hash | undefined {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize)) return undefined;
  if (leafIndex < 0 || leafIndex >= treeSize || leaf.length !== HASH_SIZE) return undefined;
  // Tree sizes stay below 2^53, so shifts are written as divisions on safe integers.
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== HASH_SIZE || sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leaf: Hash,
  proof: readonly Hash[],
  root: Hash,
): boolean {
  if (root.length !== HASH_SIZE) return false;
  const computed = rootFromInclusionProof(leafIndex, treeSize, leaf, proof);
  return computed !== undefined && hashEquals(computed, root);
}

/** RFC 9162 §2.1.4.2, with first == second and first == 0 handled as RFC 9162 describes. */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Hash[],
  firstRoot: Hash,
  secondRoot: Hash,
): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second)) return false;
  if (first < 0 || first > second) return false;
  if (firstRoot.length !== HASH_SIZE || secondRoot.length !== HASH_SIZE) return false;
  if (proof.some((p) => p.length !== HASH_SIZE)) return false;
  if (first === second) return proof.length === 0 && hashEquals(firstRoot, secondRoot);
  // Every tree is consistent with the empty tree, and the proof is empty.
  if (first === 0) return proof.length === 0 && hashEquals(firstRoot, emptyRoot());
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : proof.slice();
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr = path[0] as Hash;
  let sr = path[0] as Hash;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && hashEquals(fr, firstRoot) && hashEquals(sr, secondRoot);
}
