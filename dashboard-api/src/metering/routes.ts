// POST /v1/usage (CloudEvents batch) and the conflicts a space's admins review.
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { UsageBatchSchema, UsageEventSchema, UsageIngestResponseSchema } from "@tds/wire";
import type { FastifyPluginCallback } from "fastify";
import { problemResponse } from "../errors.ts";
import { authorize, clusterWideRoles } from "../auth/principal.ts";
import { principalOf } from "../plugins/auth.ts";
import { traced } from "../plugins/telemetry.ts";
import { withDefaults } from "../validation.ts";
import { normalizeEvent } from "./events.ts";
import { ingestEvents } from "./ingest.ts";

export const meteringRoutes: FastifyPluginCallback<{ now: () => Date }> = (plugin, opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.addSchema(UsageEventSchema);
  for (const type of ["application/cloudevents-batch+json", "application/cloudevents+json"]) {
    app.addContentTypeParser(type, { parseAs: "string" }, app.getDefaultJsonParser("error", "error"));
  }

  app.post(
    "/v1/usage",
    {
      schema: {
        operationId: "ingestUsageEvents",
        tags: ["metering"],
        summary: "Ingest a batch of usage CloudEvents",
        description:
          "Body: a JSON array of CloudEvents (application/json or application/cloudevents-batch+json). " +
          "Quantities are integers in the meter's base unit. The whole batch is validated first: any invalid " +
          "event fails the request with 400 and its field path, and nothing is stored.",
        body: UsageBatchSchema,
        response: {
          200: UsageIngestResponseSchema,
          "4xx": problemResponse,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const now = opts.now();
      const events = request.body.map((raw, i) => normalizeEvent(raw, i, now));
      for (const space of new Set(events.map((e) => e.space))) authorize(principal, space, "usage:write");
      // A space-bound token (space-admin of X) proves nothing about X's existence: X must
      // be a registered space (spaces.ts). Cluster-wide roles act on the cluster's word.
      const registerSpaces = clusterWideRoles.includes(principal.role);
      const results = await traced(request.span, "usage.ingest", () =>
        app.tx((client) => ingestEvents(client, events, principal.subject, { registerSpaces })),
      );
      let accepted = 0;
      let replayed = 0;
      let conflicts = 0;
      for (const r of results) {
        if (r.status === "conflict") conflicts++;
        else if (r.replay) replayed++;
        else accepted++;
      }
      app.metrics.usageEvents.labels("accepted").inc(accepted);
      app.metrics.usageEvents.labels("replayed").inc(replayed);
      app.metrics.usageEvents.labels("conflict").inc(conflicts);
      if (conflicts > 0) request.log.warn({ conflicts }, "usage events conflicted with stored payloads");
      return { accepted, replayed, conflicts, results };
    },
  );

  app.get(
    "/v1/spaces/:space/usage/conflicts",
    {
      schema: {
        operationId: "listUsageConflicts",
        tags: ["metering"],
        summary: "Events rejected because their id was reused with a different payload",
        params: Type.Object({ space: Type.String() }),
        querystring: withDefaults({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }),
        response: {
          200: Type.Object({
            conflicts: Type.Array(
              Type.Object({
                source: Type.String(),
                id: Type.String(),
                receivedAt: Type.String({ format: "date-time" }),
                receivedBy: Type.String(),
                payload: Type.Object({}, { additionalProperties: true }),
              }),
            ),
          }),
          "4xx": problemResponse,
        },
      },
    },
    async (request) => {
      authorize(principalOf(request), request.params.space, "conflicts:read");
      const { rows } = await app.pool().query<{
        source: string;
        id: string;
        received_at: Date;
        received_by: string;
        payload: Record<string, unknown>;
      }>(
        `select source, id, received_at, received_by, payload from usage_conflicts
         where space = $1 and not superseded order by conflict_id desc limit $2`,
        [request.params.space, request.query.limit],
      );
      return {
        conflicts: rows.map((r) => ({
          source: r.source,
          id: r.id,
          receivedAt: r.received_at.toISOString(),
          receivedBy: r.received_by,
          payload: r.payload,
        })),
      };
    },
  );
  done();
};
