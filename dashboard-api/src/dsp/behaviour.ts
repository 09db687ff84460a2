// What this connector does on its own between the counterparty's messages, by
// default. As provider it agrees only what a Decider agrees (the contract
// decision of the space) and terminates otherwise; it never sends an offer of
// its own nor accepts a counter-offer (a TDS offer's terms are those the
// catalog publishes). As consumer it accepts the provider's offer and
// verifies its agreement. As transfer provider it starts at once, with the
// data address the Decider hands out.
import type { DspBehaviour, NegotiationAction, TransferAction } from "./engine.ts";
import type { Json } from "./messages.ts";
import type { Negotiation, Transfer } from "./store.ts";

export type Decision = { agree: true; agreementId: string } | { agree: false; reason: string };

export interface Decider {
  /** Decides a provider-side negotiation as the space decides a contract. */
  decide(n: Negotiation): Promise<Decision>;
  /** The endpoint data reference for a started PULL transfer, if one can be handed out. */
  dataAddress(t: Transfer): Promise<Json | undefined>;
}

/** Without a contract backend every request is refused with that reason (fails closed). */
export const noDecider: Decider = {
  decide: () =>
    Promise.resolve({
      agree: false,
      reason:
        "This API has no contract backend (Kubernetes) configured, so it cannot agree contracts over DSP",
    }),
  dataAddress: () => Promise.resolve(undefined),
};

export function defaultBehaviour(decider: Decider): DspBehaviour {
  const decide = async (n: Negotiation): Promise<NegotiationAction[]> => {
    const d = await decider.decide(n);
    return d.agree ? [{ do: "agree", agreementId: d.agreementId }] : [{ do: "terminate", reason: d.reason }];
  };
  return {
    async negotiation(event, n) {
      switch (event) {
        case "requested":
        case "accepted":
          return decide(n);
        case "counter-offered":
          return [
            {
              do: "terminate",
              reason: "Counter-offers are not accepted: the catalog's offer is the only one",
            },
          ];
        case "verified":
          return [{ do: "finalize" }];
        case "offered":
          return [{ do: "accept" }];
        case "agreed":
          return [{ do: "verify" }];
        case "request-answered":
          return [];
      }
    },
    async transfer(event, t): Promise<TransferAction[]> {
      if (event !== "requested") return [];
      const dataAddress = await decider.dataAddress(t);
      return [dataAddress ? { do: "start", dataAddress } : { do: "start" }];
    },
  };
}
