import { test } from "node:test";
import assert from "node:assert/strict";
import { allowed, type NetworkPolicy, type PodInfo } from "./netpol.ts";

const pod = (
  namespace: string,
  name: string,
  labels: Record<string, string> = {},
  ip = "10.244.1.2",
): PodInfo => ({
  namespace,
  name,
  labels,
  namespaceLabels: { "kubernetes.io/metadata.name": namespace },
  ip,
});
const a = pod("a", "x");
const b = pod("b", "y", { role: "gw" });

test("no policy allows; default deny denies both ways", () => {
  assert.equal(allowed([], a, b, 80), true);
  const deny: NetworkPolicy = {
    metadata: { namespace: "b", name: "deny" },
    spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
  };
  assert.equal(allowed([deny], a, b, 80), false, "ingress into b denied");
  assert.equal(allowed([deny], b, a, 80), false, "egress from b denied");
});

test("an allow rule opens only its peer and port", () => {
  const policies: NetworkPolicy[] = [
    { metadata: { namespace: "b", name: "deny" }, spec: { podSelector: {}, policyTypes: ["Ingress"] } },
    {
      metadata: { namespace: "b", name: "from-a-on-80" },
      spec: {
        podSelector: { matchLabels: { role: "gw" } },
        ingress: [
          {
            from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "a" } } }],
            ports: [{ protocol: "TCP", port: 80 }],
          },
        ],
      },
    },
  ];
  assert.equal(allowed(policies, a, b, 80), true);
  assert.equal(allowed(policies, a, b, 81), false);
  assert.equal(allowed(policies, a, b, 80, "UDP"), false);
  assert.equal(allowed(policies, pod("c", "z"), b, 80), false);
});

test("matchExpressions and ipBlock peers", () => {
  const policies: NetworkPolicy[] = [
    {
      metadata: { namespace: "a", name: "egress" },
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr: "10.244.0.0/16", except: ["10.244.9.0/24"] } }] }],
      },
    },
  ];
  assert.equal(allowed(policies, a, pod("b", "in", {}, "10.244.3.4"), 80), true);
  assert.equal(allowed(policies, a, pod("b", "except", {}, "10.244.9.4"), 80), false);
  const expr: NetworkPolicy[] = [
    {
      metadata: { namespace: "b", name: "expr" },
      spec: {
        podSelector: { matchExpressions: [{ key: "role", operator: "In", values: ["gw"] }] },
        policyTypes: ["Ingress"],
      },
    },
  ];
  assert.equal(allowed(expr, a, b, 80), false, "selected by the expression: denied");
  assert.equal(allowed(expr, a, pod("b", "other"), 80), true, "not selected: allowed");
});
