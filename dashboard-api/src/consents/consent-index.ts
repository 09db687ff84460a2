// The gateway's view of the data subjects' consents: the consents of each
// offer it serves, held in memory while a LISTEN on tds_consents keeps them
// fresh (migration 0000000000032 announces every grant and revocation), so
// the check at every access adds no round trip. An offer's first access, or
// any access while the listening connection is down, reads them with one
// indexed query instead. A change drops what is held of that offer and tells
// the listeners (the stream monitor re-checks that offer's open streams at
// once), so a revocation cuts access within one monitor interval.
import { consentRequired, type ConsentFacts, type ContractPolicyFacts } from "@tds/crds/policy";
import { consentFactsOf } from "@tds/wire";
import type pg from "pg";
import { consentOf, queryConsents } from "./store.ts";

const CHANNEL = "tds_consents";
/** The most consents of one offer the engine is given: those in force come first. */
const PER_OFFER = 1000;

export type ConsentChange = (space: string, offerNamespace: string, offerName: string) => void;

export interface ConsentIndexOptions {
  /** The most offers held in memory (least recently used dropped first); default 10,000. */
  readonly maxOffers?: number;
  /** Wait before listening again after the connection failed; default 1 s. */
  readonly reconnectMs?: number;
}

/** What a grant must carry for its consents to be attached. */
interface Consentable {
  readonly space: string;
  readonly offer: { readonly namespace: string; readonly name: string };
  readonly policy?: ContractPolicyFacts;
}

export class ConsentIndex {
  private readonly offers = new Map<string, Promise<ConsentFacts[]>>();
  private readonly listeners = new Set<ConsentChange>();
  private client: pg.PoolClient | undefined;
  private listening = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private onError: ((err: unknown) => void) | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: ConsentIndexOptions = {},
  ) {}

  /** The consents of an offer: from memory while listening, else (and on its first access) one query. */
  of(space: string, namespace: string, name: string): Promise<ConsentFacts[]> {
    if (!this.listening) return this.load(space, namespace, name);
    const key = `${space}/${namespace}/${name}`;
    const held = this.offers.get(key);
    if (held) {
      this.offers.delete(key);
      this.offers.set(key, held);
      return held;
    }
    const loading = this.load(space, namespace, name);
    this.offers.set(key, loading);
    loading.catch(() => {
      if (this.offers.get(key) === loading) this.offers.delete(key);
    });
    while (this.offers.size > (this.opts.maxOffers ?? 10_000)) {
      const oldest = this.offers.keys().next().value;
      if (oldest === undefined) break;
      this.offers.delete(oldest);
    }
    return loading;
  }

  /**
   * The grant with its offer's consents in its policy facts, when the offer
   * needs consent (personal data, or a Personal space); the grant as it is otherwise.
   */
  async attach<G extends Consentable>(grant: G): Promise<G> {
    const p = grant.policy;
    if (!p || !consentRequired(p.space, p.offer)) return grant;
    const consents = await this.of(grant.space, grant.offer.namespace, grant.offer.name);
    return { ...grant, policy: { ...p, consents } };
  }

  /** Calls `listener` on every change of an offer's consents; returns the function that stops. */
  subscribe(listener: ConsentChange): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Listens for changes on a connection of its own, and again after it fails
   * (each failure reported to `onError`); until then every access reads the database.
   */
  async listen(onError?: (err: unknown) => void): Promise<void> {
    this.closed = false;
    if (onError) this.onError = onError;
    try {
      await this.connect();
    } catch (err) {
      this.onError?.(err);
      this.reconnect();
    }
  }

  private reconnect(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.listen();
    }, this.opts.reconnectMs ?? 1000);
    this.retry.unref();
  }

  private async connect(): Promise<void> {
    const client = await this.pool.connect();
    const failed = (err: unknown) => {
      if (this.client !== client) return;
      // What is held may have missed a change: nothing is served from memory until listening again.
      this.listening = false;
      this.offers.clear();
      this.client = undefined;
      client.release(err instanceof Error ? err : true);
      this.onError?.(err);
      this.reconnect();
    };
    client.on("notification", (msg) => {
      if (msg.channel === CHANNEL && msg.payload) this.changed(msg.payload);
    });
    client.on("error", failed);
    this.client = client;
    try {
      await client.query(`listen ${CHANNEL}`);
    } catch (err) {
      failed(err);
      return;
    }
    this.offers.clear();
    this.listening = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    this.offers.clear();
    if (!client) return;
    try {
      await client.query(`unlisten ${CHANNEL}`);
    } finally {
      client.release();
    }
  }

  private changed(payload: string): void {
    this.offers.delete(payload);
    const [space, namespace, name] = payload.split("/");
    if (space === undefined || namespace === undefined || name === undefined) return;
    for (const l of [...this.listeners]) l(space, namespace, name);
  }

  private async load(space: string, namespace: string, name: string): Promise<ConsentFacts[]> {
    const now = new Date();
    const { rows } = await queryConsents(
      this.pool,
      { space, offer: { namespace, name }, limit: PER_OFFER },
      now,
    );
    return consentFactsOf(rows.map((r) => consentOf(r, now, false)));
  }
}
