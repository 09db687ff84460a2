// Desired child objects of a DataSpace, built from its spec alone.
import { API_VERSION, type DataSpace, labels } from "@tds/crds";
import type { KubeObject, OwnerReference } from "@tds/kube";
import {
  isolationNetworkPolicies,
  containerLimits,
  limitRange,
  managedLabels,
  resourceQuota,
  restrictedNamespace,
  spaceControlNamespace,
} from "../isolation.builders.ts";
import { EVIDENCE_KEY_SECRET } from "./dataspace.evidence.ts";
import { defaultGatewaySelector, type GatewaySelector } from "../placement.ts";

/** The group whose members administer a space (mapped by the cluster's authenticator). */
export const spaceAdminGroup = (space: string): string => `tds:space:${space}:admins`;

export function ownerRef(space: DataSpace): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: "DataSpace",
    name: space.metadata.name ?? "",
    uid: space.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Quota of the control namespace, where the space's own services run (gateway, exporters). */
export const controlQuota: Record<string, string> = {
  pods: "50",
  "requests.cpu": "4",
  "requests.memory": "8Gi",
  "limits.cpu": "8",
  "limits.memory": "16Gi",
  secrets: "100",
  configmaps: "100",
  services: "20",
  persistentvolumeclaims: "10",
};

/**
 * The space's objects. `apiServiceAccount` (`namespace:name`) is the dashboard
 * API's identity: it gets a Role in the control namespace allowing `get` on
 * the evidence signing key Secret and the Secrets spec.dsp names, and nothing else.
 */
export function buildDataSpaceChildren(
  space: DataSpace,
  apiServiceAccount?: string,
  gateway: GatewaySelector = defaultGatewaySelector,
): {
  namespace: KubeObject;
  namespaced: KubeObject[];
  cluster: KubeObject[];
} {
  const name = space.metadata.name ?? "";
  const ns = spaceControlNamespace(name);
  const l = managedLabels(name);
  const { defaults, max } = containerLimits(space);
  const adminGroup = spaceAdminGroup(name);
  const clusterRoleName = `tds:space:${name}:admin`;
  return {
    namespace: restrictedNamespace(ns, l, ownerRef(space)),
    namespaced: [
      resourceQuota(ns, l, controlQuota),
      limitRange(ns, l, defaults, max),
      ...isolationNetworkPolicies(ns, name, l, gateway),
      // A gateway in this namespace serves every participant namespace of the space
      // (a gateway elsewhere, the chart's, is admitted by its own namespace's policies).
      ...(gateway.namespace === undefined
        ? [
            {
              apiVersion: "networking.k8s.io/v1",
              kind: "NetworkPolicy",
              metadata: { name: "allow-participants-to-gateway", namespace: ns, labels: l },
              spec: {
                podSelector: { matchLabels: { ...gateway.podLabels } },
                policyTypes: ["Ingress"],
                ingress: [{ from: [{ namespaceSelector: { matchLabels: { [labels.space]: name } } }] }],
              },
            },
          ]
        : []),
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "tds-space-admin", namespace: ns, labels: l },
        rules: [
          {
            apiGroups: [""],
            resources: ["configmaps", "events", "pods", "services"],
            verbs: ["get", "list", "watch"],
          },
          {
            apiGroups: ["networking.k8s.io"],
            resources: ["networkpolicies"],
            verbs: ["get", "list", "watch"],
          },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "tds-space-admin", namespace: ns, labels: l },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "tds-space-admin" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: adminGroup }],
      },
      ...evidenceSignerRbac(ns, l, apiServiceAccount, dspSecretNames(space)),
    ],
    cluster: [
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: clusterRoleName, labels: l, ownerReferences: [ownerRef(space)] },
        rules: [
          {
            apiGroups: ["tds.dev"],
            resources: ["dataspaces"],
            resourceNames: [name],
            verbs: ["get", "watch", "update", "patch"],
          },
          { apiGroups: ["tds.dev"], resources: ["dataspaces/status"], resourceNames: [name], verbs: ["get"] },
          {
            apiGroups: ["tds.dev"],
            resources: ["participants", "participants/status"],
            verbs: ["get", "list", "watch"],
          },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: clusterRoleName, labels: l, ownerReferences: [ownerRef(space)] },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRoleName },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: adminGroup }],
      },
    ],
  };
}

/** The Secrets of the control namespace that spec.dsp names (the counterparties' credentials). */
function dspSecretNames(space: DataSpace): string[] {
  const names = (space.spec.dsp?.counterparties ?? []).flatMap((c) => [
    ...(c.authorizationSecretRef ? [c.authorizationSecretRef.name] : []),
    ...(c.outgoingAuthorizationSecretRef ? [c.outgoingAuthorizationSecretRef.name] : []),
  ]);
  return [...new Set(names)].sort();
}

/**
 * The dashboard API may read this space's evidence signing key (to sign checkpoints)
 * and the DSP credentials spec.dsp names, and no other Secret.
 */
function evidenceSignerRbac(
  ns: string,
  l: Record<string, string>,
  apiServiceAccount: string | undefined,
  dspSecrets: readonly string[],
): KubeObject[] {
  const [saNamespace, saName] = (apiServiceAccount ?? "").split(":");
  if (!saNamespace || !saName) return [];
  return [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "tds-evidence-signer", namespace: ns, labels: l },
      rules: [
        {
          apiGroups: [""],
          resources: ["secrets"],
          resourceNames: [EVIDENCE_KEY_SECRET, ...dspSecrets.filter((n) => n !== EVIDENCE_KEY_SECRET)],
          verbs: ["get"],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "tds-evidence-signer", namespace: ns, labels: l },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "tds-evidence-signer" },
      subjects: [{ kind: "ServiceAccount", name: saName, namespace: saNamespace }],
    },
  ];
}
