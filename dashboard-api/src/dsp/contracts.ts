// DSP negotiations backed by DataContracts: a provider-side request becomes a
// DataContract in the consumer participant's namespace, decided by the
// operator's policy engine exactly as one made with kubectl or the contracts
// API (classification, cross-border rules, allowed consumers, manual
// approval); the DSP agreement id is the contract's status.agreementId. A
// PULL transfer under it is started with an endpoint data reference: the
// gateway URL of the agreement and a token for that transfer alone
// (transfer-tokens.ts).
import { createHash } from "node:crypto";
import type { ContractStore } from "../contracts/contract-store.ts";
import type { Decider, Decision } from "./behaviour.ts";
import type { Json } from "./messages.ts";
import { parseDatasetId } from "./odrl.ts";
import type { DspStore, Negotiation } from "./store.ts";
import type { TransferTokens } from "./transfer-tokens.ts";
import { API_VERSION, participantNamespace } from "@tds/crds";

export interface ContractDeciderOptions {
  readonly contracts: ContractStore;
  readonly store: DspStore;
  /** The participant of the space that stands for a counterparty, if any. */
  readonly participantOf: (space: string, counterparty: string) => string | undefined;
  /** Origin of the gateway (…/v1/data/<agreementId>/<key>). */
  readonly gatewayUrl: string;
  readonly tokens: TransferTokens;
  /** How long a decision may take (manual approval), and how often to look. */
  readonly decisionTimeoutMs?: number;
  readonly pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The purpose the consumer asked for: the single value of the offer's purpose constraint. */
export function requestedPurpose(offer: Json): string | undefined {
  const permission = (offer.permission as Json[] | undefined)?.[0];
  const c = (permission?.constraint as Json[] | undefined)?.find((x) => x.leftOperand === "purpose");
  const v = c?.rightOperand;
  if (typeof v === "string") return v;
  return Array.isArray(v) && v.length === 1 && typeof v[0] === "string" ? v[0] : undefined;
}

export function contractDecider(o: ContractDeciderOptions): Decider {
  return {
    async decide(n: Negotiation): Promise<Decision> {
      const participant = o.participantOf(n.space, n.counterparty);
      if (!participant)
        return {
          agree: false,
          reason: `Counterparty ${n.counterparty} has no Participant in space ${n.space}, so it cannot contract`,
        };
      const ref = parseDatasetId(n.space, n.datasetId);
      if (!ref) return { agree: false, reason: `Dataset ${n.datasetId} is not an offer of space ${n.space}` };
      const purpose = requestedPurpose(n.offer);
      if (!purpose)
        return {
          agree: false,
          reason: "The offer must name exactly one purpose (constraint purpose eq <purpose>)",
        };
      const namespace = participantNamespace(n.space, participant);
      const name = `dsp-${createHash("sha256").update(n.pid).digest("hex").slice(0, 16)}`;
      const existing = await o.contracts.getContract(namespace, name);
      if (!existing)
        await o.contracts.createContract({
          apiVersion: API_VERSION,
          kind: "DataContract",
          metadata: { namespace, name, annotations: { "tds.dev/dsp-negotiation": n.pid } },
          spec: { offerRef: { namespace: ref.namespace, name: ref.name }, purpose },
        });
      await o.store.setContract(n.pid, `${namespace}/${name}`);
      const deadline = Date.now() + (o.decisionTimeoutMs ?? 600_000);
      while (Date.now() < deadline) {
        const c = await o.contracts.getContract(namespace, name);
        if (c?.agreementId && (c.state === "Agreed" || c.state === "Active"))
          return { agree: true, agreementId: c.agreementId };
        if (c?.state && c.state !== "Requested")
          return {
            agree: false,
            reason: `Contract ${namespace}/${name} is ${c.state}${c.rejection ? ` (${c.rejection})` : ""}`,
          };
        await sleep(o.pollMs ?? 500);
      }
      return { agree: false, reason: `Contract ${namespace}/${name} was not decided in time` };
    },
    async dataAddress(t) {
      const token = await o.tokens.issue(t.pid);
      return {
        "@type": "DataAddress",
        endpointType: "https://w3id.org/idsa/v4.1/HTTP",
        endpoint: `${o.gatewayUrl}/v1/data/${t.agreementId}/`,
        endpointProperties: [
          { "@type": "EndpointProperty", name: "authorization", value: `Bearer ${token}` },
          { "@type": "EndpointProperty", name: "authType", value: "bearer" },
        ],
      };
    },
  };
}
