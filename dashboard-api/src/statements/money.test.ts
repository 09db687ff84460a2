import assert from "node:assert/strict";
import { test } from "node:test";
import { add, basisPoints, divRound, formatDecimal, lineAmount, parseDecimal } from "./money.ts";

test("parse and format round-trip", () => {
  for (const s of ["0", "1.5", "-0.000001", "123456789012345678901234567890.123456789"]) {
    assert.equal(formatDecimal(parseDecimal(s)), s);
  }
});

test("divRound rounds half to even", () => {
  const cases: [string, bigint, number, string][] = [
    ["0.5", 1n, 0, "0"],
    ["1.5", 1n, 0, "2"],
    ["2.5", 1n, 0, "2"],
    ["-2.5", 1n, 0, "-2"],
    ["-3.5", 1n, 0, "-4"],
    ["1", 3n, 6, "0.333333"],
    ["2", 3n, 6, "0.666667"],
    ["10", 4n, 0, "2"],
    ["14", 4n, 0, "4"],
  ];
  for (const [a, d, scale, want] of cases)
    assert.equal(formatDecimal(divRound(parseDecimal(a), d, scale)), want, `${a}/${d}`);
});

test("line amounts are exact at micro-units, even for huge quantities", () => {
  // 10 PB stored for a 730-hour month at 0.023 per GB-month.
  const byteSeconds = 10n ** 16n * 730n * 3600n;
  assert.equal(formatDecimal(lineAmount(byteSeconds, "0.023", 10n ** 9n * 730n * 3600n)), "230000.000000");
  assert.equal(formatDecimal(lineAmount(1n, "0.01", 1000n)), "0.000010");
  assert.equal(formatDecimal(basisPoints(parseDecimal("100.000001"), 250)), "2.500000");
  assert.equal(formatDecimal(add(parseDecimal("0.1"), parseDecimal("0.2"))), "0.3");
});
