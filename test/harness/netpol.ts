// What Kubernetes NetworkPolicy semantics allow, computed from the policies as
// stored: the expected side of the isolation truth table (Cyclonus style). Covers
// podSelector, namespaceSelector (matchLabels, matchExpressions), ipBlock, ports
// by number with protocol, and policyTypes; named ports and endPort are refused
// rather than guessed.

export interface LabelSelector {
  readonly matchLabels?: Record<string, string>;
  readonly matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] }[];
}
interface Peer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: { cidr: string; except?: readonly string[] };
}
interface PolicyPort {
  readonly protocol?: string;
  readonly port?: number | string;
  readonly endPort?: number;
}
interface Rule {
  readonly from?: readonly Peer[];
  readonly to?: readonly Peer[];
  readonly ports?: readonly PolicyPort[];
}
export interface NetworkPolicy {
  readonly metadata: { readonly namespace: string; readonly name: string };
  readonly spec: {
    readonly podSelector: LabelSelector;
    readonly policyTypes?: readonly string[];
    readonly ingress?: readonly Rule[];
    readonly egress?: readonly Rule[];
  };
}
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly namespaceLabels: Record<string, string>;
  readonly ip: string;
}

export function selects(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    const inValues = value !== undefined && (e.values ?? []).includes(value);
    const ok =
      e.operator === "In"
        ? inValues
        : e.operator === "NotIn"
          ? !inValues
          : e.operator === "Exists"
            ? has
            : e.operator === "DoesNotExist"
              ? !has
              : (() => {
                  throw new Error(`unknown selector operator ${e.operator}`);
                })();
    if (!ok) return false;
  }
  return true;
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}
function inCidr(ip: string, cidr: string): boolean {
  const [base = "", bitsText = "32"] = cidr.split("/");
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(base) / size);
}

function peerMatches(peer: Peer, policyNamespace: string, other: PodInfo): boolean {
  if (peer.ipBlock) {
    return (
      inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c))
    );
  }
  const nsOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, other.namespaceLabels)
    : other.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, other.labels) : true;
  return nsOk && podOk;
}

function portMatches(ports: readonly PolicyPort[] | undefined, port: number, protocol: string): boolean {
  if (!ports?.length) return true;
  return ports.some((p) => {
    if (typeof p.port === "string") throw new Error(`named port ${p.port} is not evaluated`);
    if (p.endPort !== undefined) throw new Error("endPort is not evaluated");
    return (p.protocol ?? "TCP") === protocol && (p.port === undefined || p.port === port);
  });
}

function types(p: NetworkPolicy): readonly string[] {
  if (p.spec.policyTypes?.length) return p.spec.policyTypes;
  return p.spec.egress ? ["Ingress", "Egress"] : ["Ingress"];
}

/** Whether the policies let `from` open a connection to `to` on port/protocol (both directions checked). */
export function allowed(
  policies: readonly NetworkPolicy[],
  from: PodInfo,
  to: PodInfo,
  port: number,
  protocol = "TCP",
): boolean {
  const egress = policies.filter(
    (p) =>
      p.metadata.namespace === from.namespace &&
      types(p).includes("Egress") &&
      selects(p.spec.podSelector, from.labels),
  );
  const egressOk =
    egress.length === 0 ||
    egress.some((p) =>
      (p.spec.egress ?? []).some(
        (r) =>
          portMatches(r.ports, port, protocol) &&
          (!r.to?.length || r.to.some((peer) => peerMatches(peer, p.metadata.namespace, to))),
      ),
    );
  const ingress = policies.filter(
    (p) =>
      p.metadata.namespace === to.namespace &&
      types(p).includes("Ingress") &&
      selects(p.spec.podSelector, to.labels),
  );
  const ingressOk =
    ingress.length === 0 ||
    ingress.some((p) =>
      (p.spec.ingress ?? []).some(
        (r) =>
          portMatches(r.ports, port, protocol) &&
          (!r.from?.length || r.from.some((peer) => peerMatches(peer, p.metadata.namespace, from))),
      ),
    );
  return egressOk && ingressOk;
}
