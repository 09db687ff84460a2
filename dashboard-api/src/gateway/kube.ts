// Where grants come from: the DataContract carrying the agreement label (its
// status has the digest of its credentials token, so no Secret is read), the
// DataOffer and the provider Participant's bucket.
// KubeGrantSource reads them from the Kubernetes API on each call, over one
// keep-alive connection pool; the gateway serves requests from the
// watch-backed GrantCache (grant-cache.ts) and uses this live read only where
// the cache may lag a write it has not seen yet. Read-only; the operator owns
// writes.
import { Agent, request, type RequestOptions } from "node:https";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import type { DataContract, DataOffer, Participant } from "@tds/crds";
import { splitNamespace, type AccessMode, type ContractGrant } from "./grants.ts";

export const AGREEMENT_LABEL = "tds.dev/agreement-id";

export interface GrantSource {
  /** The grant of an agreement, or undefined when no contract carries it. */
  resolve(agreementId: string): Promise<ContractGrant | undefined>;
  /** The contract's current state and end of validity, or undefined when it is gone. */
  contractState(namespace: string, name: string): Promise<ContractState | undefined>;
  /**
   * Calls `listener` whenever a contract may have changed, so the monitor can
   * cut streams at once instead of at its next tick. Optional: a source
   * without change notifications is polled by the monitor only.
   */
  subscribe?(listener: (namespace: string, name: string) => void): () => void;
}

interface Obj {
  metadata: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string> };
}

export class KubeReadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "KubeReadError";
  }
}

/** A minimal GET-only client on a KubeConfig, with keep-alive. */
export class KubeReader {
  private readonly server: URL;
  private prepared: Promise<{ agent: Agent; headers: Record<string, string>; auth?: string }> | undefined;

  constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.server = new URL(cluster.server);
  }

  static fromKubeconfig(path?: string): KubeReader {
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    return new KubeReader(kc);
  }

  private base(): Promise<{ agent: Agent; headers: Record<string, string>; auth?: string }> {
    this.prepared ??= (async () => {
      const opts: RequestOptions = { headers: {} };
      await this.kc.applyToHTTPSOptions(opts);
      // Our own agent: the same TLS material, plus keep-alive.
      const agent = new Agent({
        keepAlive: true,
        maxSockets: 64,
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.cert ? { cert: opts.cert } : {}),
        ...(opts.key ? { key: opts.key } : {}),
        ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
      });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) {
        if (typeof v === "string") headers[k] = v;
      }
      return { headers, agent, ...(opts.auth ? { auth: opts.auth } : {}) };
    })();
    return this.prepared;
  }

  async get<T>(path: string): Promise<T | undefined> {
    const base = await this.base();
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const opts: RequestOptions = {
        ...base,
        method: "GET",
        protocol: this.server.protocol,
        hostname: this.server.hostname,
        port: this.server.port,
        path,
        headers: { ...base.headers, Accept: "application/json" },
      };
      const req = (this.server.protocol === "https:" ? request : httpRequest)(opts, resolve);
      req.on("error", reject);
      req.end();
    });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const status = res.statusCode ?? 0;
    if (status === 404) return undefined;
    if (status < 200 || status >= 300) {
      throw new KubeReadError(status, `GET ${path}: HTTP ${status}: ${text.slice(0, 300)}`);
    }
    return JSON.parse(text) as T;
  }
}

const TDS = "/apis/tds.dev/v1alpha1";
const enc = encodeURIComponent;

export type ContractObj = DataContract & Obj;
export type OfferObj = DataOffer & Obj;

/**
 * The grant of an agreement from the three objects it is made of: the
 * contract (whose status carries the agreement id and the digest of its
 * token), the offer and the provider Participant. Undefined when a piece is
 * missing.
 */
export function grantFrom(
  agreementId: string,
  c: ContractObj,
  offer: OfferObj | undefined,
  participant: (Participant & Obj) | undefined,
): ContractGrant | undefined {
  const ns = c.metadata.namespace ?? "";
  const consumer = splitNamespace(ns);
  const offerRef = c.spec.offerRef;
  const provider = splitNamespace(offerRef.namespace);
  const digest = /^sha256:([0-9a-f]{64})$/.exec(c.status?.credentialsDigest ?? "")?.[1];
  const bucket = participant?.status?.bucket;
  if (c.status?.agreementId !== agreementId || !consumer || !provider || !digest || !offer || !bucket) {
    return undefined;
  }
  const policy = offer.spec.policy;
  const accessMode: AccessMode = offer.status?.effectivePolicy?.accessMode ?? policy.accessMode ?? "download";
  const limits = [policy.maxAccesses, c.spec.requestedAccesses].filter(
    (n): n is number => typeof n === "number",
  );
  const validity = c.status.validity;
  return {
    agreementId,
    space: consumer.space,
    consumer: consumer.participant,
    provider: provider.participant,
    contract: {
      namespace: ns,
      name: c.metadata.name ?? "",
      uid: c.metadata.uid ?? "",
      state: c.status.state ?? "",
      ...(validity?.notBefore ? { notBefore: validity.notBefore } : {}),
      ...(validity?.notAfter ? { notAfter: validity.notAfter } : {}),
    },
    offer: {
      namespace: offerRef.namespace,
      name: offerRef.name,
      uid: offer.metadata.uid ?? "",
      ...(offer.spec.asset.key ? { key: offer.spec.asset.key } : {}),
      ...(offer.spec.asset.prefix ? { prefix: offer.spec.asset.prefix } : {}),
      accessMode,
    },
    ...(limits.length > 0 ? { maxAccesses: Math.min(...limits) } : {}),
    bucket,
    tokenDigest: Buffer.from(digest, "hex"),
  };
}

/** What the stream monitor re-checks of a contract. */
export interface ContractState {
  readonly state: string;
  readonly uid: string;
  readonly notAfter?: string;
}

export function contractStateOf(c: ContractObj): ContractState {
  const notAfter = c.status?.validity?.notAfter;
  return { state: c.status?.state ?? "", uid: c.metadata.uid ?? "", ...(notAfter ? { notAfter } : {}) };
}

export class KubeGrantSource implements GrantSource {
  constructor(private readonly kube: KubeReader) {}

  async resolve(agreementId: string): Promise<ContractGrant | undefined> {
    const list = await this.kube.get<{ items: ContractObj[] }>(
      `${TDS}/datacontracts?labelSelector=${enc(`${AGREEMENT_LABEL}=${agreementId}`)}`,
    );
    // The label only finds candidates; the status is what the operator decided.
    const contracts = (list?.items ?? []).filter((c) => c.status?.agreementId === agreementId);
    if (contracts.length !== 1) return undefined;
    const c = contracts[0];
    const offerRef = c?.spec.offerRef;
    const provider = offerRef && splitNamespace(offerRef.namespace);
    if (!c || !offerRef || !provider) return undefined;
    const [offer, participant] = await Promise.all([
      this.kube.get<OfferObj>(
        `${TDS}/namespaces/${enc(offerRef.namespace)}/dataoffers/${enc(offerRef.name)}`,
      ),
      this.kube.get<Participant & Obj>(`${TDS}/participants/${enc(provider.participant)}`),
    ]);
    return grantFrom(agreementId, c, offer, participant);
  }

  async contractState(namespace: string, name: string): Promise<ContractState | undefined> {
    const c = await this.kube.get<ContractObj>(
      `${TDS}/namespaces/${enc(namespace)}/datacontracts/${enc(name)}`,
    );
    return c ? contractStateOf(c) : undefined;
  }
}
