// GET /v1/spaces/{space}/agreements/{agreementId}: what the gateway's ledger
// knows of an agreement: accesses counted against its maximum, transfers and
// distinct bytes delivered. The operator reads it to write a DataContract's
// status.accesses and to expire a contract whose accesses ran out; space
// admins read it to answer "how much of this agreement is used". Served
// whether or not this process runs the gateway: the ledger is in the database.
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { AgreementUseSchema } from "@tds/wire";
import type { FastifyPluginAsync } from "fastify";
import { problemResponse } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { requireSpace } from "../spaces.ts";
import { AGREEMENT_ID } from "./grant.ts";

export const agreementRoutes: FastifyPluginAsync = (plugin) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    "/v1/spaces/:space/agreements/:agreementId",
    {
      schema: {
        operationId: "getAgreement",
        tags: ["gateway"],
        summary: "An agreement's use so far: accesses, transfers and bytes delivered through the gateway",
        description:
          "An agreement never used answers with zeros: the ledger has no row for it yet. " +
          "Roles: platform-admin, space-admin, operator.",
        params: Type.Object({
          space: Type.String(),
          agreementId: Type.String({ pattern: AGREEMENT_ID.source }),
        }),
        response: {
          200: AgreementUseSchema,
          "4xx": problemResponse,
        },
      },
    },
    async (request) => {
      const { space, agreementId } = request.params;
      await requireSpace(app, principalOf(request), space, "agreements:read");
      const { rows } = await app.pool().query<{ accesses: string; transfers: string; bytes: string }>(
        `select coalesce((select accesses from gateway_agreements where agreement_id = $1 and space = $2), 0)::text
                  as accesses,
                count(t.*)::text as transfers,
                coalesce(sum(t.bytes), 0)::text as bytes
           from gateway_transfers t
          where t.agreement_id = $1 and t.space = $2`,
        [agreementId, space],
      );
      const row = rows[0];
      return {
        agreementId,
        space,
        accesses: Number(row?.accesses ?? 0),
        transfers: Number(row?.transfers ?? 0),
        bytes: Number(row?.bytes ?? 0),
      };
    },
  );
  return Promise.resolve();
};
