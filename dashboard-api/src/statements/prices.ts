// Price sheets: per space, versioned by the instant they take effect. A sheet that
// would reprice a closed period is refused.
import { Type, type Static } from "@sinclair/typebox";
import { CURRENCY_CODE, type DataSpaceSpec } from "@tds/crds";
import { meterNames } from "@tds/wire";
import type { PoolClient } from "pg";
import { TdsError } from "../errors.ts";
import { isMeterName, meters } from "../metering/meters.ts";
import { withDefaults } from "../validation.ts";
import { isCurrency, parseDecimal } from "./money.ts";

export const priceSheetSchema = withDefaults(
  {
    effectiveFrom: Type.String({ format: "date-time" }),
    currency: Type.String({
      pattern: CURRENCY_CODE,
      description: "An ISO 4217 code in use; the space's currency once it has a sheet",
    }),
    platformFeeBps: Type.Integer({
      minimum: 0,
      maximum: 10000,
      default: 0,
      description: "The platform's fee on offer revenue, in basis points",
    }),
    /** Derived: 10000 - platformFeeBps. A sheet may state it, and must then state that. */
    providerShareBps: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10000,
        description:
          "What a provider receives of what consumers pay for its offers: always 10000 - platformFeeBps " +
          "(the rest, exactly); optional, and refused when it says otherwise",
      }),
    ),
    /** Required to reprice periods that already have usage (see PriceSheetOptions). */
    correction: Type.Optional(
      Type.Object(
        { reason: Type.String({ minLength: 1, maxLength: 500 }) },
        {
          additionalProperties: false,
          description:
            "Required for a sheet effective before now that would reprice usage already metered; " +
            "recorded in the statements' audit trail and the evidence log",
        },
      ),
    ),
    prices: Type.Array(
      Type.Object(
        {
          meter: Type.Unsafe<string>({ type: "string", enum: [...meterNames] }),
          unitPrice: Type.String({
            pattern: "^(0|[1-9][0-9]{0,17})(\\.[0-9]{1,18})?$",
            description: "Decimal price of one billing unit of the meter (e.g. per GB-month)",
          }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 100 },
    ),
  },
  { $id: "PriceSheet", additionalProperties: false },
);
export type PriceSheetInput = Static<typeof priceSheetSchema>;

/**
 * Which meters each price of a DataSpace's spec.metering.priceSheet quotes (per billing unit).
 * transferPerGB prices every byte through the gateway: downloads, and a SandboxJob's input reads and output writes.
 */
export const dataSpacePriceMeters = {
  storagePerGBMonth: ["storage.byte_seconds"],
  transferPerGB: ["transfer.bytes", "sandbox.input_bytes", "sandbox.output_bytes"],
  computePerCPUHour: ["sandbox.cpu_milliseconds"],
  memoryPerGBHour: ["sandbox.memory_byte_seconds"],
  perAccess: ["offer.accesses"],
} as const satisfies Record<keyof DataSpaceSpec["metering"]["priceSheet"], readonly (keyof typeof meters)[]>;

/**
 * Maps a DataSpace's spec.metering (crds/src/dataspace.types.ts) to a price sheet.
 * An omitted price is "0" (the schema's default). The platform fee is
 * platformFeeBasisPoints of every line; a provider receives the rest of what
 * consumers paid for its offers (10000 - fee basis points).
 */
export function priceSheetFromDataSpace(
  spec: Pick<DataSpaceSpec, "metering">,
  effectiveFrom: Date,
): PriceSheetInput {
  const m = spec.metering;
  const fee = m.platformFeeBasisPoints ?? 0;
  return {
    effectiveFrom: effectiveFrom.toISOString(),
    currency: m.currency,
    platformFeeBps: fee,
    providerShareBps: 10000 - fee,
    prices: Object.entries(dataSpacePriceMeters).flatMap(([field, priced]) =>
      priced.map((meter) => ({
        meter,
        unitPrice: m.priceSheet[field as keyof typeof dataSpacePriceMeters] ?? "0",
      })),
    ),
  };
}

export interface PriceSheetOptions {
  /**
   * When the sheet is declared (the API's clock for a PUT). A sheet effective before
   * it would reprice usage already metered: refused unless `correction` says why. The
   * DataSpace sync passes none: its effectiveFrom is the instant the spec changed, so
   * it only prices what happened after the change.
   */
  readonly declaredAt?: Date;
  /** An explicit, audited correction that reprices periods with usage. */
  readonly correction?: { readonly reason: string };
}

export interface PriceSheetResult {
  readonly sheetId: string;
  /** Open periods (YYYY-MM) with usage that the sheet repriced, by an explicit correction. */
  readonly repriced: readonly string[];
}

/** The space's currency: that of its first price sheet (DataSpace spec.metering.currency); undefined before it has one. */
export async function currencyOf(client: PoolClient, space: string): Promise<string | undefined> {
  const { rows } = await client.query<{ currency: string }>(
    "select currency::text as currency from price_sheets where space = $1 order by effective_from limit 1",
    [space],
  );
  return rows[0]?.currency;
}

const fieldError = (field: string, message: string): TdsError =>
  new TdsError("validation", `${field}: ${message}`, { field });

export async function upsertPriceSheet(
  client: PoolClient,
  space: string,
  sheet: PriceSheetInput,
  actor: string,
  origin: string,
  opts: PriceSheetOptions = {},
): Promise<PriceSheetResult> {
  const effectiveFrom = new Date(sheet.effectiveFrom);
  if (Number.isNaN(effectiveFrom.getTime()))
    throw fieldError("body/effectiveFrom", "not a valid RFC 3339 time");
  if (!isCurrency(sheet.currency))
    throw fieldError("body/currency", `${sheet.currency} is not an ISO 4217 currency code in use`);
  // The provider's share is what the platform's fee leaves of offer revenue, exactly.
  const shareBps = 10000 - sheet.platformFeeBps;
  if (sheet.providerShareBps !== undefined && sheet.providerShareBps !== shareBps)
    throw fieldError(
      "body/providerShareBps",
      `must be 10000 - platformFeeBps (${String(shareBps)}): the provider receives the rest of offer revenue`,
    );
  const { rows } = await client.query<{ closed_through: Date | null; currency: string | null }>(
    `select s.closed_through,
            (select ps.currency::text from price_sheets ps where ps.space = s.space order by effective_from limit 1) as currency
     from spaces s where s.space = $1 for update`,
    [space],
  );
  const row = rows[0];
  if (!row) throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
  if (row.currency !== null && row.currency !== sheet.currency)
    throw fieldError("body/currency", `space ${space} settles in ${row.currency}, not ${sheet.currency}`);
  const closedThrough = row.closed_through;
  if (closedThrough && effectiveFrom < closedThrough)
    throw new TdsError(
      "periodClosed",
      `body/effectiveFrom: periods before ${closedThrough.toISOString()} are closed`,
      {
        field: "body/effectiveFrom",
      },
    );
  const seen = new Set<string>();
  for (const [i, p] of sheet.prices.entries()) {
    if (!isMeterName(p.meter) || seen.has(p.meter))
      throw fieldError(`body/prices/${String(i)}/meter`, `unknown or repeated meter ${p.meter}`);
    seen.add(p.meter);
    parseDecimal(p.unitPrice);
  }
  // Statements price each hour with the sheet in force at its start: a sheet from E
  // reprices every metered hour starting at or after E.
  let repriced: string[] = [];
  if (opts.declaredAt && effectiveFrom < opts.declaredAt) {
    const used = await client.query<{ period: string }>(
      `select distinct to_char(hour, 'YYYY-MM') as period from usage_hourly
       where space = $1 and hour >= $2 order by 1`,
      [space, effectiveFrom],
    );
    repriced = used.rows.map((r) => r.period);
    if (repriced.length > 0 && !opts.correction)
      throw new TdsError(
        "retroactivePrice",
        `body/effectiveFrom: a sheet from ${effectiveFrom.toISOString()} would reprice usage already metered in ` +
          `${repriced.join(", ")}; make it effective from now on, or send correction: { reason } to reprice on the record`,
        { field: "body/effectiveFrom" },
      );
  }
  const sheetRow = await client.query<{ sheet_id: string }>(
    `insert into price_sheets (space, effective_from, currency, platform_fee_bps, provider_share_bps, origin, created_by)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (space, effective_from) do update set currency = excluded.currency,
       platform_fee_bps = excluded.platform_fee_bps, provider_share_bps = excluded.provider_share_bps,
       origin = excluded.origin, created_by = excluded.created_by, created_at = now()
     returning sheet_id::text`,
    [space, effectiveFrom.toISOString(), sheet.currency, sheet.platformFeeBps, shareBps, origin, actor],
  );
  const sheetId = sheetRow.rows[0]?.sheet_id;
  if (sheetId === undefined) throw new Error("price sheet upsert returned no row");
  await client.query("delete from price_sheet_prices where sheet_id = $1", [sheetId]);
  await client.query(
    `insert into price_sheet_prices (sheet_id, meter, unit, unit_price, base_units_per_unit)
     select $1, * from unnest($2::text[], $3::text[], $4::numeric[], $5::numeric[])`,
    [
      sheetId,
      sheet.prices.map((p) => p.meter),
      sheet.prices.map((p) => (isMeterName(p.meter) ? meters[p.meter].billingUnit : "")),
      sheet.prices.map((p) => p.unitPrice),
      sheet.prices.map((p) =>
        isMeterName(p.meter) ? meters[p.meter].baseUnitsPerBillingUnit.toString() : "1",
      ),
    ],
  );
  if (repriced.length > 0 && opts.correction) {
    await client.query(
      `insert into statement_audit (space, period, action, actor, detail)
       select $1, (p || '-01')::date, 'reprice', $3, $4 from unnest($2::text[]) as p`,
      [
        space,
        repriced,
        actor,
        JSON.stringify({
          reason: opts.correction.reason,
          sheetId,
          effectiveFrom: effectiveFrom.toISOString(),
        }),
      ],
    );
  }
  return { sheetId, repriced };
}

/** A DataOffer's own price (spec.price) as the operator publishes it to the catalog. */
export interface OfferPriceInput {
  readonly space: string;
  /** The provider participant. */
  readonly provider: string;
  /** The DataOffer's name (in the provider's namespace). */
  readonly name: string;
  readonly currency: string;
  readonly price: Readonly<Record<string, string>>;
  readonly publishedAt: string;
}

/**
 * Records an offer's price as a new version when it differs from the one in force.
 * The first version covers the whole hour of publication (statements price each hour
 * with the prices in force at its start, and no contract precedes publication); a
 * change takes effect when the API learns of it, so from the next full hour: an offer
 * price is never retroactive. Returns true when a version was added.
 */
export async function recordOfferPrice(client: PoolClient, offer: OfferPriceInput): Promise<boolean> {
  const field = (k: string): string => offer.price[k] ?? "0";
  for (const k of Object.keys(offer.price))
    if (!["perContract", "perAccess", "perGBDownloaded", "perSandboxCPUHour"].includes(k))
      throw fieldError(
        `body/price/${k}`,
        "not a DataOffer price (perContract, perAccess, perGBDownloaded, perSandboxCPUHour)",
      );
  if (!isCurrency(offer.currency))
    throw fieldError("body/currency", `${offer.currency} is not an ISO 4217 currency code in use`);
  const spaceCurrency = await currencyOf(client, offer.space);
  if (spaceCurrency !== undefined && spaceCurrency !== offer.currency)
    throw fieldError(
      "body/currency",
      `space ${offer.space} settles in ${spaceCurrency}, not ${offer.currency}`,
    );
  const { rowCount } = await client.query(
    `insert into offer_prices (space, provider, offer, effective_from, currency, per_contract, per_access,
                               per_gb_downloaded, per_sandbox_cpu_hour)
     select s.space, $2, $3,
            greatest(case when l.offer_price_id is null then date_trunc('hour', $4::timestamptz, 'UTC') else now() end,
                     coalesce(s.closed_through, '-infinity'), coalesce(l.effective_from, '-infinity') + interval '1 microsecond'),
            $5::text, $6::numeric, $7::numeric, $8::numeric, $9::numeric
     from spaces s
     left join lateral (
       select * from offer_prices op where op.space = s.space and op.provider = $2 and op.offer = $3
       order by op.effective_from desc limit 1
     ) l on true
     where s.space = $1
       and (l.offer_price_id is null
            or (l.currency::text, l.per_contract, l.per_access, l.per_gb_downloaded, l.per_sandbox_cpu_hour)
               is distinct from ($5::text, $6::numeric, $7::numeric, $8::numeric, $9::numeric))`,
    [
      offer.space,
      offer.provider,
      offer.name,
      offer.publishedAt,
      offer.currency,
      field("perContract"),
      field("perAccess"),
      field("perGBDownloaded"),
      field("perSandboxCPUHour"),
    ],
  );
  return (rowCount ?? 0) > 0;
}
