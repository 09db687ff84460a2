// GET /v1/spaces/:space/usage: JSON or CSV (Accept: text/csv) with stable columns.
import type { FastifyPluginCallback } from "fastify";
import { participantScope } from "../auth/principal.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { traced } from "../plugins/telemetry.ts";
import { requireSpace } from "../spaces.ts";
import { toUsageRow, usageCsv, usageSql, validateRange, type GroupBy, type Step } from "./usage.ts";

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
          "JSON by default; CSV (columns: bucket_start,space,participant,provider,offer,meter,unit,quantity,events) " +
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
      const accept = request.headers.accept ?? "";
      const csv = q.format === "csv" || (q.format === undefined && /\btext\/csv\b/.test(accept));
      if (
        !csv &&
        q.format === undefined &&
        accept &&
        !/application\/json|\*\/\*|application\/\*/.test(accept)
      )
        throw new TdsError("notAcceptable", "Supported media types: application/json, text/csv");
      const sql = usageSql({
        space,
        from,
        to,
        groupBy: q.groupBy,
        step: q.step,
        ...(participant !== undefined ? { participant } : {}),
        asParticipant: principal.role === "participant",
      });
      const { rows } = await traced(request.span, "usage.report", () => app.pool().query(sql));
      const usage = rows.map((r) => toUsageRow(r as Record<string, unknown>));
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
