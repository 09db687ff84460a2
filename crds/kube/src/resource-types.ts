// Where every kind TDS reads or writes lives in the API, as the client and
// informer address it: one table for the operator, the dashboard API, the
// gateway and the tests. The five TDS kinds come from their resource
// definitions in @tds/crds (one source for the CRDs and the clients).
import {
  dataContractResource,
  dataOfferResource,
  dataSpaceResource,
  participantResource,
  sandboxJobResource,
  type ResourceInfo,
} from "@tds/crds";
import type { ResourceType } from "./client.ts";

const tds = (r: ResourceInfo): ResourceType => ({
  group: r.group,
  version: r.version,
  plural: r.plural,
  kind: r.kind,
  namespaced: r.scope === "Namespaced",
});

const builtIn = (group: string, plural: string, kind: string, namespaced = true): ResourceType => ({
  group,
  version: "v1",
  plural,
  kind,
  namespaced,
});

export const kinds = {
  namespace: builtIn("", "namespaces", "Namespace", false),
  secret: builtIn("", "secrets", "Secret"),
  configMap: builtIn("", "configmaps", "ConfigMap"),
  serviceAccount: builtIn("", "serviceaccounts", "ServiceAccount"),
  resourceQuota: builtIn("", "resourcequotas", "ResourceQuota"),
  limitRange: builtIn("", "limitranges", "LimitRange"),
  pod: builtIn("", "pods", "Pod"),
  event: builtIn("", "events", "Event"),
  job: builtIn("batch", "jobs", "Job"),
  lease: builtIn("coordination.k8s.io", "leases", "Lease"),
  runtimeClass: builtIn("node.k8s.io", "runtimeclasses", "RuntimeClass", false),
  networkPolicy: builtIn("networking.k8s.io", "networkpolicies", "NetworkPolicy"),
  role: builtIn("rbac.authorization.k8s.io", "roles", "Role"),
  roleBinding: builtIn("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
  clusterRole: builtIn("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", false),
  clusterRoleBinding: builtIn(
    "rbac.authorization.k8s.io",
    "clusterrolebindings",
    "ClusterRoleBinding",
    false,
  ),
  dataSpace: tds(dataSpaceResource),
  participant: tds(participantResource),
  dataOffer: tds(dataOfferResource),
  dataContract: tds(dataContractResource),
  sandboxJob: tds(sandboxJobResource),
} as const satisfies Record<string, ResourceType>;

/** The resource type of an object by its kind; throws for a kind not in the table. */
export function resourceOf(obj: { kind?: string }): ResourceType {
  const found = Object.values(kinds).find((k) => k.kind === obj.kind);
  if (!found) throw new Error(`no resource type for kind ${obj.kind ?? "?"}`);
  return found;
}
