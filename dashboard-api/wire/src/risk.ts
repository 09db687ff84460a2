// A space's risk findings (docs/governance.md, "Risk rules"), as the API lists
// them (GET /v1/spaces/{space}/risk/findings) and the operator reads them for
// the DataSpace's RiskDetected condition.
import { Type, type Static } from "@sinclair/typebox";
import { RISK_RULES } from "@tds/crds";

export const RiskFindingSchema = Type.Object({
  id: Type.String({ description: "The finding's id, for closing it" }),
  rule: Type.Union(RISK_RULES.map((r) => Type.Literal(r))),
  subject: Type.String({
    description: "The consumer (downloadVolume, copiedInputs) or the agreement id (the other rules)",
  }),
  windowStart: Type.String({ description: "RFC 3339" }),
  windowEnd: Type.String({ description: "RFC 3339" }),
  observed: Type.String({
    description:
      "Decimal: bytes, refusals, the UTC hour of the access, or jobs withheld for copying an input",
  }),
  threshold: Type.String({ description: "What the rule compared against, as a decimal or a list of hours" }),
  message: Type.String(),
  foundAt: Type.String({ description: "RFC 3339" }),
  expiresAt: Type.String({ description: "RFC 3339" }),
  closedAt: Type.Optional(Type.String({ description: "RFC 3339" })),
  closedBy: Type.Optional(Type.String()),
  closeReason: Type.Optional(Type.String()),
});
export type RiskFinding = Static<typeof RiskFindingSchema>;

export const RiskFindingsSchema = Type.Object({
  space: Type.String(),
  findings: Type.Array(RiskFindingSchema),
});
export type RiskFindings = Static<typeof RiskFindingsSchema>;
