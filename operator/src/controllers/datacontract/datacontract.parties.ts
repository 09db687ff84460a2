// The participants a contract's decision rests on, as the engine must see
// them: a name missing from the informer cache is confirmed with the API
// server, and a suspension is acted on only once a live read confirms it, so
// a stale cache never suspends or revokes a contract.
import type { Participant } from "@tds/crds";
import { type KubeObject, kinds } from "@tds/kube";
import type { Context } from "../../runtime/reconcile.ts";
import type { Deps } from "../deps.ts";

export class PartyLookup {
  constructor(private readonly deps: Deps) {}

  /** Live Participants for names the cache does not hold, so the engine judges by what exists. */
  private readonly confirmed = new Map<string, Participant & KubeObject>();
  async confirm(ctx: Context, names: readonly (string | undefined)[]): Promise<void> {
    for (const name of names) {
      if (!name) continue;
      if (this.deps.cache.get(kinds.participant, name)) {
        this.confirmed.delete(name);
        continue;
      }
      const live = await ctx.client.find<Participant & KubeObject>(kinds.participant, name);
      if (live) this.confirmed.set(name, live);
      else this.confirmed.delete(name);
    }
  }

  participant(name: string): (Participant & KubeObject) | undefined {
    return (
      (this.deps.cache.get(kinds.participant, name) as (Participant & KubeObject) | undefined) ??
      this.confirmed.get(name)
    );
  }

  /** The first of the participants that is suspended, confirmed with a live read (never on a stale cache). */
  async suspended(ctx: Context, names: readonly (string | undefined)[]): Promise<string | undefined> {
    for (const name of names) {
      if (!name) continue;
      const cached = this.deps.cache.get(kinds.participant, name) as (Participant & KubeObject) | undefined;
      if (!cached?.spec.suspended) continue;
      const live = await ctx.client.find<Participant & KubeObject>(kinds.participant, name);
      if (live?.spec.suspended) return name;
    }
    return undefined;
  }
}
