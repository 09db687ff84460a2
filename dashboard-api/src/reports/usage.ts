// Usage reports from the rollups: buckets of an hour, a day or a month, grouped by
// participant, meter or offer, always per meter (quantities of different meters never add).
import { csvDocument } from "../csv.ts";
import { TdsError } from "../errors.ts";
import { meters, isMeterName } from "../metering/meters.ts";

export type GroupBy = "participant" | "meter" | "offer";
export type Step = "hour" | "day" | "month";

export interface UsageQuery {
  readonly space: string;
  readonly from: Date;
  readonly to: Date;
  readonly groupBy: GroupBy;
  readonly step: Step;
  /** Participant filter; for participant principals, rows they used or provided. */
  readonly participant?: string;
  readonly asParticipant?: boolean;
}

export interface UsageRow {
  bucketStart: string;
  participant: string;
  provider: string;
  offer: string;
  meter: string;
  unit: string;
  quantity: string;
  events: string;
}

export interface RowAmounts {
  /** What the platform's price sheet charges for the row's usage. */
  platformAmount: string;
  /** What the offers' own prices charge for it (the providers' revenue, before the platform's fee). */
  offerAmount: string;
  /** platformAmount + offerAmount: what the row's consumers are charged. */
  amount: string;
  /** The space's currency; "" when no price was in force. */
  currency: string;
}

/** No price in force for a row's usage. */
export const noAmounts: RowAmounts = {
  platformAmount: "0.000000",
  offerAmount: "0.000000",
  amount: "0.000000",
  currency: "",
};

export const csvColumns = [
  "bucket_start",
  "space",
  "participant",
  "provider",
  "offer",
  "meter",
  "unit",
  "quantity",
  "events",
  "platform_amount",
  "offer_amount",
  "amount",
  "currency",
] as const;

const maxBuckets = 10_000;
const stepMs: Record<Step, number> = { hour: 3_600_000, day: 86_400_000, month: 31 * 86_400_000 };

/** Checks that from/to fit the step's boundaries (UTC) so rollups answer exactly. */
export function validateRange(from: Date, to: Date, step: Step): void {
  if (!(from < to))
    throw new TdsError("validation", "querystring/to: must be after from", { field: "querystring/to" });
  const aligned = (d: Date): boolean =>
    step === "hour"
      ? d.getTime() % 3_600_000 === 0
      : step === "day"
        ? d.getTime() % 86_400_000 === 0
        : d.getTime() % 86_400_000 === 0 && d.getUTCDate() === 1;
  for (const [name, d] of [
    ["from", from],
    ["to", to],
  ] as const) {
    if (!aligned(d))
      throw new TdsError("validation", `querystring/${name}: must fall on a ${step} boundary (UTC)`, {
        field: `querystring/${name}`,
      });
  }
  if ((to.getTime() - from.getTime()) / stepMs[step] > maxBuckets)
    throw new TdsError("validation", `querystring/to: more than ${maxBuckets} ${step} buckets`, {
      field: "querystring/to",
    });
}

export function usageSql(q: UsageQuery): { text: string; values: unknown[] } {
  const fromHourly = q.step === "hour";
  const table = fromHourly ? "usage_hourly" : "usage_daily";
  const timeCol = fromHourly ? "hour" : "day";
  const bucket =
    q.step === "hour"
      ? "hour"
      : q.step === "day"
        ? "(day::timestamp at time zone 'UTC')"
        : "(date_trunc('month', day)::timestamp at time zone 'UTC')";
  const groupCols =
    q.groupBy === "participant" ? ["participant"] : q.groupBy === "offer" ? ["provider", "offer"] : [];
  const values: unknown[] = [q.space, fromHourly ? q.from.toISOString() : q.from.toISOString().slice(0, 10)];
  values.push(fromHourly ? q.to.toISOString() : q.to.toISOString().slice(0, 10));
  let filter = "";
  if (q.participant !== undefined) {
    values.push(q.participant);
    filter = q.asParticipant
      ? ` and (participant = $${values.length} or provider = $${values.length})`
      : ` and participant = $${values.length}`;
  }
  const cols = [...groupCols, "meter"];
  const text = `select ${bucket} as bucket_start, ${cols.join(", ")}, sum(quantity)::text as quantity, sum(events)::text as events
    from ${table} where space = $1 and ${timeCol} >= $2 and ${timeCol} < $3${filter}
    group by 1, ${cols.map((_, i) => i + 2).join(", ")} order by 1, ${cols.map((_, i) => i + 2).join(", ")}`;
  return { text, values };
}

export function toUsageRow(r: Record<string, unknown>): UsageRow {
  const meter = String(r.meter);
  const bucket = r.bucket_start instanceof Date ? r.bucket_start.toISOString() : String(r.bucket_start);
  return {
    bucketStart: bucket,
    participant: typeof r.participant === "string" ? r.participant : "",
    provider: typeof r.provider === "string" ? r.provider : "",
    offer: typeof r.offer === "string" ? r.offer : "",
    meter,
    unit: isMeterName(meter) ? meters[meter].baseUnit : "",
    quantity: String(r.quantity),
    events: String(r.events),
  };
}

export function usageCsv(space: string, rows: readonly (UsageRow & RowAmounts)[]): string {
  return csvDocument(
    csvColumns,
    rows.map((r) => [
      r.bucketStart,
      space,
      r.participant,
      r.provider,
      r.offer,
      r.meter,
      r.unit,
      r.quantity,
      r.events,
      r.platformAmount,
      r.offerAmount,
      r.amount,
      r.currency,
    ]),
  );
}
