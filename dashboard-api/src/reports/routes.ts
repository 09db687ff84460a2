// GET /v1/spaces/:space/usage: JSON or CSV (Accept: text/csv) with stable columns.
import type { FastifyPluginCallback } from "fastify";
import { participantScope } from "../auth/principal.ts";
import { wantsCsv } from "../csv.ts";
import { problemResponse } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { traced } from "../plugins/telemetry.ts";
import { requireSpace } from "../spaces.ts";
import type { PricedGroup } from "../statements/statement.ts";
import { amountsByRow, rowKey, usageAmountsSql } from "./amounts.ts";
import {
  csvColumns,
  noAmounts,
  toUsageRow,
  usageCsv,
  usageSql,
  validateRange,
  type GroupBy,
  type Step,
} from "./usage.ts";

interface Query {
  from: string;
  to: string;
  groupBy: GroupBy;
  step: Step;
  participant?: string;
  format?: "json" | "csv";
}

const rowSchema = {
  type: "object",
  properties: {
    bucketStart: { type: "string", format: "date-time" },
    participant: { type: "string" },
    provider: { type: "string" },
    offer: { type: "string" },
    meter: { type: "string" },
    unit: { type: "string" },
    quantity: { type: "string", description: "Exact integer in the meter's base unit" },
    events: { type: "string" },
    platformAmount: { type: "string", description: "The platform price sheet's charge, exact (6 places)" },
    offerAmount: { type: "string", description: "The offers' own prices' charge, exact (6 places)" },
    amount: { type: "string", description: "platformAmount + offerAmount" },
    currency: { type: "string", description: "The space's currency; empty when no price was in force" },
  },
} as const;

export const reportRoutes: FastifyPluginCallback<{ now: () => Date }> = (app, _opts, done) => {
  app.get<{ Params: { space: string }; Querystring: Query }>(
    "/v1/spaces/:space/usage",
    {
      schema: {
        operationId: "getUsageReport",
        tags: ["reports"],
        summary: "Usage over time from the rollups",
        description:
          `JSON by default; CSV (columns: ${csvColumns.join(",")}) ` +
          "with Accept: text/csv or format=csv. from/to are UTC instants on the step's boundaries; to is exclusive.",
        params: { type: "object", required: ["space"], properties: { space: { type: "string" } } },
        querystring: {
          type: "object",
          required: ["from", "to"],
          additionalProperties: false,
          properties: {
            from: { type: "string", format: "date-time" },
            to: { type: "string", format: "date-time" },
            groupBy: { type: "string", enum: ["participant", "meter", "offer"], default: "participant" },
            step: { type: "string", enum: ["hour", "day", "month"], default: "day" },
            participant: { type: "string" },
            format: { type: "string", enum: ["json", "csv"] },
          },
        },
        response: {
          200: {
            description: "The usage report",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    space: { type: "string" },
                    from: { type: "string" },
                    to: { type: "string" },
                    step: { type: "string" },
                    groupBy: { type: "string" },
                    rows: { type: "array", items: rowSchema },
                  },
                },
              },
              "text/csv": { schema: { type: "string" } },
            },
          },
          "4xx": problemResponse,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { space } = request.params;
      const q = request.query;
      await requireSpace(app, principal, space, "usage:read");
      const participant = participantScope(principal, q.participant);
      const from = new Date(q.from);
      const to = new Date(q.to);
      validateRange(from, to, q.step);
      const csv = wantsCsv(request.headers.accept, q.format);
      const uq = {
        space,
        from,
        to,
        groupBy: q.groupBy,
        step: q.step,
        ...(participant !== undefined ? { participant } : {}),
        asParticipant: principal.role === "participant",
      };
      const [{ rows }, priced] = await traced(request.span, "usage.report", () =>
        Promise.all([app.pool().query(usageSql(uq)), app.pool().query<PricedGroup>(usageAmountsSql(uq))]),
      );
      const amounts = amountsByRow(q.groupBy, priced.rows);
      const usage = rows.map((r) => {
        const row = toUsageRow(r as Record<string, unknown>);
        return { ...row, ...(amounts.get(rowKey(q.groupBy, row)) ?? noAmounts) };
      });
      if (csv) {
        return reply
          .type("text/csv; charset=utf-8")
          .header("content-disposition", `attachment; filename="usage-${space}-${q.step}.csv"`)
          .send(usageCsv(space, usage));
      }
      return {
        space,
        from: from.toISOString(),
        to: to.toISOString(),
        step: q.step,
        groupBy: q.groupBy,
        rows: usage,
      };
    },
  );
  done();
};
