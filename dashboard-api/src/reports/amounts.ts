// The usage report's amounts: each row's usage priced as statements price it, hour by
// hour with the prices in force at each hour (statements/statement.ts pricedUsageSql),
// then summed per row in micro-units. A row's amount is priced on the row's own
// quantities, so it may differ in the sixth decimal from a statement line, which prices
// the whole period's quantity at once; late usage is reported in its own hour.
import { add, formatDecimal, parseDecimal, zero, AMOUNT_SCALE, type Decimal } from "../statements/money.ts";
import { priceGroups, pricedUsageSql, type PricedGroup } from "../statements/statement.ts";
import type { GroupBy, RowAmounts, Step, UsageQuery, UsageRow } from "./usage.ts";

const bucketOf: Record<Step, string> = {
  hour: "hour",
  day: "date_trunc('day', hour, 'UTC')",
  month: "date_trunc('month', hour, 'UTC')",
};

export function usageAmountsSql(q: UsageQuery): { text: string; values: unknown[] } {
  const values: unknown[] = [q.space, q.from.toISOString(), q.to.toISOString()];
  let filter = "";
  if (q.participant !== undefined) {
    values.push(q.participant);
    filter = q.asParticipant ? " and (participant = $4 or provider = $4)" : " and participant = $4";
  }
  const text = pricedUsageSql(`
    select 'usage' as kind, participant, provider, offer, contract, meter, hour, quantity, ${bucketOf[q.step]} as bucket
    from usage_hourly where space = $1 and hour >= $2 and hour < $3${filter}`);
  return { text, values };
}

type Keyed = Pick<UsageRow, "participant" | "provider" | "offer" | "meter"> & { bucketStart: string };

/** A usage row's identity under the report's grouping. */
export function rowKey(groupBy: GroupBy, r: Keyed): string {
  const cols = groupBy === "participant" ? [r.participant] : groupBy === "offer" ? [r.provider, r.offer] : [];
  return [r.bucketStart, ...cols, r.meter].join("\u0000");
}

/** The priced hours summed per report row; pure over the rows. */
export function amountsByRow(groupBy: GroupBy, groups: readonly PricedGroup[]): Map<string, RowAmounts> {
  const lines = priceGroups(groups);
  const sums = new Map<string, { platform: Decimal; offer: Decimal; currency: string }>();
  groups.forEach((g, i) => {
    const line = lines[i];
    if (!line || g.bucket === null) return;
    const key = rowKey(groupBy, { ...g, bucketStart: g.bucket.toISOString() });
    const s = sums.get(key) ?? { platform: zero(AMOUNT_SCALE), offer: zero(AMOUNT_SCALE), currency: "" };
    if (line.priceSource === "offer") s.offer = add(s.offer, parseDecimal(line.amount));
    else s.platform = add(s.platform, parseDecimal(line.amount));
    if (line.unitPrice !== null && line.currency !== null) s.currency = line.currency;
    sums.set(key, s);
  });
  return new Map(
    [...sums].map(([k, s]) => [
      k,
      {
        platformAmount: formatDecimal(s.platform),
        offerAmount: formatDecimal(s.offer),
        amount: formatDecimal(add(s.platform, s.offer)),
        currency: s.currency,
      },
    ]),
  );
}
