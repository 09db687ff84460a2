// The space's rules for offers, as the operator applies them with the policy
// engine (@tds/crds/policy): whether a provider may publish an offer and
// whether its policy fits the space's classification, cross-border and
// pricing rules, and the access mode an offer grants. Pure: reads nothing.
// The offer controller validates with it, the sandbox job controller reads
// the access mode.
import type { DataOffer, DataOfferSpec } from "@tds/crds";
import {
  accessModeOf,
  negativeListHit,
  regionWithin,
  unknownPolicyTerms,
  type ParticipantFacts,
  type SpaceRules,
} from "@tds/crds/policy";

/** The access mode an offer grants: the one its validation fixed in status, else what its policy asks for. */
export function offerAccessMode(offer: DataOffer): string {
  return offer.status?.effectivePolicy?.accessMode ?? offer.spec.policy.accessMode ?? "download";
}

export interface OfferVerdict {
  readonly ok: boolean;
  readonly reason: string;
  readonly message: string;
  readonly effectivePolicy?: {
    accessMode: "download" | "computeOnly";
    crossBorderTransfer: "Allowed" | "RequiresApproval" | "Forbidden";
  };
}

const DOWNLOAD_ONLY_PRICES = ["perGBDownloaded"];
const COMPUTE_ONLY_PRICES = ["perSandboxCPUHour"];

/** Checks an offer against its provider and the space's rules; the first broken rule decides. */
export function validateOffer(
  rules: SpaceRules,
  spec: DataOfferSpec,
  provider: ParticipantFacts | undefined,
): OfferVerdict {
  const no = (reason: string, message: string): OfferVerdict => ({ ok: false, reason, message });
  if (!provider?.admitted)
    return no(
      "ProviderNotAdmitted",
      `Provider ${provider?.name ?? "?"} is not an admitted member of the space`,
    );
  if (provider.suspended) return no("ProviderSuspended", `Provider ${provider.name} is suspended`);
  if (!provider.roles.includes("provider"))
    return no("ProviderRoleMissing", `Participant ${provider.name} does not have the provider role`);

  const policy = spec.policy as unknown as Record<string, unknown>;
  const unknown = unknownPolicyTerms(policy);
  if (unknown.length > 0)
    return no("UnknownPolicyTerm", `Policy terms this space does not enforce: ${unknown.join(", ")}`);
  const level = rules.levels.find((l) => l.name === spec.classification);
  if (!level)
    return no(
      "UnknownClassification",
      `Classification ${spec.classification} is not a level of the space (${rules.levels.map((l) => l.name).join(", ")})`,
    );
  const mode = accessModeOf(policy);
  if (!level.defaultPolicy.allowedAccessModes.includes(mode))
    return no(
      "AccessModeNotAllowed",
      `Classification ${level.name} allows only ${level.defaultPolicy.allowedAccessModes.join(", ")}; the offer asks for ${mode}`,
    );
  const transfer = level.defaultPolicy.crossBorderTransfer ?? "Forbidden";
  if (transfer !== "Allowed" && transfer !== "RequiresApproval" && transfer !== "Forbidden")
    return no(
      "UnknownPolicyTerm",
      `Classification ${level.name} has an unknown crossBorderTransfer rule ${transfer}`,
    );

  // Cross-border: an offer may not name, as allowed, a region its data may not go to.
  const abroad = (spec.policy.allowedRegions ?? []).filter((r) => !regionWithin(r, rules.homeRegion));
  for (const r of abroad) {
    const hit = negativeListHit(rules, spec.dataCategory, r);
    if (hit)
      return no(
        "CategoryOnNegativeList",
        `Category ${spec.dataCategory} is on the export negative list for ${r}${hit.reason ? ` (${hit.reason})` : ""}; allowedRegions must not include it`,
      );
  }
  if (abroad.length > 0 && transfer === "Forbidden")
    return no(
      "CrossBorderForbidden",
      `Classification ${level.name} data must stay in ${rules.homeRegion}; allowedRegions includes ${abroad.join(", ")}`,
    );

  // Price must fit the access mode and the space currency.
  const price = (spec.price ?? {}) as Record<string, unknown>;
  const wrong = (mode === "computeOnly" ? DOWNLOAD_ONLY_PRICES : COMPUTE_ONLY_PRICES).filter(
    (k) => price[k] !== undefined,
  );
  if (wrong.length > 0)
    return no("PriceNotForAccessMode", `A ${mode} offer cannot be priced by ${wrong.join(", ")}`);
  if (spec.price?.currency && rules.currency && spec.price.currency !== rules.currency)
    return no(
      "CurrencyMismatch",
      `Prices are in ${spec.price.currency}; the space settles in ${rules.currency}`,
    );

  return {
    ok: true,
    reason: "Valid",
    message: "The offer fits the space's rules",
    effectivePolicy: {
      accessMode: mode === "computeOnly" ? "computeOnly" : "download",
      crossBorderTransfer: transfer,
    },
  };
}
