import { labels } from "@tds/crds";
// Settings of the cluster that the provider installs TDS on, read once from
// the operator's environment: where the data gateway's pods are (what the
// NetworkPolicies of every tenant namespace admit), and where sandbox pods run
// and how they reach the gateway. Pure: parsing only, with errors that name
// the variable.

export const GATEWAY_COMPONENT = "gateway";

/** The gateway's pods as NetworkPolicies select them. */
export interface GatewaySelector {
  /**
   * The namespace the gateway runs in (the chart's release namespace). Unset:
   * each space's control namespace `tds-<space>`.
   */
  readonly namespace?: string;
  readonly podLabels: Readonly<Record<string, string>>;
}

export const defaultGatewaySelector: GatewaySelector = {
  podLabels: { [labels.component]: GATEWAY_COMPONENT },
};

export interface Toleration {
  readonly key?: string;
  readonly operator?: "Exists" | "Equal";
  readonly value?: string;
  readonly effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  readonly tolerationSeconds?: number;
}

/** Where sandbox pods are scheduled, and the gateway URL they are given. */
export interface SandboxPlacement {
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly Toleration[];
  /** The gateway as pods reach it (an in-cluster Service URL); unset: the public gateway URL. */
  readonly gatewayUrl?: string;
}

export const defaultSandboxPlacement: SandboxPlacement = { nodeSelector: {}, tolerations: [] };

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function json(variable: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${variable}: not JSON (${(err as Error).message})`, { cause: err });
  }
}

/** A label map from `k=v,k2=v2` or a JSON object. */
export function parseLabelMap(variable: string, text: string): Record<string, string> {
  const trimmed = text.trim();
  if (trimmed === "") return {};
  const entries: [string, unknown][] = trimmed.startsWith("{")
    ? Object.entries(objectOf(variable, json(variable, trimmed)))
    : trimmed.split(",").map((pair) => {
        const at = pair.indexOf("=");
        if (at < 0) throw new Error(`${variable}: "${pair}" is not key=value`);
        return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      });
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (!LABEL_KEY.test(k) || k.length > 316) throw new Error(`${variable}: "${k}" is not a label key`);
    if (typeof v !== "string" || !LABEL_VALUE.test(v))
      throw new Error(`${variable}.${k}: ${JSON.stringify(v)} is not a label value`);
    out[k] = v;
  }
  return out;
}

function objectOf(variable: string, v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new Error(`${variable}: must be a JSON object`);
  return v as Record<string, unknown>;
}

export function parseTolerations(variable: string, text: string): Toleration[] {
  if (text.trim() === "") return [];
  const v = json(variable, text);
  if (!Array.isArray(v)) throw new Error(`${variable}: must be a JSON array of tolerations`);
  return v.map((item, i) => {
    const where = `${variable}[${String(i)}]`;
    const t = objectOf(where, item);
    for (const k of Object.keys(t))
      if (!["key", "operator", "value", "effect", "tolerationSeconds"].includes(k))
        throw new Error(`${where}.${k}: not a toleration field`);
    const str = (k: string): string | undefined => {
      const x = t[k];
      if (x === undefined) return undefined;
      if (typeof x !== "string") throw new Error(`${where}.${k}: must be a string`);
      return x;
    };
    const key = str("key");
    const operator = str("operator");
    const value = str("value");
    const effect = str("effect");
    if (key !== undefined && !LABEL_KEY.test(key))
      throw new Error(`${where}.key: "${key}" is not a taint key`);
    if (operator !== undefined && operator !== "Exists" && operator !== "Equal")
      throw new Error(`${where}.operator: must be Exists or Equal`);
    if (operator === "Exists" && value) throw new Error(`${where}.value: must be empty with operator Exists`);
    if (effect !== undefined && !["NoSchedule", "PreferNoSchedule", "NoExecute"].includes(effect))
      throw new Error(`${where}.effect: must be NoSchedule, PreferNoSchedule or NoExecute`);
    const seconds = t.tolerationSeconds;
    if (seconds !== undefined && !Number.isSafeInteger(seconds))
      throw new Error(`${where}.tolerationSeconds: must be an integer`);
    return {
      ...(key !== undefined ? { key } : {}),
      ...(operator !== undefined ? { operator: operator } : {}),
      ...(value !== undefined ? { value } : {}),
      ...(effect !== undefined ? { effect: effect as Toleration["effect"] } : {}),
      ...(seconds !== undefined ? { tolerationSeconds: seconds as number } : {}),
    };
  });
}

function url(variable: string, text: string | undefined): string | undefined {
  if (!text) return undefined;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`${variable}: "${text}" is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`${variable}: must be http(s)`);
  return text;
}

/**
 * TDS_GATEWAY_NAMESPACE (the gateway's namespace; unset: each space's control
 * namespace) and TDS_GATEWAY_POD_LABELS (`k=v,...`; default the gateway component label).
 */
export function gatewaySelectorFromEnv(env: NodeJS.ProcessEnv): GatewaySelector {
  const namespace = env.TDS_GATEWAY_NAMESPACE?.trim();
  if (namespace && !DNS_LABEL.test(namespace))
    throw new Error(`TDS_GATEWAY_NAMESPACE: "${namespace}" is not a namespace name`);
  const podLabels = env.TDS_GATEWAY_POD_LABELS
    ? parseLabelMap("TDS_GATEWAY_POD_LABELS", env.TDS_GATEWAY_POD_LABELS)
    : defaultGatewaySelector.podLabels;
  if (Object.keys(podLabels).length === 0)
    throw new Error("TDS_GATEWAY_POD_LABELS: must select the gateway's pods by at least one label");
  return { ...(namespace ? { namespace } : {}), podLabels };
}

/**
 * TDS_SANDBOX_NODE_SELECTOR (`k=v,...` or a JSON object), TDS_SANDBOX_TOLERATIONS
 * (a JSON array of tolerations) and TDS_SANDBOX_GATEWAY_URL (the gateway as pods reach it).
 */
export function sandboxPlacementFromEnv(env: NodeJS.ProcessEnv): SandboxPlacement {
  const gatewayUrl = url("TDS_SANDBOX_GATEWAY_URL", env.TDS_SANDBOX_GATEWAY_URL);
  return {
    nodeSelector: parseLabelMap("TDS_SANDBOX_NODE_SELECTOR", env.TDS_SANDBOX_NODE_SELECTOR ?? ""),
    tolerations: parseTolerations("TDS_SANDBOX_TOLERATIONS", env.TDS_SANDBOX_TOLERATIONS ?? ""),
    ...(gatewayUrl ? { gatewayUrl } : {}),
  };
}
