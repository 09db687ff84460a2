// Cuts open streams whose contract stops allowing access. Every interval it
// re-reads the state of each contract with an open stream (once per contract,
// not per stream) and checks validity windows and the space's current rules
// (grants.ts, policyRefusal) against the clock; a stream whose contract was
// revoked, suspended, expired or deleted, or that the rules no longer allow, is destroyed, so no stream
// outlives its contract by more than one interval. When the grant source
// pushes contract changes (the watch-backed cache does), the affected
// contract is checked at once, and so is every contract when a space's rules change.
// With the consent index, each check carries the offer's consents as they are
// now, and a change of an offer's consents re-checks its contracts at once.
import type { ConsentIndex } from "@tds/dashboard-api/consent-index";
import type { ContractGrant, Refusal } from "./grants.ts";
import { contractRefusal } from "./grants.ts";
import type { GrantSource } from "./kube.ts";

interface OpenStream {
  grant: ContractGrant;
  cut: (why: Refusal) => void;
}

export interface MonitorLogger {
  warn: (obj: object, msg: string) => void;
}

export class StreamMonitor {
  private readonly open = new Map<string, Set<OpenStream>>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private unsubscribeConsents: (() => void) | undefined;
  private running = false;

  constructor(
    private readonly source: GrantSource,
    readonly intervalMs: number,
    private readonly now: () => Date,
    private readonly log: MonitorLogger,
    private readonly consents?: ConsentIndex,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      void this.tick();
    }, this.intervalMs);
    this.timer.unref();
    this.unsubscribe ??= this.source.subscribe?.((namespace, name) => {
      const key = `${namespace}/${name}`;
      const streams = this.open.get(key);
      if (streams) void this.check(key, streams);
    });
    this.unsubscribeConsents ??= this.consents?.subscribe((space, namespace, name) => {
      for (const [key, streams] of this.open) {
        const g = [...streams][0]?.grant;
        if (g?.space === space && g.offer.namespace === namespace && g.offer.name === name)
          void this.check(key, streams);
      }
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.unsubscribeConsents?.();
    this.unsubscribeConsents = undefined;
  }

  get openStreams(): number {
    let n = 0;
    for (const s of this.open.values()) n += s.size;
    return n;
  }

  /** Tracks a stream until the returned function is called. */
  register(grant: ContractGrant, cut: (why: Refusal) => void): () => void {
    const key = `${grant.contract.namespace}/${grant.contract.name}`;
    const entry: OpenStream = { grant, cut };
    let set = this.open.get(key);
    if (!set) {
      set = new Set();
      this.open.set(key, set);
    }
    set.add(entry);
    return () => {
      const s = this.open.get(key);
      s?.delete(entry);
      if (s?.size === 0) this.open.delete(key);
    };
  }

  /** One pass over the open streams; exposed for tests. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await Promise.all([...this.open.entries()].map(([key, streams]) => this.check(key, streams)));
    } finally {
      this.running = false;
    }
  }

  /** Re-checks one contract and cuts its streams when it no longer allows access. */
  private async check(key: string, streams: Set<OpenStream>): Promise<void> {
    const first = [...streams][0];
    if (!first) return;
    const c = first.grant.contract;
    let why: Refusal | undefined;
    try {
      const live = await this.source.contractState(c.namespace, c.name);
      if (!live || live.uid !== c.uid) {
        why = { status: 403, code: "TDS_ERR_CONTRACT_GONE", message: `Contract ${c.name} was deleted` };
      } else {
        const { notAfter, state, policy } = live;
        const grant: ContractGrant = {
          ...first.grant,
          ...(policy ? { policy } : {}),
          contract: { ...c, state, ...(notAfter ? { notAfter } : {}) },
        };
        why = contractRefusal(this.consents ? await this.consents.attach(grant) : grant, this.now());
      }
    } catch (err) {
      // The API server is unreachable: keep the known window, and try again next tick.
      this.log.warn({ err, contract: key }, "cannot re-check contract state");
      why = contractRefusal(first.grant, this.now());
    }
    if (why) for (const s of [...streams]) s.cut(why);
  }
}
