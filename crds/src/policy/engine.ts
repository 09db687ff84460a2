// The usage-policy engine: a pure, deterministic function from (space rules,
// offer, provider, consumer, contract request, clock) to a decision with the
// rule that decided it and the trail of every rule checked. It reads nothing
// and writes nothing; the DataContract reconciler gathers the facts and acts.
//
// Rules run in a fixed order and the first that fails decides, so the same
// facts always give the same answer and the same reason. Policy terms the
// engine does not know fail closed (UnknownPolicyTerm): a term nobody
// enforces must never be silently accepted.
import type { ContractState } from "../datacontract.types.ts";
import { rfc3339 } from "../time.ts";
import { CONSENT_RULES, consentRequired, consentRule, type ConsentFacts } from "./consent.ts";

/** The offer policy terms (and their nested terms) this engine enforces. Anything else is denied. */
export const KNOWN_POLICY_TERMS: Readonly<Record<string, readonly string[] | null>> = {
  purposes: null,
  allowedConsumers: ["participants", "participantSelector"],
  allowedRegions: null,
  validity: ["notBefore", "notAfter"],
  maxAccesses: null,
  accessMode: null,
  contractApproval: null,
};
const KNOWN_SELECTOR_TERMS = ["matchLabels"];
const ACCESS_MODES = ["download", "computeOnly"];
const APPROVALS = ["Automatic", "Manual"];
const TRANSFERS = ["Allowed", "RequiresApproval", "Forbidden"];

export interface LevelPolicy {
  readonly allowedAccessModes: readonly string[];
  readonly crossBorderTransfer?: string;
  readonly maxContractDurationSeconds?: number;
  readonly requireProviderApproval?: boolean;
}
export interface ClassificationLevel {
  readonly name: string;
  readonly rank?: number;
  readonly defaultPolicy: LevelPolicy;
}
export interface NegativeListEntry {
  readonly dataCategory: string;
  readonly destinationRegions?: readonly string[];
  readonly reason?: string;
}

/** The space's rules that bear on offers and contracts. */
export interface SpaceRules {
  readonly homeRegion: string;
  readonly levels: readonly ClassificationLevel[];
  readonly negativeList: readonly NegativeListEntry[];
  /** Record allowed cross-border contracts as exports in the evidence log. */
  readonly recordExports: boolean;
  readonly currency?: string;
  /** spec.spaceType; in a Personal space every offer needs its data subject's consent. */
  readonly spaceType?: string;
  /** An emergency freeze (spec.freeze): of the whole space, or of the participants named. */
  readonly freeze?: Freeze;
}

export interface Freeze {
  readonly reason: string;
  readonly incident?: string;
  /** The participants frozen; absent, the whole space. */
  readonly participants?: readonly string[];
}

/** The rules a freeze suspends contracts by; lifting the freeze lifts those suspensions. */
export const FREEZE_RULES: readonly string[] = ["SpaceFrozen", "ParticipantFrozen"];

/**
 * The rules a party's lapsed standing suspends contracts by: its identity no
 * longer verified (its issuer unreachable, say) or the party gone from the
 * space. They are not a change of the rules the provider agreed to, so the
 * suspension lifts when the party's standing returns, with no reinstatement.
 * A participant suspended by the space's administrators (ConsumerSuspended)
 * is a judgement on it: its contracts wait for their providers.
 */
export const STANDING_RULES: readonly string[] = ["ConsumerNotAdmitted", "ProviderUnavailable"];

/** A freeze's reason as refusals and conditions show it, with its incident. */
export function freezeReason(f: Freeze): string {
  return `${f.reason}${f.incident ? ` (incident ${f.incident})` : ""}`;
}

/**
 * Whether a freeze stops the parties named: the whole space, or one of them.
 * The first party frozen is the one named in the message.
 */
export function frozenBy(
  space: SpaceRules,
  parties: readonly (string | undefined)[],
): { readonly rule: string; readonly message: string } | undefined {
  const f = space.freeze;
  if (!f) return undefined;
  const why = freezeReason(f);
  if (!f.participants) return { rule: "SpaceFrozen", message: `The space is frozen: ${why}` };
  const party = parties.find((p) => p !== undefined && f.participants?.includes(p));
  return party === undefined
    ? undefined
    : { rule: "ParticipantFrozen", message: `Participant ${party} is frozen: ${why}` };
}

/** What the engine needs to know about a participant. */
export interface ParticipantFacts {
  readonly name: string;
  /** Onboarded: the operator provisioned it (phase Active or Suspended). */
  readonly admitted: boolean;
  readonly suspended: boolean;
  readonly roles: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** The declared region, organization.region. */
  readonly region: string;
  /** The country the participant's certificate issuer vouches for (subject C=), when known. */
  readonly verifiedRegion?: string;
}

/** The offer as the engine sees it: the policy is untyped on purpose, so unknown terms are visible. */
export interface OfferFacts {
  readonly name: string;
  readonly classification: string;
  readonly dataCategory: string;
  /** spec.personalData: using it needs its data subject's consent. */
  readonly personalData?: boolean;
  readonly policy: Readonly<Record<string, unknown>>;
}

export interface ContractRequest {
  readonly purpose: string;
  readonly requestedValidity?: { readonly notBefore?: string; readonly notAfter: string };
  readonly requestedAccesses?: number;
  /** When the contract was created; the start of the validity when neither side names one. */
  readonly createdAt: string;
  /** The provider's decision, annotation tds.dev/decision (approve | reject), verbatim. */
  readonly providerDecision?: string;
  /** The space operator's decision on a cross-border export, annotation tds.dev/export-decision. */
  readonly exportDecision?: string;
}

export interface PolicyInput {
  readonly now: Date;
  readonly space: SpaceRules;
  readonly offer: OfferFacts;
  readonly provider: ParticipantFacts | undefined;
  readonly consumer: ParticipantFacts | undefined;
  readonly contract: ContractRequest;
  /**
   * The data subjects' consents for the offer (any purpose or consumer; the
   * engine picks the ones that match). Read only when the offer needs
   * consent; undefined when they could not be read.
   */
  readonly consents?: readonly ConsentFacts[];
}

/** One rule the engine checked: its name, whether it held, and why. */
export interface Check {
  readonly rule: string;
  readonly passed: boolean;
  readonly detail: string;
}

export interface Window {
  readonly notBefore: string;
  readonly notAfter?: string;
}

export type Decision =
  | {
      readonly kind: "agree";
      readonly reason: string;
      readonly message: string;
      readonly validity: Window;
      /** The consumer is outside the home region and the transfer is allowed: record it as an export. */
      readonly crossBorderExport: boolean;
      readonly checks: readonly Check[];
    }
  | {
      readonly kind: "reject" | "pending";
      readonly reason: string;
      readonly message: string;
      readonly checks: readonly Check[];
    };

const time = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
};

/** True when `region` is `area` or a subdivision of it (CN-SH is within CN). */
export function regionWithin(region: string, area: string): boolean {
  return region === area || region.startsWith(`${area}-`);
}

/** The negative-list entry that forbids sending `category` to `region`, if any. */
export function negativeListHit(
  rules: SpaceRules,
  category: string,
  region: string,
): NegativeListEntry | undefined {
  if (regionWithin(region, rules.homeRegion)) return undefined;
  return rules.negativeList.find(
    (e) =>
      e.dataCategory === category &&
      (!e.destinationRegions?.length || e.destinationRegions.some((d) => regionWithin(region, d))),
  );
}

/**
 * The regions a transfer to this participant goes to: its verified region
 * (the country its certificate's issuer vouches for) and its declared
 * `organization.region`, when the declaration names another place. A
 * transfer must be lawful to each, so neither a declaration nor a
 * certificate alone can take data where the rules forbid it.
 */
export function destinationsOf(p: ParticipantFacts): string[] {
  const verified = p.verifiedRegion;
  if (verified === undefined || regionWithin(p.region, verified)) return [p.region];
  return [verified, p.region];
}

/** The cross-border rule for sending a category of a level to one destination outside the home region. */
export interface ExportRule {
  readonly kind: "allowed" | "reject" | "pending";
  /** The rule that allowed or refused it, as the evidence and the export report name it. */
  readonly rule: string;
  readonly message: string;
}

/** The negative list first, then the classification's crossBorderTransfer and the operator's export decision. */
export function exportRule(
  space: SpaceRules,
  level: ClassificationLevel,
  category: string,
  destination: string,
  exportDecision: string | undefined,
): ExportRule {
  const hit = negativeListHit(space, category, destination);
  if (hit)
    return {
      kind: "reject",
      rule: "ExportNegativeListed",
      message: `Category ${category} is on the export negative list for ${destination}${hit.reason ? `: ${hit.reason}` : ""}`,
    };
  const transfer = level.defaultPolicy.crossBorderTransfer ?? "Forbidden";
  if (transfer === "Forbidden")
    return {
      kind: "reject",
      rule: "CrossBorderForbidden",
      message: `Level ${level.name} data must stay in ${space.homeRegion}; the consumer is in ${destination}`,
    };
  if (transfer === "RequiresApproval") {
    if (exportDecision === "reject")
      return {
        kind: "reject",
        rule: "ExportApprovalRejected",
        message: "The space operator rejected the cross-border transfer",
      };
    if (exportDecision !== "approve")
      return {
        kind: "pending",
        rule: exportDecision === undefined ? "AwaitingExportApproval" : "UnrecognisedExportDecision",
        message:
          exportDecision === undefined
            ? `A transfer of level ${level.name} data to ${destination} needs the space operator's approval`
            : `Annotation tds.dev/export-decision is "${exportDecision}"; only approve or reject are understood`,
      };
    return {
      kind: "allowed",
      rule: "ExportApproved",
      message: `Transfer of ${category} to ${destination} was approved by the space operator (level ${level.name})`,
    };
  }
  return {
    kind: "allowed",
    rule: "CrossBorderAllowed",
    message: `Transfer of ${category} to ${destination} is allowed`,
  };
}

/** Every policy term (as a dotted path) or term value the engine does not understand. */
export function unknownPolicyTerms(policy: Readonly<Record<string, unknown>>): string[] {
  const unknown: string[] = [];
  for (const [term, value] of Object.entries(policy)) {
    if (!(term in KNOWN_POLICY_TERMS)) {
      unknown.push(term);
      continue;
    }
    const nested = KNOWN_POLICY_TERMS[term];
    if (nested && value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [sub, subValue] of Object.entries(value as Record<string, unknown>)) {
        if (!nested.includes(sub)) unknown.push(`${term}.${sub}`);
        else if (sub === "participantSelector" && subValue !== null && typeof subValue === "object") {
          for (const k of Object.keys(subValue)) {
            if (!KNOWN_SELECTOR_TERMS.includes(k)) unknown.push(`${term}.${sub}.${k}`);
          }
        }
      }
    }
  }
  const text = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));
  const mode = policy.accessMode;
  if (mode !== undefined && !ACCESS_MODES.includes(text(mode))) unknown.push(`accessMode=${text(mode)}`);
  const approval = policy.contractApproval;
  if (approval !== undefined && !APPROVALS.includes(text(approval)))
    unknown.push(`contractApproval=${text(approval)}`);
  return unknown;
}

export const accessModeOf = (policy: Readonly<Record<string, unknown>>): string =>
  typeof policy.accessMode === "string" ? policy.accessMode : "download";

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

function allowedConsumer(policy: Readonly<Record<string, unknown>>, consumer: ParticipantFacts): boolean {
  const ac = policy.allowedConsumers as
    { participants?: unknown; participantSelector?: { matchLabels?: Record<string, string> } } | undefined;
  if (!ac) return true;
  if (strings(ac.participants).includes(consumer.name)) return true;
  const match = ac.participantSelector?.matchLabels;
  if (match && Object.keys(match).length > 0) {
    return Object.entries(match).every(([k, v]) => consumer.labels[k] === v);
  }
  return false;
}

/**
 * Decides a contract request. The order is part of the contract with users:
 * who is asking, what the policy says, what the space's rules say, and only
 * then whether a human must approve, so no one is asked to approve what the
 * rules forbid.
 */
export function decide(input: PolicyInput): Decision {
  const { space, offer, consumer, provider, contract, now } = input;
  const checks: Check[] = [];
  const pass = (rule: string, detail: string) => {
    checks.push({ rule, passed: true, detail });
  };
  const fail = (kind: "reject" | "pending", reason: string, message: string): Decision => {
    checks.push({ rule: reason, passed: false, detail: message });
    return { kind, reason, message, checks };
  };
  const policy = offer.policy;

  // An emergency freeze stops everything it covers; a request made during one waits for its lifting.
  const frozen = frozenBy(space, [consumer?.name, provider?.name]);
  if (frozen) return fail("pending", frozen.rule, frozen.message);
  if (space.freeze) pass("NotFrozen", "Neither party is frozen");

  // Who is asking.
  if (!consumer?.admitted)
    return fail(
      "reject",
      "ConsumerNotAdmitted",
      `Participant ${consumer?.name ?? "?"} is not an admitted member of the space`,
    );
  if (consumer.suspended)
    return fail("reject", "ConsumerSuspended", `Participant ${consumer.name} is suspended`);
  if (!consumer.roles.includes("consumer"))
    return fail(
      "reject",
      "ConsumerRoleMissing",
      `Participant ${consumer.name} does not have the consumer role`,
    );
  pass("ConsumerAdmitted", `${consumer.name} is admitted, active and a consumer`);
  if (!provider?.admitted || provider.suspended)
    return fail(
      "reject",
      "ProviderUnavailable",
      `Provider ${provider?.name ?? "?"} is ${provider?.suspended ? "suspended" : "not an admitted member of the space"}`,
    );
  pass("ProviderAvailable", `${provider.name} is admitted and active`);

  // The policy itself: fail closed on anything not understood.
  const unknown = unknownPolicyTerms(policy);
  if (unknown.length > 0)
    return fail(
      "reject",
      "UnknownPolicyTerm",
      `Offer ${offer.name} has policy terms this space does not enforce: ${unknown.join(", ")}`,
    );
  const level = space.levels.find((l) => l.name === offer.classification);
  if (!level)
    return fail(
      "reject",
      "UnknownClassification",
      `Offer ${offer.name} is classified ${offer.classification}, which is not a level of the space`,
    );
  const transfer = level.defaultPolicy.crossBorderTransfer ?? "Forbidden";
  if (!TRANSFERS.includes(transfer))
    return fail(
      "reject",
      "UnknownPolicyTerm",
      `Level ${level.name} has an unknown crossBorderTransfer rule ${transfer}`,
    );
  pass("PolicyUnderstood", "Every policy term is known");

  // Purpose.
  const purposes = strings(policy.purposes);
  if (!purposes.includes(contract.purpose))
    return fail(
      "reject",
      "PurposeNotPermitted",
      `Purpose ${contract.purpose} is not one of the offer's purposes (${purposes.join(", ")})`,
    );
  pass("PurposePermitted", `Purpose ${contract.purpose} is permitted`);

  // Who may use it: name or attribute, then region.
  if (!allowedConsumer(policy, consumer))
    return fail(
      "reject",
      "ConsumerNotAllowed",
      `Participant ${consumer.name} is neither named in nor matched by the offer's allowedConsumers`,
    );
  pass("ConsumerAllowed", `${consumer.name} is allowed by the offer`);
  const regions = strings(policy.allowedRegions);
  if (regions.length > 0 && !regions.some((r) => regionWithin(consumer.region, r)))
    return fail(
      "reject",
      "RegionNotAllowed",
      `Consumer region ${consumer.region} is not among the offer's allowedRegions (${regions.join(", ")})`,
    );
  pass("RegionAllowed", `Region ${consumer.region} is allowed by the offer`);

  // Access mode against the classification (the offer reconciler checks it too; contracts never trust that).
  const mode = accessModeOf(policy);
  if (!level.defaultPolicy.allowedAccessModes.includes(mode))
    return fail(
      "reject",
      "AccessModeNotAllowed",
      `Level ${level.name} allows only ${level.defaultPolicy.allowedAccessModes.join(", ")}, the offer asks for ${mode}`,
    );
  pass("AccessModeAllowed", `Access mode ${mode} fits level ${level.name}`);

  // Validity: inside the offer's window, within the level's maximum, not already over.
  const offerWindow = (policy.validity ?? {}) as { notBefore?: string; notAfter?: string };
  const oNb = time(offerWindow.notBefore);
  const oNa = time(offerWindow.notAfter);
  const rNb = time(contract.requestedValidity?.notBefore);
  const rNa = time(contract.requestedValidity?.notAfter);
  if (
    (rNb !== undefined && oNb !== undefined && rNb < oNb) ||
    (rNa !== undefined && oNa !== undefined && rNa > oNa)
  )
    return fail(
      "reject",
      "ValidityOutsideOfferWindow",
      `The requested validity ${contract.requestedValidity?.notBefore ?? "(from creation)"} to ${contract.requestedValidity?.notAfter ?? "?"} is outside the offer's window ${offerWindow.notBefore ?? "(open)"} to ${offerWindow.notAfter ?? "(open)"}`,
    );
  const created = time(contract.createdAt) ?? now.getTime();
  const nb = rNb ?? Math.max(oNb ?? created, created);
  let na = rNa ?? oNa;
  const max = level.defaultPolicy.maxContractDurationSeconds;
  if (max !== undefined) {
    // An end the consumer asked for must fit the level's maximum; without one, the
    // contract runs to the offer's end or for the maximum, whichever comes first.
    if (rNa !== undefined && rNa - nb > max * 1000)
      return fail(
        "reject",
        "ValidityExceedsClassMaximum",
        `Level ${level.name} allows contracts of at most ${max} seconds, ${Math.ceil((rNa - nb) / 1000)} were requested`,
      );
    na = Math.min(na ?? Infinity, nb + max * 1000);
  }
  if (na !== undefined && na <= now.getTime())
    return fail("reject", "ValidityEnded", `The validity ended at ${rfc3339(na)}`);
  pass("ValidityWithinWindow", `Valid from ${rfc3339(nb)}${na === undefined ? "" : ` to ${rfc3339(na)}`}`);

  const maxAccesses = typeof policy.maxAccesses === "number" ? policy.maxAccesses : undefined;
  if (
    maxAccesses !== undefined &&
    contract.requestedAccesses !== undefined &&
    contract.requestedAccesses > maxAccesses
  )
    return fail(
      "reject",
      "AccessesExceedOfferMaximum",
      `${contract.requestedAccesses} accesses were requested, the offer allows ${maxAccesses}`,
    );
  pass("AccessesWithinMaximum", "The requested accesses fit the offer");

  // Personal data: only under a data subject's consent for this purpose and consumer, in force now.
  if (consentRequired(space, offer)) {
    const c = consentRule(input.consents, offer.name, contract.purpose, consumer, now);
    if (!c.passed) return fail(c.rule === "ConsentUnverified" ? "pending" : "reject", c.rule, c.message);
    pass(c.rule, c.message);
  }

  // Cross-border: the negative list first, then the classification's rule.
  let crossBorderExport = false;
  const abroad = destinationsOf(consumer).filter((r) => !regionWithin(r, space.homeRegion));
  for (const destination of abroad) {
    const e = exportRule(space, level, offer.dataCategory, destination, contract.exportDecision);
    if (e.kind !== "allowed") return fail(e.kind, e.rule, e.message);
    crossBorderExport = true;
    pass(e.rule, e.message);
  }
  if (abroad.length === 0) pass("WithinHomeRegion", `${consumer.region} is within ${space.homeRegion}`);

  // Approval last: only a request the rules allow reaches the provider.
  const manual = policy.contractApproval === "Manual" || level.defaultPolicy.requireProviderApproval === true;
  if (manual) {
    const d = contract.providerDecision;
    if (d === "reject") return fail("reject", "ProviderRejected", "The provider rejected the contract");
    if (d !== "approve")
      return fail(
        "pending",
        d === undefined ? "AwaitingProviderApproval" : "UnrecognisedDecision",
        d === undefined
          ? "The offer requires the provider's approval of each contract"
          : `Annotation tds.dev/decision is "${d}"; only approve or reject are understood`,
      );
    pass("ProviderApproved", "The provider approved the contract");
  }

  return {
    kind: "agree",
    reason: "PolicySatisfied",
    message: `Agreed for ${contract.purpose}${crossBorderExport ? `, as a cross-border export to ${consumer.region}` : ""}`,
    validity: { notBefore: rfc3339(nb), ...(na === undefined ? {} : { notAfter: rfc3339(na) }) },
    crossBorderExport,
    checks,
  };
}

/** What the contract is now and why, plus when to look again. */
export interface Outcome {
  readonly state: ContractState;
  readonly reason: string;
  readonly message: string;
  /** Set when the contract was decided just now. */
  readonly decision?: Decision;
  /** When the state changes next by the clock (notBefore or notAfter). */
  readonly nextChangeAt?: number;
}

export interface LifecycleInput extends PolicyInput {
  readonly current: ContractState | undefined;
  /** The agreed window (status.validity), once agreed. */
  readonly agreed?: { readonly notBefore?: string; readonly notAfter?: string };
  /** Annotation tds.dev/revoke: its value is the reason. */
  readonly revoke?: string;
  readonly accesses?: number;
  readonly accessLimit?: number;
}

const TERMINAL: readonly ContractState[] = ["Rejected", "Expired", "Revoked"];

/**
 * The contract lifecycle: Requested, then Rejected or Agreed/Active, then
 * Expired or Revoked. Terminal states never change; a decision once made is
 * not re-made (an agreement is not undone by later policy edits: the provider
 * revokes it explicitly).
 */
export function evaluateContract(input: LifecycleInput): Outcome {
  const { current, now } = input;
  if (current && TERMINAL.includes(current)) {
    return { state: current, reason: current, message: `The contract is ${current}` };
  }
  if (input.revoke !== undefined) {
    return {
      state: "Revoked",
      reason: "Revoked",
      message: `Revoked: ${input.revoke || "no reason given"}`,
    };
  }
  const windowState = (w: { notBefore?: string; notAfter?: string }): Outcome => {
    const nb = time(w.notBefore) ?? 0;
    const na = time(w.notAfter);
    if (na !== undefined && now.getTime() >= na)
      return { state: "Expired", reason: "ValidityEnded", message: `The validity ended at ${rfc3339(na)}` };
    if (input.accessLimit !== undefined && (input.accesses ?? 0) >= input.accessLimit)
      return {
        state: "Expired",
        reason: "AccessesExhausted",
        message: `All ${input.accessLimit} accesses were used`,
      };
    if (now.getTime() < nb)
      return {
        state: "Agreed",
        reason: "NotYetValid",
        message: `Agreed; access starts at ${rfc3339(nb)}`,
        nextChangeAt: nb,
      };
    return {
      state: "Active",
      reason: "Active",
      message: na === undefined ? "Access is granted" : `Access is granted until ${rfc3339(na)}`,
      ...(na === undefined ? {} : { nextChangeAt: na }),
    };
  };
  if (current === "Agreed" || current === "Active") return windowState(input.agreed ?? {});
  const decision = decide(input);
  if (decision.kind !== "agree")
    return {
      state: decision.kind === "reject" ? "Rejected" : "Requested",
      reason: decision.reason,
      message: decision.message,
      decision,
    };
  const w = windowState(decision.validity);
  return { ...w, decision, message: `${decision.message}. ${w.message}` };
}

/**
 * The agreement id: derived from the contract's uid, so every replica and
 * restart names it alike; at most 36 characters, so it is a valid label value.
 */
export function agreementIdOf(contractUid: string): string {
  return `agr-${contractUid
    .toLowerCase()
    .replace(/[^0-9a-z]/g, "")
    .slice(0, 32)}`;
}

/** Whether an agreed contract is still lawful under the rules as they are now. */
export type Verdict =
  | { readonly lawful: true; readonly checks: readonly Check[] }
  | {
      readonly lawful: false;
      readonly rule: string;
      readonly message: string;
      readonly checks: readonly Check[];
    };

/**
 * Re-decides an agreed contract against the current facts: the parts of the
 * policy that can change after agreement (the consumer's standing, purpose,
 * allowed consumers and regions, access mode against the classification, the
 * negative list and cross-border rule, the data subject's consent, the agreed
 * window and the access count; a window that has not begun is the gateway's and the lifecycle's
 * business, not a rule's). It is `decide` itself, with the provider's approval taken as given
 * (it was given at agreement) and the agreed window as the requested one, so
 * the check at every access and the contract decision cannot drift apart.
 */
export function reassess(input: LifecycleInput): Verdict {
  const { now, agreed } = input;
  const na = time(agreed?.notAfter);
  const unlawful = (rule: string, message: string, checks: readonly Check[] = []): Verdict => ({
    lawful: false,
    rule,
    message,
    checks: [...checks, { rule, passed: false, detail: message }],
  });
  if (na !== undefined && now.getTime() >= na)
    return unlawful("ValidityEnded", `The validity ended at ${rfc3339(na)}`);
  if (input.accessLimit !== undefined && (input.accesses ?? 0) >= input.accessLimit)
    return unlawful("AccessesExhausted", `All ${input.accessLimit} accesses were used`);
  const { requestedValidity: _requested, ...request } = input.contract;
  const d = decide({
    ...input,
    contract: {
      ...request,
      providerDecision: "approve",
      ...(agreed?.notAfter === undefined
        ? {}
        : {
            requestedValidity: {
              ...(agreed.notBefore === undefined ? {} : { notBefore: agreed.notBefore }),
              notAfter: agreed.notAfter,
            },
          }),
    },
  });
  if (d.kind === "agree") return { lawful: true, checks: d.checks };
  return { lawful: false, rule: d.reason, message: d.message, checks: d.checks };
}

export interface SupervisedInput extends LifecycleInput {
  /** Annotation tds.dev/reinstate on a Suspended contract: the provider asks for it back. */
  readonly reinstate?: string;
  /** The rule a Suspended contract was suspended by (status.suspension.rule). */
  readonly suspendedBy?: string;
}

/**
 * The lifecycle under rules that change: `evaluateContract`, then, for an
 * agreed contract, `reassess` against the current rules. An agreed contract
 * the rules no longer allow is Suspended, with the rule that failed as its
 * reason. A Suspended contract can still be revoked or expire; it returns to
 * Agreed/Active only when the rules allow it again and its provider asks
 * (annotation tds.dev/reinstate): a rule that flips back does not silently
 * reopen access the provider may no longer want to give.
 */
export function superviseContract(input: SupervisedInput): Outcome {
  const suspended = input.current === "Suspended";
  const out = evaluateContract(suspended ? { ...input, current: "Active" } : input);
  const granting = input.current === "Agreed" || input.current === "Active" || suspended;
  if (!granting || (out.state !== "Agreed" && out.state !== "Active")) return out;
  const v = reassess(input);
  if (!v.lawful) {
    return { state: "Suspended", reason: v.rule, message: `Suspended: ${v.message}` };
  }
  if (!suspended) return out;
  // A freeze is lifted explicitly, by the space's administrators: that is the decision to reopen.
  if (input.suspendedBy !== undefined && FREEZE_RULES.includes(input.suspendedBy))
    return { ...out, reason: "FreezeLifted", message: `The freeze is lifted. ${out.message}` };
  if (input.suspendedBy !== undefined && STANDING_RULES.includes(input.suspendedBy))
    return {
      ...out,
      reason: "StandingRestored",
      message: `Both parties are admitted and active again. ${out.message}`,
    };
  // A consent given again is the data subject's own, evidenced act: the provider agreed to this use.
  if (input.suspendedBy !== undefined && CONSENT_RULES.includes(input.suspendedBy))
    return {
      ...out,
      reason: "ConsentRestored",
      message: `The data subject's consent is in force again. ${out.message}`,
    };
  if (input.reinstate === undefined)
    return {
      state: "Suspended",
      reason: "AwaitingReinstatement",
      message:
        "The space's rules allow this contract again; its provider reinstates it with annotation tds.dev/reinstate",
    };
  return { ...out, reason: "Reinstated", message: `Reinstated by the provider. ${out.message}` };
}
