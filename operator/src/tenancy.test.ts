// The name property behind tenancy: over every tenant name the CRDs accept,
// the namespace and the bucket of a (space, participant) pair belong to that
// pair alone, and no tenant namespace is one the platform uses. Checked
// exhaustively over short names, where every way "-" can fall is present, and
// shown to fail for plain DNS-1123 labels, which is why the rule exists.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DNS1123_LABEL,
  RESERVED_SPACE_NAMES,
  RESERVED_SPACE_PREFIXES,
  TENANT_NAME,
  participantNamespace,
  splitParticipantNamespace,
} from "@tds/crds";
import { spaceControlNamespace } from "./controllers/isolation.builders.ts";
import { bucketName } from "./storage/objectstore.ts";

/** Every string over `alphabet` of length 1..max. */
function strings(alphabet: string, max: number): string[] {
  let level = [""];
  const out: string[] = [];
  for (let n = 1; n <= max; n++) {
    level = level.flatMap((s) => Array.from(alphabet, (c) => s + c));
    out.push(...level);
  }
  return out;
}

const candidates = strings("a1-", 5);
const tenant = new RegExp(TENANT_NAME);
const spaces = candidates.filter(
  (n) =>
    tenant.test(n) &&
    !(RESERVED_SPACE_NAMES as readonly string[]).includes(n) &&
    !RESERVED_SPACE_PREFIXES.some((p) => n.startsWith(p)),
);
const participants = candidates.filter((n) => tenant.test(n));

/** The first pair of distinct inputs with the same image, or undefined when `f` is injective on them. */
function collision<T>(inputs: readonly T[], f: (x: T) => string): [T, T, string] | undefined {
  const seen = new Map<string, T>();
  for (const x of inputs) {
    const y = f(x);
    const prev = seen.get(y);
    if (prev !== undefined) return [prev, x, y];
    seen.set(y, x);
  }
  return undefined;
}

const pairs = spaces.flatMap((s) => participants.map((p) => [s, p] as const));

test("accepted tenant names are DNS-1123 labels, and there are enough of them to mean something", () => {
  const label = new RegExp(DNS1123_LABEL);
  assert.ok(participants.every((n) => label.test(n)));
  assert.ok(pairs.length > 10_000, String(pairs.length));
});

test("no two (space, participant) pairs share a namespace, and each namespace splits back to its pair", () => {
  assert.equal(
    collision(pairs, ([s, p]) => participantNamespace(s, p)),
    undefined,
  );
  for (const [s, p] of pairs)
    assert.deepEqual(splitParticipantNamespace(participantNamespace(s, p)), { space: s, participant: p });
});

test("no two (space, participant) pairs share a bucket, with any prefix", () => {
  const prefixes = ["tds", "tds-a", "a"];
  const all = prefixes.flatMap((prefix) => pairs.map(([s, p]) => [prefix, s, p] as const));
  assert.equal(
    collision(all, ([prefix, s, p]) => bucketName(s, p, prefix)),
    undefined,
  );
});

test("no tenant namespace is a control namespace, the platform's own, or a sandbox's", () => {
  const control = new Set(spaces.map(spaceControlNamespace));
  for (const [s, p] of pairs) assert.ok(!control.has(participantNamespace(s, p)), `${s}/${p}`);
  for (const ns of control) {
    assert.notEqual(ns, "tds-system");
    assert.ok(!ns.startsWith("tds-sbx-"), ns);
  }
});

test("without the rule, plain DNS-1123 labels do collide (the issue's s--zz--q)", () => {
  const label = new RegExp(DNS1123_LABEL);
  const loose = strings("a-", 4).filter((n) => label.test(n));
  const loosePairs = loose.flatMap((s) => loose.map((p) => [s, p] as const));
  assert.ok(collision(loosePairs, ([s, p]) => participantNamespace(s, p)));
  assert.equal(participantNamespace("s", "zz--q"), participantNamespace("s--zz", "q"));
});
