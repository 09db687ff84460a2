import { test } from "node:test";
import assert from "node:assert/strict";
import { compareQuantities, parseQuantity } from "./quantity.ts";

test("quantities parse to exact base units", () => {
  const cases: [string | number, bigint][] = [
    ["100Gi", 107374182400n],
    ["1Ti", 1099511627776n],
    ["1.5Gi", 1610612736n],
    ["10T", 10_000_000_000_000n],
    ["500M", 500_000_000n],
    ["1e3", 1000n],
    ["1500m", 2n],
    ["0.5", 1n],
    [42, 42n],
    ["0", 0n],
  ];
  for (const [input, want] of cases) assert.equal(parseQuantity(input), want, String(input));
});

test("bad quantities are rejected with the input in the message", () => {
  for (const bad of ["", "ten", "1GB", "1.2.3Gi", "Gi"]) {
    assert.throws(() => parseQuantity(bad), new RegExp(`invalid quantity "${bad.replace(".", "\\.")}"`));
  }
});

test("quantities compare across units", () => {
  assert.equal(compareQuantities("1Gi", "1000Mi"), 1);
  assert.equal(compareQuantities("1024Mi", "1Gi"), 0);
  assert.equal(compareQuantities("100Gi", "10Ti"), -1);
});
