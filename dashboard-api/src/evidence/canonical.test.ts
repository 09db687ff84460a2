// RFC 8785 examples: number serialisation (Appendix B and the ES6 number test
// file's samples), property sorting (§3.2.3) and the JCS reference sample.
import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalize, canonicalBytes, CanonicalJsonError } from "./canonical.ts";

function fromBits(hexBits: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hexBits}`));
  return view.getFloat64(0);
}

test("numbers serialise as RFC 8785 Appendix B says", () => {
  const cases: [string, string][] = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4340000000000001", "9007199254740994"],
    ["4340000000000002", "9007199254740996"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
  ];
  for (const [bits, want] of cases) assert.equal(canonicalize(fromBits(bits)), want, bits);
});

test("NaN and Infinity have no canonical form", () => {
  assert.throws(() => canonicalize(Number.NaN), CanonicalJsonError);
  assert.throws(() => canonicalize({ a: [Number.POSITIVE_INFINITY] }), /not finite at \$\.a\[0\]/);
});

test("properties sort by UTF-16 code units (RFC 8785 §3.2.3)", () => {
  const input = JSON.parse(
    '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
  ) as unknown;
  assert.equal(
    canonicalize(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

test("sorting ignores locale (the JCS 'french' sample)", () => {
  const input = {
    peach: "This sorting order",
    péché: "is wrong according to French",
    pêche: "but canonicalization MUST",
    sin: "ignore locale",
  };
  assert.equal(
    canonicalize(input),
    '{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ignore locale"}',
  );
});

test("the JCS reference sample canonicalises to the published bytes", () => {
  const input = JSON.parse(
    '{"numbers": [1E30, 4.50, 6, 2e-3, 0.000000000000000000000000001], "escaping": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "other":  [null, true, false]}',
  ) as unknown;
  const want =
    "7b 22 65 73 63 61 70 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 30 66 5c 6e 41 27 42 5c 22 5c 5c " +
    "5c 5c 5c 22 2f 22 2c 22 6e 75 6d 62 65 72 73 22 3a 5b 31 65 2b 33 30 2c 34 2e 35 2c 36 2c 30 2e " +
    "30 30 32 2c 31 65 2d 32 37 5d 2c 22 6f 74 68 65 72 22 3a 5b 6e 75 6c 6c 2c 74 72 75 65 2c 66 61 " +
    "6c 73 65 5d 7d";
  assert.equal(canonicalBytes(input).toString("hex"), want.replaceAll(" ", ""));
});

test("nested objects sort recursively, arrays keep their order, undefined members are omitted", () => {
  assert.equal(
    canonicalize({ z: { z: 1, a: 2 }, a: [3, { y: true, x: null }], u: undefined }),
    '{"a":[3,{"x":null,"y":true}],"z":{"a":2,"z":1}}',
  );
});

test("input outside I-JSON is refused with the path", () => {
  assert.throws(() => canonicalize({ s: "a\ud800b" }), /lone surrogate at \$\.s/);
  assert.throws(() => canonicalize({ d: new Date(0) }), /plain objects can be canonicalised at \$\.d/);
  assert.throws(() => canonicalize([undefined]), /undefined at \$\[0\]/);
  assert.throws(() => canonicalize({ b: 1n }), /bigint has no JSON form at \$\.b/);
  assert.equal(canonicalize("\ud83d\ude00"), '"\ud83d\ude00"');
});
