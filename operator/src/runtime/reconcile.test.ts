import { test } from "node:test";
import assert from "node:assert/strict";
import { isSubset, setCondition } from "./reconcile.ts";

test("setCondition keeps lastTransitionTime while the status is unchanged", () => {
  const t0 = new Date("2026-01-01T00:00:00Z");
  const t1 = new Date("2026-01-02T00:00:00Z");
  const first = setCondition(
    undefined,
    { type: "Ready", status: "False", reason: "Waiting", message: "Waiting" },
    t0,
  );
  const same = setCondition(
    first,
    { type: "Ready", status: "False", reason: "StillWaiting", message: "Still" },
    t1,
  );
  const cond = same[0];
  assert.ok(cond);
  assert.equal(cond.lastTransitionTime, "2026-01-01T00:00:00Z");
  assert.equal(cond.reason, "StillWaiting");
  const flipped = setCondition(same, { type: "Ready", status: "True", reason: "Done", message: "Done" }, t1);
  assert.equal(flipped[0]?.lastTransitionTime, "2026-01-02T00:00:00Z");
  assert.equal(flipped.length, 1);
});

test("isSubset compares desired fields only, arrays whole", () => {
  const live = {
    metadata: { name: "a", uid: "x", labels: { a: "1", b: "2" } },
    spec: { list: [1, 2], extra: true },
  };
  assert.equal(isSubset({ metadata: { name: "a", labels: { a: "1" } }, spec: { list: [1, 2] } }, live), true);
  assert.equal(isSubset({ spec: { list: [1] } }, live), false);
  assert.equal(isSubset({ metadata: { labels: { a: "2" } } }, live), false);
  assert.equal(isSubset({ spec: { missing: 1 } }, live), false);
});
