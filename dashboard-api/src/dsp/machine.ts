// The Dataspace Protocol 2025-1 state machines as tables: which message moves a
// negotiation or a transfer process from which state to which, for each side.
// Pure; the engine (engine.ts) refuses any message the table does not allow
// with a 4xx DSP error, and the table itself is unit-tested (machine.test.ts).

export const negotiationStates = [
  "REQUESTED",
  "OFFERED",
  "ACCEPTED",
  "AGREED",
  "VERIFIED",
  "FINALIZED",
  "TERMINATED",
] as const;
export type NegotiationState = (typeof negotiationStates)[number];

export const transferStates = ["REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED"] as const;
export type TransferState = (typeof transferStates)[number];

export type Role = "provider" | "consumer";

/** Negotiation messages, named by what they do (the wire type is in messages.ts). */
export type NegotiationMessage =
  | "request" // ContractRequestMessage: a (counter-)request by the consumer
  | "offer" // ContractOfferMessage by the provider
  | "accept" // ContractNegotiationEventMessage ACCEPTED by the consumer
  | "agree" // ContractAgreementMessage by the provider
  | "verify" // ContractAgreementVerificationMessage by the consumer
  | "finalize" // ContractNegotiationEventMessage FINALIZED by the provider
  | "terminate"; // ContractNegotiationTerminationMessage by either

const negotiationTable: Record<
  NegotiationMessage,
  { from: readonly NegotiationState[]; to: NegotiationState }
> = {
  request: { from: ["OFFERED"], to: "REQUESTED" },
  offer: { from: ["REQUESTED"], to: "OFFERED" },
  accept: { from: ["OFFERED"], to: "ACCEPTED" },
  agree: { from: ["REQUESTED", "ACCEPTED"], to: "AGREED" },
  verify: { from: ["AGREED"], to: "VERIFIED" },
  finalize: { from: ["VERIFIED"], to: "FINALIZED" },
  terminate: { from: ["REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED"], to: "TERMINATED" },
};

/** Who may send each negotiation message. */
const negotiationSender: Record<NegotiationMessage, Role | "either"> = {
  request: "consumer",
  offer: "provider",
  accept: "consumer",
  agree: "provider",
  verify: "consumer",
  finalize: "provider",
  terminate: "either",
};

export type Transition<S> = { ok: true; to: S } | { ok: false; reason: string };

/** The state after `message` sent by `sender` in state `from`, or why it is not allowed. */
export function negotiationTransition(
  from: NegotiationState,
  message: NegotiationMessage,
  sender: Role,
): Transition<NegotiationState> {
  const who = negotiationSender[message];
  if (who !== "either" && who !== sender)
    return { ok: false, reason: `a ${sender} does not send ${message} messages` };
  const rule = negotiationTable[message];
  if (!rule.from.includes(from)) return { ok: false, reason: `${message} is not allowed in state ${from}` };
  return { ok: true, to: rule.to };
}

export type TransferMessage = "start" | "suspend" | "complete" | "terminate";

/**
 * The provider starts a transfer (from REQUESTED) or either side resumes it
 * (from SUSPENDED); either side suspends, completes or terminates. COMPLETED
 * and TERMINATED are final.
 */
export function transferTransition(
  from: TransferState,
  message: TransferMessage,
  sender: Role,
): Transition<TransferState> {
  const deny = (): Transition<TransferState> => ({
    ok: false,
    reason: `${message} is not allowed in state ${from}`,
  });
  switch (message) {
    case "start":
      if (from === "SUSPENDED") return { ok: true, to: "STARTED" };
      if (from === "REQUESTED" && sender === "provider") return { ok: true, to: "STARTED" };
      if (from === "REQUESTED") return { ok: false, reason: "only the provider starts a requested transfer" };
      return deny();
    case "suspend":
      return from === "STARTED" ? { ok: true, to: "SUSPENDED" } : deny();
    case "complete":
      return from === "STARTED" ? { ok: true, to: "COMPLETED" } : deny();
    case "terminate":
      return from === "COMPLETED" || from === "TERMINATED" ? deny() : { ok: true, to: "TERMINATED" };
  }
}
