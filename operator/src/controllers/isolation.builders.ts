// Builders shared by the space and participant namespaces: a Pod Security
// `restricted` namespace, default-deny NetworkPolicies with the DNS and gateway
// allowances, quota and limit objects. Pure functions: they read nothing.
import { type DataSpace, labels, MANAGER } from "@tds/crds";
import type { KubeObject, OwnerReference } from "@tds/kube";
import { defaultGatewaySelector, type GatewaySelector } from "./placement.ts";

export { GATEWAY_COMPONENT } from "./placement.ts";

export function spaceControlNamespace(space: string): string {
  return `tds-${space}`;
}

export function managedLabels(space: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [labels.managedBy]: MANAGER, [labels.space]: space, ...extra };
}

export function restrictedNamespace(
  name: string,
  objectLabels: Record<string, string>,
  owner: OwnerReference,
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: {
        ...objectLabels,
        "kubernetes.io/metadata.name": name,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
      },
      ownerReferences: [owner],
    },
  };
}

const dnsPeer = {
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
};
const dnsPorts = [
  { protocol: "UDP", port: 53 },
  { protocol: "TCP", port: 53 },
];

/** A NetworkPolicy in `namespace`. */
export function networkPolicy(
  namespace: string,
  name: string,
  objectLabels: Record<string, string>,
  spec: unknown,
): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace, labels: objectLabels },
    spec,
  };
}
const netpol = networkPolicy;

/**
 * The gateway's pods: in `gateway.namespace` (the chart's release namespace)
 * or, by default, in the space's control namespace.
 */
export function gatewayPeer(space: string, gateway: GatewaySelector = defaultGatewaySelector) {
  return {
    namespaceSelector: {
      matchLabels: { "kubernetes.io/metadata.name": gateway.namespace ?? spaceControlNamespace(space) },
    },
    podSelector: { matchLabels: { ...gateway.podLabels } },
  };
}

/** The two policies every tenant namespace starts from: deny everything, then allow DNS egress. */
export function denyAllButDns(namespace: string, objectLabels: Record<string, string>): KubeObject[] {
  return [
    netpol(namespace, "default-deny", objectLabels, { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    netpol(namespace, "allow-dns", objectLabels, {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{ to: [dnsPeer], ports: dnsPorts }],
    }),
  ];
}

/**
 * Default-deny ingress and egress, plus DNS egress and traffic to and from the
 * space gateway (pods labelled as the gateway in the space's control namespace).
 */
export function isolationNetworkPolicies(
  namespace: string,
  space: string,
  objectLabels: Record<string, string>,
  gatewaySelector?: GatewaySelector,
): KubeObject[] {
  const gateway = gatewayPeer(space, gatewaySelector);
  return [
    ...denyAllButDns(namespace, objectLabels),
    netpol(namespace, "allow-space-gateway", objectLabels, {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ from: [gateway] }],
      egress: [{ to: [gateway] }],
    }),
  ];
}

export function resourceQuota(
  namespace: string,
  objectLabels: Record<string, string>,
  hard: Record<string, string>,
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: { name: "tds-quota", namespace, labels: objectLabels },
    spec: { hard },
  };
}

/** Per-container defaults and maximums of a space's namespaces, from its sandbox settings. */
export function containerLimits(space: DataSpace): {
  defaults: { cpu: string; memory: string };
  max: { cpu: string; memory: string };
} {
  const sandbox = space.spec.sandbox ?? {};
  return {
    defaults: {
      cpu: String(sandbox.defaultResources?.cpu ?? "500m"),
      memory: String(sandbox.defaultResources?.memory ?? "512Mi"),
    },
    max: {
      cpu: String(sandbox.maxResources?.cpu ?? "4"),
      memory: String(sandbox.maxResources?.memory ?? "8Gi"),
    },
  };
}

export function limitRange(
  namespace: string,
  objectLabels: Record<string, string>,
  defaults: { cpu: string; memory: string },
  max: { cpu: string; memory: string },
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: { name: "tds-limits", namespace, labels: objectLabels },
    spec: {
      limits: [
        {
          type: "Container",
          default: { cpu: defaults.cpu, memory: defaults.memory },
          defaultRequest: { cpu: defaults.cpu, memory: defaults.memory },
          max: { cpu: max.cpu, memory: max.memory },
        },
      ],
    },
  };
}

/** True once kube-controller-manager has copied every hard limit into status.hard. */
export function quotaEnforced(live: KubeObject | undefined, hard: Record<string, string>): boolean {
  const status = (live as { status?: { hard?: Record<string, string> } } | undefined)?.status?.hard;
  if (!status) return false;
  return Object.keys(hard).every((k) => status[k] !== undefined);
}
