// The export report of a space for one period (UTC month): every cross-border
// transfer the gateway let through and every request it refused for an export
// rule, from gateway_exports (migration 0031, written by the ledger), with the
// transfer's distinct delivered bytes and the position of its evidence entry.
// Its schema (TypeBox), its query and its CSV form; the filing record embeds it.
import { Type, type Static } from "@sinclair/typebox";
import type { Pool, PoolClient } from "pg";
import { csvDocument } from "../csv.ts";
import type { Period } from "../statements/statement.ts";

export const REPORT_FORMAT = "tds.dev/export-report/v1";

export const ExportTransferSchema = Type.Object(
  {
    time: Type.String({
      format: "date-time",
      description: "When the gateway decided, before the first byte",
    }),
    outcome: Type.Union([Type.Literal("allowed"), Type.Literal("refused")]),
    rule: Type.String({ description: "The rule that allowed or refused it" }),
    message: Type.String(),
    agreementId: Type.String(),
    contract: Type.Object({ namespace: Type.String(), name: Type.String(), uid: Type.String() }),
    offer: Type.Object({ namespace: Type.String(), name: Type.String() }),
    consumer: Type.String(),
    provider: Type.String(),
    objectKey: Type.String(),
    destination: Type.String({ description: "The destination region" }),
    regionSource: Type.Union([Type.Literal("certificate"), Type.Literal("declared")], {
      description: "certificate: verified by the consumer's certificate; declared: organization.region",
    }),
    bytes: Type.Integer({ minimum: 0, description: "Distinct bytes delivered (0 for a refusal)" }),
    transferId: Type.Union([Type.String(), Type.Null()], { description: "Null for a refusal" }),
    evidence: Type.Object({
      eventId: Type.String(),
      leafIndex: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
        description: "Its position in the space's evidence log; null until it is appended",
      }),
    }),
  },
  { additionalProperties: false },
);
export type ExportTransfer = Static<typeof ExportTransferSchema>;

export const ExportReportSchema = Type.Object(
  {
    format: Type.Literal(REPORT_FORMAT),
    space: Type.String(),
    period: Type.String({ pattern: "^[0-9]{4}-(0[1-9]|1[0-2])$" }),
    from: Type.String({ format: "date-time" }),
    to: Type.String({ format: "date-time" }),
    totals: Type.Object({
      allowed: Type.Integer({ minimum: 0 }),
      refused: Type.Integer({ minimum: 0 }),
      bytes: Type.Integer({ minimum: 0 }),
    }),
    transfers: Type.Array(ExportTransferSchema),
  },
  { additionalProperties: false },
);
export type ExportReport = Static<typeof ExportReportSchema>;

interface Row {
  event_id: string;
  transfer_id: string | null;
  agreement_id: string;
  contract_namespace: string;
  contract: string;
  contract_uid: string;
  offer_namespace: string;
  offer: string;
  consumer: string;
  provider: string;
  object_key: string;
  destination: string;
  region_source: "certificate" | "declared";
  allowed: boolean;
  rule: string;
  message: string;
  decided_at: Date;
  bytes: string;
  leaf_index: string | null;
}

/** The period's exports in decision order (ties by evidence id). */
export async function exportReport(
  db: Pool | PoolClient,
  space: string,
  period: Period,
): Promise<ExportReport> {
  const { rows } = await db.query<Row>(
    `select x.*, coalesce(t.bytes, 0) as bytes, e.leaf_index
       from gateway_exports x
       left join gateway_transfers t on t.transfer_id = x.transfer_id
       left join evidence_entries e on e.space = x.space and e.event_id = x.event_id
      where x.space = $1 and x.decided_at >= $2 and x.decided_at < $3
      order by x.decided_at, x.event_id`,
    [space, period.start, period.end],
  );
  const transfers = rows.map((r): ExportTransfer => ({
    time: r.decided_at.toISOString(),
    outcome: r.allowed ? "allowed" : "refused",
    rule: r.rule,
    message: r.message,
    agreementId: r.agreement_id,
    contract: { namespace: r.contract_namespace, name: r.contract, uid: r.contract_uid },
    offer: { namespace: r.offer_namespace, name: r.offer },
    consumer: r.consumer,
    provider: r.provider,
    objectKey: r.object_key,
    destination: r.destination,
    regionSource: r.region_source,
    bytes: Number(r.bytes),
    transferId: r.transfer_id,
    evidence: { eventId: r.event_id, leafIndex: r.leaf_index === null ? null : Number(r.leaf_index) },
  }));
  return {
    format: REPORT_FORMAT,
    space,
    period: period.id,
    from: period.start.toISOString(),
    to: period.end.toISOString(),
    totals: {
      allowed: transfers.filter((t) => t.outcome === "allowed").length,
      refused: transfers.filter((t) => t.outcome === "refused").length,
      bytes: transfers.reduce((n, t) => n + t.bytes, 0),
    },
    transfers,
  };
}

export const exportCsvColumns = [
  "time",
  "outcome",
  "rule",
  "message",
  "agreement_id",
  "contract_namespace",
  "contract",
  "contract_uid",
  "offer_namespace",
  "offer",
  "consumer",
  "provider",
  "object_key",
  "destination",
  "region_source",
  "bytes",
  "transfer_id",
  "evidence_event_id",
  "evidence_leaf_index",
] as const;

/** One row per transfer, in the JSON's order; empty fields for a refusal's transfer id and an unappended entry. */
export function exportCsv(report: ExportReport): string {
  return csvDocument(
    exportCsvColumns,
    report.transfers.map((t) => [
      t.time,
      t.outcome,
      t.rule,
      t.message,
      t.agreementId,
      t.contract.namespace,
      t.contract.name,
      t.contract.uid,
      t.offer.namespace,
      t.offer.name,
      t.consumer,
      t.provider,
      t.objectKey,
      t.destination,
      t.regionSource,
      String(t.bytes),
      t.transferId ?? "",
      t.evidence.eventId,
      t.evidence.leafIndex === null ? "" : String(t.evidence.leafIndex),
    ]),
  );
}
