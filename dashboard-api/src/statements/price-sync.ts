// Price sheets from the cluster: every DataSpace's spec.metering becomes a
// price sheet version. A sheet is added only when the declared prices differ
// from the latest version, so polling, restarts and several API replicas add
// nothing twice. A change takes effect at the instant the spec was changed
// (statements price each hour with the sheet in force at its start, so from
// the next full hour); a space's first sheet covers its whole first hour.
import type { DataSpace } from "@tds/crds";
import type { Pool, PoolClient } from "pg";
import { startPeriodic, type Periodic } from "../periodic.ts";
import { withTransaction } from "../plugins/db.ts";
import { registerSpace, syncParticipants } from "../spaces.ts";
import { priceSheetFromDataSpace, upsertPriceSheet, type PriceSheetInput } from "./prices.ts";

const HOUR_MS = 3_600_000;

/** Canonical decimal text: "0.120" and "0.12" are one price. */
function normDecimal(s: string): string {
  if (!s.includes(".")) return s;
  const t = s.replace(/0+$/, "");
  return t.endsWith(".") ? t.slice(0, -1) : t;
}

function contentKey(sheet: Omit<PriceSheetInput, "effectiveFrom">): string {
  const prices = [...sheet.prices]
    .map((p) => `${p.meter}=${normDecimal(p.unitPrice)}`)
    .sort()
    .join(",");
  return `${sheet.currency}|${String(sheet.platformFeeBps)}|${String(sheet.providerShareBps)}|${prices}`;
}

/** When the spec was last changed: the newest non-status managedFields entry, else creation. */
export function specChangedAt(ds: DataSpace): Date {
  const meta = ds.metadata as {
    creationTimestamp?: string | Date;
    generation?: number;
    managedFields?: { time?: string | Date; subresource?: string }[];
  };
  const created = new Date(meta.creationTimestamp ?? Date.now());
  if ((meta.generation ?? 1) <= 1) return created;
  const times = (meta.managedFields ?? [])
    .filter((f) => f.subresource === undefined && f.time !== undefined)
    .map((f) => new Date(f.time ?? 0).getTime());
  return new Date(Math.max(created.getTime(), ...times));
}

export type SyncOutcome = "unchanged" | "added";

/** Adds a price sheet version for the space when its declared prices changed. */
export async function syncPriceSheet(
  client: PoolClient,
  space: string,
  declared: Omit<PriceSheetInput, "effectiveFrom">,
  changedAt: Date,
  isFirstGeneration: boolean,
): Promise<SyncOutcome> {
  // The DataSpace in the cluster is what makes a space known to the API (spaces.ts).
  await registerSpace(client, space);
  const { rows } = await client.query<{
    effective_from: Date;
    currency: string;
    platform_fee_bps: number;
    provider_share_bps: number;
    prices: { meter: string; unit_price: string }[] | null;
    closed_through: Date | null;
  }>(
    `select ps.effective_from, ps.currency::text as currency, ps.platform_fee_bps, ps.provider_share_bps,
            (select json_agg(json_build_object('meter', p.meter, 'unit_price', p.unit_price::text))
               from price_sheet_prices p where p.sheet_id = ps.sheet_id) as prices,
            s.closed_through
     from spaces s left join lateral (
       select * from price_sheets where space = s.space order by effective_from desc limit 1
     ) ps on true
     where s.space = $1 for update of s`,
    [space],
  );
  const row = rows[0];
  const latest = row?.currency
    ? {
        currency: row.currency,
        platformFeeBps: row.platform_fee_bps,
        providerShareBps: row.provider_share_bps,
        prices: (row.prices ?? []).map((p) => ({ meter: p.meter, unitPrice: p.unit_price })),
      }
    : undefined;
  if (latest && contentKey(latest) === contentKey(declared)) return "unchanged";
  let from = changedAt.getTime();
  if (!latest && isFirstGeneration) from = Math.floor(from / HOUR_MS) * HOUR_MS;
  if (latest && row && from <= row.effective_from.getTime()) from = Date.now();
  // A closed period is never repriced: the change applies from the first open period.
  if (row?.closed_through && from < row.closed_through.getTime()) from = row.closed_through.getTime();
  await upsertPriceSheet(
    client,
    space,
    { ...declared, effectiveFrom: new Date(from).toISOString() },
    "tds-dataspace-sync",
    "dataspace",
  );
  return "added";
}

/** One pass: every DataSpace's price sheet. Returns the spaces that got a new version. */
export async function syncPriceSheets(pool: Pool, spaces: readonly DataSpace[]): Promise<string[]> {
  const added: string[] = [];
  for (const ds of spaces) {
    const name = ds.metadata.name;
    if (!name || !(ds.spec as Partial<DataSpace["spec"]>).metering) continue;
    const changedAt = specChangedAt(ds);
    const { effectiveFrom: _ignored, ...declared } = priceSheetFromDataSpace(ds.spec, changedAt);
    const first = ((ds.metadata as { generation?: number }).generation ?? 1) <= 1;
    const outcome = await withTransaction(pool, (c) => syncPriceSheet(c, name, declared, changedAt, first));
    if (outcome === "added") added.push(name);
  }
  return added;
}

/** Polls DataSpaces on an interval, the first pass at once; errors are reported and the next pass retries. */
export function startPriceSync(opts: {
  pool: Pool;
  listDataSpaces: () => Promise<DataSpace[]>;
  /** The cluster's Participants, recorded per space after the spaces (spaces.ts syncParticipants). */
  listParticipants?: () => Promise<{ name: string; space: string }[]>;
  intervalMs: number;
  onAdded?: (spaces: string[]) => void;
  onError?: (err: unknown) => void;
}): Periodic<string[]> {
  return startPeriodic({
    intervalMs: opts.intervalMs,
    firstDelayMs: 0,
    onError: (err) => opts.onError?.(err),
    pass: async () => {
      const added = await syncPriceSheets(opts.pool, await opts.listDataSpaces());
      if (opts.listParticipants) {
        const participants = await opts.listParticipants();
        await withTransaction(opts.pool, (c) => syncParticipants(c, participants));
      }
      if (added.length > 0) opts.onAdded?.(added);
      return added;
    },
  });
}
