// RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of an
// evidence entry, so that anyone can recompute its leaf hash.
//
// JCS serialises primitives as ECMAScript's JSON.stringify does (numbers in
// the shortest round-trip form, strings with minimal escaping), removes all
// whitespace and sorts object members by the UTF-16 code units of their
// names. The input must be I-JSON: finite numbers, no lone surrogates.
// Members whose value is `undefined` are left out, as JSON.stringify does,
// which is how optional fields of an entry are written.

export class CanonicalJsonError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${message} at ${path}`);
    this.name = "CanonicalJsonError";
  }
}

// A lone surrogate: a high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

function serializeString(s: string, path: string): string {
  if (LONE_SURROGATE.test(s)) throw new CanonicalJsonError("string holds a lone surrogate", path);
  return JSON.stringify(s);
}

// Code-unit order, not locale order: plain `<` on JS strings compares UTF-16 code units.
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function serialize(value: unknown, path: string, out: string[]): void {
  if (value === null) {
    out.push("null");
    return;
  }
  switch (typeof value) {
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJsonError("number is not finite", path);
      // ES Number::toString, which JSON.stringify uses; -0 becomes "0" as RFC 8785 requires.
      out.push(JSON.stringify(value));
      return;
    case "string":
      out.push(serializeString(value, path));
      return;
    case "object": {
      if (Array.isArray(value)) {
        out.push("[");
        value.forEach((item: unknown, i) => {
          if (i > 0) out.push(",");
          if (item === undefined) throw new CanonicalJsonError("array holds undefined", `${path}[${i}]`);
          serialize(item, `${path}[${i}]`, out);
        });
        out.push("]");
        return;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new CanonicalJsonError("only plain objects can be canonicalised", path);
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => compareKeys(a, b));
      out.push("{");
      entries.forEach(([k, v], i) => {
        if (i > 0) out.push(",");
        out.push(serializeString(k, path), ":");
        serialize(v, `${path}.${k}`, out);
      });
      out.push("}");
      return;
    }
    default:
      throw new CanonicalJsonError(`a ${typeof value} has no JSON form`, path);
  }
}

/** The canonical JSON text of a value. */
export function canonicalize(value: unknown): string {
  const out: string[] = [];
  serialize(value, "$", out);
  return out.join("");
}

/** The canonical JSON bytes of a value: the UTF-8 encoding of canonicalize(value). */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), "utf8");
}
