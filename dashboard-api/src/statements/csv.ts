// The statement CSV: one row per line, stable columns (docs/dashboard-api.md lists them).
import { csvDocument } from "../csv.ts";
import { lineAmountMinor } from "./settlement.ts";
import type { StatementLine } from "./statement.ts";

export const statementCsvColumns = [
  "space",
  "period",
  "status",
  "line_no",
  "kind",
  "participant",
  "provider",
  "offer",
  "contract",
  "meter",
  "quantity",
  "unit",
  "priced_quantity",
  "price_unit",
  "unit_price",
  "price_source",
  "amount",
  "amount_minor",
  "currency",
  "platform_fee",
  "provider_share",
  "sheet_id",
  "description",
] as const;

export function statementCsv(
  space: string,
  period: string,
  status: "open" | "closed",
  lines: readonly StatementLine[],
): string {
  return csvDocument(
    statementCsvColumns,
    lines.map((l) => [
      space,
      period,
      status,
      String(l.lineNo),
      l.kind,
      l.participant,
      l.provider,
      l.offer,
      l.contract,
      l.meter,
      l.quantity,
      l.unit,
      l.pricedQuantity ?? "",
      l.priceUnit ?? "",
      l.unitPrice ?? "",
      l.priceSource ?? "",
      l.amount,
      lineAmountMinor(l) ?? "",
      l.currency ?? "",
      l.platformFee,
      l.providerShare,
      l.sheetId ?? "",
      l.description,
    ]),
  );
}
