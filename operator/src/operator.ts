// Assembles the operator: the manager, the reconcilers and the watches that
// map changes of owned objects back to their DataSpace or Participant.
import {
  jobInputs,
  type Participant,
  participantNamespace,
  type SandboxJob,
  splitParticipantNamespace,
  CONTRACT_LABEL,
  labels,
  managedSelector,
} from "@tds/crds";
import { Manager } from "./runtime/manager.ts";
import { type KubeObject, type ResourceType, kinds, type KubeConfig } from "@tds/kube";
import type { Logger } from "./runtime/log.ts";
import { DataSpaceReconciler } from "./controllers/dataspace/dataspace.controller.ts";
import { ParticipantReconciler } from "./controllers/participant/participant.controller.ts";
import { DataOfferReconciler } from "./controllers/dataoffer/dataoffer.controller.ts";
import { DataContractReconciler } from "./controllers/datacontract/datacontract.controller.ts";
import { SandboxJobReconciler } from "./controllers/sandboxjob/sandboxjob.controller.ts";
import { ApiClient, type ApiClientOptions } from "@tds/wire";
import { apiClientOptionsFromEnv } from "./api-client/api-client.ts";
import { defaultSettings, type Cache, type Settings } from "./controllers/deps.ts";
import type { ObjectStore } from "./storage/objectstore.ts";
import {
  gatewaySelectorFromEnv,
  sandboxPlacementFromEnv,
  type GatewaySelector,
  type SandboxPlacement,
} from "./controllers/placement.ts";

export interface OperatorOptions {
  readonly kubeConfig: KubeConfig;
  readonly log: Logger;
  readonly store: ObjectStore;
  readonly leaseNamespace: string;
  readonly leaseName?: string;
  readonly identity?: string;
  readonly port?: number;
  readonly host?: string;
  readonly resyncMs?: number;
  /** Concurrent reconciles per controller (default 2); reconciles wait on the API server and S3, not the CPU. */
  readonly workers?: number;
  /** Least time between two reconciles of a key caused by other objects' events (default 1 s, 0 disables). */
  readonly coalesceMs?: number;
  readonly watchdogMs?: number;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly settings?: Partial<Settings>;
  readonly requestTimeoutMs?: number;
  /** Manage only DataSpaces matching this label selector (see Deps.spaceSelector). */
  readonly spaceSelector?: string;
  /** The API client's options (catalog, evidence, usage); undefined reads TDS_DASHBOARD_URL, null disables. */
  readonly api?: ApiClientOptions | null;
  /** Gateway URL written into contract credentials; undefined reads TDS_GATEWAY_URL. */
  readonly gatewayUrl?: string;
  /** The dashboard API's ServiceAccount, `namespace:name`; undefined reads TDS_DASHBOARD_API_SERVICEACCOUNT. */
  readonly dashboardApiServiceAccount?: string;
  /** The gateway's pods; undefined reads TDS_GATEWAY_NAMESPACE and TDS_GATEWAY_POD_LABELS. */
  readonly gateway?: GatewaySelector;
  /** Sandbox pod placement; undefined reads TDS_SANDBOX_NODE_SELECTOR, _TOLERATIONS and _GATEWAY_URL. */
  readonly sandbox?: SandboxPlacement;
}

/** Kinds the operator creates and watches (all carry the managed-by label). */
export const ownedKinds = [
  kinds.namespace,
  kinds.resourceQuota,
  kinds.limitRange,
  kinds.networkPolicy,
  kinds.serviceAccount,
  kinds.role,
  kinds.roleBinding,
  kinds.clusterRole,
  kinds.clusterRoleBinding,
  kinds.secret,
  kinds.configMap,
] as const;

const spaceOfNamespace = (ns: string | undefined): string | undefined => splitParticipantNamespace(ns)?.space;

/**
 * What of a DataSpace its participants, offers and contracts depend on: all of
 * it but the counts in its status (participants, readyParticipants, offers),
 * which change with every participant's readiness and every offer.
 */
export function spaceRelevance(s: KubeObject): string {
  const {
    participants: _p,
    readyParticipants: _r,
    offers: _o,
    ...status
  } = (s as unknown as { status?: Record<string, unknown> }).status ?? {};
  const { resourceVersion: _v, managedFields: _m, ...metadata } = s.metadata;
  return JSON.stringify([metadata, (s as unknown as { spec?: unknown }).spec, status]);
}

export function createOperator(opts: OperatorOptions): Manager {
  const manager = new Manager({
    kubeConfig: opts.kubeConfig,
    log: opts.log,
    leaderElection: {
      namespace: opts.leaseNamespace,
      name: opts.leaseName ?? "tds-operator",
      identity: opts.identity,
      leaseDurationMs: opts.leaseDurationMs,
      renewDeadlineMs: opts.renewDeadlineMs,
      retryPeriodMs: opts.retryPeriodMs,
    },
    port: opts.port,
    host: opts.host,
    resyncMs: opts.resyncMs,
    workers: opts.workers,
    coalesceMs: opts.coalesceMs,
    watchdogMs: opts.watchdogMs,
    requestTimeoutMs: opts.requestTimeoutMs,
  });
  // Owned kinds are cached only where the operator's label is; TDS kinds are cached whole.
  const informerFor = (r: ResourceType) =>
    manager.informer(
      r,
      ownedKinds.some((k) => k === r)
        ? managedSelector
        : r === kinds.dataSpace
          ? opts.spaceSelector
          : undefined,
    );
  const cache: Cache = {
    get: (r, name, namespace) => informerFor(r).get(namespace ? `${namespace}/${name}` : name),
    list: (r) => informerFor(r).list(),
  };
  const deps = {
    cache,
    store: opts.store,
    settings: { ...defaultSettings, ...opts.settings },
    spaceSelector: opts.spaceSelector,
    ...apiDeps(opts),
    gateway: opts.gateway ?? gatewaySelectorFromEnv(process.env),
    sandbox: opts.sandbox ?? sandboxPlacementFromEnv(process.env),
  };

  const participantsOf = (space: string) =>
    manager
      .informer(kinds.participant)
      .list()
      .filter((p) => (p as unknown as Participant).spec.dataSpace === space)
      .map((p) => p.metadata.name ?? "");

  manager.add(new DataSpaceReconciler(deps), [
    { resource: kinds.participant, map: (p) => [(p as unknown as Participant).spec.dataSpace] },
    {
      resource: kinds.dataOffer,
      map: (o) => [spaceOfNamespace(o.metadata.namespace)].filter((s): s is string => !!s),
    },
    ...ownedKinds.map((resource) => ({
      resource,
      labelSelector: managedSelector,
      map: (o: KubeObject) => {
        const l = o.metadata.labels ?? {};
        const space = l[labels.space];
        return space && !l[labels.participant] ? [space] : [];
      },
    })),
  ]);
  manager.add(new ParticipantReconciler(deps), [
    {
      resource: kinds.dataSpace,
      labelSelector: opts.spaceSelector,
      map: (s) => participantsOf(s.metadata.name ?? ""),
      relevant: spaceRelevance,
    },
    ...ownedKinds.map((resource) => ({
      resource,
      labelSelector: managedSelector,
      map: (o: KubeObject) => {
        const participant = o.metadata.labels?.[labels.participant];
        return participant ? [participant] : [];
      },
    })),
  ]);
  addOfferAndContractReconcilers(manager, deps);
  // SandboxJobs: a contract's change (revocation, expiry) reaches the jobs that run under it.
  const jobsOfContract = (c: KubeObject) =>
    manager
      .informer(kinds.sandboxJob)
      .list()
      .filter(
        (j) =>
          j.metadata.namespace === c.metadata.namespace &&
          jobInputs((j as unknown as SandboxJob).spec).some((i) => i.contract === c.metadata.name),
      )
      .map((j) => `${j.metadata.namespace ?? ""}/${j.metadata.name ?? ""}`);
  manager.add(new SandboxJobReconciler(deps), [{ resource: kinds.dataContract, map: jobsOfContract }]);
  return manager;
}

function apiDeps(opts: OperatorOptions): {
  api?: ApiClient;
  gatewayUrl: string;
  dashboardApiServiceAccount?: string;
} {
  const a = opts.api === undefined ? apiClientOptionsFromEnv(process.env) : opts.api;
  const sa = opts.dashboardApiServiceAccount ?? process.env.TDS_DASHBOARD_API_SERVICEACCOUNT;
  return {
    ...(a ? { api: new ApiClient(a) } : {}),
    gatewayUrl: opts.gatewayUrl ?? process.env.TDS_GATEWAY_URL ?? "",
    ...(sa ? { dashboardApiServiceAccount: sa } : {}),
  };
}

/** Offers and contracts: keyed by namespace/name; spaces, participants and Secrets map to them. */
function addOfferAndContractReconcilers(
  manager: Manager,
  deps: ConstructorParameters<typeof DataOfferReconciler>[0],
): void {
  const inNamespaces = (r: ResourceType, namespaces: (ns: string) => boolean) =>
    manager
      .informer(r)
      .list()
      .filter((o) => namespaces(o.metadata.namespace ?? ""))
      .map((o) => `${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`);
  const ofParticipant = (p: KubeObject) => {
    const ns = participantNamespace((p as unknown as Participant).spec.dataSpace, p.metadata.name ?? "");
    return (n: string) => n === ns;
  };
  const ofSpace = (s: KubeObject) => (n: string) => splitParticipantNamespace(n)?.space === s.metadata.name;
  manager.add(new DataOfferReconciler(deps), [
    {
      resource: kinds.dataSpace,
      labelSelector: deps.spaceSelector,
      map: (s) => inNamespaces(kinds.dataOffer, ofSpace(s)),
      relevant: spaceRelevance,
    },
    { resource: kinds.participant, map: (p) => inNamespaces(kinds.dataOffer, ofParticipant(p)) },
  ]);
  const contractsOfOffer = (o: KubeObject) =>
    manager
      .informer(kinds.dataContract)
      .list()
      .filter((c) => {
        const ref = (c as unknown as { spec?: { offerRef?: { namespace?: string; name?: string } } }).spec
          ?.offerRef;
        return ref?.namespace === o.metadata.namespace && ref?.name === o.metadata.name;
      })
      .map((c) => `${c.metadata.namespace ?? ""}/${c.metadata.name ?? ""}`);
  manager.add(new DataContractReconciler(deps), [
    // A change of the space's rules re-decides its agreed contracts (suspension, reinstatement).
    {
      resource: kinds.dataSpace,
      labelSelector: deps.spaceSelector,
      map: (s) => inNamespaces(kinds.dataContract, ofSpace(s)),
      relevant: spaceRelevance,
    },
    { resource: kinds.dataOffer, map: contractsOfOffer },
    { resource: kinds.participant, map: (p) => inNamespaces(kinds.dataContract, ofParticipant(p)) },
    {
      resource: kinds.secret,
      labelSelector: managedSelector,
      map: (s) => {
        const contract = s.metadata.labels?.[CONTRACT_LABEL];
        return contract ? [`${s.metadata.namespace ?? ""}/${contract}`] : [];
      },
    },
  ]);
}
