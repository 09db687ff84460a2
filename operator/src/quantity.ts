// Kubernetes resource quantities ("100Gi", "1.5T", "500m") as exact values.
const binary: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const decimalExp: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

/**
 * Parses a quantity into an exact integer count of base units, rounding a
 * fractional result up (as Kubernetes does for quotas). Throws on bad input.
 */
export function parseQuantity(q: string | number): bigint {
  const s = String(q).trim();
  const m = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E))?$/.exec(
    s,
  );
  if (!m) throw new Error(`invalid quantity "${s}"`);
  const [, sign = "", num = "0", bin, exp, dec] = m;
  const [intPart = "0", fracPart = ""] = num.split(".");
  let numerator = BigInt(`${intPart || "0"}${fracPart}`);
  let denominator = 10n ** BigInt(fracPart.length);
  if (bin) numerator *= binary[bin] ?? 1n;
  const e = exp ? Number(exp.slice(1)) : (decimalExp[dec ?? ""] ?? 0);
  if (e >= 0) numerator *= 10n ** BigInt(e);
  else denominator *= 10n ** BigInt(-e);
  const value = (numerator + denominator - 1n) / denominator;
  return sign === "-" ? -value : value;
}

/** Compares two quantities exactly: negative, zero or positive. */
export function compareQuantities(a: string | number, b: string | number): number {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
