// Pure builders for the DataContract reconciler: the facts the policy engine
// reads (from DataSpace and Participant objects), the credentials Secret the
// gateway checks tokens against, history entries and their evidence entries.
import { createHash } from "node:crypto";
import {
  API_VERSION,
  type DataContract,
  type DataContractStatus,
  splitParticipantNamespace,
  AGREEMENT_LABEL,
  CONTRACT_LABEL,
} from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import { managedLabels } from "../isolation.builders.ts";
import { usageEventType, type EvidenceEntry, type UsageEvent } from "@tds/wire";
import { OPERATOR_ACTOR } from "../../api-client/api-client.ts";

export type History = NonNullable<DataContractStatus["history"]>;
export type HistoryEntry = History[number];

export const credentialsSecretName = (contract: string): string => `contract-${contract}`;

/**
 * The Secret the gateway checks a contract's token against: keys agreementId,
 * token (32 random bytes, base64url) and gatewayUrl. Owned by the contract, so
 * it goes with it.
 */
export function buildCredentialsSecret(
  contract: DataContract & KubeObject,
  space: string,
  agreementId: string,
  token: string,
  gatewayUrl: string,
): KubeObject {
  const name = contract.metadata.name ?? "";
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: credentialsSecretName(name),
      namespace: contract.metadata.namespace,
      labels: managedLabels(space, { [CONTRACT_LABEL]: name, [AGREEMENT_LABEL]: agreementId }),
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: "DataContract",
          name,
          uid: contract.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    type: "Opaque",
    data: { agreementId: b64(agreementId), token: b64(token), gatewayUrl: b64(gatewayUrl) },
  };
}

/** The history entry for an action; its eventId is derived from the uid, so a restart reuses it. */
export function historyEntry(
  uid: string,
  action: string,
  reason: string,
  time: string,
  state?: HistoryEntry["state"],
  message?: string,
): HistoryEntry {
  return {
    action,
    reason,
    time,
    eventId: `${uid}-${action}`,
    ...(state ? { state } : {}),
    ...(message === undefined ? {} : { message: message.slice(0, 1024) }),
  };
}

/**
 * The action of a transition that can happen more than once (a suspension, a
 * reinstatement): `base` the first time, then `base.2`, `base.3`, … so each
 * occurrence is its own history and evidence entry.
 */
export function repeatedAction(history: History, base: string): string {
  const n = history.filter((h) => h.action === base || h.action.startsWith(`${base}.`)).length;
  return n === 0 ? base : `${base}.${n + 1}`;
}

/** Appends an entry unless one with its action exists (a transition happens once). */
export function withEntry(history: History, entry: HistoryEntry): History {
  return history.some((h) => h.action === entry.action) ? history : [...history, entry];
}

/** The evidence entry for a history entry: deterministic, so a retried append is the same entry. */
export function contractEvidence(
  space: string,
  contract: DataContract & KubeObject,
  entry: HistoryEntry,
  status: DataContractStatus,
): EvidenceEntry {
  const payload = JSON.stringify({
    action: entry.action,
    state: entry.state ?? null,
    reason: entry.reason,
    ...(entry.message === undefined ? {} : { message: entry.message }),
    agreementId: status.agreementId ?? null,
    offer: `${contract.spec.offerRef.namespace}/${contract.spec.offerRef.name}`,
    purpose: contract.spec.purpose,
    validity: entry.state === "Agreed" || entry.state === "Active" ? (status.validity ?? null) : null,
  });
  return {
    space,
    eventId: entry.eventId,
    actor: OPERATOR_ACTOR,
    action: entry.action,
    time: entry.time,
    object: {
      kind: "DataContract",
      namespace: contract.metadata.namespace ?? "",
      name: contract.metadata.name ?? "",
      uid: contract.metadata.uid ?? "",
    },
    payloadHash: createHash("sha256").update(payload).digest("hex"),
  };
}

/** Source of the usage events the contract controller sends. */
export const CONTRACT_USAGE_SOURCE = "/tds/operator/datacontract";

/**
 * The agreement of a contract as usage: one `offer.contracts` event, which the
 * statements price with the offer's perContract. Its id is the contract's uid, so
 * every retry, restart and replica sends the same event and the API keeps it once.
 */
export function agreementUsageEvent(
  space: string,
  contract: DataContract & KubeObject,
  agreedAt: string,
): UsageEvent | undefined {
  const consumer = splitParticipantNamespace(contract.metadata.namespace)?.participant;
  const provider = splitParticipantNamespace(contract.spec.offerRef.namespace)?.participant;
  const name = contract.metadata.name;
  if (!consumer || !provider || !name || !contract.metadata.uid) return undefined;
  return {
    specversion: "1.0",
    id: `contract/${contract.metadata.uid}/agreed`,
    source: CONTRACT_USAGE_SOURCE,
    type: usageEventType,
    time: agreedAt,
    subject: `${contract.metadata.namespace ?? ""}/${name}`,
    data: {
      space,
      participant: consumer,
      provider,
      offer: contract.spec.offerRef.name,
      contract: name,
      meter: "offer.contracts",
      quantity: "1",
    },
  };
}
