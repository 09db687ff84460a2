// The pure builders of desired state: what the DataSpace and Participant
// reconcilers apply, checked without a cluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DataSpace, Participant } from "@tds/crds";
import { buildDataSpaceChildren } from "./dataspace/dataspace.builders.ts";
import { buildParticipantChildren, participantQuota } from "./participant/participant.builders.ts";
import { quotaEnforced } from "./isolation.builders.ts";
import { renewalDue } from "./participant/participant.identity.ts";
import type { KubeObject } from "@tds/kube";

const space = {
  apiVersion: "tds.dev/v1alpha1",
  kind: "DataSpace",
  metadata: { name: "yangtze", uid: "u-space", generation: 1 },
  spec: {
    displayName: "Yangtze",
    crossBorder: { homeRegion: "CN" },
    metering: { currency: "CNY", priceSheet: {} },
    sandbox: {
      defaultResources: { cpu: "250m", memory: "256Mi" },
      maxResources: { cpu: "2", memory: "4Gi" },
      maxConcurrentJobsPerParticipant: 3,
    },
  },
} as unknown as DataSpace;

const participant = (over: Partial<Participant["spec"]> = {}) =>
  ({
    apiVersion: "tds.dev/v1alpha1",
    kind: "Participant",
    metadata: { name: "acme", uid: "u-acme", generation: 1 },
    spec: {
      dataSpace: "yangtze",
      organization: { legalName: "Acme", registrationId: "R1", region: "CN" },
      identity: { certificate: { subject: "CN=acme" } },
      roles: ["provider"],
      admins: [{ kind: "Group", name: "acme-admins" }],
      ...over,
    },
  }) as unknown as Participant;

const labelsOf = (o: KubeObject) => o.metadata.labels ?? {};

test("the space's control namespace is Pod Security restricted and owned by the DataSpace", () => {
  const { namespace } = buildDataSpaceChildren(space);
  assert.equal(namespace.metadata.name, "tds-yangtze");
  assert.equal(labelsOf(namespace)["pod-security.kubernetes.io/enforce"], "restricted");
  assert.equal(labelsOf(namespace)["tds.dev/space"], "yangtze");
  assert.deepEqual(
    namespace.metadata.ownerReferences?.map((o) => [o.kind, o.uid, o.controller]),
    [["DataSpace", "u-space", true]],
  );
});

test("network policies deny by default and allow only DNS and the space gateway", () => {
  const { namespaced } = buildParticipantChildren(space, participant());
  const policies = namespaced.filter((o) => o.kind === "NetworkPolicy");
  const deny = policies.find((p) => p.metadata.name === "default-deny") as KubeObject & {
    spec: Record<string, unknown>;
  };
  assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
  const dns = policies.find((p) => p.metadata.name === "allow-dns") as KubeObject & {
    spec: { egress: { ports: { port: number }[] }[] };
  };
  assert.deepEqual(
    dns.spec.egress[0]?.ports.map((p) => p.port),
    [53, 53],
  );
  const gw = JSON.stringify(policies.find((p) => p.metadata.name === "allow-space-gateway"));
  assert.match(gw, /"kubernetes.io\/metadata.name":"tds-yangtze"/);
  assert.match(gw, /"app.kubernetes.io\/component":"gateway"/);
  assert.equal(policies.length, 3);
});

test("space admin RBAC has no wildcards and is bound to the space's admin group", () => {
  const { namespaced, cluster } = buildDataSpaceChildren(space);
  const text = JSON.stringify([...namespaced, ...cluster].filter((o) => o.kind?.includes("Role")));
  assert.doesNotMatch(text, /"\*"/);
  assert.match(text, /"tds:space:yangtze:admins"/);
});

test("a participant's admins are bound to manage only TDS objects in its namespace, and lose that when suspended", () => {
  const active = buildParticipantChildren(space, participant()).namespaced;
  const role = active.find((o) => o.kind === "Role") as KubeObject & {
    rules: { resources: string[]; verbs: string[] }[];
  };
  assert.deepEqual(role.rules[0]?.resources, ["dataoffers", "datacontracts", "sandboxjobs"]);
  assert.ok(role.rules.every((r) => !r.verbs.includes("*")));
  assert.ok(active.some((o) => o.kind === "RoleBinding"));
  const suspended = buildParticipantChildren(space, participant({ suspended: true })).namespaced;
  assert.ok(!suspended.some((o) => o.kind === "RoleBinding"));
});

test("the namespace quota follows the space's sandbox limits and the participant's overrides", () => {
  assert.deepEqual(participantQuota(space, participant()), {
    pods: "6",
    "count/jobs.batch": "3",
    "requests.cpu": "2",
    "limits.cpu": "2",
    "requests.memory": "4Gi",
    "limits.memory": "4Gi",
    persistentvolumeclaims: "0",
    "services.loadbalancers": "0",
    "services.nodeports": "0",
  });
  const q = participantQuota(space, participant({ quota: { maxConcurrentSandboxJobs: 1, sandboxCPU: "1" } }));
  assert.equal(q["count/jobs.batch"], "1");
  assert.equal(q["requests.cpu"], "1");
});

test("a quota counts as enforced only once every hard limit is in status.hard", () => {
  const hard = { pods: "2", "requests.cpu": "1" };
  assert.equal(quotaEnforced(undefined, hard), false);
  assert.equal(quotaEnforced({ metadata: {}, status: { hard: { pods: "2" } } }, hard), false);
  assert.equal(quotaEnforced({ metadata: {}, status: { hard } }, hard), true);
});

test("certificates are renewed once two thirds of their validity have passed", () => {
  const from = new Date("2026-01-01T00:00:00Z");
  const to = new Date("2026-04-01T00:00:00Z"); // 90 days
  assert.equal(renewalDue(from, to, new Date("2026-02-28T23:00:00Z"), 2 / 3), false);
  assert.equal(renewalDue(from, to, new Date("2026-03-02T01:00:00Z"), 2 / 3), true);
});
