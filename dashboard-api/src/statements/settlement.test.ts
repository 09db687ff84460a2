import assert from "node:assert/strict";
import { test } from "node:test";
import { statementCsv, statementCsvColumns } from "./csv.ts";
import { minorDigits } from "./money.ts";
import { lineAmountMinor, settle } from "./settlement.ts";
import type { StatementLine } from "./statement.ts";

function line(over: Partial<StatementLine>): StatementLine {
  return {
    lineNo: 1,
    kind: "usage",
    participant: "beta",
    provider: "",
    offer: "",
    contract: "",
    meter: "storage.byte_seconds",
    unit: "byte-second",
    quantity: "1",
    pricedQuantity: "0.000000",
    unitPrice: "0.12",
    priceUnit: "GB-month",
    priceSource: "platform",
    amount: "0.000000",
    currency: "EUR",
    platformFee: "0.000000",
    providerShare: "0.000000",
    sheetId: "1",
    description: "",
    ...over,
  };
}
const offerLine = (participant: string, amount: string, fee: string, share: string) =>
  line({
    participant,
    provider: "alpha",
    offer: "o",
    contract: `c-${participant}`,
    priceSource: "offer",
    amount,
    platformFee: fee,
    providerShare: share,
  });

test("minor digits come from ISO 4217", () => {
  assert.deepEqual(["EUR", "CNY", "JPY", "KWD"].map(minorDigits), [2, 2, 0, 3]);
});

test("a charge rounds its exact line sum once, half-even; the platform takes the payout remainder", () => {
  const [eur, ...rest] = settle([
    // beta: 0.004 + 0.001 = 0.005 exactly -> 0.00 (half-even), never 0.00 + 0.00 by luck
    line({ participant: "beta", amount: "0.004000", platformFee: "0.004000" }),
    line({ participant: "beta", amount: "0.001000", platformFee: "0.001000" }),
    // gamma: 0.015 -> 0.02 (half-even rounds to the even 2)
    offerLine("gamma", "0.015000", "0.000750", "0.014250"),
    // delta: 2.125 -> 2.12; its share 2.018750 -> 2.02
    offerLine("delta", "2.125000", "0.106250", "2.018750"),
  ]);
  assert.deepEqual(rest, []);
  assert.deepEqual(eur, {
    currency: "EUR",
    minorDigits: 2,
    subtotal: "2.14",
    platformFee: "0.11",
    providerShare: "2.03",
    charges: [
      { participant: "beta", amount: "0.00" },
      { participant: "delta", amount: "2.12" },
      { participant: "gamma", amount: "0.02" },
    ],
    // alpha's basis 2.14 exact -> 2.14; its share 2.033 -> 2.03; fee on the basis 0.11
    revenueShare: [{ provider: "alpha", basis: "2.14", platformFee: "0.11", amount: "2.03" }],
  });
});

test("credits, zero-digit currencies and unpriced lines", () => {
  const settled = settle([
    // 12.5 - 2 = 10.5 yen: half-even to 10, the even neighbour
    line({ currency: "JPY", amount: "12.500000", platformFee: "12.500000" }),
    line({ kind: "adjustment", currency: "JPY", amount: "-2.00", platformFee: "-2.00", meter: "" }),
    line({ currency: null, unitPrice: null, amount: "0.000000" }),
  ]);
  assert.deepEqual(
    settled.map((c) => [c.currency, c.minorDigits, c.charges, c.subtotal, c.platformFee]),
    [["JPY", 0, [{ participant: "beta", amount: "10" }], "10", "10"]],
  );
  assert.equal(lineAmountMinor(line({ amount: "-1.005000" })), "-1.00");
  assert.equal(lineAmountMinor(line({ amount: "1.015000" })), "1.02");
  assert.equal(lineAmountMinor(line({ currency: null })), null);
});

test("the statement CSV has its documented columns and exact amounts, credits unquoted", () => {
  const csv = statementCsv("s", "2026-06", "open", [
    line({ amount: "1.234567", contract: "c-1", description: 'says "hi", twice' }),
    line({ lineNo: 2, kind: "adjustment", amount: "-1.50", unitPrice: "-1.50", description: "=cmd" }),
  ]);
  const [header, first, second] = csv.split("\r\n");
  assert.equal(header, statementCsvColumns.join(","));
  assert.equal(
    first,
    's,2026-06,open,1,usage,beta,,,c-1,storage.byte_seconds,1,byte-second,0.000000,GB-month,0.12,platform,1.234567,1.23,EUR,0.000000,0.000000,1,"says ""hi"", twice"',
  );
  assert.match(second ?? "", /,-1\.50,platform,-1\.50,-1\.50,EUR,.*,'=cmd$/);
});
