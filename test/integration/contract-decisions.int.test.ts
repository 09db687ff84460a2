// The DataContract decision annotations (approve/reject, export decision,
// revocation) are admitted only from the operator, the dashboard API or the
// group tds:reviewers: a consumer's admin cannot approve its own request.
// Runs the chart's ValidatingAdmissionPolicy on the real API server, bound to
// this test's namespace only.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { eventually, installCrds, kubectl } from "@tds/test/testkit";
import { templateChart } from "../harness/chart.ts";

const run = randomBytes(3).toString("hex");
const ns = `cd-${run}`;
const user = `consumer-admin-${run}`;
const binding = `tds-datacontract-decisions-${run}`;

function as(args: string[], groups: string[] = []): { ok: boolean; out: string } {
  try {
    return { ok: true, out: kubectl([`--as=${user}`, ...groups.map((g) => `--as-group=${g}`), ...args]) };
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: unknown }).stderr ?? err) };
  }
}

const contract = (name: string, annotations: Record<string, string> = {}) =>
  JSON.stringify({
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataContract",
    metadata: { name, namespace: ns, annotations },
    spec: {
      offerRef: { namespace: "elsewhere--provider", name: "telemetry" },
      purpose: "research",
      requestedValidity: { notBefore: "2026-11-01T00:00:00Z", notAfter: "2026-12-31T00:00:00Z" },
    },
  });

before(async () => {
  installCrds();
  const policy = templateChart({
    namespace: "tds-system",
    showOnly: ["templates/datacontract-decision-policy.yaml"],
  });
  kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=tds-tests", "-f", "-"], policy);
  kubectl(["create", "namespace", ns]);
  kubectl(["label", "namespace", ns, `tds.dev/test-run=${run}`]);
  // The consumer's admin, as the operator's participant-admin Role would make it: it may edit its contracts.
  kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: { name: "contracts", namespace: ns },
          rules: [
            {
              apiGroups: ["tds.dev"],
              resources: ["datacontracts"],
              verbs: ["get", "list", "create", "update", "patch"],
            },
          ],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: "contracts", namespace: ns },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "contracts" },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
        },
      ],
    }),
  );
  kubectl(
    ["apply", "--server-side", "--field-manager=tds-tests", "-f", "-"],
    JSON.stringify({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: binding },
      spec: {
        policyName: "tds-datacontract-decisions",
        validationActions: ["Deny"],
        matchResources: { namespaceSelector: { matchLabels: { "tds.dev/test-run": run } } },
      },
    }),
  );
  kubectl(["apply", "-f", "-"], contract("mine"));
  // The admission plugin learns of new bindings through informers, which can take tens of seconds on a
  // loaded machine: probe with a server-side dry run (admission runs, nothing is stored) until it bites.
  await eventually(
    "the policy binding to be in effect",
    () =>
      !as(["annotate", "--dry-run=server", "-n", ns, "datacontract", "mine", "tds.dev/decision=approve"]).ok,
    120_000,
    1_000,
  );
});

after(() => {
  kubectl(["delete", "validatingadmissionpolicybinding", binding, "--ignore-not-found"]);
  kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]);
});

test("a consumer's admin creates a contract of its own, but cannot approve, export-approve, revoke or reinstate it", () => {
  // A plain request is the consumer's to make (each of the four annotations absent before and after).
  const own = (() => {
    try {
      kubectl([`--as=${user}`, "create", "-f", "-"], contract("requested"));
      return "admitted";
    } catch (err) {
      return String((err as { stderr?: unknown }).stderr ?? err);
    }
  })();
  assert.equal(own, "admitted");
  for (const a of [
    "tds.dev/decision=approve",
    "tds.dev/export-decision=approve",
    "tds.dev/revoke=changed my mind",
    "tds.dev/reinstate=rule restored",
  ]) {
    const r = as(["annotate", "-n", ns, "datacontract", "mine", a]);
    assert.equal(r.ok, false, `${a} must be denied`);
    assert.match(r.out, /only the provider or the space operators decide a DataContract/);
    assert.match(r.out, new RegExp(user));
  }
  const pre = (() => {
    try {
      kubectl(
        [`--as=${user}`, "create", "-f", "-"],
        contract("preapproved", { "tds.dev/decision": "approve" }),
      );
      return "admitted";
    } catch (err) {
      return String((err as { stderr?: unknown }).stderr ?? err);
    }
  })();
  assert.match(
    pre,
    /only the provider or the space operators decide/,
    "a contract created already approved is denied",
  );
});

test("other annotations stay the consumer's, and the API's identity (group tds:reviewers) may decide", () => {
  assert.equal(as(["annotate", "-n", ns, "datacontract", "mine", "example.com/note=ours"]).ok, true);
  const decided = as(
    ["annotate", "-n", ns, "datacontract", "mine", "tds.dev/decision=reject"],
    ["tds:reviewers"],
  );
  assert.equal(decided.ok, true, decided.out);
});
