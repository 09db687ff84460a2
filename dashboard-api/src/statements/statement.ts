// Statements per billing period (UTC calendar month): priced lines from the rollups,
// the platform fee, the providers' revenue share, and closing, which freezes them.
import type { PoolClient } from "pg";
import { TdsError } from "../errors.ts";
import { isMeterName, meters } from "../metering/meters.ts";
import {
  add,
  basisPoints,
  divRound,
  formatDecimal,
  lineAmount,
  parseDecimal,
  sub,
  zero,
  AMOUNT_SCALE,
  type Decimal,
} from "./money.ts";

export interface StatementLine {
  lineNo: number;
  kind: "usage" | "late_usage" | "adjustment";
  participant: string;
  provider: string;
  offer: string;
  /** The DataContract (in the participant's namespace) the use was made under; "" when none. */
  contract: string;
  meter: string;
  unit: string;
  quantity: string;
  /** The quantity in priceUnit (the meter's billing unit), half-even to 6 places; null for adjustments. */
  pricedQuantity: string | null;
  unitPrice: string | null;
  priceUnit: string | null;
  /** Whose price the line applies: the platform's price sheet, or the offer's own price. */
  priceSource: PriceSource | null;
  amount: string;
  currency: string | null;
  platformFee: string;
  providerShare: string;
  /** The price sheet (priceSource platform) or the offer price version (priceSource offer). */
  sheetId: string | null;
  description: string;
}

export type PriceSource = "platform" | "offer";

export interface Period {
  readonly id: string; // YYYY-MM
  readonly start: Date;
  readonly end: Date;
  readonly date: string; // YYYY-MM-01
}

export function parsePeriod(id: string, field = "params/period"): Period {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(id);
  if (!m) throw new TdsError("validation", `${field}: expected YYYY-MM`, { field });
  const y = Number(m[1]);
  const mo = Number(m[2]) - 1;
  const start = new Date(Date.UTC(y, mo, 1));
  return { id, start, end: new Date(Date.UTC(y, mo + 1, 1)), date: start.toISOString().slice(0, 10) };
}

export function periodOf(d: Date): Period {
  return parsePeriod(d.toISOString().slice(0, 7));
}

export interface PricedGroup {
  /** The report bucket (see pricedUsageSql); null in a statement. */
  bucket: Date | null;
  kind: "usage" | "late_usage";
  price_source: PriceSource;
  participant: string;
  provider: string;
  offer: string;
  contract: string;
  meter: string;
  sheet_id: string | null;
  currency: string | null;
  platform_fee_bps: number | null;
  unit_price: string | null;
  base_units_per_unit: string | null;
  quantity: string;
  /** The first and last hour of the group's usage: for a late line, the closed periods it comes from. */
  first_hour: Date;
  last_hour: Date;
}

/** "2026-05", or "2026-04 to 2026-05": the periods a late line's usage belongs to. */
function usagePeriods(g: Pick<PricedGroup, "first_hour" | "last_hour">): string {
  const first = periodOf(g.first_hour).id;
  const last = periodOf(g.last_hour).id;
  return first === last ? first : `${first} to ${last}`;
}

/**
 * The meter each DataOffer price (crds/src/dataoffer.types.ts spec.price) quotes, by
 * its column in offer_prices. Each price is per billing unit of its meter (a contract,
 * an access, a GB, a CPU-hour), exactly as the DataOffer documents it.
 */
export const offerPriceMeters = {
  "offer.contracts": "per_contract",
  "offer.accesses": "per_access",
  "transfer.bytes": "per_gb_downloaded",
  "sandbox.cpu_milliseconds": "per_sandbox_cpu_hour",
} as const satisfies Partial<Record<keyof typeof meters, string>>;

const offerPriceCase = `case u.meter ${Object.entries(offerPriceMeters)
  .map(([m, column]) => `when '${m}' then o.${column}`)
  .join(" ")} end`;
const offerUnitsCase = `case u.meter ${Object.keys(offerPriceMeters)
  .map((m) => `when '${m}' then ${isMeterName(m) ? meters[m].baseUnitsPerBillingUnit.toString() : "1"}`)
  .join(" ")} end`;

// Each hour's usage is priced twice over: by the platform's price sheet in force at the
// hour's start, and, for use of an offer, by the offer's price version in force then
// (a zero offer price makes no line). The platform's fee on offer revenue is the fee
// basis points of the sheet in force at that hour. `usage` is the hours to price, with
// columns kind, participant, provider, offer, contract, meter, hour, quantity and bucket
// (what a report groups by besides the line's own columns; null for a statement); it may
// use $1 (the space) and parameters of its own, never a fifth.
export const pricedUsageSql = (usage: string): string => `
with u as (${usage}),
platform as (
  select u.kind, 'platform' as price_source, u.participant, u.provider, u.offer, u.contract, u.meter,
         s.sheet_id::text as sheet_id, s.currency::text as currency, s.platform_fee_bps,
         p.unit_price::text as unit_price, p.base_units_per_unit::text as base_units_per_unit,
         u.bucket, sum(u.quantity)::text as quantity, min(u.hour) as first_hour, max(u.hour) as last_hour
  from u
  left join lateral (
    select ps.sheet_id, ps.currency, ps.platform_fee_bps from price_sheets ps
    where ps.space = $1 and ps.effective_from <= u.hour order by ps.effective_from desc limit 1
  ) s on true
  left join price_sheet_prices p on p.sheet_id = s.sheet_id and p.meter = u.meter
  -- Agreements are the offers' to price; the platform's line appears only if its sheet prices them.
  where u.meter <> 'offer.contracts' or p.unit_price is not null
  group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13
),
offered as (
  select u.kind, 'offer' as price_source, u.participant, u.provider, u.offer, u.contract, u.meter,
         o.offer_price_id::text as sheet_id, o.currency::text as currency, coalesce(s.platform_fee_bps, 0) as platform_fee_bps,
         (${offerPriceCase})::text as unit_price, (${offerUnitsCase})::text as base_units_per_unit,
         u.bucket, sum(u.quantity)::text as quantity, min(u.hour) as first_hour, max(u.hour) as last_hour
  from u
  join lateral (
    select op.* from offer_prices op
    where op.space = $1 and op.provider = u.provider and op.offer = u.offer and op.effective_from <= u.hour
    order by op.effective_from desc limit 1
  ) o on true
  left join lateral (
    select ps.platform_fee_bps from price_sheets ps
    where ps.space = $1 and ps.effective_from <= u.hour order by ps.effective_from desc limit 1
  ) s on true
  where u.offer <> '' and (${offerPriceCase}) > 0
  group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13
)
select * from platform union all select * from offered
order by 1 desc, 3, 4, 5, 6, 7, 2 desc, 8`;

const draftSql = pricedUsageSql(`
  select 'usage' as kind, participant, provider, offer, contract, meter, hour, quantity, null::timestamptz as bucket
  from usage_hourly where space = $1 and hour >= $2 and hour < $3
  union all
  select 'late_usage', participant, provider, offer, contract, meter, hour, quantity, null
  from usage_late_hourly where space = $1 and settle_period = $4::date`);

/**
 * The split of one line: the platform's fee, rounded half-even to micro-units, and
 * the provider's share, which is the rest, exactly (never rounded on its own). A
 * platform price is the platform's own charge; an offer price is the provider's
 * revenue, of which the platform keeps its fee basis points.
 */
export function splitAmount(
  amount: Decimal,
  source: PriceSource | "adjustment",
  feeBps: number,
): { fee: Decimal; share: Decimal } {
  if (source !== "offer") return { fee: amount, share: sub(amount, amount) };
  const fee = basisPoints(amount, feeBps);
  return { fee, share: sub(amount, fee) };
}

/** Decimal places of a line's quantity in its billing unit (display only: amounts use the raw quantity). */
export const PRICED_QUANTITY_SCALE = 6;

/** A base-unit quantity in the meter's billing unit (e.g. byte-seconds in GB-months), half-even. */
export function pricedQuantity(meter: string, quantity: string): string | null {
  if (!isMeterName(meter)) return null;
  return formatDecimal(
    divRound(parseDecimal(quantity), meters[meter].baseUnitsPerBillingUnit, PRICED_QUANTITY_SCALE),
  );
}

/** Prices the period's usage with the prices in force for each hour; pure over the rows. */
export function priceGroups(groups: readonly PricedGroup[]): Omit<StatementLine, "lineNo">[] {
  return groups.map((g) => {
    const meter = isMeterName(g.meter) ? meters[g.meter] : undefined;
    const priced = g.unit_price !== null && g.base_units_per_unit !== null;
    const amount = priced
      ? lineAmount(BigInt(g.quantity), g.unit_price ?? "0", BigInt(g.base_units_per_unit ?? "1"))
      : zero(AMOUNT_SCALE);
    const { fee, share } = splitAmount(amount, g.price_source, g.platform_fee_bps ?? 0);
    return {
      kind: g.kind,
      participant: g.participant,
      provider: g.provider,
      offer: g.offer,
      contract: g.contract,
      meter: g.meter,
      unit: meter?.baseUnit ?? "",
      quantity: g.quantity,
      pricedQuantity: pricedQuantity(g.meter, g.quantity),
      unitPrice: priced ? g.unit_price : null,
      priceUnit: priced ? (meter?.billingUnit ?? null) : null,
      priceSource: g.price_source,
      amount: formatDecimal(amount),
      currency: g.currency,
      platformFee: formatDecimal(fee),
      providerShare: formatDecimal(share),
      sheetId: g.sheet_id,
      description: !priced
        ? "No price in force for this meter"
        : g.price_source === "offer"
          ? g.kind === "late_usage"
            ? `Offer price, late usage of closed period ${usagePeriods(g)}`
            : "Offer price"
          : g.kind === "late_usage"
            ? `Late usage of closed period ${usagePeriods(g)}`
            : "",
    };
  });
}

export async function draftLines(
  client: PoolClient,
  space: string,
  period: Period,
): Promise<StatementLine[]> {
  const { rows } = await client.query<PricedGroup>(draftSql, [space, period.start, period.end, period.date]);
  const usage = priceGroups(rows);
  const adj = await client.query<{
    participant: string;
    description: string;
    amount: string;
    currency: string;
  }>(
    `select participant, description, amount::text as amount, currency::text as currency
     from statement_adjustments where space = $1 and period = $2 order by adjustment_id`,
    [space, period.date],
  );
  // A correction is between the participant and the platform that issues it: the
  // platform's side of the line is the whole amount (negative for a credit).
  const adjustments = adj.rows.map((a): Omit<StatementLine, "lineNo"> => {
    const { fee, share } = splitAmount(parseDecimal(a.amount), "adjustment", 0);
    return {
      kind: "adjustment",
      participant: a.participant,
      provider: "",
      offer: "",
      contract: "",
      meter: "",
      unit: "",
      quantity: "1",
      pricedQuantity: null,
      unitPrice: a.amount,
      priceUnit: null,
      priceSource: null,
      amount: a.amount,
      currency: a.currency,
      platformFee: formatDecimal(fee),
      providerShare: formatDecimal(share),
      sheetId: null,
      description: a.description,
    };
  });
  return [...usage, ...adjustments].map((l, i) => ({ ...l, lineNo: i + 1 }));
}

export async function closedLines(
  client: PoolClient,
  space: string,
  period: Period,
): Promise<StatementLine[]> {
  const { rows } = await client.query<Record<string, string | number | null>>(
    `select line_no, kind, participant, provider, offer, contract, price_source, meter, unit, quantity::text as quantity,
            unit_price::text as unit_price, amount::text as amount, currency::text as currency,
            platform_fee::text as platform_fee, provider_share::text as provider_share, sheet_id::text as sheet_id, description
     from statement_lines where space = $1 and period = $2 order by line_no`,
    [space, period.date],
  );
  return rows.map((r) => {
    const meter = String(r.meter);
    return {
      lineNo: Number(r.line_no),
      kind: r.kind as StatementLine["kind"],
      participant: String(r.participant),
      provider: String(r.provider),
      offer: String(r.offer),
      contract: String(r.contract),
      meter,
      unit: String(r.unit),
      quantity: String(r.quantity),
      pricedQuantity: r.kind === "adjustment" ? null : pricedQuantity(meter, String(r.quantity)),
      unitPrice: r.unit_price === null ? null : String(r.unit_price),
      priceUnit:
        r.kind !== "adjustment" && r.unit_price !== null && isMeterName(meter)
          ? meters[meter].billingUnit
          : null,
      priceSource: r.price_source === null ? null : (String(r.price_source) as PriceSource),
      amount: String(r.amount),
      currency: r.currency === null ? null : String(r.currency),
      platformFee: String(r.platform_fee),
      providerShare: String(r.provider_share),
      sheetId: r.sheet_id === null ? null : String(r.sheet_id),
      description: String(r.description),
    };
  });
}

export interface Totals {
  currency: string;
  subtotal: string;
  platformFee: string;
  providerShare: string;
}

export interface Summary {
  totals: Totals[];
  charges: { participant: string; currency: string; amount: string }[];
  revenueShare: { provider: string; currency: string; amount: string }[];
}

/** Totals per currency, what each participant is charged and what each provider receives. */
export function summarize(lines: readonly StatementLine[]): Summary {
  const totals = new Map<string, { subtotal: Decimal; fee: Decimal; share: Decimal }>();
  const charges = new Map<string, Decimal>();
  const shares = new Map<string, Decimal>();
  for (const l of lines) {
    if (l.currency === null) continue;
    const t = totals.get(l.currency) ?? {
      subtotal: zero(AMOUNT_SCALE),
      fee: zero(AMOUNT_SCALE),
      share: zero(AMOUNT_SCALE),
    };
    t.subtotal = add(t.subtotal, parseDecimal(l.amount));
    t.fee = add(t.fee, parseDecimal(l.platformFee));
    t.share = add(t.share, parseDecimal(l.providerShare));
    totals.set(l.currency, t);
    const ck = `${l.participant}\u0000${l.currency}`;
    charges.set(ck, add(charges.get(ck) ?? zero(AMOUNT_SCALE), parseDecimal(l.amount)));
    if (l.provider !== "") {
      const sk = `${l.provider}\u0000${l.currency}`;
      shares.set(sk, add(shares.get(sk) ?? zero(AMOUNT_SCALE), parseDecimal(l.providerShare)));
    }
  }
  const split = (k: string): [string, string] => {
    const [a = "", b = ""] = k.split("\u0000");
    return [a, b];
  };
  return {
    totals: [...totals.entries()].sort().map(([currency, t]) => ({
      currency,
      subtotal: formatDecimal(t.subtotal),
      platformFee: formatDecimal(t.fee),
      providerShare: formatDecimal(t.share),
    })),
    charges: [...charges.entries()].sort().map(([k, v]) => {
      const [participant, currency] = split(k);
      return { participant, currency, amount: formatDecimal(v) };
    }),
    revenueShare: [...shares.entries()].sort().map(([k, v]) => {
      const [provider, currency] = split(k);
      return { provider, currency, amount: formatDecimal(v) };
    }),
  };
}

/** The first period that may be closed next, or undefined when the space has no usage yet. */
export async function nextClosablePeriod(
  client: PoolClient,
  space: string,
  closedThrough: Date | null,
): Promise<Period | undefined> {
  if (closedThrough) return periodOf(closedThrough);
  const { rows } = await client.query<{ first: string | null }>(
    "select to_char(min(day), 'YYYY-MM') as first from usage_daily where space = $1",
    [space],
  );
  const first = rows[0]?.first;
  return first ? parsePeriod(first) : undefined;
}

/** Closes a period: snapshot its lines and move the space's close watermark, in one transaction. */
export async function closePeriod(
  client: PoolClient,
  space: string,
  period: Period,
  actor: string,
  now: Date,
): Promise<StatementLine[]> {
  const { rows } = await client.query<{ closed_through: Date | null }>(
    "select closed_through from spaces where space = $1 for update",
    [space],
  );
  const closedThrough = rows[0]?.closed_through ?? null;
  if (closedThrough && period.start < closedThrough)
    throw new TdsError("periodClosed", `Period ${period.id} of space ${space} is already closed`);
  const next = await nextClosablePeriod(client, space, closedThrough);
  if (next && next.start < period.start)
    throw new TdsError("periodNotClosable", `Close period ${next.id} of space ${space} first`, {
      field: "params/period",
    });
  if (period.end > now)
    throw new TdsError("periodNotClosable", `Period ${period.id} has not ended yet`, {
      field: "params/period",
    });
  const lines = await draftLines(client, space, period);
  await client.query("insert into statements (space, period, closed_by, closed_at) values ($1, $2, $3, $4)", [
    space,
    period.date,
    actor,
    now,
  ]);
  if (lines.length > 0) {
    await client.query(
      `insert into statement_lines (space, period, line_no, kind, participant, provider, offer, meter, unit, quantity,
         unit_price, amount, currency, platform_fee, provider_share, sheet_id, description, contract, price_source)
       select $1, $2, * from unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
         $10::numeric[], $11::numeric[], $12::numeric[], $13::text[], $14::numeric[], $15::numeric[], $16::bigint[], $17::text[],
         $18::text[], $19::text[])`,
      [
        space,
        period.date,
        lines.map((l) => l.lineNo),
        lines.map((l) => l.kind),
        lines.map((l) => l.participant),
        lines.map((l) => l.provider),
        lines.map((l) => l.offer),
        lines.map((l) => l.meter),
        lines.map((l) => l.unit),
        lines.map((l) => l.quantity),
        lines.map((l) => l.unitPrice),
        lines.map((l) => l.amount),
        lines.map((l) => l.currency),
        lines.map((l) => l.platformFee),
        lines.map((l) => l.providerShare),
        lines.map((l) => l.sheetId),
        lines.map((l) => l.description),
        lines.map((l) => l.contract),
        lines.map((l) => l.priceSource),
      ],
    );
  }
  await client.query("update spaces set closed_through = $2 where space = $1", [space, period.end]);
  await client.query(
    "insert into statement_audit (space, period, action, actor, at, detail) values ($1, $2, 'close', $3, $4, $5)",
    [
      space,
      period.date,
      actor,
      now,
      JSON.stringify({ lines: lines.length, summary: summarize(lines).totals }),
    ],
  );
  return lines;
}
