// Where each kind the operator reads or writes lives in the API.
import { tdsKinds, type ResourceType } from "@tds/kube";

const core = (plural: string, kind: string, namespaced = true): ResourceType => ({
  group: "",
  version: "v1",
  plural,
  kind,
  namespaced,
});

export const kinds = {
  namespace: core("namespaces", "Namespace", false),
  secret: core("secrets", "Secret"),
  configMap: core("configmaps", "ConfigMap"),
  serviceAccount: core("serviceaccounts", "ServiceAccount"),
  resourceQuota: core("resourcequotas", "ResourceQuota"),
  limitRange: core("limitranges", "LimitRange"),
  networkPolicy: {
    group: "networking.k8s.io",
    version: "v1",
    plural: "networkpolicies",
    kind: "NetworkPolicy",
    namespaced: true,
  },
  role: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "roles",
    kind: "Role",
    namespaced: true,
  },
  roleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "rolebindings",
    kind: "RoleBinding",
    namespaced: true,
  },
  clusterRole: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterroles",
    kind: "ClusterRole",
    namespaced: false,
  },
  clusterRoleBinding: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterrolebindings",
    kind: "ClusterRoleBinding",
    namespaced: false,
  },
  ...tdsKinds,
} as const satisfies Record<string, ResourceType>;

/** Labels on everything the operator creates. */
export const labels = {
  managedBy: "app.kubernetes.io/managed-by",
  space: "tds.dev/space",
  participant: "tds.dev/participant",
  component: "app.kubernetes.io/component",
} as const;

export const MANAGER = "tds-operator";

/** Selects every object the operator manages. */
export const managedSelector = `${labels.managedBy}=${MANAGER}`;

/** The resource type of an object the operator builds, by its kind. */
export function resourceOf(obj: { kind?: string }): ResourceType {
  const found = Object.values(kinds).find((k) => k.kind === obj.kind);
  if (!found) throw new Error(`no resource type for kind ${obj.kind ?? "?"}`);
  return found;
}
