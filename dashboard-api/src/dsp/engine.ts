// The connector's two roles for one API process: it receives DSP messages
// (checked against the state tables of machine.ts, stored before the answer
// goes out), and it acts on its own afterwards (offer, agree, start, ...),
// sending each follow-up message asynchronously after the answer, with a short
// delay and retries. What it does on its own is decided by a DspBehaviour: the
// TDS default (catalog offers, the contract decision, HttpData-PULL through
// the gateway), or a script given to buildApp (the TCK's fixtures use one).
import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { EvidenceStore } from "../evidence/store.ts";
import {
  negotiationTransition,
  transferTransition,
  type NegotiationMessage,
  type NegotiationState,
  type Role,
  type TransferMessage,
  type TransferState,
  type Transition,
} from "./machine.ts";
import { message, type Json } from "./messages.ts";
import type { DspStore, Negotiation, NegotiationPatch, Transfer, TransferPatch } from "./store.ts";
import { postTls, type PostTls } from "./transport.ts";

/** What the connector does next on its own, one step after another. */
export type NegotiationAction =
  | { readonly do: "offer" }
  | { readonly do: "agree"; readonly agreementId?: string }
  | { readonly do: "accept" }
  | { readonly do: "counter" }
  | { readonly do: "verify" }
  | { readonly do: "finalize" }
  | { readonly do: "terminate"; readonly reason: string };
export type TransferAction =
  | { readonly do: "start"; readonly dataAddress?: Json }
  | { readonly do: "suspend"; readonly reason: string }
  | { readonly do: "complete" }
  | { readonly do: "terminate"; readonly reason: string };

export type NegotiationEvent =
  | "requested" // provider: a consumer's first request was stored
  | "counter-offered" // provider: a consumer's counter-request
  | "accepted" // provider
  | "verified" // provider
  | "request-answered" // consumer: the provider answered our first request
  | "offered" // consumer
  | "agreed"; // consumer
export type TransferEvent = "requested" | "request-answered" | "started";

export interface DspBehaviour {
  negotiation(event: NegotiationEvent, n: Negotiation): Promise<NegotiationAction[]>;
  transfer(event: TransferEvent, t: Transfer): Promise<TransferAction[]>;
}

export class DspRefusal extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface EngineOptions {
  readonly store: DspStore;
  readonly behaviour: DspBehaviour;
  readonly evidence?: EvidenceStore;
  readonly log: FastifyBaseLogger;
  /** This space's participant id and DSP base URL (our callback address), by space. */
  readonly self: (space: string) => { participantId: string; base: string };
  /** The Authorization value for a counterparty, when it asks for one. */
  readonly authorizationFor: (space: string, counterparty: string) => string | undefined;
  /** The client certificate to present to a counterparty and the CAs of its server, when it asks for them. */
  readonly tlsFor?: (space: string, counterparty: string) => PostTls | undefined;
  /** Told of every transfer state change (the gateway's transfer tokens cut streams on it). */
  readonly onTransfer?: (t: Transfer) => void;
  /** Delay before each step the connector takes on its own; the TCK registers its handlers after our answer. */
  readonly stepDelayMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process ids a message carries, from our side's process: ours under our role, the peer's under the other. */
const pidsOf = (p: { role: Role; pid: string; peerPid: string | null }) =>
  p.role === "provider"
    ? { providerPid: p.pid, consumerPid: p.peerPid }
    : { providerPid: p.peerPid, consumerPid: p.pid };

/** The kind of a process's evidence entries' object. */
const evidenceKind = { negotiation: "DspNegotiation", transfer: "DspTransferProcess" } as const;

/** The counterparty's role in a process: who sent what we receive. */
const senderOf = (p: { role: Role }): Role => (p.role === "provider" ? "consumer" : "provider");

const negotiationWire: Record<NegotiationMessage, { type: string; path: string; event?: string }> = {
  request: { type: "ContractRequestMessage", path: "request" },
  offer: { type: "ContractOfferMessage", path: "offers" },
  accept: { type: "ContractNegotiationEventMessage", path: "events", event: "ACCEPTED" },
  agree: { type: "ContractAgreementMessage", path: "agreement" },
  verify: { type: "ContractAgreementVerificationMessage", path: "agreement/verification" },
  finalize: { type: "ContractNegotiationEventMessage", path: "events", event: "FINALIZED" },
  terminate: { type: "ContractNegotiationTerminationMessage", path: "termination" },
};
const transferWire: Record<TransferMessage, { type: string; path: string }> = {
  start: { type: "TransferStartMessage", path: "start" },
  suspend: { type: "TransferSuspensionMessage", path: "suspension" },
  complete: { type: "TransferCompletionMessage", path: "completion" },
  terminate: { type: "TransferTerminationMessage", path: "termination" },
};

export class DspEngine {
  private readonly pending = new Set<Promise<void>>();
  private closed = false;
  constructor(private readonly o: EngineOptions) {}

  /** Waits for the steps in flight (app close), at most 2 s: a pending contract decision is left to a retry. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.race([Promise.allSettled([...this.pending]), sleep(2000)]);
  }

  private background(what: string, f: () => Promise<void>): void {
    const p = f()
      .catch((err: unknown) => {
        this.o.log.warn({ err }, `dsp: ${what} failed`);
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async record(space: string, kind: string, pid: string, actor: string, from: string, to: string) {
    if (!this.o.evidence) return;
    try {
      await this.o.evidence.append(space, [
        {
          space,
          eventId: `dsp/${pid}/${from}-${to}/${Date.now().toString()}-${randomUUID().slice(0, 8)}`,
          actor,
          action: `dsp.${kind === "DspNegotiation" ? "negotiation" : "transfer"}.${to.toLowerCase()}`,
          time: new Date().toISOString(),
          object: { kind, name: pid, uid: pid },
        },
      ]);
    } catch (err) {
      this.o.log.error({ err, pid }, "dsp: evidence append failed");
    }
  }

  /** POSTs a DSP message to a counterparty, retrying a refused connection, a 404 or a 5xx with backoff. */
  async post(space: string, counterparty: string, url: string, body: Json): Promise<Json | undefined> {
    const auth = this.o.authorizationFor(space, counterparty);
    const tls = url.startsWith("https:") ? this.o.tlsFor?.(space, counterparty) : undefined;
    const headers = { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) };
    let last = "";
    for (let attempt = 0; attempt < 6 && !(attempt > 0 && this.closed); attempt++) {
      if (attempt > 0) await sleep(150 * 2 ** attempt);
      try {
        const res = tls
          ? await postTls(url, headers, JSON.stringify(body), tls)
          : await fetch(url, {
              method: "POST",
              headers,
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(10_000),
            });
        const text = await res.text();
        if (res.ok) return text ? (JSON.parse(text) as Json) : undefined;
        last = `${res.status.toString()} ${text.slice(0, 200)}`;
        if (res.status !== 404 && res.status < 500) break;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
    }
    throw new Error(`POST ${url}: ${last}`);
  }

  // ---- negotiations ----

  /** Applies a received message to a stored negotiation: checked, stored, recorded, then the behaviour runs. */
  async receiveNegotiation(
    n: Negotiation,
    msg: NegotiationMessage,
    patch: NegotiationPatch = {},
    event?: NegotiationEvent,
  ): Promise<Negotiation> {
    const moved = await this.received(
      "negotiation",
      n,
      negotiationTransition(n.state, msg, senderOf(n)),
      (to) => this.o.store.moveNegotiation(n.pid, n.state, to, patch),
    );
    if (event) this.afterNegotiation(event, moved);
    return moved;
  }

  /**
   * A received message's move of a stored process: refused (409) when the state table does not allow
   * it or the process changed meanwhile, else stored (`move`) and recorded as the counterparty's.
   */
  private async received<S extends string, P extends { space: string; pid: string; counterparty: string }>(
    kind: "negotiation" | "transfer",
    p: P & { state: S },
    transition: Transition<S>,
    move: (to: S) => Promise<P | undefined>,
  ): Promise<P> {
    if (!transition.ok) throw new DspRefusal(409, "TDS_ERR_DSP_ILLEGAL_TRANSITION", transition.reason);
    const moved = await move(transition.to);
    if (!moved)
      throw new DspRefusal(409, "TDS_ERR_DSP_CONCURRENT", `${kind} ${p.pid} changed meanwhile; retry`);
    await this.record(p.space, evidenceKind[kind], p.pid, p.counterparty, p.state, transition.to);
    return moved;
  }

  afterNegotiation(event: NegotiationEvent, n: Negotiation): void {
    this.steps(
      `negotiation ${n.pid} after ${event}`,
      () => this.o.behaviour.negotiation(event, n),
      (a) => this.actNegotiation(n.space, n.pid, a),
    );
  }

  /** In the background: what the behaviour decides, one step after another (each after the step delay) until one stops. */
  private steps<A>(what: string, decide: () => Promise<A[]>, act: (a: A) => Promise<boolean>): void {
    if (this.closed) return;
    this.background(what, async () => {
      const actions = await decide();
      for (const a of actions) {
        await sleep(this.o.stepDelayMs ?? 250);
        if (!(await act(a))) return;
      }
    });
  }

  /** Takes one step on our own: move the state first (so a fast reply finds it), then send. False to stop. */
  private async actNegotiation(space: string, pid: string, a: NegotiationAction): Promise<boolean> {
    const n = await this.o.store.negotiation(space, pid);
    if (!n) return false;
    const msg: NegotiationMessage = a.do === "counter" ? "request" : a.do;
    const t = negotiationTransition(n.state, msg, n.role);
    if (!t.ok) {
      this.o.log.info({ pid, state: n.state, action: a.do }, "dsp: step no longer applies");
      return false;
    }
    const self = this.o.self(space);
    const patch: NegotiationPatch = {};
    let fields: Json = {};
    const pids = pidsOf(n);
    if (a.do === "offer" || a.do === "counter") {
      fields = { offer: { ...n.offer, target: n.datasetId } };
      if (a.do === "counter") patch.counterOffers = n.counterOffers + 1;
    } else if (a.do === "agree") {
      const agreementId = a.agreementId ?? `urn:uuid:${randomUUID()}`;
      const agreement = {
        "@id": agreementId,
        "@type": "Agreement",
        target: n.datasetId,
        assigner: self.participantId,
        assignee: n.counterparty,
        timestamp: new Date().toISOString(),
        permission: n.offer.permission ?? [{ action: "use" }],
      };
      patch.agreementId = agreementId;
      patch.agreement = agreement;
      fields = { agreement };
    } else if (a.do === "accept" || a.do === "finalize") {
      fields = { eventType: negotiationWire[msg].event };
    } else if (a.do === "terminate") {
      fields = { code: "TDS_ERR_DSP_TERMINATED", reason: [a.reason] };
    }
    const moved = await this.o.store.moveNegotiation(n.pid, n.state, t.to, patch);
    if (!moved) return false;
    await this.record(space, "DspNegotiation", n.pid, self.participantId, n.state, t.to);
    const peerPid = n.peerPid ?? "";
    const url = `${n.peerAddress}/negotiations/${encodeURIComponent(peerPid)}/${negotiationWire[msg].path}`;
    await this.post(space, n.counterparty, url, message(negotiationWire[msg].type, { ...pids, ...fields }));
    return true;
  }

  /** Consumer: starts a negotiation with a provider for one of its offers. Answers at once; the request goes out after. */
  async startNegotiation(input: {
    space: string;
    counterparty: string;
    providerAddress: string;
    datasetId: string;
    offer: Json & { "@id": string };
  }): Promise<Negotiation> {
    const n: Negotiation = {
      pid: `urn:uuid:${randomUUID()}`,
      space: input.space,
      role: "consumer",
      state: "REQUESTED",
      peerPid: null,
      counterparty: input.counterparty,
      peerAddress: input.providerAddress,
      datasetId: input.datasetId,
      offerId: input.offer["@id"],
      offer: input.offer,
      agreementId: null,
      agreement: null,
      contractRef: null,
      counterOffers: 0,
    };
    await this.o.store.insertNegotiation(n);
    await this.request("negotiation", n, "ContractRequestMessage", (callbackAddress) => ({
      consumerPid: n.pid,
      offer: { ...input.offer, target: n.datasetId },
      callbackAddress,
    }));
    return n;
  }

  /**
   * Consumer: records a process it has just stored as requested, then, in the background after the
   * step delay, sends its request to the provider, keeps the provider's process id from the answer
   * and runs the behaviour for the answered request.
   */
  private async request(
    kind: "negotiation" | "transfer",
    p: { space: string; pid: string; counterparty: string; peerAddress: string },
    type: string,
    body: (callbackAddress: string) => Json,
  ): Promise<void> {
    await this.record(
      p.space,
      evidenceKind[kind],
      p.pid,
      this.o.self(p.space).participantId,
      "NEW",
      "REQUESTED",
    );
    this.background(`${kind} request ${p.pid}`, async () => {
      await sleep(this.o.stepDelayMs ?? 250);
      const reply = await this.post(
        p.space,
        p.counterparty,
        `${p.peerAddress}/${kind}s/request`,
        message(type, body(this.o.self(p.space).base)),
      );
      const providerPid = typeof reply?.providerPid === "string" ? reply.providerPid : undefined;
      if (!providerPid) throw new Error("the provider's answer has no providerPid");
      await this.o.store.setPeer(kind, p.pid, providerPid);
      if (kind === "negotiation") {
        const now = await this.o.store.negotiation(p.space, p.pid);
        if (now) this.afterNegotiation("request-answered", now);
      } else {
        const now = await this.o.store.transfer(p.space, p.pid);
        if (now) this.afterTransfer("request-answered", now);
      }
    });
  }

  // ---- transfers ----

  async receiveTransfer(t: Transfer, msg: TransferMessage, patch: TransferPatch = {}, event?: TransferEvent) {
    const moved = await this.received(
      "transfer",
      t,
      transferTransition(t.state, msg, senderOf(t)),
      async (to) => {
        const m = await this.o.store.moveTransfer(t.pid, t.state, to, patch);
        if (m) this.o.onTransfer?.(m);
        return m;
      },
    );
    if (event) this.afterTransfer(event, moved);
    return moved;
  }

  afterTransfer(event: TransferEvent, t: Transfer): void {
    this.steps(
      `transfer ${t.pid} after ${event}`,
      () => this.o.behaviour.transfer(event, t),
      (a) => this.actTransfer(t.space, t.pid, a),
    );
  }

  private async actTransfer(space: string, pid: string, a: TransferAction): Promise<boolean> {
    const t = await this.o.store.transfer(space, pid);
    if (!t) return false;
    const tr = transferTransition(t.state, a.do, t.role);
    if (!tr.ok) {
      this.o.log.info({ pid, state: t.state, action: a.do }, "dsp: step no longer applies");
      return false;
    }
    const self = this.o.self(space);
    const pids = pidsOf(t);
    let fields: Json = {};
    const patch: TransferPatch = {};
    if (a.do === "start" && a.dataAddress) {
      fields = { dataAddress: a.dataAddress };
      patch.dataAddress = a.dataAddress;
    }
    if (a.do === "suspend" || a.do === "terminate")
      fields = { code: "TDS_ERR_DSP_" + a.do.toUpperCase(), reason: [a.reason] };
    const moved = await this.o.store.moveTransfer(t.pid, t.state, tr.to, patch);
    if (!moved) return false;
    this.o.onTransfer?.(moved);
    await this.record(space, "DspTransferProcess", t.pid, self.participantId, t.state, tr.to);
    const url = `${t.peerAddress}/transfers/${encodeURIComponent(t.peerPid ?? "")}/${transferWire[a.do].path}`;
    await this.post(space, t.counterparty, url, message(transferWire[a.do].type, { ...pids, ...fields }));
    return true;
  }

  /** Consumer: asks a provider to transfer under an agreement we hold. */
  async startTransfer(input: {
    space: string;
    counterparty: string;
    providerAddress: string;
    agreementId: string;
    format: string;
  }): Promise<Transfer> {
    const t: Transfer = {
      pid: `urn:uuid:${randomUUID()}`,
      space: input.space,
      role: "consumer",
      state: "REQUESTED",
      peerPid: null,
      counterparty: input.counterparty,
      peerAddress: input.providerAddress,
      agreementId: input.agreementId,
      format: input.format,
      dataAddress: null,
    };
    await this.o.store.insertTransfer(t);
    await this.request("transfer", t, "TransferRequestMessage", (callbackAddress) => ({
      consumerPid: t.pid,
      agreementId: t.agreementId,
      format: t.format,
      callbackAddress,
    }));
    return t;
  }

  /** Records a new process received from a counterparty and runs the behaviour for it. */
  async openNegotiation(n: Negotiation): Promise<void> {
    await this.o.store.insertNegotiation(n);
    await this.record(n.space, "DspNegotiation", n.pid, n.counterparty, "NEW", n.state);
    this.afterNegotiation("requested", n);
  }

  async openTransfer(t: Transfer): Promise<void> {
    await this.o.store.insertTransfer(t);
    await this.record(t.space, "DspTransferProcess", t.pid, t.counterparty, "NEW", t.state);
    this.afterTransfer("requested", t);
  }
}

export type { NegotiationState, TransferState };
