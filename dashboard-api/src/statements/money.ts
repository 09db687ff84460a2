// Exact decimal arithmetic for money: values are BigInt with a fixed scale.
// No floats anywhere; rounding is explicit and half-even.
import { TdsError } from "../errors.ts";

export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

export function parseDecimal(text: string): Decimal {
  const m = DECIMAL.exec(text.trim());
  if (!m) throw new Error(`not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, int = "0", frac = ""] = m;
  const units = BigInt(int + frac) * (sign ? -1n : 1n);
  return { units, scale: frac.length };
}

export function rescale(d: Decimal, scale: number): Decimal {
  if (scale < d.scale) throw new Error("rescale would lose digits; use divRound");
  return { units: d.units * 10n ** BigInt(scale - d.scale), scale };
}

export function add(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale).units + rescale(b, scale).units, scale };
}

export function sub(a: Decimal, b: Decimal): Decimal {
  return add(a, { units: -b.units, scale: b.scale });
}

export function mul(a: Decimal, b: Decimal): Decimal {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** a / divisor rounded half-even to `scale` decimal places (fewer or more than a's own). */
export function divRound(a: Decimal, divisor: bigint, scale: number): Decimal {
  if (divisor <= 0n) throw new Error("divisor must be positive");
  // a.units / 10^a.scale / divisor * 10^scale = a.units * 10^scale / (10^a.scale * divisor)
  let num = a.units * 10n ** BigInt(scale);
  const den = divisor * 10n ** BigInt(a.scale);
  const negative = num < 0n;
  if (negative) num = -num;
  let q = num / den;
  const r = num % den;
  const twice = r * 2n;
  if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  return { units: negative ? -q : q, scale };
}

export function formatDecimal(d: Decimal): string {
  const negative = d.units < 0n;
  const digits = (negative ? -d.units : d.units).toString().padStart(d.scale + 1, "0");
  const int = digits.slice(0, digits.length - d.scale);
  const frac = d.scale > 0 ? "." + digits.slice(digits.length - d.scale) : "";
  return (negative && d.units !== 0n ? "-" : "") + int + frac;
}

export const zero = (scale: number): Decimal => ({ units: 0n, scale });

/** Amounts on lines are kept to micro-units of the currency. */
export const AMOUNT_SCALE = 6;

/** quantity (base units) x unitPrice (per billing unit) / baseUnitsPerBillingUnit, to AMOUNT_SCALE. */
export function lineAmount(quantity: bigint, unitPrice: string, baseUnitsPerBillingUnit: bigint): Decimal {
  return divRound(
    mul({ units: quantity, scale: 0 }, parseDecimal(unitPrice)),
    baseUnitsPerBillingUnit,
    AMOUNT_SCALE,
  );
}

/** amount x bps / 10000, to AMOUNT_SCALE. */
export function basisPoints(amount: Decimal, bps: number): Decimal {
  return divRound(mul(amount, { units: BigInt(bps), scale: 0 }), 10_000n, AMOUNT_SCALE);
}

/** ISO 4217 alphabetic codes in current use (ICU's list): what a price or an adjustment may be in. */
const currencies = new Set(Intl.supportedValuesOf("currency"));

export function isCurrency(code: string): boolean {
  return currencies.has(code);
}

/**
 * A 400 for the first money field of a request body that is a JSON number: amounts are
 * decimal strings, because a JSON number may already have lost digits when it was parsed.
 * Paths are slash-separated; `*` matches every element of an array.
 */
export function moneyNumberRefusal(body: unknown, paths: readonly string[]): TdsError | undefined {
  const walk = (value: unknown, rest: readonly string[], at: string): string | undefined => {
    if (rest.length === 0) return typeof value === "number" ? at : undefined;
    const [head = "", ...tail] = rest;
    if (head === "*")
      return Array.isArray(value)
        ? value.map((v, i) => walk(v, tail, `${at}/${String(i)}`)).find((f) => f !== undefined)
        : undefined;
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, head)) return undefined;
    return walk((value as Record<string, unknown>)[head], tail, `${at}/${head}`);
  };
  for (const path of paths) {
    const field = walk(body, path.split("/"), "body");
    if (field !== undefined)
      return new TdsError(
        "validation",
        `${field}: money is a decimal string such as "12.50", never a JSON number`,
        {
          field,
        },
      );
  }
  return undefined;
}

/** The currency's minor-unit digits from ISO 4217 (via ICU): 2 for EUR and CNY, 0 for JPY. */
export function minorDigits(currency: string): number {
  return (
    new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2
  );
}

/** An amount rounded half-even to the currency's minor unit. */
export function toMinor(amount: Decimal, currency: string): Decimal {
  return divRound(amount, 1n, minorDigits(currency));
}
