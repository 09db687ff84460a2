// GET /v1/spaces/:space/usage: JSON or CSV (Accept: text/csv) with stable columns.
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyPluginCallback } from "fastify";
import { participantScope } from "../auth/principal.ts";
import { wantsCsv } from "../csv.ts";
import { problemResponse } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { traced } from "../plugins/telemetry.ts";
import { requireSpace } from "../spaces.ts";
import { withDefaults } from "../validation.ts";
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

const enumOf = <T extends string>(values: readonly T[], fallback?: T) =>
  Type.Unsafe<T>({ type: "string", enum: [...values], ...(fallback ? { default: fallback } : {}) });
const text = (description?: string) => Type.Optional(Type.String(description ? { description } : {}));

const rowSchema = Type.Object({
  bucketStart: Type.Optional(Type.String({ format: "date-time" })),
  participant: text(),
  provider: text(),
  offer: text(),
  meter: text(),
  unit: text(),
  quantity: text("Exact integer in the meter's base unit"),
  events: text(),
  platformAmount: text("The platform price sheet's charge, exact (6 places)"),
  offerAmount: text("The offers' own prices' charge, exact (6 places)"),
  amount: text("platformAmount + offerAmount"),
  currency: text("The space's currency; empty when no price was in force"),
});

export const reportRoutes: FastifyPluginCallback<{ now: () => Date }> = (plugin, _opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    "/v1/spaces/:space/usage",
    {
      schema: {
        operationId: "getUsageReport",
        tags: ["reports"],
        summary: "Usage over time from the rollups",
        description:
          `JSON by default; CSV (columns: ${csvColumns.join(",")}) ` +
          "with Accept: text/csv or format=csv. from/to are UTC instants on the step's boundaries; to is exclusive.",
        params: Type.Object({ space: Type.String() }),
        querystring: withDefaults(
          {
            from: Type.String({ format: "date-time" }),
            to: Type.String({ format: "date-time" }),
            groupBy: enumOf<GroupBy>(["participant", "meter", "offer"], "participant"),
            step: enumOf<Step>(["hour", "day", "month"], "day"),
            participant: Type.Optional(Type.String()),
            format: Type.Optional(enumOf<"json" | "csv">(["json", "csv"])),
          },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: "The usage report",
            content: {
              "application/json": {
                schema: Type.Object({
                  space: text(),
                  from: text(),
                  to: text(),
                  step: text(),
                  groupBy: text(),
                  rows: Type.Optional(Type.Array(rowSchema)),
                }),
              },
              "text/csv": { schema: Type.String() },
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
