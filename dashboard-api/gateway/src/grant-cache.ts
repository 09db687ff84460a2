// The gateway's watch-backed view of grants: supervised informers (the same
// implementation the operator runs, @tds/kube) over DataContracts (whose
// status carries the digest of the contract token: no Secret is read),
// DataOffers, Participants and, for the sandbox routes, SandboxJobs (whose
// status.credential carries the job token's digest), with indexes from agreement
// id to contract and from grant id and uid to job. A download or a sandbox
// read then needs no API-server round trip.
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
// - Until the first lists are in, every call is live: correct, only slower,
//   so readiness does not wait for the cache.
import {
  sandboxCredentialId,
  splitParticipantNamespace,
  type DataContract,
  type DataOffer,
  type DataSpace,
  type Participant,
  type SandboxJob,
} from "@tds/crds";
import { Informer, objectKey, type KubeClient, type KubeObject, type Logger, kinds } from "@tds/kube";
import type { ContractGrant } from "./grants.ts";
import { contractStateOf, grantFrom, type ContractState, type GrantSource } from "./kube.ts";
import type { SandboxCredential, SandboxJobView, SandboxSource } from "./sandbox.ts";
import { credentialOf, view } from "./sandbox-kube.ts";

const resources = {
  contracts: kinds.dataContract,
  offers: kinds.dataOffer,
  participants: kinds.participant,
  spaces: kinds.dataSpace,
  sandboxJobs: kinds.sandboxJob,
};

type Contract = DataContract & KubeObject;
type Offer = DataOffer & KubeObject;
type ParticipantObj = Participant & KubeObject;
type Space = DataSpace & KubeObject;
type Job = SandboxJob & KubeObject;

export interface GrantCacheOptions {
  readonly client: KubeClient;
  /** Where misses and non-Active contracts are read live. */
  readonly live: GrantSource;
  /** Where SandboxJob misses are read live; with it, the cache watches SandboxJobs too. */
  readonly liveSandbox?: SandboxSource;
  readonly log: Logger;
  /** Restart a watch silent for this long (default 120 s; tests use less). */
  readonly watchdogMs?: number;
  /** Called for every resolve with how it was answered (for /metrics). */
  readonly onLookup?: (answer: "cache" | "live") => void;
}

export class GrantCache implements GrantSource, SandboxSource {
  private readonly contracts: Informer<Contract>;
  private readonly offers: Informer<Offer>;
  private readonly participants: Informer<ParticipantObj>;
  /** The spaces' rules, so every access is re-decided against them without a round trip. */
  private readonly spaces: Informer<Space>;
  private readonly sandboxJobs: Informer<Job> | undefined;
  /** grant id → job key, and job uid → job key. */
  private readonly jobByCredential = new Map<string, string>();
  private readonly jobKeyByUid = new Map<string, string>();
  /** agreement id → keys of the contracts whose status carries it (one, unless something is wrong). */
  private readonly byAgreement = new Map<string, Set<string>>();
  /** contract key → the agreement id indexed for it. */
  private readonly agreementByContract = new Map<string, string>();
  private readonly listeners = new Set<(namespace: string, name: string) => void>();
  private started: Promise<void> | undefined;
  private readonly informers: readonly {
    start(): Promise<void>;
    stop(): Promise<void>;
    readonly hasSynced: boolean;
  }[];

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
    this.spaces = new Informer<Space>(opts.client, {
      ...common,
      resource: resources.spaces,
      onEvent: (type) => {
        // A rule change may make open streams unlawful: the monitor re-checks them now.
        if (type !== "resync") for (const c of this.contracts.list()) this.notify(c);
      },
    });
    this.sandboxJobs = opts.liveSandbox
      ? new Informer<Job>(opts.client, {
          ...common,
          resource: resources.sandboxJobs,
          onEvent: (type, j) => {
            this.indexJob(type, j);
          },
        })
      : undefined;
    this.informers = [
      this.contracts,
      this.offers,
      this.participants,
      this.spaces,
      ...(this.sandboxJobs ? [this.sandboxJobs] : []),
    ];
  }

  /** Lists and starts watching; resolves once every first list is in. */
  start(): Promise<void> {
    this.started ??= Promise.all(this.informers.map((i) => i.start())).then(() => undefined);
    return this.started;
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  get synced(): boolean {
    return this.informers.every((i) => i.hasSynced);
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
    if (!c) return Promise.resolve(undefined);
    const agreementId = c.status?.agreementId;
    const policy = agreementId === undefined ? undefined : this.fromCache(agreementId)?.policy;
    return Promise.resolve({ ...contractStateOf(c), ...(policy ? { policy } : {}) });
  }

  subscribe(listener: (namespace: string, name: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // SandboxSource: from the cache when it has the job, else live (a job created a moment ago).

  credential(credentialId: string): Promise<SandboxCredential | undefined> {
    const key = this.synced ? this.jobByCredential.get(credentialId) : undefined;
    const j = key === undefined ? undefined : this.sandboxJobs?.get(key);
    const g = j ? credentialOf(j, credentialId) : undefined;
    return g ? Promise.resolve(g) : this.liveSandboxSource().credential(credentialId);
  }

  job(namespace: string, name: string): Promise<SandboxJobView | undefined> {
    const j = this.synced ? this.sandboxJobs?.get(`${namespace}/${name}`) : undefined;
    return j ? Promise.resolve(view(j)) : this.liveSandboxSource().job(namespace, name);
  }

  jobByUid(uid: string): Promise<SandboxJobView | undefined> {
    const key = this.synced ? this.jobKeyByUid.get(uid) : undefined;
    const j = key === undefined ? undefined : this.sandboxJobs?.get(key);
    return j ? Promise.resolve(view(j)) : this.liveSandboxSource().jobByUid(uid);
  }

  agreementOf(namespace: string, name: string): Promise<string | undefined> {
    const c = this.synced ? this.contracts.get(`${namespace}/${name}`) : undefined;
    const id = c?.status?.agreementId;
    return id ? Promise.resolve(id) : this.liveSandboxSource().agreementOf(namespace, name);
  }

  private liveSandboxSource(): SandboxSource {
    if (!this.opts.liveSandbox) throw new Error("this grant cache was built without a SandboxJob source");
    return this.opts.liveSandbox;
  }

  private indexJob(type: string, j: Job): void {
    const uid = j.metadata.uid;
    if (uid === undefined) return;
    // A job's credential id is derived from its uid, so both indexes are kept by uid alone.
    const gid = sandboxCredentialId(uid);
    if (type === "delete") {
      this.jobByCredential.delete(gid);
      this.jobKeyByUid.delete(uid);
      return;
    }
    const key = objectKey(j);
    this.jobKeyByUid.set(uid, key);
    if (j.status?.credential?.id === gid) this.jobByCredential.set(gid, key);
    else this.jobByCredential.delete(gid);
  }

  /** The grant as the cache sees it, or undefined when a piece is missing. */
  fromCache(agreementId: string): ContractGrant | undefined {
    const keys = this.byAgreement.get(agreementId);
    if (keys?.size !== 1) return undefined;
    const [key] = keys;
    const c = key === undefined ? undefined : this.contracts.get(key);
    if (!c) return undefined;
    const offerRef = c.spec.offerRef;
    const provider = splitParticipantNamespace(offerRef.namespace)?.participant;
    const where = splitParticipantNamespace(c.metadata.namespace);
    return grantFrom(
      agreementId,
      c,
      this.offers.get(`${offerRef.namespace}/${offerRef.name}`),
      provider === undefined ? undefined : this.participants.get(provider),
      {
        space: where ? this.spaces.get(where.space) : undefined,
        consumer: where ? this.participants.get(where.participant) : undefined,
      },
    );
  }

  private index(type: string, c: Contract): void {
    const key = objectKey(c);
    const before = this.agreementByContract.get(key);
    const after = type === "delete" ? undefined : c.status?.agreementId;
    if (before === after) return;
    if (before !== undefined) {
      const set = this.byAgreement.get(before);
      set?.delete(key);
      if (set?.size === 0) this.byAgreement.delete(before);
      this.agreementByContract.delete(key);
    }
    if (after !== undefined) {
      let set = this.byAgreement.get(after);
      if (!set) {
        set = new Set();
        this.byAgreement.set(after, set);
      }
      set.add(key);
      this.agreementByContract.set(key, after);
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
