import assert from "node:assert/strict";
import { test } from "node:test";
import { negotiationTransition, transferTransition } from "./machine.ts";

test("negotiation transitions follow DSP 2025-1", () => {
  const cases = [
    ["REQUESTED", "offer", "provider", "OFFERED"],
    ["REQUESTED", "agree", "provider", "AGREED"],
    ["OFFERED", "request", "consumer", "REQUESTED"],
    ["OFFERED", "accept", "consumer", "ACCEPTED"],
    ["ACCEPTED", "agree", "provider", "AGREED"],
    ["AGREED", "verify", "consumer", "VERIFIED"],
    ["VERIFIED", "finalize", "provider", "FINALIZED"],
    ["AGREED", "terminate", "consumer", "TERMINATED"],
    ["REQUESTED", "terminate", "provider", "TERMINATED"],
    // refused
    ["FINALIZED", "terminate", "consumer", undefined],
    ["TERMINATED", "terminate", "provider", undefined],
    ["OFFERED", "verify", "consumer", undefined],
    ["ACCEPTED", "verify", "consumer", undefined],
    ["REQUESTED", "request", "consumer", undefined],
    ["ACCEPTED", "offer", "provider", undefined],
    ["OFFERED", "agree", "provider", undefined],
    ["REQUESTED", "finalize", "provider", undefined],
    ["AGREED", "finalize", "provider", undefined],
    ["REQUESTED", "offer", "consumer", undefined],
    ["AGREED", "verify", "provider", undefined],
  ] as const;
  for (const [from, msg, sender, to] of cases) {
    const t = negotiationTransition(from, msg, sender);
    assert.equal(t.ok ? t.to : undefined, to, `${from} + ${msg} by ${sender}`);
  }
});

test("transfer transitions follow DSP 2025-1", () => {
  const cases = [
    ["REQUESTED", "start", "provider", "STARTED"],
    ["REQUESTED", "start", "consumer", undefined],
    ["REQUESTED", "terminate", "consumer", "TERMINATED"],
    ["REQUESTED", "complete", "consumer", undefined],
    ["REQUESTED", "suspend", "consumer", undefined],
    ["STARTED", "suspend", "consumer", "SUSPENDED"],
    ["STARTED", "complete", "provider", "COMPLETED"],
    ["SUSPENDED", "start", "consumer", "STARTED"],
    ["SUSPENDED", "complete", "consumer", undefined],
    ["SUSPENDED", "terminate", "provider", "TERMINATED"],
    ["TERMINATED", "start", "provider", undefined],
    ["TERMINATED", "suspend", "consumer", undefined],
    ["COMPLETED", "terminate", "consumer", undefined],
  ] as const;
  for (const [from, msg, sender, to] of cases) {
    const t = transferTransition(from, msg, sender);
    assert.equal(t.ok ? t.to : undefined, to, `${from} + ${msg} by ${sender}`);
  }
});
