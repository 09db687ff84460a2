// The RiskDetected condition of a space with risk rules (spec.risk): the open
// findings the dashboard API stored (GET /v1/spaces/{space}/risk/findings,
// through ApiClient), counted by rule, with the newest one's message. An Event
// is emitted when the condition's message changes (a finding opened or
// closed). The API evaluates the rules and owns the findings; the operator
// only shows them, and re-reads them every riskPollMs.
import type { Condition, DataSpace } from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import { ApiError, type ApiClient, type RiskFinding } from "@tds/wire";
import { findCondition, setCondition, type Context } from "../../runtime/reconcile.ts";

export const RISK_DETECTED = "RiskDetected";

/** The condition open findings (newest first) call for; pure. */
export function riskCondition(
  findings: readonly RiskFinding[],
  observedGeneration: number,
): Omit<Condition, "lastTransitionTime"> {
  const newest = findings[0];
  if (!newest)
    return {
      type: RISK_DETECTED,
      status: "False",
      reason: "NoOpenFindings",
      message: "No open risk finding",
      observedGeneration,
    };
  const byRule = new Map<string, number>();
  for (const f of findings) byRule.set(f.rule, (byRule.get(f.rule) ?? 0) + 1);
  const counts = [...byRule]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([rule, n]) => `${rule} ${String(n)}`)
    .join(", ");
  const n = findings.length;
  return {
    type: RISK_DETECTED,
    status: "True",
    reason: newest.rule.charAt(0).toUpperCase() + newest.rule.slice(1),
    message: `${String(n)} open risk finding${n === 1 ? "" : "s"} (${counts}); newest ${newest.id}: ${newest.message}`,
    observedGeneration,
  };
}

/**
 * Sets RiskDetected in `conditions` for a space with risk rules (or one that
 * had the condition); emits an Event when it changed. Without an API, or
 * when the API cannot answer, the condition is left as it was.
 */
export async function applyRisk(
  ctx: Context,
  api: ApiClient | undefined,
  space: DataSpace & KubeObject,
  conditions: Condition[],
): Promise<Condition[]> {
  const before = findCondition(space.status?.conditions, RISK_DETECTED);
  if (!api || (!space.spec.risk && !before)) return conditions;
  let findings: RiskFinding[];
  try {
    findings = await api.openRiskFindings(space.metadata.name ?? "");
  } catch (err) {
    // A space the API has not registered yet has no findings.
    if (err instanceof ApiError && err.code === "TDS_ERR_SPACE_NOT_FOUND") findings = [];
    else {
      ctx.log.warn("cannot read the space's open risk findings; RiskDetected unchanged", {
        err: String(err),
      });
      return conditions;
    }
  }
  const next = riskCondition(findings, space.metadata.generation ?? 0);
  const updated = setCondition(conditions, next);
  const changed = next.status === "True" ? before?.message !== next.message : before?.status === "True";
  if (changed)
    ctx.events.emit(space, next.status === "True" ? "Warning" : "Normal", next.reason, next.message);
  return updated;
}
