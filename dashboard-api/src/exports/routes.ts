// GET /v1/spaces/:space/exports/:period: the space's export report for a UTC
// month (report.ts), JSON or CSV, for those who file it (exports:read).
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { DNS1123_LABEL } from "@tds/crds";
import type { FastifyPluginAsync } from "fastify";
import { wantsCsv } from "../csv.ts";
import { problemResponse } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { requireSpace } from "../spaces.ts";
import { parsePeriod } from "../statements/statement.ts";
import { exportCsv, exportCsvColumns, exportReport, ExportReportSchema } from "./report.ts";

export const PeriodParams = Type.Object({
  space: Type.String({ pattern: DNS1123_LABEL, maxLength: 63 }),
  period: Type.String({ pattern: "^[0-9]{4}-(0[1-9]|1[0-2])$", description: "A UTC month, YYYY-MM" }),
});

export const exportRoutes: FastifyPluginAsync = (plugin) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    "/v1/spaces/:space/exports/:period",
    {
      schema: {
        operationId: "getExportReport",
        tags: ["governance"],
        summary: "The export report of a month: every cross-border transfer, allowed or refused",
        description:
          "Every transfer of the period to a destination outside the home region, allowed (with its " +
          "delivered bytes) or refused, with the rule, the contract, the destination and whether the " +
          "consumer's certificate verified it, and its evidence entry. JSON by default; CSV with " +
          `Accept: text/csv or format=csv (columns: ${exportCsvColumns.join(",")}).`,
        params: PeriodParams,
        querystring: Type.Object(
          { format: Type.Optional(Type.Union([Type.Literal("json"), Type.Literal("csv")])) },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: "The export report",
            content: {
              "application/json": { schema: ExportReportSchema },
              "text/csv": { schema: Type.String() },
            },
          },
          "4xx": problemResponse,
        },
      },
    },
    async (request, reply) => {
      const { space } = request.params;
      await requireSpace(app, principalOf(request), space, "exports:read");
      const period = parsePeriod(request.params.period);
      const csv = wantsCsv(request.headers.accept, request.query.format);
      const report = await exportReport(app.pool(), space, period);
      if (csv)
        return reply
          .type("text/csv; charset=utf-8")
          .header("content-disposition", `attachment; filename="exports-${space}-${period.id}.csv"`)
          .send(exportCsv(report));
      return report;
    },
  );
  return Promise.resolve();
};
