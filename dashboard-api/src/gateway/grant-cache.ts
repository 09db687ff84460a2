// The gateway's watch-backed view of grants: supervised informers (the same
// implementation the operator runs, @tds/crds/kube) over DataContracts (whose
// status carries the digest of the contract token: no Secret is read),
// DataOffers and Participants, and an index from agreement id to contract. A
// download then needs no API-server round trip.
//
// Freshness rules:
// - A grant whose contract is Active in the cache is served from the cache. A
//   revocation or expiry reaches the cache with the watch event (milliseconds),
//   and every change to a contract is pushed to the stream monitor, which cuts
//   open streams at once rather than at its next tick.
// - A miss, or a cached contract that is not Active, is read live
//   (KubeGrantSource): the operator may have activated a contract moments ago
//   and the watch not delivered it yet. The live read can only make the answer
//   fresher; refusals are rare, so they cost little.
// - Until the first lists are in, every call is live, and readiness says so.
import type { DataContract, DataOffer, Participant } from "@tds/crds";
import {
  Informer,
  objectKey,
  type KubeClient,
  type KubeObject,
  type Logger,
  type ResourceType,
} from "@tds/crds/kube";
import { splitNamespace, type ContractGrant } from "./grants.ts";
import { contractStateOf, grantFrom, type ContractState, type GrantSource } from "./kube.ts";

const tds = (plural: string, kind: string, namespaced: boolean): ResourceType => ({
  group: "tds.dev",
  version: "v1alpha1",
  plural,
  kind,
  namespaced,
});
const resources = {
  contracts: tds("datacontracts", "DataContract", true),
  offers: tds("dataoffers", "DataOffer", true),
  participants: tds("participants", "Participant", false),
} as const satisfies Record<string, ResourceType>;

type Contract = DataContract & KubeObject;
type Offer = DataOffer & KubeObject;
type ParticipantObj = Participant & KubeObject;

export interface GrantCacheOptions {
  readonly client: KubeClient;
  /** Where misses and non-Active contracts are read live. */
  readonly live: GrantSource;
  readonly log: Logger;
  /** Restart a watch silent for this long (default 120 s; tests use less). */
  readonly watchdogMs?: number;
  /** Called for every resolve with how it was answered (for /metrics). */
  readonly onLookup?: (answer: "cache" | "live") => void;
}

export class GrantCache implements GrantSource {
  private readonly contracts: Informer<Contract>;
  private readonly offers: Informer<Offer>;
  private readonly participants: Informer<ParticipantObj>;
  /** agreement id → keys of the contracts whose status carries it (one, unless something is wrong). */
  private readonly byAgreement = new Map<string, Set<string>>();
  /** contract key → the agreement id indexed for it. */
  private readonly agreementOf = new Map<string, string>();
  private readonly listeners = new Set<(namespace: string, name: string) => void>();
  private started: Promise<void> | undefined;

  constructor(private readonly opts: GrantCacheOptions) {
    const common = { log: opts.log, watchdogMs: opts.watchdogMs ?? 120_000 };
    this.contracts = new Informer<Contract>(opts.client, {
      ...common,
      resource: resources.contracts,
      onEvent: (type, c) => {
        this.index(type, c);
        if (type !== "resync") this.notify(c);
      },
    });
    this.offers = new Informer<Offer>(opts.client, {
      ...common,
      resource: resources.offers,
      onEvent: () => undefined,
    });
    this.participants = new Informer<ParticipantObj>(opts.client, {
      ...common,
      resource: resources.participants,
      onEvent: () => undefined,
    });
  }

  /** Lists and starts watching; resolves once every first list is in. */
  start(): Promise<void> {
    this.started ??= Promise.all([this.contracts, this.offers, this.participants].map((i) => i.start())).then(
      () => undefined,
    );
    return this.started;
  }

  async stop(): Promise<void> {
    await Promise.all([this.contracts, this.offers, this.participants].map((i) => i.stop()));
  }

  get synced(): boolean {
    return [this.contracts, this.offers, this.participants].every((i) => i.hasSynced);
  }

  async resolve(agreementId: string): Promise<ContractGrant | undefined> {
    const cached = this.synced ? this.fromCache(agreementId) : undefined;
    if (cached?.contract.state === "Active") {
      this.opts.onLookup?.("cache");
      return cached;
    }
    this.opts.onLookup?.("live");
    return this.opts.live.resolve(agreementId);
  }

  contractState(namespace: string, name: string): Promise<ContractState | undefined> {
    if (!this.synced) return this.opts.live.contractState(namespace, name);
    const c = this.contracts.get(`${namespace}/${name}`);
    return Promise.resolve(c ? contractStateOf(c) : undefined);
  }

  subscribe(listener: (namespace: string, name: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The grant as the cache sees it, or undefined when a piece is missing. */
  fromCache(agreementId: string): ContractGrant | undefined {
    const keys = this.byAgreement.get(agreementId);
    if (keys?.size !== 1) return undefined;
    const [key] = keys;
    const c = key === undefined ? undefined : this.contracts.get(key);
    if (!c) return undefined;
    const offerRef = c.spec.offerRef;
    const provider = splitNamespace(offerRef.namespace)?.participant;
    return grantFrom(
      agreementId,
      c,
      this.offers.get(`${offerRef.namespace}/${offerRef.name}`),
      provider === undefined ? undefined : this.participants.get(provider),
    );
  }

  private index(type: string, c: Contract): void {
    const key = objectKey(c);
    const before = this.agreementOf.get(key);
    const after = type === "delete" ? undefined : c.status?.agreementId;
    if (before === after) return;
    if (before !== undefined) {
      const set = this.byAgreement.get(before);
      set?.delete(key);
      if (set?.size === 0) this.byAgreement.delete(before);
      this.agreementOf.delete(key);
    }
    if (after !== undefined) {
      let set = this.byAgreement.get(after);
      if (!set) {
        set = new Set();
        this.byAgreement.set(after, set);
      }
      set.add(key);
      this.agreementOf.set(key, after);
    }
  }

  private notify(c: Contract): void {
    const ns = c.metadata.namespace ?? "";
    const name = c.metadata.name ?? "";
    for (const l of this.listeners) {
      try {
        l(ns, name);
      } catch (err) {
        this.opts.log.warn("a contract listener failed", { err: String(err) });
      }
    }
  }
}
