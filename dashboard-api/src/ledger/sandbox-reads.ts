// GET /v1/spaces/{space}/sandboxjobs/{uid}/reads: what a SandboxJob read of each
// of its inputs through the gateway, per agreement: reads (transfers; a read's
// retries with the same Idempotency-Key are one) and distinct bytes delivered.
// The operator reads it when the job has finished, to split the run's usage among
// the inputs' providers by the space's revenueSharing (crds/src/revenue.ts).
// Served whether or not this process runs the gateway: the ledger is in the database.
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { SandboxReadsSchema } from "@tds/wire";
import type { FastifyPluginAsync } from "fastify";
import { problemResponse } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { requireSpace } from "../spaces.ts";

const UID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

export const sandboxReadRoutes: FastifyPluginAsync = (plugin) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    "/v1/spaces/:space/sandboxjobs/:uid/reads",
    {
      schema: {
        operationId: "getSandboxJobReads",
        tags: ["gateway"],
        summary: "What a SandboxJob read of each input: reads and bytes per agreement",
        description:
          "One entry per agreement the job read under; an agreement it never read is absent. " +
          "Roles: platform-admin, space-admin, operator.",
        params: Type.Object({ space: Type.String(), uid: Type.String({ pattern: UID }) }),
        response: {
          200: SandboxReadsSchema,
          "4xx": problemResponse,
        },
      },
    },
    async (request) => {
      const { space, uid } = request.params;
      await requireSpace(app, principalOf(request), space, "agreements:read");
      const { rows } = await app.pool().query<{ agreement_id: string; reads: string; bytes: string }>(
        `select agreement_id, count(*)::text as reads, coalesce(sum(bytes), 0)::text as bytes
           from gateway_transfers where sandbox_job = $1 and space = $2
          group by agreement_id order by agreement_id`,
        [uid, space],
      );
      return {
        space,
        job: uid,
        inputs: rows.map((r) => ({
          agreementId: r.agreement_id,
          reads: Number(r.reads),
          bytes: Number(r.bytes),
        })),
      };
    },
  );
  return Promise.resolve();
};
