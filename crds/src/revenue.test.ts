// Ground truth of the split by contribution: three providers, four inputs, known
// totals, worked by hand to the last unit for each mode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { splitByContribution, splitUnits, type RevenueInput } from "./revenue.ts";

const input = (name: string, provider: string, bytes: bigint, reads: bigint): RevenueInput => ({
  input: name,
  provider,
  offer: `${name}-offer`,
  contract: `${name}-contract`,
  bytes,
  reads,
});
// alpha reads 400 of 1000 bytes in 4 of 7 reads, beta 500 in 2, gamma 100 in 1.
const inputs = [
  input("a1", "alpha", 300n, 1n),
  input("a2", "alpha", 100n, 3n),
  input("b1", "beta", 500n, 2n),
  input("g1", "gamma", 100n, 1n),
];
const CPU = 10_007n;
const MEMORY = 1_000_000_003n;

const parts = (mode: Parameters<typeof splitByContribution>[0], i = inputs) =>
  Object.fromEntries(splitByContribution(mode, i, [CPU, MEMORY]).map((s) => [s.input, s.parts]));

test("ProportionalToUsage: by bytes read; remainders to the largest weight", () => {
  // providers: floor(10007 x 400/1000) = 4002, 5003, 1000; the 2 left go to beta (500).
  // alpha's 4002: a1 floor(4002 x 300/400) = 3001, a2 1000; the 1 left goes to a1 (300).
  // memory: alpha 400000001, beta 500000001 + 1 left, gamma 100000000;
  //   alpha's: a1 floor(400000001 x 3/4) = 300000000, a2 100000000, 1 left to a1.
  assert.deepEqual(parts("ProportionalToUsage"), {
    a1: [3002n, 300_000_001n],
    a2: [1000n, 100_000_000n],
    b1: [5005n, 500_000_002n],
    g1: [1000n, 100_000_000n],
  });
});

test("ProportionalToAccesses: by reads", () => {
  // providers 4:2:1 of 10007: 5718, 2859, 1429 (sum 10006); the 1 left to alpha (4).
  // alpha's 5719 by 1:3: a1 1429, a2 4289, the 1 left to a2 (3).
  const p = parts("ProportionalToAccesses");
  assert.deepEqual(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v[0]])), {
    a1: 1429n,
    a2: 4290n,
    b1: 2859n,
    g1: 1429n,
  });
  // floor(4000000012/7) = 571428573, floor(2000000006/7) = 285714286, floor(1000000003/7) = 142857143;
  // the sum is 1000000002, so alpha gets 571428574; a1 floor(571428574/4) = 142857143, a2 428571430, +1 to a2.
  assert.deepEqual(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v[1]])), {
    a1: 142_857_143n,
    a2: 428_571_431n,
    b1: 285_714_286n,
    g1: 142_857_143n,
  });
});

test("Equal: one share per provider, then per input; ties by name", () => {
  // 10007 / 3 = 3335 each, 2 left to alpha (all weigh 1; smallest name). alpha's 3337: 1668 each, 1 to a1.
  // 1000000003 / 3 = 333333334 each, 1 left to alpha: 333333335 = 166666667 each, 1 to a1.
  assert.deepEqual(parts("Equal"), {
    a1: [1669n, 166_666_668n],
    a2: [1668n, 166_666_667n],
    b1: [3335n, 333_333_334n],
    g1: [3335n, 333_333_334n],
  });
});

test("every mode splits every total exactly", () => {
  for (const mode of ["ProportionalToUsage", "ProportionalToAccesses", "Equal"] as const) {
    const shares = splitByContribution(mode, inputs, [CPU, MEMORY, 0n, 1n]);
    for (const [k, total] of [CPU, MEMORY, 0n, 1n].entries())
      assert.equal(
        shares.reduce((s, x) => s + (x.parts[k] ?? 0n), 0n),
        total,
        `${mode} total ${String(k)}`,
      );
  }
});

test("each share names its weights: the input's of its provider's, the provider's of the job's", () => {
  const weights = (mode: Parameters<typeof splitByContribution>[0]) =>
    splitByContribution(mode, inputs, [CPU]).map((s) => [
      s.input,
      s.weight,
      s.inputsWeight,
      s.providerWeight,
      s.providersWeight,
    ]);
  assert.deepEqual(weights("ProportionalToUsage"), [
    ["a1", 300n, 400n, 400n, 1000n],
    ["a2", 100n, 400n, 400n, 1000n],
    ["b1", 500n, 500n, 500n, 1000n],
    ["g1", 100n, 100n, 100n, 1000n],
  ]);
  assert.deepEqual(weights("ProportionalToAccesses"), [
    ["a1", 1n, 4n, 4n, 7n],
    ["a2", 3n, 4n, 4n, 7n],
    ["b1", 2n, 2n, 2n, 7n],
    ["g1", 1n, 1n, 1n, 7n],
  ]);
  // Equal: one of alpha's two inputs, alpha one of three providers.
  assert.deepEqual(weights("Equal"), [
    ["a1", 1n, 2n, 1n, 3n],
    ["a2", 1n, 2n, 1n, 3n],
    ["b1", 1n, 1n, 1n, 3n],
    ["g1", 1n, 1n, 1n, 3n],
  ]);
});

test("a job that read nothing is split equally, and says so", () => {
  const none = inputs.map((i) => ({ ...i, bytes: 0n, reads: 0n }));
  const shares = splitByContribution("ProportionalToUsage", none, [CPU]);
  assert.ok(shares.every((s) => s.basis === "Equal"));
  assert.deepEqual(
    shares.map((s) => s.parts[0]),
    [1669n, 1668n, 3335n, 3335n],
  );
});

test("one input takes everything; ties go to the smallest name", () => {
  assert.deepEqual(splitByContribution("Equal", [inputs[0] ?? input("x", "x", 0n, 0n)], [CPU])[0]?.parts, [
    CPU,
  ]);
  assert.deepEqual(
    [
      ...splitUnits(5n, [
        { name: "b", weight: 1n },
        { name: "a", weight: 1n },
      ]),
    ],
    [
      ["b", 2n],
      ["a", 3n],
    ],
  );
});

test("bad splits are refused", () => {
  assert.throws(() => splitUnits(-1n, [{ name: "a", weight: 1n }]), /negative/);
  assert.throws(() => splitUnits(1n, []), /at least one/);
  assert.throws(() => splitUnits(1n, [{ name: "a", weight: -1n }]), /negative/);
  const [a1 = input("x", "x", 0n, 0n)] = inputs;
  assert.throws(() => splitByContribution("Equal", [a1, a1], [1n]), /distinct/);
});
