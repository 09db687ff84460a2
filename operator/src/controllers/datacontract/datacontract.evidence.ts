// A contract's evidence: every history entry without a log index is
// appended, in order, after the status that announces it (so its time and id
// are read back from status and a restarted operator sends the same entry);
// the agreement is billed just before its evidence. The indexes, the latest
// pointer and the EvidenceRecorded condition then go into status.
import { isDeepStrictEqual } from "node:util";
import type { DataContract, DataContractStatus } from "@tds/crds";
import { type KubeObject, kinds } from "@tds/kube";
import { setCondition, writeStatus, type Context } from "../../runtime/reconcile.ts";
import { errorText } from "../../runtime/controller.ts";
import type { Deps } from "../deps.ts";
import { evidenceCondition, latestEvidence, recordEvidence } from "../evidence.ts";
import { agreementUsageEvent, contractEvidence } from "./datacontract.builders.ts";

type ContractObject = DataContract & KubeObject;
const TRANSITIONS = { one: "transition", many: "transitions" } as const;

export class ContractEvidence {
  /** Event ids the log already held with other content (sent before a crash); not sent again. */
  private readonly alreadyLogged = new Set<string>();

  constructor(private readonly deps: Deps) {}

  /**
   * Sends every history entry that has no log index yet, then records the
   * indexes in status. Returns a retry delay when the log could not be reached.
   */
  async record(
    ctx: Context,
    c: ContractObject,
    space: string,
    status: DataContractStatus,
    statusWritten: boolean,
  ): Promise<number | undefined> {
    const history = [...(status.history ?? [])];
    const pendingEntries = history.filter(
      (h) => h.logIndex === undefined && !this.alreadyLogged.has(h.eventId),
    );
    const api = this.deps.api;
    const outcome = await recordEvidence(
      ctx,
      api,
      space,
      pendingEntries.map((h) => contractEvidence(space, c, h, status)),
      async (e) => {
        // The agreement is billed (the offer's perContract) before its evidence is sent, so
        // an agreement on record is always on the statement; a retry sends the same event.
        const billed = e.action === "contract.agreed" && status.agreedAt !== undefined;
        const agreement = billed ? agreementUsageEvent(space, c, status.agreedAt ?? "") : undefined;
        if (agreement && api) await api.postUsage([agreement]);
      },
    );
    for (const { entry, pointer } of outcome.appended) {
      if (!pointer) {
        this.alreadyLogged.add(entry.eventId);
        continue;
      }
      const i = history.findIndex((x) => x.action === entry.action);
      const h = history[i];
      if (h) history[i] = { ...h, logIndex: pointer.logIndex };
    }
    if (outcome.state === "Unreachable")
      ctx.log.warn("cannot record contract evidence", {
        contract: c.metadata.name,
        err: errorText(outcome.error),
      });
    const latest = latestEvidence(outcome, status.latestEvidence);
    const next: DataContractStatus = {
      ...status,
      history,
      ...(latest ? { latestEvidence: latest } : {}),
      conditions: setCondition(
        status.conditions,
        evidenceCondition(outcome, pendingEntries.length, TRANSITIONS, c.metadata.generation ?? 0),
      ),
    };
    if (!isDeepStrictEqual(next, status)) {
      const base = statusWritten
        ? await ctx.client.get<ContractObject>(
            kinds.dataContract,
            c.metadata.name ?? "",
            c.metadata.namespace,
          )
        : c;
      await writeStatus(ctx, kinds.dataContract, base, next);
    }
    return outcome.state === "Unreachable" ? 5_000 : undefined;
  }
}
