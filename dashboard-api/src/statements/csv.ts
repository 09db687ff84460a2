// The statement CSV: one row per line, stable columns (docs/dashboard-api.md lists them);
// its shares section (section=shares) one row per share of a SandboxJob's usage.
import { csvDocument } from "../csv.ts";
import { lineAmountMinor } from "./settlement.ts";
import type { StatementShare } from "./shares.ts";
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

export const statementSharesCsvColumns = [
  "space",
  "period",
  "status",
  "kind",
  "job",
  "input",
  "participant",
  "provider",
  "offer",
  "contract",
  "meter",
  "quantity",
  "total",
  "basis",
  "weight",
  "inputs_weight",
  "provider_weight",
  "providers_weight",
  "time",
] as const;

export function statementSharesCsv(
  space: string,
  period: string,
  status: "open" | "closed",
  shares: readonly StatementShare[],
): string {
  return csvDocument(
    statementSharesCsvColumns,
    shares.map((s) => [
      space,
      period,
      status,
      s.kind,
      s.job,
      s.input,
      s.participant,
      s.provider,
      s.offer,
      s.contract,
      s.meter,
      s.quantity,
      s.total,
      s.basis,
      s.weight,
      s.inputsWeight,
      s.providerWeight,
      s.providersWeight,
      s.time,
    ]),
  );
}
