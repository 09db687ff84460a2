import assert from "node:assert/strict";
import { test } from "node:test";
import {
  add,
  basisPoints,
  divRound,
  formatDecimal,
  isCurrency,
  lineAmount,
  moneyNumberRefusal,
  parseDecimal,
} from "./money.ts";
import { splitAmount } from "./statement.ts";

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

test("the provider's share is the amount less the fee, exactly, for every amount ending in 5 micro-units", () => {
  // 400.000005 at 10%: the fee 40.0000005 rounds half-even to 40.000000; the share is the rest,
  // 360.000005 (rounding it on its own, 360.0000045 -> 360.000004, lost a micro-unit).
  const { fee, share } = splitAmount(parseDecimal("400.000005"), "offer", 1000);
  assert.equal(formatDecimal(fee), "40.000000");
  assert.equal(formatDecimal(share), "360.000005");
  for (let micro = 5n; micro < 2_000_000n; micro += 10_007n) {
    const amount = { units: 400_000_000n + micro, scale: 6 };
    for (const bps of [0, 1, 250, 1000, 3333, 5000, 9999, 10000]) {
      const s = splitAmount(amount, "offer", bps);
      assert.equal(add(s.fee, s.share).units, amount.units, `${formatDecimal(amount)} at ${String(bps)} bps`);
    }
  }
  // The platform's own prices and adjustments are the platform's: fee = amount, share = 0.
  for (const source of ["platform", "adjustment"] as const) {
    const s = splitAmount(parseDecimal("-3.000005"), source, 1000);
    assert.deepEqual([formatDecimal(s.fee), formatDecimal(s.share)], ["-3.000005", "0.000000"]);
  }
});

test("money in a request body is a decimal string, never a JSON number", () => {
  assert.equal(moneyNumberRefusal({ amount: "1.50" }, ["amount"]), undefined);
  assert.equal(moneyNumberRefusal({ amount: 400.5 }, ["amount"])?.field, "body/amount");
  const sheet = { prices: [{ unitPrice: "1" }, { unitPrice: 2 }] };
  assert.equal(moneyNumberRefusal(sheet, ["prices/*/unitPrice"])?.field, "body/prices/1/unitPrice");
  assert.equal(moneyNumberRefusal(undefined, ["amount"]), undefined);
});

test("currencies are ISO 4217 codes in use", () => {
  for (const c of ["CNY", "EUR", "USD", "JPY"]) assert.ok(isCurrency(c), c);
  for (const c of ["AAA", "XXX", "eur", "EURO", ""]) assert.ok(!isCurrency(c), c);
});
