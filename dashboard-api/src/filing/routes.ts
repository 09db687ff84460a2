// GET /v1/spaces/:space/filing/:period: the space's filing record (record.ts)
// for a period, signed now with the space's evidence key, over the space as
// the cluster holds it, a checkpoint of its log as it is now (signed if the
// log grew since the last one) and the period's export report. It is sent
// byte for byte as signed; `tds evidence verify --filing` checks it offline.
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyPluginAsync } from "fastify";
import { problemResponse, TdsError } from "../errors.ts";
import { type CheckpointSigner, CheckpointError } from "../evidence/checkpoint.ts";
import type { SignerFor } from "../evidence/checkpoint-loop.ts";
import { EvidenceStore } from "../evidence/store.ts";
import { exportReport } from "../exports/report.ts";
import { PeriodParams } from "../exports/routes.ts";
import { principalOf } from "../plugins/auth.ts";
import { requireSpace } from "../spaces.ts";
import { parsePeriod } from "../statements/statement.ts";
import { filingView } from "./filing-view.ts";
import { FilingDocumentSchema, filingRecord, signFiling } from "./record.ts";

export interface FilingRoutesOptions {
  readonly signerFor: SignerFor | undefined;
  readonly now: () => Date;
}

export const filingRoutes: FastifyPluginAsync<FilingRoutesOptions> = (plugin, opts) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    "/v1/spaces/:space/filing/:period",
    {
      schema: {
        operationId: "getFilingRecord",
        tags: ["governance"],
        summary: "The space's filing record (备案) for a month, signed with its evidence key",
        description:
          "The operator, the participants and their verified identities, the offers by classification, " +
          "the rules (classification levels, negative list), the latest signed checkpoint of the evidence " +
          "log and the month's export report, with a C2SP signed note by the space's evidence key over " +
          "the SHA-256 of the record's RFC 8785 form. Verify it offline with " +
          "`tds evidence verify --filing FILE --public-key PEM`. 503 without the cluster or the signing key.",
        params: PeriodParams,
        response: {
          200: {
            description: "The signed filing record",
            content: { "application/json": { schema: FilingDocumentSchema } },
          },
          "4xx": problemResponse,
          "5xx": problemResponse,
        },
      },
    },
    async (request, reply) => {
      const { space } = request.params;
      await requireSpace(app, principalOf(request), space, "filing:read");
      const period = parsePeriod(request.params.period);
      if (!app.kube || !opts.signerFor)
        throw new TdsError(
          "unavailable",
          "Filing records need the cluster and the space's evidence signing key",
        );
      const sources = await filingView(app.kube).read(space);
      if (!sources) throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
      let signer: CheckpointSigner;
      try {
        signer = await opts.signerFor(space);
      } catch (err) {
        if (err instanceof CheckpointError)
          throw new TdsError("unavailable", `Space ${space} has no evidence key yet`, { cause: err });
        throw err;
      }
      const pool = app.pool();
      const exports = await exportReport(pool, space, period);
      // After the report: its entries appended by now lie under this checkpoint.
      // The gateway exports it to S3 with the others (@tds/gateway, evidence-export.ts).
      const checkpoint = await new EvidenceStore(pool).checkpoint(space, signer, opts.now());
      const record = filingRecord(
        { ...sources, checkpoint, exports, issuedAt: opts.now(), signer },
        period.id,
      );
      const document = await signFiling(record, signer);
      // Sent as signed: the serializer never sees it, so nothing is dropped or reordered.
      return reply
        .type("application/json; charset=utf-8")
        .header("content-disposition", `attachment; filename="filing-${space}-${period.id}.json"`)
        .send(JSON.stringify(document));
    },
  );
  return Promise.resolve();
};
