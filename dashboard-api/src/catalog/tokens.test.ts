// The catalog tokeniser: Chinese bigrams, English words, queries.
import { test } from "node:test";
import assert from "node:assert/strict";
import { documentTokens, searchQuery } from "./tokens.ts";

test("Chinese runs become unigrams and bigrams, English runs lowercase words", () => {
  assert.deepEqual(documentTokens("燃气轮机 Telemetry-2025"), [
    "2025",
    "telemetry",
    "机",
    "气",
    "气轮",
    "燃",
    "燃气",
    "轮",
    "轮机",
  ]);
});

test("full-width forms are folded, punctuation separates", () => {
  assert.deepEqual(documentTokens("ＡＢＣ，振动。"), ["abc", "动", "振", "振动"]);
});

test("a query ANDs its bigrams and prefixes its last word", () => {
  assert.equal(searchQuery("燃气轮机"), "'燃气' & '气轮' & '轮机'");
  assert.equal(searchQuery("振"), "'振'");
  assert.equal(searchQuery("Turbine vibr"), "'turbine' & 'vibr':*");
  assert.equal(searchQuery("  ,, "), undefined);
});
