// What a SandboxJob's output reveals of its inputs, found while the output
// streams through the gateway (sandbox.ts). Pure: no I/O; memory bounded by a
// window of 2 * BLOCK output bytes and an index of the inputs' parts.
//
// The rule (docs/gateway.md), for each input (sandbox-fingerprint.ts):
// - identical: the output's SHA-256 is the (non-empty) input's SHA-256;
// - embedded: the output contains, at any byte offset, one of the input's
//   fingerprinted parts. So any copied run of 2 * BLOCK - 1 bytes or more is
//   found, and a small input (MIN_PART bytes or more) copied whole;
//   transformed, compressed or re-encoded copies are not;
// - digest: the output contains the input's SHA-256 as text, in hex (either
//   case) or base64 (standard or URL alphabet, padded or not).
// Candidates come from rolling weak hashes and are confirmed exactly: parts
// by their strong hash, digest text by comparing the characters. A weak hash
// modulo 2^32 can be forced to collide (Thue-Morse strings), which would cost
// a strong check per window; failed strong checks are budgeted (what chance
// explains, plus about one per BLOCK of output) and a scan over budget is
// incomplete, which withholds the output rather than letting it through
// unchecked.
import { createHash } from "node:crypto";
import {
  BLOCK,
  MIN_PART,
  pow,
  STRONG,
  strongOf,
  WEAK_BASE as B,
  weakOf,
  type InputFingerprint,
} from "./sandbox-fingerprint.ts";
import type { InputMatch } from "@tds/crds";

export type { InputMatch } from "@tds/crds";

const RING = 2 * BLOCK;
const RMASK = RING - 1;
/** Failed strong checks allowed before the scan gives up: this, one per BLOCK of output, and chance's share. */
const FAILED_CHECKS = 1024;
const PB = pow(BLOCK);
const PA = pow(MIN_PART);

export interface ScanInput {
  readonly key: string;
  readonly fingerprint: InputFingerprint;
}

/** A bitset on the high bits of 32-bit hashes, about 32 bits per key: most windows miss on one array read. */
class Bits {
  private readonly bits: Uint32Array;
  private readonly shift: number;

  constructor(keys: number) {
    let log = 16;
    while (1 << log < keys * 32 && log < 26) log++;
    this.shift = 32 - log;
    this.bits = new Uint32Array(1 << (log - 5));
  }

  add(h: number): void {
    const i = h >>> this.shift;
    this.bits[i >>> 5] = (this.bits[i >>> 5] ?? 0) | (1 << (i & 31));
  }

  has(h: number): boolean {
    const i = h >>> this.shift;
    return ((this.bits[i >>> 5] ?? 0) & (1 << (i & 31))) !== 0;
  }
}

/**
 * A multimap from 32-bit weak hashes to ids (non-negative integers), in typed
 * arrays (open addressing, linear probing): a few bytes per key, whatever
 * the number of inputs and blocks.
 */
class Table {
  readonly bits: Bits;
  private readonly keys: Int32Array;
  /** id + 1; 0 is an empty slot. */
  private readonly ids: Int32Array;
  private readonly shift: number;
  private readonly mask: number;

  constructor(capacity: number) {
    let log = 4;
    while (1 << log < capacity * 2) log++;
    this.keys = new Int32Array(1 << log);
    this.ids = new Int32Array(1 << log);
    this.shift = 32 - log;
    this.mask = (1 << log) - 1;
    this.bits = new Bits(capacity);
  }

  private slot(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.shift;
  }

  add(key: number, id: number): void {
    let i = this.slot(key);
    while ((this.ids[i] ?? 0) !== 0) i = (i + 1) & this.mask;
    this.keys[i] = key;
    this.ids[i] = id + 1;
    this.bits.add(key);
  }

  /** The ids under key. */
  get(key: number): number[] {
    const out: number[] = [];
    for (let i = this.slot(key); (this.ids[i] ?? 0) !== 0; i = (i + 1) & this.mask)
      if (this.keys[i] === key) out.push((this.ids[i] ?? 0) - 1);
    return out;
  }
}

/**
 * Parts (blocks, or tails) by weak hash. Identical parts (same length and
 * strong hash), in one input or several, form one group: a group is
 * strong-checked once per window, and once found it is done.
 */
class PartIndex {
  /** Weak hash to group. */
  readonly table: Table;
  /** Per group: its first and last part, and whether it was found. */
  private readonly first: Int32Array;
  private readonly last: Int32Array;
  private readonly found: Uint8Array;
  /** Per part: the next of its group (-1: none), its input, offset in the input and length. */
  private readonly next: Int32Array;
  readonly input: Int32Array;
  readonly offset: Float64Array;
  readonly length: Int32Array;
  private groups = 0;
  private parts = 0;

  constructor(
    capacity: number,
    /** The strong hash of an input's part. */
    readonly strong: (input: number, offset: number) => Buffer,
  ) {
    this.table = new Table(capacity);
    this.first = new Int32Array(capacity);
    this.last = new Int32Array(capacity);
    this.found = new Uint8Array(capacity);
    this.next = new Int32Array(capacity);
    this.input = new Int32Array(capacity);
    this.offset = new Float64Array(capacity);
    this.length = new Int32Array(capacity);
  }

  get size(): number {
    return this.parts;
  }

  add(key: number, input: number, offset: number, length: number): void {
    const p = this.parts++;
    this.input[p] = input;
    this.offset[p] = offset;
    this.length[p] = length;
    this.next[p] = -1;
    const strong = this.strong(input, offset);
    for (const g of this.table.get(key)) {
      const f = this.first[g] ?? 0;
      if (this.length[f] !== length || !this.strong(this.input[f] ?? 0, this.offset[f] ?? 0).equals(strong))
        continue;
      this.next[this.last[g] ?? 0] = p;
      this.last[g] = p;
      return;
    }
    const g = this.groups++;
    this.first[g] = p;
    this.last[g] = p;
    this.table.add(key, g);
  }

  /** The groups under a weak hash not found yet. */
  open(key: number): number[] {
    return this.table.get(key).filter((g) => this.found[g] === 0);
  }

  /** The first part of a group. */
  head(g: number): number {
    return this.first[g] ?? 0;
  }

  /** The parts of a group, in the order added (by input, then offset). */
  members(g: number): number[] {
    const out: number[] = [];
    for (let p = this.first[g] ?? -1; p >= 0; p = this.next[p] ?? -1) out.push(p);
    return out;
  }

  markFound(g: number): void {
    this.found[g] = 1;
  }
}

const alphabet = (chars: string, extra: Record<string, number> = {}): Int8Array => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = i;
  for (const [c, v] of Object.entries(extra)) t[c.charCodeAt(0)] = v;
  return t;
};
const HEX = alphabet("0123456789abcdef", { A: 10, B: 11, C: 12, D: 13, E: 14, F: 15 });
const BASE64 = alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", {
  "-": 62,
  _: 63,
});
const TMASK = 127;

/**
 * Finds fixed-length texts (the inputs' digests) in a stream, after mapping
 * bytes to symbols of an alphabet (-1: not in it). Only a run of `size`
 * symbols or more is hashed (rolling), and a hit is confirmed by comparing
 * the symbols.
 */
class TextWindow {
  /** Symbol k of the current run, at k & TMASK. */
  private readonly symbols = new Uint8Array(TMASK + 1);
  private readonly targets: Table;
  private readonly pow: number;
  private run = 0;
  private h = 0;

  constructor(
    private readonly table: Int8Array,
    private readonly size: number,
    /** Input i's text. */
    private readonly text: (input: number) => string,
    inputs: number,
  ) {
    this.pow = pow(size);
    this.targets = new Table(inputs);
    for (let i = 0; i < inputs; i++) this.targets.add(weakOf(this.symbolsOf(i)), i);
  }

  private symbolsOf(input: number): Uint8Array {
    return Uint8Array.from(Buffer.from(this.text(input), "latin1"), (c) => this.table[c] ?? 0);
  }

  /** Scans a chunk that starts at output offset `at`; found() gets the inputs and offset of each text. */
  scan(chunk: Uint8Array, at: number, found: (inputs: readonly number[], offset: number) => void): void {
    const { table, size, symbols } = this;
    const bits = this.targets.bits;
    let { run, h } = this;
    for (let i = 0; i < chunk.length; i++) {
      const s = table[chunk[i] ?? 0] ?? -1;
      symbols[run & TMASK] = s;
      // Branch-free: a byte outside the alphabet (s = -1) ends the run.
      run = (run + 1) & ~(s >> 31);
      if (run < size) continue;
      if (run === size) {
        h = 0;
        for (let j = 0; j < size; j++) h = (Math.imul(h, B) + (symbols[j & TMASK] ?? 0) + 1) | 0;
      } else {
        const leaving = (symbols[(run - size - 1) & TMASK] ?? 0) + 1;
        h = (Math.imul(h, B) + s + 1 - Math.imul(leaving, this.pow)) | 0;
        // Keeps a run of gigabytes inside int32; the ring index (run & TMASK) is unchanged.
        if (run >= 1 << 30) run -= 1 << 29;
      }
      if (bits.has(h)) this.confirm(h, run, at + i + 1 - size, found);
    }
    this.run = run;
    this.h = h;
  }

  /** Separate from scan(), whose loop must not share variables with closures. */
  private confirm(
    h: number,
    run: number,
    offset: number,
    found: (inputs: readonly number[], offset: number) => void,
  ): void {
    const start = run - this.size;
    const inputs = this.targets
      .get(h)
      .filter((i) => this.symbolsOf(i).every((x, j) => this.symbols[(start + j) & TMASK] === x));
    if (inputs.length > 0) found(inputs, offset);
  }
}

/**
 * Scans an output as it streams for the inputs it copies, embeds or names:
 * update() with each chunk, then finish(). Holds a fixed window of the last
 * 2 * BLOCK bytes, whatever the output's size, and an index of the inputs'
 * parts of about 20 bytes per block.
 */
export class OutputScanner {
  private readonly sha = createHash("sha256");
  /** Full blocks, and tails (keyed by the weak hash of their last MIN_PART bytes). */
  private readonly blocks: PartIndex;
  private readonly tails: PartIndex;
  /** Failed strong checks that chance alone would produce per output byte, doubled (see confirm()). */
  private readonly chance: number;
  private readonly hex: TextWindow;
  private readonly base64: TextWindow;
  /** Output byte k at k & RMASK; the prefix hash of the first k bytes at k & RMASK. */
  private readonly bytes = new Uint8Array(RING);
  private readonly prefix = new Int32Array(RING);
  private readonly scratch = Buffer.alloc(BLOCK);
  private pos = 0;
  private h = 0;
  private failed = 0;
  private complete = true;
  private readonly embedded = new Map<number, InputMatch>();
  private readonly digests = new Map<number, InputMatch>();

  constructor(private readonly inputs: readonly ScanInput[]) {
    const fp = (i: number): InputFingerprint | undefined => inputs[i]?.fingerprint;
    let n = 0;
    for (const { fingerprint: f } of inputs) for (const w of f.blocks.weak) if (!Number.isNaN(w)) n++;
    this.blocks = new PartIndex(n, (i, offset) => {
      const at = (offset / BLOCK) * STRONG;
      return fp(i)?.blocks.strong.subarray(at, at + STRONG) ?? Buffer.alloc(STRONG);
    });
    this.tails = new PartIndex(inputs.length, (i) => fp(i)?.tail?.strong ?? Buffer.alloc(STRONG));
    for (const [i, { fingerprint: f }] of inputs.entries()) {
      for (const [b, w] of f.blocks.weak.entries())
        if (!Number.isNaN(w)) this.blocks.add(w, i, b * BLOCK, BLOCK);
      if (f.tail) this.tails.add(f.tail.anchor, i, f.tail.offset, f.tail.length);
    }
    this.chance = (2 * (this.blocks.size + this.tails.size)) / 2 ** 32;
    const sha = (i: number) => fp(i)?.sha256 ?? "";
    this.hex = new TextWindow(HEX, 64, sha, inputs.length);
    this.base64 = new TextWindow(
      BASE64,
      43,
      (i) => Buffer.from(sha(i), "hex").toString("base64").slice(0, 43),
      inputs.length,
    );
  }

  update(chunk: Uint8Array): void {
    this.sha.update(chunk);
    const { bytes, prefix } = this;
    const hasBlocks = this.blocks.size > 0;
    const hasTails = this.tails.size > 0;
    const blockBits = this.blocks.table.bits;
    const tailBits = this.tails.table.bits;
    let { pos, h } = this;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] ?? 0;
      bytes[pos & RMASK] = b;
      h = (Math.imul(h, B) + b + 1) | 0;
      pos++;
      prefix[pos & RMASK] = h;
      if (hasBlocks && pos >= BLOCK) {
        const w = (h - Math.imul(prefix[(pos - BLOCK) & RMASK] ?? 0, PB)) | 0;
        if (blockBits.has(w)) this.block(w, pos);
      }
      if (hasTails && pos >= MIN_PART) {
        const w = (h - Math.imul(prefix[(pos - MIN_PART) & RMASK] ?? 0, PA)) | 0;
        if (tailBits.has(w)) this.tail(w, pos, h);
      }
    }
    this.hex.scan(chunk, this.pos, (inputs, offset) => {
      this.named(inputs, offset, "hex");
    });
    this.base64.scan(chunk, this.pos, (inputs, offset) => {
      this.named(inputs, offset, "base64");
    });
    this.pos = pos;
    this.h = h;
  }

  /** Blocks whose weak hash is that of the BLOCK bytes ending at pos. */
  private block(w: number, pos: number): void {
    for (const g of this.blocks.open(w)) this.confirm(this.blocks, g, pos);
  }

  /** Tails whose last MIN_PART bytes end at pos: their whole length is checked on the prefix hashes first. */
  private tail(w: number, pos: number, h: number): void {
    for (const g of this.tails.open(w)) {
      const t = this.inputs[this.tails.input[this.tails.head(g)] ?? 0]?.fingerprint.tail;
      if (!t || t.length > pos) continue;
      const whole = (h - Math.imul(this.prefix[(pos - t.length) & RMASK] ?? 0, pow(t.length))) | 0;
      if (whole === t.weak) this.confirm(this.tails, g, pos);
    }
  }

  /**
   * Confirms a candidate group of parts ending at pos by its strong hash, and
   * records the inputs not found yet. A failed check is a weak-hash
   * collision: chance makes about (windows x parts / 2^32) of them; past
   * twice that, plus FAILED_CHECKS and one per BLOCK of output, they are
   * forced, and the scan stops confirming (incomplete).
   */
  private confirm(parts: PartIndex, g: number, pos: number): void {
    // Every part of the group has the same bytes: its first stands for all.
    const p0 = parts.head(g);
    const length = parts.length[p0] ?? 0;
    if (!this.complete || length > pos) return;
    const strong = parts.strong(parts.input[p0] ?? 0, parts.offset[p0] ?? 0);
    if (!strongOf(this.window(pos - length, length)).equals(strong)) {
      this.failed++;
      if (this.failed > FAILED_CHECKS + pos / BLOCK + pos * this.chance) this.complete = false;
      return;
    }
    parts.markFound(g);
    for (const p of parts.members(g)) {
      const i = parts.input[p] ?? 0;
      const x = this.inputs[i];
      if (!x || this.embedded.has(i)) continue;
      this.embedded.set(i, {
        key: x.key,
        sha256: x.fingerprint.sha256,
        match: "embedded",
        offset: pos - length,
        inputOffset: parts.offset[p] ?? 0,
        length,
      });
    }
  }

  /** Output bytes [start, start + length), out of the ring. */
  private window(start: number, length: number): Buffer {
    const from = start & RMASK;
    const first = Math.min(length, RING - from);
    this.scratch.set(this.bytes.subarray(from, from + first), 0);
    if (first < length) this.scratch.set(this.bytes.subarray(0, length - first), first);
    return this.scratch.subarray(0, length);
  }

  private named(inputs: readonly number[], offset: number, encoding: "hex" | "base64"): void {
    for (const i of inputs) {
      const input = this.inputs[i];
      if (!input || this.digests.has(i)) continue;
      this.digests.set(i, {
        key: input.key,
        sha256: input.fingerprint.sha256,
        match: "digest",
        offset,
        encoding,
      });
    }
  }

  /**
   * The output's size and SHA-256, and its matches: per input, identical or
   * embedded, then digest. complete is false when the scan ran out of its
   * budget of failed strong checks (forced collisions): embedded copies may
   * then be missing.
   */
  finish(): {
    bytes: number;
    sha256: string;
    matches: InputMatch[];
    complete: boolean;
    failedChecks: number;
  } {
    const sha256 = this.sha.digest("hex");
    const matches: InputMatch[] = [];
    for (const [i, { key, fingerprint: f }] of this.inputs.entries()) {
      const embedded = this.embedded.get(i);
      if (f.bytes > 0 && f.sha256 === sha256) matches.push({ key, sha256: f.sha256, match: "identical" });
      else if (embedded) matches.push(embedded);
      const digest = this.digests.get(i);
      if (digest) matches.push(digest);
    }
    return { bytes: this.pos, sha256, matches, complete: this.complete, failedChecks: this.failed };
  }
}
