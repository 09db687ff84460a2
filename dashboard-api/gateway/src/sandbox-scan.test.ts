// Input fingerprints (sandbox-fingerprint.ts) and the scan of outputs for them (sandbox-scan.ts).
import assert from "node:assert/strict";
import { createHash, randomBytes, randomFillSync } from "node:crypto";
import { test } from "node:test";
import { BLOCK, Fingerprinter, MIN_PART, type InputFingerprint } from "./sandbox-fingerprint.ts";
import { OutputScanner, type InputMatch } from "./sandbox-scan.ts";

const fp = (b: Buffer, chunk = 1000): InputFingerprint => {
  const f = new Fingerprinter();
  for (let i = 0; i < b.length; i += chunk) f.update(b.subarray(i, i + chunk));
  return f.finish();
};
const large = randomBytes(3 * BLOCK + 1000);
const small = Buffer.from("turbine,ts,temp\n" + "T1,2026-01-01T00:00:00Z,81.5\n".repeat(3));
const tiny = randomBytes(MIN_PART - 1);
const inputs = [
  { key: "data/large.bin", fingerprint: fp(large) },
  { key: "data/small.csv", fingerprint: fp(small) },
  { key: "data/tiny.bin", fingerprint: fp(tiny) },
];
const popcount = (n: number): number => (n === 0 ? 0 : (n & 1) + popcount(n >>> 1));
const sha = (b: Buffer) => createHash("sha256").update(b).digest();

function scan(chunks: readonly (Buffer | string)[]): InputMatch[] {
  const s = new OutputScanner(inputs);
  for (const c of chunks) s.update(typeof c === "string" ? Buffer.from(c) : c);
  return s.finish().matches;
}
/** The output as one buffer, fed in chunks of `size`. */
const chunked = (b: Buffer, size: number) =>
  Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size));
const brief = (m: readonly InputMatch[]) =>
  m.map((x) =>
    x.match === "embedded"
      ? [x.key, x.match, x.offset, x.inputOffset, x.length]
      : x.match === "digest"
        ? [x.key, x.match, x.offset, x.encoding]
        : [x.key, x.match],
  );

test("fingerprints cover the full blocks and a final partial block of MIN_PART bytes or more", () => {
  const f = fp(large, 777);
  assert.equal(f.bytes, large.length);
  assert.equal(f.sha256, sha(large).toString("hex"));
  assert.equal(f.blocks.weak.length, 3);
  assert.deepEqual(f.tail && [f.tail.offset, f.tail.length], [3 * BLOCK, 1000]);
  assert.deepEqual(fp(large, 1), f, "the chunking does not change the fingerprint");
  assert.equal(fp(small).blocks.weak.length, 0);
  assert.equal(fp(small).tail?.length, small.length);
  assert.equal(fp(tiny).tail, undefined);
  const zeros = fp(Buffer.alloc(2 * BLOCK + 100));
  assert.ok(zeros.blocks.weak.every(Number.isNaN), "one repeated byte is not fingerprinted");
  assert.equal(zeros.tail, undefined);
});

test("an input embedded at an unaligned offset is found, whatever the chunking", () => {
  const out = Buffer.concat([randomBytes(1234), large, randomBytes(77)]);
  for (const size of [1, 4095, 65536])
    assert.deepEqual(brief(scan(chunked(out, size))), [["data/large.bin", "embedded", 1234, 0, BLOCK]]);
});

test("a copied run is found when it holds a whole aligned block, a small input only when whole", () => {
  const cases: [string, Buffer, unknown[]][] = [
    [
      "2 * BLOCK - 1 bytes from an unaligned offset",
      large.subarray(100, 100 + 2 * BLOCK - 1),
      [["data/large.bin", "embedded", 7 + BLOCK - 100, BLOCK, BLOCK]],
    ],
    [
      "the input's final partial block",
      large.subarray(3 * BLOCK),
      [["data/large.bin", "embedded", 7, 3 * BLOCK, 1000]],
    ],
    ["BLOCK bytes across a block boundary", large.subarray(100, 100 + BLOCK), []],
    ["a small input whole", small, [["data/small.csv", "embedded", 7, 0, small.length]]],
    ["a small input but its last byte", small.subarray(0, small.length - 1), []],
    ["a small input but its first byte", small.subarray(1), []],
    ["an input under MIN_PART bytes", tiny, []],
  ];
  for (const [what, part, want] of cases) {
    const out = Buffer.concat([Buffer.from("prefix:"), part, Buffer.from(":suffix")]);
    assert.deepEqual(brief(scan([out])), want, what);
  }
});

test("an output that merely shares a few bytes, or zero padding, is not flagged", () => {
  const zeroInput = [{ key: "z", fingerprint: fp(Buffer.concat([Buffer.alloc(BLOCK), randomBytes(10)])) }];
  const z = new OutputScanner(zeroInput);
  z.update(Buffer.alloc(3 * BLOCK));
  assert.deepEqual(z.finish().matches, []);
  const out = Buffer.concat([
    Buffer.from("turbine,ts,temp\nT1,2026-01-01T00:00:00Z,99.0\n"),
    large.subarray(0, BLOCK - 1),
    small.subarray(0, MIN_PART),
    Buffer.from(sha(large).toString("hex").slice(0, 63)),
  ]);
  assert.deepEqual(scan([out]), []);
});

test("an identical copy is reported as identical, not embedded; an empty output copies nothing", () => {
  assert.deepEqual(brief(scan(chunked(large, 5000))), [["data/large.bin", "identical"]]);
  assert.deepEqual(brief(scan([tiny])), [["data/tiny.bin", "identical"]]);
  const empty = new OutputScanner([{ key: "e", fingerprint: fp(Buffer.alloc(0)) }]);
  assert.deepEqual(empty.finish().matches, []);
});

test("an input's SHA-256 as hex or base64 text is found, also split across two chunks", () => {
  const d = sha(small);
  const texts: [string, string][] = [
    [d.toString("hex"), "hex"],
    [d.toString("hex").toUpperCase(), "hex"],
    [d.toString("base64"), "base64"],
    [d.toString("base64url"), "base64"],
  ];
  for (const [text, encoding] of texts) {
    const out = `{"seen": "${text}"}`;
    for (const cut of [12, 12 + 20, 12 + 42]) {
      const got = scan([out.slice(0, cut), out.slice(cut)]);
      assert.deepEqual(
        brief(got),
        [["data/small.csv", "digest", 10, encoding]],
        `${text} cut at ${String(cut)}`,
      );
    }
  }
  assert.deepEqual(scan([d.toString("hex").slice(1)]), [], "63 hex digits are not a digest");
});

test("forced weak-hash collisions (Thue-Morse) are rejected by the strong hash; too many make the scan incomplete", () => {
  // A Thue-Morse string and its complement have the same polynomial hash modulo 2^32 for every odd base.
  const tm = Buffer.from(Array.from({ length: 256 }, (_, i) => (popcount(i) % 2 === 0 ? 0x61 : 0x62)));
  const flipped = Buffer.from(tm.map((x) => 0x61 + 0x62 - x));
  const input = [{ key: "tm", fingerprint: fp(Buffer.concat(Array<Buffer>(16).fill(tm))) }];
  // Every window at a multiple of 256 bytes holds one flipped segment: it collides, and is not the block.
  const period = Buffer.concat([...Array<Buffer>(15).fill(tm), flipped]);
  const scanned = (output: Buffer) => {
    const s = new OutputScanner(input);
    s.update(output);
    return s.finish();
  };
  const few = scanned(Buffer.concat([period, period.subarray(0, 512)]));
  assert.deepEqual([few.matches, few.complete], [[], true]);
  assert.ok(
    few.failedChecks >= 3,
    `windows at 0, 256 and 512 collide (${String(few.failedChecks)} failed checks)`,
  );
  const many = scanned(Buffer.concat(Array<Buffer>(256).fill(period)));
  assert.equal(many.complete, false, "over the budget of about one failed check per block");
});

test("a 64 MiB output is scanned in bounded memory, and a copy at its end is still found", () => {
  const chunk = Buffer.alloc(1 << 20);
  const s = new OutputScanner(inputs);
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = 0;
  const started = performance.now();
  for (let i = 0; i < 64; i++) {
    randomFillSync(chunk);
    if (i === 63) large.copy(chunk, chunk.length - large.length - 5);
    s.update(chunk);
    peak = Math.max(peak, used() - base);
  }
  const r = s.finish();
  const seconds = (performance.now() - started) / 1000;
  assert.equal(r.bytes, 64 << 20);
  assert.deepEqual(brief(r.matches), [
    ["data/large.bin", "embedded", (64 << 20) - large.length - 5, 0, BLOCK],
  ]);
  assert.ok(peak < 16 << 20, `memory grew by ${String(peak)} bytes while scanning 64 MiB`);
  console.log(`64 MiB scanned in ${seconds.toFixed(2)} s, memory growth ${(peak / 2 ** 20).toFixed(1)} MiB`);
});
