// Price sheets: per space, versioned by the instant they take effect. A sheet that
// would reprice a closed period is refused.
import type { DataSpaceSpec } from "@tds/crds";
import type { PoolClient } from "pg";
import { TdsError } from "../errors.ts";
import { isMeterName, meters } from "../metering/meters.ts";
import { parseDecimal } from "./money.ts";

export interface PriceSheetInput {
  effectiveFrom: string;
  currency: string;
  platformFeeBps: number;
  providerShareBps: number;
  prices: { meter: string; unitPrice: string }[];
}

export const priceSheetSchema = {
  $id: "PriceSheet",
  type: "object",
  additionalProperties: false,
  required: ["effectiveFrom", "currency", "prices"],
  properties: {
    effectiveFrom: { type: "string", format: "date-time" },
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
    platformFeeBps: { type: "integer", minimum: 0, maximum: 10000, default: 0 },
    providerShareBps: {
      type: "integer",
      minimum: 0,
      maximum: 10000,
      default: 0,
      description: "Share of what consumers pay for a provider's offers that goes to that provider",
    },
    prices: {
      type: "array",
      maxItems: 100,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["meter", "unitPrice"],
        properties: {
          meter: { type: "string", enum: Object.keys(meters) },
          unitPrice: {
            type: "string",
            pattern: "^(0|[1-9][0-9]{0,17})(\\.[0-9]{1,18})?$",
            description: "Decimal price of one billing unit of the meter (e.g. per GB-month)",
          },
        },
      },
    },
  },
} as const;

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

export async function upsertPriceSheet(
  client: PoolClient,
  space: string,
  sheet: PriceSheetInput,
  actor: string,
  origin: string,
): Promise<string> {
  const effectiveFrom = new Date(sheet.effectiveFrom);
  await client.query("insert into spaces (space) values ($1) on conflict do nothing", [space]);
  const { rows } = await client.query<{ closed_through: Date | null }>(
    "select closed_through from spaces where space = $1 for update",
    [space],
  );
  const closedThrough = rows[0]?.closed_through ?? null;
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
      throw new TdsError("validation", `body/prices/${i}/meter: unknown or repeated meter ${p.meter}`, {
        field: `body/prices/${i}/meter`,
      });
    seen.add(p.meter);
    parseDecimal(p.unitPrice);
  }
  const sheetRow = await client.query<{ sheet_id: string }>(
    `insert into price_sheets (space, effective_from, currency, platform_fee_bps, provider_share_bps, origin, created_by)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (space, effective_from) do update set currency = excluded.currency,
       platform_fee_bps = excluded.platform_fee_bps, provider_share_bps = excluded.provider_share_bps,
       origin = excluded.origin, created_by = excluded.created_by, created_at = now()
     returning sheet_id::text`,
    [
      space,
      effectiveFrom.toISOString(),
      sheet.currency,
      sheet.platformFeeBps,
      sheet.providerShareBps,
      origin,
      actor,
    ],
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
  return sheetId;
}
