// Desired child objects of a Participant: its namespace (Pod Security
// restricted), quota, limits, NetworkPolicies, ServiceAccount and the RBAC that
// lets its admins manage offers, contracts and jobs there and nothing else.
import type { DataSpace, Participant } from "@tds/crds";
import { API_VERSION, participantNamespace, labels } from "@tds/crds";
import type { KubeObject, OwnerReference } from "@tds/kube";
import {
  isolationNetworkPolicies,
  containerLimits,
  limitRange,
  managedLabels,
  resourceQuota,
  restrictedNamespace,
} from "../isolation.builders.ts";
import type { GatewaySelector } from "../placement.ts";

export const ADMIN_ROLE = "tds-participant-admin";

export function participantOwnerRef(p: Participant): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: "Participant",
    name: p.metadata.name ?? "",
    uid: p.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function participantLabels(p: Participant): Record<string, string> {
  return managedLabels(p.spec.dataSpace, { [labels.participant]: p.metadata.name ?? "" });
}

/** The namespace quota: sandbox capacity from the space's limits and the participant's overrides. */
export function participantQuota(space: DataSpace, p: Participant): Record<string, string> {
  const sandbox = space.spec.sandbox ?? {};
  const jobs = p.spec.quota?.maxConcurrentSandboxJobs ?? sandbox.maxConcurrentJobsPerParticipant ?? 5;
  const cpu = String(p.spec.quota?.sandboxCPU ?? sandbox.maxResources?.cpu ?? "4");
  const memory = String(p.spec.quota?.sandboxMemory ?? sandbox.maxResources?.memory ?? "8Gi");
  return {
    pods: String(Math.max(jobs, 1) * 2),
    "count/jobs.batch": String(jobs),
    "requests.cpu": cpu,
    "limits.cpu": cpu,
    "requests.memory": memory,
    "limits.memory": memory,
    persistentvolumeclaims: "0",
    "services.loadbalancers": "0",
    "services.nodeports": "0",
  };
}

export function buildParticipantChildren(
  space: DataSpace,
  p: Participant,
  gateway?: GatewaySelector,
): { namespace: KubeObject; namespaced: KubeObject[] } {
  const ns = participantNamespace(p.spec.dataSpace, p.metadata.name ?? "");
  const l = participantLabels(p);
  const { defaults, max } = containerLimits(space);
  const namespaced: KubeObject[] = [
    resourceQuota(ns, l, participantQuota(space, p)),
    limitRange(ns, l, defaults, max),
    ...isolationNetworkPolicies(ns, p.spec.dataSpace, l, gateway),
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "participant", namespace: ns, labels: l },
      automountServiceAccountToken: false,
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: ADMIN_ROLE, namespace: ns, labels: l },
      rules: [
        {
          apiGroups: ["tds.dev"],
          resources: ["dataoffers", "datacontracts", "sandboxjobs"],
          verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {
          apiGroups: ["tds.dev"],
          resources: ["dataoffers/status", "datacontracts/status", "sandboxjobs/status"],
          verbs: ["get", "list", "watch"],
        },
        // Contract credentials and the participant's own storage and identity Secrets.
        { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["events", "configmaps"], verbs: ["get", "list", "watch"] },
      ],
    },
  ];
  const admins = p.spec.admins ?? [];
  // A suspended participant keeps its data but its admins lose access.
  if (admins.length > 0 && !p.spec.suspended) {
    namespaced.push({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: ADMIN_ROLE, namespace: ns, labels: l },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: ADMIN_ROLE },
      subjects: admins.map((a) => ({ apiGroup: "rbac.authorization.k8s.io", kind: a.kind, name: a.name })),
    });
  }
  return { namespace: restrictedNamespace(ns, l, participantOwnerRef(p)), namespaced };
}
