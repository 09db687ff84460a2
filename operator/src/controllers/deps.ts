// What controllers are given: read access to the shared informer caches, the
// object store, and settings. Controllers never construct clients themselves.
import type { KubeObject, ResourceType } from "@tds/kube";
import type { ObjectStore } from "../storage/objectstore.ts";
import type { ApiClient } from "@tds/wire";
import type { GatewaySelector, SandboxPlacement } from "./placement.ts";

export interface Cache {
  get(resource: ResourceType, name: string, namespace?: string): KubeObject | undefined;
  list(resource: ResourceType): KubeObject[];
}

export interface Settings {
  /** How often a Ready participant's bucket usage is sampled (and status refreshed). */
  readonly storageSampleMs: number;
  /** How long before expiry (as a fraction of the validity) a certificate is renewed. */
  readonly renewAtFraction: number;
  /** How often a space that is not Ready yet is checked again. */
  readonly notReadyRequeueMs: number;
  /** How often a Ready offer's asset is listed again, so a data change changes its content identifier. */
  readonly assetRescanMs: number;
  /** Longest wait before an agreed contract is looked at again (expiry, revocation, exhausted accesses). */
  readonly contractMonitorMs: number;
  /** How often a participant's declared OIDC issuer is verified again (discovery and JWKS), and a failed one retried. */
  readonly identityRecheckMs: number;
  /** How often a space with risk rules re-reads its open findings for RiskDetected. */
  readonly riskPollMs: number;
}

export const defaultSettings: Settings = {
  storageSampleMs: 60_000,
  renewAtFraction: 2 / 3,
  notReadyRequeueMs: 2_000,
  assetRescanMs: 60_000,
  contractMonitorMs: 30_000,
  identityRecheckMs: 300_000,
  riskPollMs: 30_000,
};

export interface Deps {
  readonly cache: Cache;
  /**
   * When set, this operator manages only the DataSpaces with these labels (and
   * their participants); others are left to another operator. Used to shard
   * and to isolate tests that share a cluster.
   */
  readonly spaceSelector?: string;
  readonly store: ObjectStore;
  readonly settings: Settings;
  /** The API client (catalog, evidence log, usage, the gateway's counts); undefined when not configured. */
  readonly api?: ApiClient;
  /** Written into each contract's credentials Secret (TDS_GATEWAY_URL); may be empty. */
  readonly gatewayUrl?: string;
  /** The gateway's pods, as every tenant namespace's NetworkPolicies admit them (placement.ts). */
  readonly gateway?: GatewaySelector;
  /** Where sandbox pods run and the gateway URL they get (placement.ts). */
  readonly sandbox?: SandboxPlacement;
  /**
   * The dashboard API's ServiceAccount (`namespace:name`, TDS_DASHBOARD_API_SERVICEACCOUNT): each
   * space grants it `get` on its evidence signing key alone, so the API needs no cluster-wide Secret access.
   */
  readonly dashboardApiServiceAccount?: string;
}
