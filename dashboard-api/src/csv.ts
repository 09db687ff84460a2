// CSV as the reports and statements download it: RFC 4180 (CRLF, quoted when needed),
// with spreadsheet formulas defused, and the JSON-or-CSV choice of the routes that offer both.
import { TdsError } from "./errors.ts";

export function csvField(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) && !/^-?\d+(\.\d+)?$/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** A header row and the rows, each field quoted as needed. */
export function csvDocument(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  return [columns, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/**
 * Whether a request asks for CSV: format=csv, or (without format) an Accept naming
 * text/csv. Throws 406 for an Accept that names neither JSON nor CSV.
 */
export function wantsCsv(accept: string | undefined, format: "json" | "csv" | undefined): boolean {
  if (format !== undefined) return format === "csv";
  const header = accept ?? "";
  if (/\btext\/csv\b/.test(header)) return true;
  if (header && !/application\/json|\*\/\*|application\/\*/.test(header))
    throw new TdsError("notAcceptable", "Supported media types: application/json, text/csv");
  return false;
}
