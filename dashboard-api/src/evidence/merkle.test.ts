// Spec tests for the Merkle tree: the Certificate Transparency test vectors,
// every inclusion and consistency proof up to 64 leaves against a direct
// transcription of the RFC 9162 definitions, and mutated (hostile) proofs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  appendToFrontier,
  consistencyPlan,
  decomposeRange,
  emptyRoot,
  type Hash,
  inclusionPlan,
  leafHash,
  MemoryTree,
  nodeHash,
  resolvePlan,
  rootFromFrontier,
  rootFromLeafHashes,
  rootNodes,
  splitPoint,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";

const hex = (h: Hash): string => Buffer.from(h).toString("hex");
const unhex = (s: string): Hash => new Uint8Array(Buffer.from(s, "hex"));

// The leaves and roots used across CT implementations (certificate-transparency
// and transparency-dev/merkle testonly/constants.go).
const CT_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(unhex);
const CT_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
// [leaf index (0-based), tree size, audit path]
const CT_INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]],
  [1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [
    1,
    5,
    [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
  [
    0,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    5,
    8,
    [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
];
// [first, second, proof]
const CT_CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [
    1,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    6,
    8,
    [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [
    2,
    5,
    [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
];

// A literal transcription of RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 over
// leaf data, recursion and all, to check the planned (iterative) versions.
function refMth(d: readonly Hash[]): Hash {
  if (d.length === 0) return emptyRoot();
  if (d.length === 1) return leafHash(d[0] as Hash);
  const k = splitPoint(d.length);
  return nodeHash(refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: readonly Hash[]): Hash[] {
  if (d.length === 1) return [];
  const k = splitPoint(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}
function refSubproof(m: number, d: readonly Hash[], b: boolean): Hash[] {
  if (m === d.length) return b ? [] : [refMth(d)];
  const k = splitPoint(d.length);
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), b), refMth(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), refMth(d.slice(0, k))];
}

const MAX = 64;
const data: Hash[] = Array.from({ length: MAX }, (_, i) => new Uint8Array([i, i * 7, 0xee]));
const tree = new MemoryTree(data.map(leafHash));

test("leaf and node hashes follow RFC 6962 (transparency-dev hasher vectors)", () => {
  assert.equal(hex(emptyRoot()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(hex(leafHash(new Uint8Array())), CT_ROOTS[0]);
  assert.equal(
    hex(leafHash(Buffer.from("L123456"))),
    "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
  );
  assert.equal(
    hex(nodeHash(Buffer.from("N123"), Buffer.from("N456"))),
    "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
  );
});

test("roots of the CT test trees of 1 to 8 leaves", () => {
  const t = new MemoryTree();
  CT_LEAVES.forEach((leaf, i) => {
    t.append(leafHash(leaf));
    assert.equal(hex(t.root()), CT_ROOTS[i], `root at size ${i + 1}`);
    assert.equal(hex(rootFromLeafHashes(CT_LEAVES.slice(0, i + 1).map(leafHash))), CT_ROOTS[i]);
  });
  assert.equal(hex(t.root(0)), hex(emptyRoot()));
});

test("CT inclusion proof vectors are generated and verify", () => {
  const t = new MemoryTree(CT_LEAVES.map(leafHash));
  for (const [index, size, path] of CT_INCLUSION) {
    const proof = t.inclusionProof(index, size);
    assert.deepEqual(proof.map(hex), path, `PATH(${index}, D[${size}])`);
    const root = unhex(CT_ROOTS[size - 1] as string);
    assert.ok(verifyInclusion(index, size, leafHash(CT_LEAVES[index] as Hash), proof, root));
  }
});

test("CT consistency proof vectors are generated and verify", () => {
  const t = new MemoryTree(CT_LEAVES.map(leafHash));
  for (const [first, second, want] of CT_CONSISTENCY) {
    const proof = t.consistencyProof(first, second);
    assert.deepEqual(proof.map(hex), want, `PROOF(${first}, D[${second}])`);
    const r1 = unhex(CT_ROOTS[first - 1] as string);
    const r2 = unhex(CT_ROOTS[second - 1] as string);
    assert.ok(verifyConsistency(first, second, proof, r1, r2));
  }
});

test("roots for every size up to 64 match the RFC definition", () => {
  for (let n = 0; n <= MAX; n++) {
    assert.equal(hex(tree.root(n)), hex(refMth(data.slice(0, n))), `MTH at size ${n}`);
  }
});

test("inclusion proofs for every (leaf, size) up to 64 match the RFC and verify", () => {
  let checked = 0;
  for (let n = 1; n <= MAX; n++) {
    const root = tree.root(n);
    for (let m = 0; m < n; m++) {
      const proof = tree.inclusionProof(m, n);
      assert.deepEqual(proof.map(hex), refPath(m, data.slice(0, n)).map(hex), `PATH(${m}, D[${n}])`);
      assert.ok(verifyInclusion(m, n, tree.leaf(m), proof, root), `verify PATH(${m}, D[${n}])`);
      checked++;
    }
  }
  assert.equal(checked, (MAX * (MAX + 1)) / 2);
});

test("consistency proofs for every (first, second) up to 64 match the RFC and verify", () => {
  let checked = 0;
  for (let n = 1; n <= MAX; n++) {
    for (let m = 1; m <= n; m++) {
      const proof = tree.consistencyProof(m, n);
      assert.deepEqual(
        proof.map(hex),
        refSubproof(m, data.slice(0, n), true).map(hex),
        `PROOF(${m}, D[${n}])`,
      );
      assert.ok(verifyConsistency(m, n, proof, tree.root(m), tree.root(n)), `verify PROOF(${m}, D[${n}])`);
      checked++;
    }
    assert.ok(verifyConsistency(0, n, [], emptyRoot(), tree.root(n)), `empty tree -> ${n}`);
  }
  assert.equal(checked, (MAX * (MAX + 1)) / 2);
});

function flipBit(h: Hash, bit: number): Hash {
  const c = new Uint8Array(h);
  c[bit >> 3] = (c[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return c;
}
const SOME_HASH = createHash("sha256").update("some other hash").digest();
const BITS = [0, 3, 8, 100, 255];

/** Every way to spoil a proof element-wise: a flipped bit, an element added or removed. */
function mutatedPaths(proof: readonly Hash[], root: Hash): [string, Hash[]][] {
  const out: [string, Hash[]][] = [];
  proof.forEach((el, i) => {
    for (const bit of BITS) {
      const p = proof.slice();
      p[i] = flipBit(el, bit);
      out.push([`bit ${bit} of element ${i} flipped`, p]);
    }
    out.push([`element ${i} removed`, proof.filter((_, j) => j !== i)]);
    out.push([`element ${i} duplicated`, [...proof.slice(0, i + 1), el, ...proof.slice(i + 1)]]);
  });
  for (let i = 0; i <= proof.length; i++) {
    out.push([`foreign element inserted at ${i}`, [...proof.slice(0, i), SOME_HASH, ...proof.slice(i)]]);
  }
  out.push(["root appended", [...proof, root]]);
  out.push(["root prepended", [root, ...proof]]);
  out.push(["empty element appended", [...proof, new Uint8Array()]]);
  if (proof.length > 1) out.push(["elements reversed", proof.slice().reverse()]);
  return out;
}

// Size ± 1 is deliberately not among the mutations: a root hash does not bind
// the tree size (PATH(0, D[3]) and PATH(0, D[4]) have the same shape), which
// is why a checkpoint signs the size together with the root.
test("every mutated inclusion proof up to 64 leaves is rejected", () => {
  let rejected = 0;
  for (let n = 1; n <= MAX; n++) {
    const root = tree.root(n);
    for (let m = 0; m < n; m++) {
      const leaf = tree.leaf(m);
      const proof = tree.inclusionProof(m, n);
      const cases: [string, () => boolean][] = [
        ["leaf index - 1", () => verifyInclusion(m - 1, n, leaf, proof, root)],
        ["leaf index + 1", () => verifyInclusion(m + 1, n, leaf, proof, root)],
        ["tree size * 2", () => verifyInclusion(m, n * 2, leaf, proof, root)],
        ["tree size / 2", () => verifyInclusion(m, Math.floor(n / 2), leaf, proof, root)],
        ["wrong leaf", () => verifyInclusion(m, n, tree.leaf((m + 1) % MAX), proof, root)],
        ["leaf data instead of leaf hash", () => verifyInclusion(m, n, data[m] as Hash, proof, root)],
        ["empty-tree root", () => verifyInclusion(m, n, leaf, proof, emptyRoot())],
        ["root of another size", () => verifyInclusion(m, n, leaf, proof, tree.root(n === MAX ? 1 : n + 1))],
        ["leaf and root swapped", () => n > 1 && verifyInclusion(m, n, root, proof, leaf)],
        ...mutatedPaths(proof, root).map(([what, p]): [string, () => boolean] => [
          what,
          () => verifyInclusion(m, n, leaf, p, root),
        ]),
      ];
      for (const [what, attempt] of cases) {
        assert.equal(attempt(), false, `PATH(${m}, D[${n}]) with ${what} must fail`);
        rejected++;
      }
    }
  }
  assert.ok(rejected > 20_000, `${rejected} hostile inclusion proofs`);
});

test("every mutated consistency proof up to 64 leaves is rejected", () => {
  let rejected = 0;
  for (let n = 2; n <= MAX; n++) {
    const r2 = tree.root(n);
    for (let m = 1; m < n; m++) {
      const r1 = tree.root(m);
      const proof = tree.consistencyProof(m, n);
      const cases: [string, () => boolean][] = [
        ["first - 1", () => verifyConsistency(m - 1, n, proof, r1, r2)],
        ["first + 1", () => verifyConsistency(m + 1, n, proof, r1, r2)],
        ["second * 2", () => verifyConsistency(m, n * 2, proof, r1, r2)],
        ["first / 2", () => m > 1 && verifyConsistency(Math.floor(m / 2), n, proof, r1, r2)],
        ["roots swapped", () => verifyConsistency(m, n, proof, r2, r1)],
        ["wrong first root", () => verifyConsistency(m, n, proof, tree.root(m - 1), r2)],
        ["wrong second root", () => verifyConsistency(m, n, proof, r1, tree.root(n - 1))],
        ["sizes swapped", () => verifyConsistency(n, m, proof, r1, r2)],
        ...mutatedPaths(proof, r2).map(([what, p]): [string, () => boolean] => [
          what,
          () => verifyConsistency(m, n, p, r1, r2),
        ]),
      ];
      for (const [what, attempt] of cases) {
        assert.equal(attempt(), false, `PROOF(${m}, D[${n}]) with ${what} must fail`);
        rejected++;
      }
    }
  }
  assert.ok(rejected > 20_000, `${rejected} hostile consistency proofs`);
});

test("a tree that was rewritten after a checkpoint fails consistency with it", () => {
  const rewritten = new MemoryTree(data.map((d, i) => leafHash(i === 5 ? new Uint8Array([9]) : d)));
  for (let m = 6; m <= 40; m++) {
    const proof = rewritten.consistencyProof(m, MAX);
    assert.equal(verifyConsistency(m, MAX, proof, tree.root(m), rewritten.root(MAX)), false);
  }
});

test("malformed inputs are rejected, not thrown", () => {
  const root = tree.root(8);
  assert.equal(verifyInclusion(0, 0, tree.leaf(0), [], root), false);
  assert.equal(verifyInclusion(8, 8, tree.leaf(0), tree.inclusionProof(0, 8), root), false);
  assert.equal(verifyInclusion(0.5, 8, tree.leaf(0), tree.inclusionProof(0, 8), root), false);
  assert.equal(verifyInclusion(0, 8, tree.leaf(0), tree.inclusionProof(0, 8), root.subarray(1)), false);
  assert.equal(verifyConsistency(3, 8, [], tree.root(3), root), false);
  assert.equal(verifyConsistency(8, 8, [], root, root), true);
  assert.equal(verifyConsistency(8, 8, [root], root, root), false);
  assert.equal(verifyConsistency(0, 8, [], tree.root(1), root), false);
  assert.throws(() => inclusionPlan(3, 3), RangeError);
  assert.throws(() => consistencyPlan(0, 3), RangeError);
  assert.throws(() => decomposeRange({ start: 1, end: 3 }), /not aligned/);
});

test("the frontier appends in O(log n) and records every completed subtree", () => {
  let frontier: Hash[] = [];
  const stored = new Map<string, Hash>();
  for (let n = 0; n < MAX; n++) {
    const leaf = tree.leaf(n);
    stored.set(`0/${n}`, leaf);
    const next = appendToFrontier(frontier, n, leaf);
    for (const c of next.completed) {
      assert.equal(hex(c.hash), hex(tree.node(c.id)), `node ${c.id.level}/${c.id.index}`);
      stored.set(`${c.id.level}/${c.id.index}`, c.hash);
    }
    frontier = next.frontier;
    assert.deepEqual(
      frontier.map(hex),
      rootNodes(n + 1).map((id) => hex(tree.node(id))),
    );
    assert.equal(hex(rootFromFrontier(frontier)), hex(tree.root(n + 1)));
  }
  // Everything a proof needs is among the stored subtrees.
  assert.equal(stored.size, 2 * MAX - 1);
});

test("plans resolve through any node source with O(log n) lookups", async () => {
  const big = new MemoryTree(Array.from({ length: 1000 }, (_, i) => leafHash(Buffer.from(String(i)))));
  let lookups = 0;
  const source = {
    getNodes: (ids: readonly { level: number; index: number }[]) => {
      lookups += ids.length;
      return big.getNodes(ids);
    },
  };
  const proof = await resolvePlan(inclusionPlan(999, 1000), source);
  assert.ok(verifyInclusion(999, 1000, big.leaf(999), proof, big.root()));
  const cons = await resolvePlan(consistencyPlan(777, 1000), source);
  assert.ok(verifyConsistency(777, 1000, cons, big.root(777), big.root()));
  assert.ok(lookups <= 4 * Math.ceil(Math.log2(1000)), `${lookups} lookups`);
});
