// The mapping from a reviewed Kubernetes user to an API role, and which
// tokens are sent to Kubernetes at all.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TdsError } from "../errors.ts";
import { anyVerifier, principalOfUser } from "./kubernetes.ts";
import type { TokenVerifier } from "./tokens.ts";

const OPERATOR = "tds-system:tds-operator";

test("the operator's ServiceAccount is the operator role; other ServiceAccounts have no role", () => {
  assert.deepEqual(
    principalOfUser({ username: "system:serviceaccount:tds-system:tds-operator", groups: [] }, OPERATOR),
    { subject: "system:serviceaccount:tds-system:tds-operator", role: "operator" },
  );
  assert.throws(
    () => principalOfUser({ username: "system:serviceaccount:tds-system:other", groups: [] }, OPERATOR),
    (e: TdsError) => e.code === "TDS_ERR_FORBIDDEN" && /has no TDS role/.test(e.message),
  );
});

test("groups map to platform-admin, space-admin and finance-viewer of one space", () => {
  const as = (groups: string[]) => principalOfUser({ username: "alice", groups }, OPERATOR);
  assert.equal(as(["tds:platform-admins", "tds:space:a:admins"]).role, "platform-admin");
  assert.deepEqual(as(["system:authenticated", "tds:space:industrial:admins"]), {
    subject: "alice",
    role: "space-admin",
    space: "industrial",
  });
  assert.deepEqual(as(["tds:space:industrial:finance"]), {
    subject: "alice",
    role: "finance-viewer",
    space: "industrial",
  });
  // Admin of one space and finance of another: the admin role wins, for its space.
  assert.deepEqual(as(["tds:space:b:finance", "tds:space:a:admins"]), {
    subject: "alice",
    role: "space-admin",
    space: "a",
  });
  assert.throws(
    () => as(["tds:space:a:admins", "tds:space:b:admins"]),
    (e: TdsError) => e.code === "TDS_ERR_FORBIDDEN" && /several spaces \(a, b\)/.test(e.message),
  );
  assert.deepEqual(as(["tds:space:industrial:auditors"]), {
    subject: "alice",
    role: "auditor",
    space: "industrial",
  });
  assert.deepEqual(as(["tds:space:industrial:compliance", "tds:space:industrial:auditors"]), {
    subject: "alice",
    role: "compliance-reviewer",
    space: "industrial",
  });
  assert.throws(() => as(["tds:space:Bad_Name:admins"]), /has no TDS role/);
  assert.throws(() => as(["tds:reviewers"]), /has no TDS role/);
});

test("an administrator of one participant is that participant; of several, refused; space groups win", () => {
  const alpha = { space: "industrial", participant: "alpha" };
  const beta = { space: "industrial", participant: "beta" };
  assert.deepEqual(principalOfUser({ username: "bob", groups: [] }, OPERATOR, [alpha]), {
    subject: "bob",
    role: "participant",
    space: "industrial",
    participant: "alpha",
  });
  assert.throws(
    () => principalOfUser({ username: "bob", groups: [] }, OPERATOR, [alpha, beta]),
    (e: TdsError) =>
      e.code === "TDS_ERR_FORBIDDEN" &&
      /administers several participants \(industrial\/alpha, industrial\/beta\)/.test(e.message),
  );
  assert.equal(
    principalOfUser({ username: "bob", groups: ["tds:space:industrial:admins"] }, OPERATOR, [alpha]).role,
    "space-admin",
  );
});

test("only tokens that are not our JWTs go to Kubernetes", async () => {
  const fail =
    (code: string): TokenVerifier =>
    () =>
      Promise.reject(new TdsError("unauthenticated", `Invalid bearer token (${code})`, { cause: { code } }));
  let reviews = 0;
  const kube: TokenVerifier = () => {
    reviews++;
    return Promise.resolve({ subject: "k", role: "operator" });
  };
  for (const code of ["ERR_JWKS_NO_MATCHING_KEY", "ERR_JOSE_ALG_NOT_ALLOWED", "ERR_JWS_INVALID"]) {
    assert.equal((await anyVerifier(fail(code), kube)("t")).subject, "k");
  }
  assert.equal(reviews, 3);
  // Ours, but expired or for another audience: refused with that reason, Kubernetes never asked.
  for (const code of ["ERR_JWT_EXPIRED", "ERR_JWT_CLAIM_VALIDATION_FAILED"]) {
    await assert.rejects(anyVerifier(fail(code), kube)("t"), new RegExp(code));
  }
  assert.equal(reviews, 3);
});
