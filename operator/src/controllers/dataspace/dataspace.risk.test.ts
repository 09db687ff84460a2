import assert from "node:assert/strict";
import { test } from "node:test";
import type { RiskFinding } from "@tds/wire";
import { riskCondition } from "./dataspace.risk.ts";

const finding = (id: string, rule: RiskFinding["rule"], message: string): RiskFinding => ({
  id,
  rule,
  subject: "s",
  windowStart: "2026-12-02T10:00:00.000Z",
  windowEnd: "2026-12-02T11:00:00.000Z",
  observed: "1",
  threshold: "1",
  message,
  foundAt: "2026-12-02T10:05:00.000Z",
  expiresAt: "2026-12-09T10:05:00.000Z",
});

test("RiskDetected: counts by rule and the newest finding; False without open findings", () => {
  assert.deepEqual(riskCondition([], 3), {
    type: "RiskDetected",
    status: "False",
    reason: "NoOpenFindings",
    message: "No open risk finding",
    observedGeneration: 3,
  });
  const c = riskCondition(
    [
      finding("7", "refusedAccesses", "Refused 5"),
      finding("4", "downloadVolume", "Big"),
      finding("2", "refusedAccesses", "x"),
    ],
    3,
  );
  assert.equal(c.status, "True");
  assert.equal(c.reason, "RefusedAccesses");
  assert.equal(c.message, "3 open risk findings (downloadVolume 1, refusedAccesses 2); newest 7: Refused 5");
  assert.equal(
    riskCondition([finding("1", "unusualHours", "Late")], 1).message,
    "1 open risk finding (unusualHours 1); newest 1: Late",
  );
});
