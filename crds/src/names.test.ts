import assert from "node:assert/strict";
import { test } from "node:test";
import { participantNamespace, splitParticipantNamespace } from "./names.ts";

test("a participant namespace splits into its space and participant one way only", () => {
  assert.equal(participantNamespace("s", "p"), "s--p");
  assert.deepEqual(splitParticipantNamespace("s--p"), { space: "s", participant: "p" });
  assert.deepEqual(splitParticipantNamespace("s--p--q"), { space: "s", participant: "p--q" });
  for (const ns of ["tds-s", "--p", "s--", "", undefined])
    assert.equal(splitParticipantNamespace(ns), undefined, String(ns));
});
