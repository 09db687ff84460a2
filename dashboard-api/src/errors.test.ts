// The problem document and the Bearer challenge, as tables of cases (no I/O).
import assert from "node:assert/strict";
import { test } from "node:test";
import { bearerChallenge, problem, problemType } from "./errors.ts";

test("a problem type is the code without TDS_ERR_, in kebab case, under tds.dev/problems", () => {
  for (const [code, type] of [
    ["TDS_ERR_VALIDATION", "https://tds.dev/problems/validation"],
    ["TDS_ERR_SPACE_NOT_FOUND", "https://tds.dev/problems/space-not-found"],
    ["TDS_ERR_EVIDENCE_EVENT_CONFLICT", "https://tds.dev/problems/evidence-event-conflict"],
  ] as const)
    assert.equal(problemType(code), type);
});

test("a problem has the RFC 9457 members and the TDS extensions", () => {
  assert.deepEqual(
    problem(
      400,
      "TDS_ERR_VALIDATION",
      "body/0/time: bad",
      { id: "req-1", url: "/v1/usage?x=1" },
      "body/0/time",
    ),
    {
      type: "https://tds.dev/problems/validation",
      title: "Invalid request",
      status: 400,
      detail: "body/0/time: bad",
      instance: "/v1/usage",
      code: "TDS_ERR_VALIDATION",
      requestId: "req-1",
      field: "body/0/time",
    },
  );
  // A code of its own (the gateway's, the evidence log's) is titled by its status; no request, no instance.
  assert.deepEqual(problem(403, "TDS_ERR_CONTRACT_NOT_ACTIVE", "no", { id: "r" }), {
    type: "https://tds.dev/problems/contract-not-active",
    title: "Forbidden",
    status: 403,
    detail: "no",
    code: "TDS_ERR_CONTRACT_NOT_ACTIVE",
    requestId: "r",
  });
  // The router's trailing wildcard is the document's `key`.
  assert.equal(problem(400, "TDS_ERR_VALIDATION", "x", { id: "r" }, "params/*").field, "params/key");
});

test("the Bearer challenge follows RFC 6750 section 3.1", () => {
  for (const [authorization, challenge] of [
    [undefined, 'Bearer realm="tds-dashboard-api"'],
    ["", 'Bearer realm="tds-dashboard-api"'],
    ["Basic dXNlcjpwdw==", 'Bearer realm="tds-dashboard-api", error="invalid_request"'],
    ["Bearer abc.def", 'Bearer realm="tds-dashboard-api", error="invalid_token"'],
    ["bearer abc", 'Bearer realm="tds-dashboard-api", error="invalid_token"'],
  ] as const)
    assert.equal(bearerChallenge(authorization), challenge, String(authorization));
  assert.equal(bearerChallenge(undefined, "tds-gateway"), 'Bearer realm="tds-gateway"');
});
