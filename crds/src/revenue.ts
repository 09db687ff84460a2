// Revenue by contribution: how a SandboxJob's metered usage (CPU core-milliseconds,
// memory byte-seconds) is split among the inputs it read, by the space's
// spec.metering.revenueSharing mode (dataspace.types.ts). The split is of integer
// base units, before pricing, so each provider's part is then priced by its own
// offer and the platform's sheet on the ordinary statement path, with the money
// rules of dashboard-api/src/statements (half-even to the minor unit, once per
// payout). Pure and deterministic:
//
// 1. The total is split among the providers, then each provider's part among its
//    inputs (contracts), with the same rule at both levels.
// 2. Weights: ProportionalToUsage, the bytes of input read through the gateway
//    (sandbox.input_bytes); ProportionalToAccesses, the input reads (transfers;
//    a retry with the same Idempotency-Key is the same read); Equal, one per
//    provider and one per input within a provider. A provider's weight is the
//    sum of its inputs' weights.
// 3. Each party gets floor(total x weight / sum of weights). What the floors
//    leave (fewer units than there are parties) goes, whole, to the party with
//    the largest weight, ties broken by the smallest name (code-point order).
// 4. When every weight is zero (a job that read nothing), the split falls back
//    to Equal, and the result names that basis.
import type { REVENUE_SHARING_RULES } from "./dataspace.types.ts";

/** A space's spec.metering.revenueSharing. */
export type RevenueSharing = (typeof REVENUE_SHARING_RULES)[number];

export interface RevenueInput {
  /** The input's name (spec.inputs[].name, or "main" for spec.contractRef). */
  readonly input: string;
  readonly provider: string;
  readonly offer: string;
  /** The DataContract, in the job's namespace. */
  readonly contract: string;
  /** Bytes of this input the job read (sandbox.input_bytes). */
  readonly bytes: bigint;
  /** Reads of this input (transfers through the gateway). */
  readonly reads: bigint;
}

export interface RevenueShare extends RevenueInput {
  /** What the share was weighed by: the mode, or Equal when nothing was read. */
  readonly basis: RevenueSharing;
  /**
   * The input's weight among its provider's inputs, of inputsWeight (their sum), and its
   * provider's weight among the job's providers, of providersWeight (their sum): before
   * the floors and the remainder, the input's part of a total is
   * total x providerWeight / providersWeight x weight / inputsWeight. A sum of zero
   * weighs its parties equally (step 4; a provider of weight zero gets nothing but a remainder).
   */
  readonly weight: bigint;
  readonly inputsWeight: bigint;
  readonly providerWeight: bigint;
  readonly providersWeight: bigint;
  /** The input's part of each quantity. */
  readonly parts: readonly bigint[];
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Splits a non-negative integer total by non-negative weights: floors, and the
 * remainder to the largest weight (ties: the smallest name). The parts sum to the
 * total exactly. All weights zero: equal weights.
 */
export function splitUnits(
  total: bigint,
  parties: readonly { readonly name: string; readonly weight: bigint }[],
): Map<string, bigint> {
  if (total < 0n) throw new Error("a split total cannot be negative");
  if (parties.length === 0) throw new Error("a split needs at least one party");
  if (new Set(parties.map((p) => p.name)).size !== parties.length)
    throw new Error("split parties must have distinct names");
  if (parties.some((p) => p.weight < 0n)) throw new Error("a split weight cannot be negative");
  const sum = parties.reduce((s, p) => s + p.weight, 0n);
  const weighed = sum === 0n ? parties.map((p) => ({ name: p.name, weight: 1n })) : parties;
  const den = sum === 0n ? BigInt(parties.length) : sum;
  const out = new Map<string, bigint>();
  let given = 0n;
  for (const p of weighed) {
    const part = (total * p.weight) / den;
    out.set(p.name, part);
    given += part;
  }
  const [first] = [...weighed].sort((a, b) =>
    a.weight === b.weight ? byName(a.name, b.name) : a.weight > b.weight ? -1 : 1,
  );
  if (first) out.set(first.name, (out.get(first.name) ?? 0n) + total - given);
  return out;
}

/** The weight of an input under a mode. */
function weightOf(mode: RevenueSharing, i: RevenueInput): bigint {
  switch (mode) {
    case "ProportionalToUsage":
      return i.bytes;
    case "ProportionalToAccesses":
      return i.reads;
    case "Equal":
      return 1n;
  }
}

/**
 * Each input's part of each total (e.g. [cpuMilliseconds, memoryByteSeconds]):
 * among providers first, then among each provider's inputs. Inputs are returned
 * in the order given; every total is split exactly.
 */
export function splitByContribution(
  mode: RevenueSharing,
  inputs: readonly RevenueInput[],
  totals: readonly bigint[],
): RevenueShare[] {
  if (inputs.length === 0) throw new Error("a job has at least one input");
  if (new Set(inputs.map((i) => i.input)).size !== inputs.length)
    throw new Error("input names must be distinct");
  const read = inputs.some((i) => weightOf(mode, i) > 0n);
  const basis: RevenueSharing = read ? mode : "Equal";
  const providers = [...new Set(inputs.map((i) => i.provider))].sort(byName);
  const ofProvider = (p: string) => inputs.filter((i) => i.provider === p);
  const providerWeight = new Map(
    providers.map((p) => [
      p,
      basis === "Equal" ? 1n : ofProvider(p).reduce((s, i) => s + weightOf(basis, i), 0n),
    ]),
  );
  const parts = new Map<string, bigint[]>(inputs.map((i) => [i.input, []]));
  for (const total of totals) {
    const perProvider = splitUnits(
      total,
      providers.map((p) => ({ name: p, weight: providerWeight.get(p) ?? 0n })),
    );
    for (const p of providers) {
      const mine = ofProvider(p);
      const perInput = splitUnits(
        perProvider.get(p) ?? 0n,
        mine.map((i) => ({ name: i.input, weight: weightOf(basis, i) })),
      );
      for (const i of mine) parts.get(i.input)?.push(perInput.get(i.input) ?? 0n);
    }
  }
  const providersWeight = [...providerWeight.values()].reduce((s, w) => s + w, 0n);
  return inputs.map((i) => ({
    ...i,
    basis,
    weight: weightOf(basis, i),
    inputsWeight: ofProvider(i.provider).reduce((s, o) => s + weightOf(basis, o), 0n),
    providerWeight: providerWeight.get(i.provider) ?? 0n,
    providersWeight,
    parts: parts.get(i.input) ?? [],
  }));
}
