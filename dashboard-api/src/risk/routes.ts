// A space's risk findings: GET /v1/spaces/:space/risk/findings lists them
// (risk:read; the operator reads the open ones for the DataSpace's
// RiskDetected condition), POST .../findings/:id/close closes one with a
// reason (risk:close: a space admin or a compliance reviewer). Closing is an
// evidence entry (risk.finding-closed); a closed finding stays closed.
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { DNS1123_LABEL } from "@tds/crds";
import { RiskFindingSchema, RiskFindingsSchema, type RiskFinding } from "@tds/wire";
import type { FastifyPluginAsync } from "fastify";
import { problemResponse, TdsError } from "../errors.ts";
import { principalOf } from "../plugins/auth.ts";
import { requireSpace } from "../spaces.ts";
import type { EvidenceStore } from "../evidence/store.ts";
import { appendMissingEvidence } from "./evaluator.ts";

const SpaceParams = Type.Object({ space: Type.String({ pattern: DNS1123_LABEL, maxLength: 63 }) });

interface Row {
  finding_id: string;
  rule: RiskFinding["rule"];
  subject: string;
  window_start: Date;
  window_end: Date;
  observed: string;
  threshold: string;
  message: string;
  found_at: Date;
  expires_at: Date;
  closed_at: Date | null;
  closed_by: string | null;
  close_reason: string | null;
}

const COLUMNS = `finding_id::text, rule, subject, window_start, window_end, observed::text, threshold::text, message,
  found_at, expires_at, closed_at, closed_by, close_reason`;

function finding(r: Row): RiskFinding {
  return {
    id: r.finding_id,
    rule: r.rule,
    subject: r.subject,
    windowStart: r.window_start.toISOString(),
    windowEnd: r.window_end.toISOString(),
    observed: r.observed,
    threshold: r.threshold,
    message: r.message,
    foundAt: r.found_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    ...(r.closed_at ? { closedAt: r.closed_at.toISOString() } : {}),
    ...(r.closed_by ? { closedBy: r.closed_by } : {}),
    ...(r.close_reason ? { closeReason: r.close_reason } : {}),
  };
}

export const riskRoutes: FastifyPluginAsync<{ readonly evidence: EvidenceStore }> = (plugin, opts) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    "/v1/spaces/:space/risk/findings",
    {
      schema: {
        operationId: "listRiskFindings",
        tags: ["governance"],
        summary: "The space's risk findings, newest first",
        description:
          "Each finding of the space's risk rules (DataSpace spec.risk): the rule, its subject, the window, " +
          "what was observed against what threshold. open=true lists only open ones. At most 1000. " +
          "Roles: platform-admin, space-admin, auditor, compliance-reviewer, operator.",
        params: SpaceParams,
        querystring: Type.Object({ open: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 200: RiskFindingsSchema, "4xx": problemResponse },
      },
    },
    async (request) => {
      const { space } = request.params;
      await requireSpace(app, principalOf(request), space, "risk:read");
      const { rows } = await app.pool().query<Row>(
        `select ${COLUMNS} from risk_findings
          where space = $1 ${request.query.open ? "and closed_at is null" : ""}
          order by found_at desc, finding_id desc limit 1000`,
        [space],
      );
      return { space, findings: rows.map(finding) };
    },
  );
  app.post(
    "/v1/spaces/:space/risk/findings/:id/close",
    {
      schema: {
        operationId: "closeRiskFinding",
        tags: ["governance"],
        summary: "Close an open risk finding, with the reason",
        description:
          "Closes the finding (it no longer counts toward the DataSpace's RiskDetected condition and the " +
          "tds_risk_findings_open metric) and records risk.finding-closed in the evidence log. Closing a " +
          "closed finding answers 409. Roles: platform-admin, space-admin, compliance-reviewer.",
        params: Type.Object({ ...SpaceParams.properties, id: Type.String({ pattern: "^[0-9]{1,18}$" }) }),
        body: Type.Object(
          { reason: Type.String({ minLength: 1, maxLength: 1024 }) },
          { additionalProperties: false },
        ),
        response: { 200: RiskFindingSchema, "4xx": problemResponse },
      },
    },
    async (request) => {
      const { space, id } = request.params;
      const principal = principalOf(request);
      await requireSpace(app, principal, space, "risk:close");
      const { rows } = await app.pool().query<Row>(
        `update risk_findings set closed_at = now(), closed_by = $3, close_reason = $4
          where space = $1 and finding_id = $2 and closed_at is null
          returning ${COLUMNS}`,
        [space, id, principal.subject, request.body.reason],
      );
      const row = rows[0];
      if (!row) {
        const { rowCount } = await app
          .pool()
          .query("select 1 from risk_findings where space = $1 and finding_id = $2", [space, id]);
        if (rowCount) throw new TdsError("conflict", `Risk finding ${id} is already closed`, { field: "id" });
        throw new TdsError("notFound", `No risk finding ${id} in space ${space}`, { field: "id" });
      }
      await appendMissingEvidence(app.pool(), opts.evidence, space);
      return finding(row);
    },
  );
  return Promise.resolve();
};
