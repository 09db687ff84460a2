import assert from "node:assert/strict";
import { test } from "node:test";
import type { PricedGroup } from "../statements/statement.ts";
import { amountsByRow, rowKey } from "./amounts.ts";

const day = new Date("2026-06-04T00:00:00Z");
function group(over: Partial<PricedGroup>): PricedGroup {
  return {
    bucket: day,
    kind: "usage",
    price_source: "platform",
    participant: "beta",
    provider: "alpha",
    offer: "weather",
    contract: "c-beta",
    meter: "transfer.bytes",
    sheet_id: "1",
    currency: "EUR",
    platform_fee_bps: 500,
    unit_price: "0.01",
    base_units_per_unit: "1000000000",
    quantity: "3500000000",
    first_hour: day,
    last_hour: day,
    ...over,
  };
}

test("a row's amount is the platform's and the offers' prices of its usage, exact", () => {
  const amounts = amountsByRow("participant", [
    group({}),
    // the same day at a second platform price version (a sheet that took effect mid-day)
    group({ unit_price: "0.02", sheet_id: "2", quantity: "1" }),
    group({ price_source: "offer", sheet_id: "o1", unit_price: "0.09" }),
    // an unpriced meter adds nothing
    group({ meter: "api.calls", unit_price: null, base_units_per_unit: null, quantity: "5" }),
  ]);
  const key = rowKey("participant", {
    bucketStart: day.toISOString(),
    participant: "beta",
    provider: "",
    offer: "",
    meter: "transfer.bytes",
  });
  // 3.5 GB x 0.01 = 0.035; 1 byte x 0.02/GB = 0.00000002 -> 0.000000 (half-even); 3.5 GB x 0.09 = 0.315
  assert.deepEqual(amounts.get(key), {
    platformAmount: "0.035000",
    offerAmount: "0.315000",
    amount: "0.350000",
    currency: "EUR",
  });
  const calls = rowKey("participant", {
    ...{ bucketStart: day.toISOString(), participant: "beta" },
    provider: "",
    offer: "",
    meter: "api.calls",
  });
  assert.deepEqual(amounts.get(calls), {
    platformAmount: "0.000000",
    offerAmount: "0.000000",
    amount: "0.000000",
    currency: "",
  });
});

test("rows are keyed by the report's grouping", () => {
  const g = group({});
  const byOffer = amountsByRow("offer", [g, group({ participant: "gamma" })]);
  const byMeter = amountsByRow("meter", [g, group({ participant: "gamma" })]);
  const base = {
    bucketStart: day.toISOString(),
    participant: "",
    provider: "alpha",
    offer: "weather",
    meter: "transfer.bytes",
  };
  assert.equal(byOffer.get(rowKey("offer", base))?.amount, "0.070000");
  assert.equal(byMeter.get(rowKey("meter", base))?.amount, "0.070000");
  assert.equal(byOffer.size, 1);
});
