// What a contract becomes once the engine has decided: the new state with its
// history (one entry per transition, a suspension and a reinstatement once
// per occurrence), agreement, rejection or revocation details, the Ready
// condition and an Event on change. Write order makes a crash at any point
// safe: the credentials and the label come before the status that says
// Active; the status with the transition comes before its evidence.
import {
  REINSTATE_ANNOTATION,
  rfc3339,
  type DataContract,
  type DataContractStatus,
  type DataSpace,
} from "@tds/crds";
import { type KubeObject, kinds } from "@tds/kube";
import { agreementIdOf, spaceRules, type Outcome } from "@tds/crds/policy";
import {
  findCondition,
  setCondition,
  writeStatus,
  type Context,
  type Result,
} from "../../runtime/reconcile.ts";
import type { ContractTerms } from "../../policy/contract-facts.ts";
import type { Deps } from "../deps.ts";
import {
  credentialsSecretName,
  historyEntry,
  repeatedAction,
  withEntry,
  type History,
} from "./datacontract.builders.ts";
import { ensureCredentials, removeCredentials } from "./datacontract.credentials.ts";
import type { ContractEvidence } from "./datacontract.evidence.ts";

type ContractObject = DataContract & KubeObject;
export type State = NonNullable<DataContractStatus["state"]>;

export const GRANTING: readonly State[] = ["Agreed", "Active"];
/** States that hold an agreement (and its credentials): granting, or suspended by a rule change. */
export const HOLDING: readonly State[] = [...GRANTING, "Suspended"];

export class ContractDecisions {
  constructor(
    private readonly deps: Deps,
    private readonly now: () => Date,
    private readonly evidence: ContractEvidence,
  ) {}

  /** A contract that cannot be decided yet: Requested, with the reason, and looked at again later. */
  async pending(
    c: ContractObject,
    ctx: Context,
    space: string | undefined,
    reason: string,
    message: string,
  ): Promise<Result> {
    const now = this.now();
    const history = withEntry(
      c.status?.history ?? [],
      historyEntry(
        c.metadata.uid ?? "",
        "contract.requested",
        "Requested",
        c.metadata.creationTimestamp ?? rfc3339(now),
        "Requested",
      ),
    );
    const status: DataContractStatus = {
      ...(c.status ?? {}),
      state: "Requested",
      observedGeneration: c.metadata.generation ?? 0,
      history,
      transitions: history.filter((h) => h.state).length,
      conditions: setCondition(c.status?.conditions, {
        type: "Ready",
        status: "False",
        reason,
        message,
        observedGeneration: c.metadata.generation ?? 0,
      }),
    };
    const written = await writeStatus(ctx, kinds.dataContract, c, status);
    const retry = space ? await this.evidence.record(ctx, c, space, status, written) : undefined;
    return { requeueAfterMs: Math.min(retry ?? Infinity, this.deps.settings.contractMonitorMs) };
  }

  async apply(
    c: ContractObject,
    ctx: Context,
    spaceName: string,
    space: DataSpace,
    outcome: Outcome,
    now: Date,
    revokedBy: string,
    accesses?: number,
    terms?: ContractTerms,
  ): Promise<Result | undefined> {
    const uid = c.metadata.uid ?? "";
    const name = c.metadata.name ?? "";
    const prev = c.status ?? {};
    const { state } = outcome;
    const changed = prev.state !== state;
    const at = rfc3339(now);
    const status: DataContractStatus = {
      ...prev,
      state,
      observedGeneration: c.metadata.generation ?? 0,
      ...(accesses === undefined ? {} : { accesses }),
    };

    let history: History = withEntry(
      prev.history ?? [],
      historyEntry(uid, "contract.requested", "Requested", c.metadata.creationTimestamp ?? at, "Requested"),
    );
    const decision = outcome.decision;
    if (decision?.kind === "agree") {
      status.agreementId = agreementIdOf(uid);
      status.agreedAt = prev.agreedAt ?? at;
      status.validity = decision.validity;
      status.crossBorderExport = decision.crossBorderExport;
      status.terms = terms ?? {};
      history = withEntry(history, historyEntry(uid, "contract.agreed", decision.reason, at, "Agreed"));
      if (decision.crossBorderExport && spaceRules(space).recordExports)
        history = withEntry(
          history,
          historyEntry(uid, "contract.cross-border-export", "CrossBorderExport", at),
        );
    }
    // A contract agreed before status.terms existed gets them from its spec, frozen since agreement.
    if (status.agreementId && !status.terms && terms) status.terms = terms;
    if (state === "Rejected" && !prev.rejection)
      status.rejection = { reason: outcome.reason, message: outcome.message };
    if (state === "Revoked" && !prev.revocation)
      status.revocation = { revokedBy, reason: outcome.message.replace(/^Revoked: /, ""), revokedAt: at };
    const reinstated = prev.state === "Suspended" && GRANTING.includes(state);
    if (state === "Suspended" && changed) {
      // A suspension can happen more than once: each is its own entry, with the rule that failed.
      history = withEntry(
        history,
        historyEntry(
          uid,
          repeatedAction(history, "contract.suspended"),
          outcome.reason,
          at,
          state,
          outcome.message,
        ),
      );
      status.suspension = { rule: outcome.reason, message: outcome.message, suspendedAt: at };
    } else if (reinstated) {
      history = withEntry(
        history,
        historyEntry(
          uid,
          repeatedAction(history, "contract.reinstated"),
          outcome.reason,
          at,
          state,
          outcome.message,
        ),
      );
      delete status.suspension;
    } else if (state !== "Requested" && state !== "Agreed" && state !== "Suspended")
      history = withEntry(
        history,
        historyEntry(uid, `contract.${state.toLowerCase()}`, outcome.reason, at, state),
      );
    status.history = history;
    status.transitions = history.filter((h) => h.state).length;

    if (state === "Active" || state === "Agreed") {
      const agreementId = status.agreementId ?? agreementIdOf(uid);
      status.credentialsDigest = await ensureCredentials(ctx, this.deps, c, spaceName, agreementId);
      status.credentialsSecret = credentialsSecretName(name);
    } else if (state === "Expired" || state === "Revoked" || state === "Rejected") {
      await removeCredentials(ctx, this.deps, c);
    }

    // Terminal states keep their first reason; the engine only reports "it is terminal".
    const terminalKept = !changed && (state === "Rejected" || state === "Expired" || state === "Revoked");
    const ready = findCondition(prev.conditions, "Ready");
    const reason = terminalKept && ready ? ready.reason : outcome.reason;
    const message = terminalKept && ready ? ready.message : outcome.message;
    status.conditions = setCondition(
      prev.conditions,
      {
        type: "Ready",
        status: state === "Active" ? "True" : "False",
        reason,
        message,
        observedGeneration: c.metadata.generation ?? 0,
      },
      now,
    );
    const written = await writeStatus(ctx, kinds.dataContract, c, status);
    if (written && changed)
      ctx.events.emit(
        c,
        state === "Rejected" || state === "Revoked" || state === "Suspended" ? "Warning" : "Normal",
        reason,
        message,
      );
    if (reinstated && c.metadata.annotations?.[REINSTATE_ANNOTATION] !== undefined) {
      // Honoured once: a later suspension needs a new request from the provider.
      ctx.beforeWrite(`clear the reinstate annotation of DataContract ${c.metadata.namespace ?? ""}/${name}`);
      await ctx.client.mergePatch(kinds.dataContract, name, c.metadata.namespace, {
        metadata: { annotations: { [REINSTATE_ANNOTATION]: null } },
      });
    }

    const evidenceRetry = await this.evidence.record(ctx, c, spaceName, status, written);
    const next =
      outcome.nextChangeAt === undefined
        ? undefined
        : Math.max(250, outcome.nextChangeAt - now.getTime() + 250);
    const monitor = HOLDING.includes(state) ? this.deps.settings.contractMonitorMs : undefined;
    const waits = [next, monitor, evidenceRetry].filter((x): x is number => x !== undefined);
    return waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : undefined;
  }
}
