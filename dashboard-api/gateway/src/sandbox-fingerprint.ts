// The fingerprint of a SandboxJob's input object: what an output may not
// copy, embed or name (sandbox-scan.ts finds them in outputs; docs/gateway.md
// has the rule). Pure: no I/O.
//
// An input's parts are its full BLOCK-byte blocks at block-aligned offsets
// and its final partial block (the whole input when it is smaller than a
// block) when that has at least MIN_PART bytes; parts made of one repeated
// byte (zero padding) are not fingerprinted. Each part has a weak hash, the
// polynomial hash the scan's rolling window computes (Rabin-Karp, modulo
// 2^32, with a random odd base per process, so a job cannot know it), and a
// strong hash, the first STRONG bytes of its SHA-256.
import { createHash, randomInt } from "node:crypto";

export const BLOCK = 4096;
export const MIN_PART = 64;
export const STRONG = 16;
export const WEAK_BASE = randomInt(1 << 30) * 2 + 1;

const POW = new Int32Array(BLOCK + 1);
POW[0] = 1;
for (let i = 1; i <= BLOCK; i++) POW[i] = Math.imul(POW[i - 1] ?? 0, WEAK_BASE);
/** WEAK_BASE^n modulo 2^32, for n up to BLOCK: what a window of n bytes shifts its first byte by. */
export const pow = (n: number): number => POW[n] ?? 0;

/** The weak hash of bytes (or symbols), as the scan's rolling window computes it. */
export function weakOf(b: Uint8Array): number {
  let h = 0;
  for (const x of b) h = (Math.imul(h, WEAK_BASE) + x + 1) | 0;
  return h;
}
export const strongOf = (b: Uint8Array): Buffer =>
  createHash("sha256").update(b).digest().subarray(0, STRONG);
const uniform = (b: Uint8Array): boolean => b.every((x) => x === b[0]);

/** An input object's fingerprint: its SHA-256 and the parts an output may not embed. */
export interface InputFingerprint {
  readonly bytes: number;
  /** Lowercase hex. */
  readonly sha256: string;
  /** Block i covers input bytes [i * BLOCK, (i + 1) * BLOCK); weak is NaN for a skipped block. */
  readonly blocks: { readonly weak: Float64Array; readonly strong: Buffer };
  /** The final partial block, when it has at least MIN_PART bytes and is not one repeated byte. */
  readonly tail?: {
    readonly offset: number;
    readonly length: number;
    readonly weak: number;
    /** Weak hash of the tail's last MIN_PART bytes. */
    readonly anchor: number;
    readonly strong: Buffer;
  };
}

/** Bytes a fingerprint holds, for bounding a cache of them. */
export const fingerprintBytes = (f: InputFingerprint): number =>
  f.blocks.weak.byteLength + f.blocks.strong.length + 256;

/** Fingerprints an input as it streams: update() with each chunk, then finish(). */
export class Fingerprinter {
  private readonly sha = createHash("sha256");
  private readonly block = Buffer.alloc(BLOCK);
  private fill = 0;
  private bytes = 0;
  private readonly weak: number[] = [];
  /** STRONG bytes per block, grown by doubling. */
  private strong = Buffer.alloc(STRONG * 256);

  update(chunk: Uint8Array): void {
    this.sha.update(chunk);
    this.bytes += chunk.length;
    for (let i = 0; i < chunk.length;) {
      const n = Math.min(BLOCK - this.fill, chunk.length - i);
      this.block.set(chunk.subarray(i, i + n), this.fill);
      this.fill += n;
      i += n;
      if (this.fill === BLOCK) {
        const at = this.weak.length * STRONG;
        if (at === this.strong.length)
          this.strong = Buffer.concat([this.strong, Buffer.alloc(this.strong.length)]);
        const skip = uniform(this.block);
        this.weak.push(skip ? NaN : weakOf(this.block));
        if (!skip) strongOf(this.block).copy(this.strong, at);
        this.fill = 0;
      }
    }
  }

  finish(): InputFingerprint {
    const tail = this.block.subarray(0, this.fill);
    return {
      bytes: this.bytes,
      sha256: this.sha.digest("hex"),
      blocks: {
        weak: Float64Array.from(this.weak),
        strong: Buffer.from(this.strong.subarray(0, this.weak.length * STRONG)),
      },
      ...(tail.length >= MIN_PART && !uniform(tail)
        ? {
            tail: {
              offset: this.bytes - tail.length,
              length: tail.length,
              weak: weakOf(tail),
              anchor: weakOf(tail.subarray(tail.length - MIN_PART)),
              strong: strongOf(tail),
            },
          }
        : {}),
    };
  }
}

export async function fingerprint(source: AsyncIterable<Uint8Array>): Promise<InputFingerprint> {
  const f = new Fingerprinter();
  for await (const chunk of source) f.update(chunk);
  return f.finish();
}
