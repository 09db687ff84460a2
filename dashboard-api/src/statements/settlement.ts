// A statement in the currency's minor units: what each consumer is invoiced, what
// each provider is paid, and the platform's fee. Lines keep micro-units (6 places);
// rounding to the minor unit happens here, once per invoice and once per payout.
//
// The rule (docs/dashboard-api.md, "Rounding"): half-even, to the ISO 4217 minor
// unit of the currency (2 places for EUR and CNY). A consumer's charge is its exact
// line sum rounded once (never a sum of rounded lines); a provider's payout is its
// exact share sum rounded once; the subtotal is the sum of the rounded charges and
// the platform fee is the subtotal minus the rounded payouts, so the platform takes
// the rounding remainder and subtotal = platformFee + providerShare, exactly.
import { add, formatDecimal, minorDigits, parseDecimal, sub, toMinor, zero, type Decimal } from "./money.ts";
import type { StatementLine } from "./statement.ts";

export const roundingRule =
  "half-even to the currency's minor unit, once per consumer charge and once per provider payout; " +
  "subtotal = sum of the rounded charges; platform fee = subtotal - rounded payouts (the platform takes the remainder)";

export interface Settlement {
  currency: string;
  minorDigits: number;
  subtotal: string;
  platformFee: string;
  providerShare: string;
  charges: { participant: string; amount: string }[];
  /** basis: what consumers paid at the provider's own offer prices; fee: the platform's part of it. */
  revenueShare: { provider: string; basis: string; platformFee: string; amount: string }[];
}

function sumBy(
  lines: readonly StatementLine[],
  key: (l: StatementLine) => string,
  value: (l: StatementLine) => string,
): Map<string, Decimal> {
  const out = new Map<string, Decimal>();
  for (const l of lines) {
    const k = key(l);
    out.set(k, add(out.get(k) ?? zero(0), parseDecimal(value(l))));
  }
  return out;
}

/** One settlement per currency, in its minor units; pure over the lines. */
export function settle(lines: readonly StatementLine[]): Settlement[] {
  const currencies = [...new Set(lines.flatMap((l) => (l.currency === null ? [] : [l.currency])))].sort();
  return currencies.map((currency) => {
    const digits = minorDigits(currency);
    const inCurrency = lines.filter((l) => l.currency === currency);
    const provided = inCurrency.filter((l) => l.provider !== "");
    const charges = [
      ...sumBy(
        inCurrency,
        (l) => l.participant,
        (l) => l.amount,
      ),
    ]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([participant, exact]) => ({ participant, amount: toMinor(exact, currency) }));
    const basis = sumBy(
      provided.filter((l) => l.priceSource === "offer"),
      (l) => l.provider,
      (l) => l.amount,
    );
    const shares = [
      ...sumBy(
        provided,
        (l) => l.provider,
        (l) => l.providerShare,
      ),
    ]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([provider, exact]) => {
        const amount = toMinor(exact, currency);
        const gross = toMinor(basis.get(provider) ?? zero(0), currency);
        return { provider, basis: gross, platformFee: sub(gross, amount), amount };
      });
    const subtotal = charges.reduce((s, c) => add(s, c.amount), zero(digits));
    const providerShare = shares.reduce((s, p) => add(s, p.amount), zero(digits));
    return {
      currency,
      minorDigits: digits,
      subtotal: formatDecimal(subtotal),
      platformFee: formatDecimal(sub(subtotal, providerShare)),
      providerShare: formatDecimal(providerShare),
      charges: charges.map((c) => ({ participant: c.participant, amount: formatDecimal(c.amount) })),
      revenueShare: shares.map((s) => ({
        provider: s.provider,
        basis: formatDecimal(s.basis),
        platformFee: formatDecimal(s.platformFee),
        amount: formatDecimal(s.amount),
      })),
    };
  });
}

/** A line's amount in the minor unit, half-even: for reading; invoices round their exact sum. */
export function lineAmountMinor(line: StatementLine): string | null {
  return line.currency === null ? null : formatDecimal(toMinor(parseDecimal(line.amount), line.currency));
}
