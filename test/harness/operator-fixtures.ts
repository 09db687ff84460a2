// Manifests, an in-process operator and the setup steps integration tests
// share: a space with its participants Ready, an offer published, a contract
// Active with its token. Each test run labels its spaces with a unique
// selector and runs its own operator limited to them, so test files sharing
// one cluster never touch each other's spaces.
import { randomBytes } from "node:crypto";
import {
  defaultGatewaySelector,
  defaultSandboxPlacement,
  type GatewaySelector,
  type SandboxPlacement,
} from "../../operator/src/controllers/placement.ts";
import { createOperator } from "../../operator/src/operator.ts";
import { createLogger } from "../../operator/src/runtime/log.ts";
import { VersityGatewayStore, type ObjectStore } from "../../operator/src/storage/objectstore.ts";
import type { Manager } from "../../operator/src/runtime/manager.ts";
import type { Settings } from "../../operator/src/controllers/deps.ts";
import { kubeConfig, eventually } from "./testkit.ts";
import type { ApiClientOptions } from "@tds/wire";
import { S3Client } from "@aws-sdk/client-s3";
import { dataOf, type KubeClient, type KubeObject, kinds, type KubeConfig } from "@tds/kube";
import {
  participantNamespace,
  type Condition,
  type DataContract,
  type DataOffer,
  type Participant,
} from "@tds/crds";

export const runId = (): string => randomBytes(3).toString("hex");

export function spaceManifest(
  name: string,
  run: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataSpace",
    metadata: { name, labels: { "tds.dev/test-run": run } },
    spec: {
      displayName: `Test space ${name}`,
      admission: { mode: "Automatic" },
      crossBorder: { homeRegion: "CN" },
      storage: { participantQuota: { default: "10Gi", maximum: "1Ti" } },
      sandbox: {
        defaultResources: { cpu: "250m", memory: "256Mi" },
        maxResources: { cpu: "2", memory: "4Gi" },
      },
      metering: { currency: "CNY", priceSheet: { storagePerGBMonth: "0.12", transferPerGB: "0.5" } },
      ...overrides,
    },
  };
}

export function participantManifest(
  name: string,
  space: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "Participant",
    metadata: { name },
    spec: {
      dataSpace: space,
      organization: { legalName: `${name} Ltd`, registrationId: `REG-${name}`, region: "CN-SH" },
      identity: { certificate: { subject: `CN=${name},O=${name} Ltd,C=CN` } },
      roles: ["provider", "consumer"],
      admins: [{ kind: "User", name: `${name}-admin` }],
      ...overrides,
    },
  };
}

export interface TestOperator {
  readonly manager: Manager;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** Starts an operator in this process, limited to spaces labelled with the run id. */
export async function startOperator(
  run: string,
  opts: {
    resyncMs?: number;
    workers?: number;
    watchdogMs?: number;
    requestTimeoutMs?: number;
    settings?: Partial<Settings>;
    kc?: KubeConfig;
    leaseNamespace?: string;
    /** The API client's options (catalog, evidence, usage); null (the default here) runs without one. */
    api?: ApiClientOptions | null;
    /** `namespace:name` of the dashboard API's ServiceAccount (per-space signing-key Role). */
    dashboardApiServiceAccount?: string;
    /** The gateway's pods and the sandbox placement (placement.ts); defaults as in production. */
    gateway?: GatewaySelector;
    sandbox?: SandboxPlacement;
    /** The object store; the S3 server of the environment by default. */
    store?: ObjectStore;
  } = {},
): Promise<TestOperator> {
  const log = createLogger(
    { component: "tds-operator", run },
    (process.env.TDS_TEST_LOG_LEVEL as "info" | undefined) ?? "error",
  );
  const manager = createOperator({
    kubeConfig: opts.kc ?? kubeConfig(),
    log,
    store: opts.store ?? VersityGatewayStore.fromEnv(),
    leaseNamespace: opts.leaseNamespace ?? "default",
    leaseName: `tds-operator-${run}`,
    spaceSelector: `tds.dev/test-run=${run}`,
    resyncMs: opts.resyncMs ?? 5_000,
    workers: opts.workers,
    watchdogMs: opts.watchdogMs,
    requestTimeoutMs: opts.requestTimeoutMs,
    retryPeriodMs: 500,
    settings: { storageSampleMs: 1_000, notReadyRequeueMs: 500, ...opts.settings },
    api: opts.api ?? null,
    ...(opts.dashboardApiServiceAccount
      ? { dashboardApiServiceAccount: opts.dashboardApiServiceAccount }
      : {}),
    gateway: opts.gateway ?? defaultGatewaySelector,
    sandbox: opts.sandbox ?? defaultSandboxPlacement,
  });
  const done = manager.start();
  await eventually("the operator to become leader and sync", () => manager.ready, 30_000);
  return {
    manager,
    done,
    stop: async () => {
      await manager.stop();
      await done;
    },
  };
}

/** A condition of an object's status by type (Ready, Published, Frozen, ...). */
export const conditionOf = <C extends { readonly type: string } = Condition>(
  o: { readonly status?: { readonly conditions?: readonly C[] } } | undefined,
  type: string,
): C | undefined => o?.status?.conditions?.find((c) => c.type === type);

/**
 * Creates a space labelled with the run id and its participants, each a
 * participantManifest with its overrides (roles, identity, organization), and
 * waits until every participant is Ready.
 */
export async function provisionSpace(
  client: KubeClient,
  run: string,
  space: string,
  /** Each participant's name and the fields of its spec beyond participantManifest's. */
  participants: Readonly<Record<string, Record<string, unknown>>>,
  /** Fields of the space's spec beyond spaceManifest's (spaceType, rules, say). */
  spaceSpec: Record<string, unknown> = {},
): Promise<void> {
  await client.create(kinds.dataSpace, spaceManifest(space, run, spaceSpec) as KubeObject);
  for (const [name, overrides] of Object.entries(participants))
    await client.create(kinds.participant, participantManifest(name, space, overrides) as KubeObject);
  await eventually(
    "the participants to be Ready",
    async () => {
      const ps = await Promise.all(
        Object.keys(participants).map((p) => client.get<Participant & KubeObject>(kinds.participant, p)),
      );
      return ps.every((p) => conditionOf(p, "Ready")?.status === "True");
    },
    90_000,
  );
}

/**
 * Creates a space labelled with the run id and one provider and one consumer
 * participant, and waits until both participants are Ready.
 */
export async function provisionProviderAndConsumer(
  client: KubeClient,
  run: string,
  space: string,
  provider: string,
  consumer: string,
  /** Fields of the space's spec beyond spaceManifest's (spaceType, say). */
  spaceSpec: Record<string, unknown> = {},
): Promise<void> {
  await provisionSpace(
    client,
    run,
    space,
    { [provider]: { roles: ["provider"] }, [consumer]: { roles: ["consumer"] } },
    spaceSpec,
  );
}

/**
 * participantManifest's overrides for a consumer registered in Germany
 * (region DE-BY, certificate C=DE): a cross-border destination from a space
 * whose home region is CN.
 */
export const consumerAbroad = (name: string): Record<string, unknown> => ({
  roles: ["consumer"],
  organization: { legalName: "Abroad GmbH", registrationId: "R-F", region: "DE-BY" },
  identity: { certificate: { subject: `CN=${name},O=Abroad GmbH,C=DE` } },
});

/**
 * A DataOffer in a provider's namespace: public industrial telemetry from
 * CN-SH, the objects under telemetry/, for research, by download. `spec` is
 * merged over these fields (asset, policy, classification, ...).
 */
export function offerManifest(
  name: string,
  namespace: string,
  spec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataOffer",
    metadata: { name, namespace },
    spec: {
      title: `Offer ${name}`,
      classification: "public",
      dataCategory: "industrial.telemetry",
      regionOfOrigin: "CN-SH",
      asset: { prefix: "telemetry/", format: "application/octet-stream" },
      policy: { purposes: ["research"], accessMode: "download" },
      ...spec,
    },
  };
}

/** Creates an offer (offerManifest) and waits until the operator has published it in the catalog. */
export async function publishOffer(
  client: KubeClient,
  name: string,
  namespace: string,
  spec: Record<string, unknown> = {},
): Promise<void> {
  await client.create(kinds.dataOffer, offerManifest(name, namespace, spec));
  await eventually(
    `offer ${name} published`,
    async () =>
      conditionOf(await client.get<DataOffer & KubeObject>(kinds.dataOffer, name, namespace), "Ready")
        ?.reason === "Published",
    60_000,
  );
}

/** A DataContract in a consumer's namespace for an offer, for research; `spec` is merged over it (purpose, ...). */
export function contractManifest(
  name: string,
  namespace: string,
  offer: { readonly namespace: string; readonly name: string },
  spec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataContract",
    metadata: { name, namespace },
    spec: { offerRef: { namespace: offer.namespace, name: offer.name }, purpose: "research", ...spec },
  };
}

/** An Active contract: its uid, its agreement id and the gateway token of its credentials Secret. */
export interface ActiveContract {
  readonly uid: string;
  readonly agreementId: string;
  readonly token: string;
}

/**
 * Requests a contract (contractManifest) and waits until the operator has made
 * it Active with an agreement id; reads the token of its credentials Secret
 * (contract-<name>), as the consumer would.
 */
export async function activeContract(
  client: KubeClient,
  name: string,
  namespace: string,
  offer: { readonly namespace: string; readonly name: string },
  spec: Record<string, unknown> = {},
): Promise<ActiveContract> {
  await client.create(kinds.dataContract, contractManifest(name, namespace, offer, spec));
  const c = await eventually(
    `contract ${name} Active`,
    async () => {
      const o = await client.get<DataContract & KubeObject>(kinds.dataContract, name, namespace);
      return o.status?.state === "Active" && o.status.agreementId ? o : undefined;
    },
    60_000,
  );
  const secret = dataOf(await client.get(kinds.secret, `contract-${name}`, namespace));
  return {
    uid: c.metadata.uid ?? "",
    agreementId: c.status?.agreementId ?? "",
    token: Buffer.from(secret.token ?? "", "base64").toString("utf8"),
  };
}

/**
 * A participant's own S3 client, from the storage-credentials Secret the operator wrote
 * in its namespace, and its bucket (status.bucket): what the participant itself would use.
 */
export async function participantStorage(
  client: KubeClient,
  space: string,
  participant: string,
): Promise<{ s3: S3Client; bucket: string }> {
  const d = dataOf(
    await client.get(kinds.secret, "storage-credentials", participantNamespace(space, participant)),
  );
  const unb64 = (v: string | undefined) => Buffer.from(v ?? "", "base64").toString("utf8");
  const p = await client.get<KubeObject & { status?: { bucket?: string } }>(kinds.participant, participant);
  const bucket = p.status?.bucket;
  if (!bucket) throw new Error(`participant ${participant} has no bucket yet`);
  const s3 = new S3Client({
    endpoint: unb64(d.S3_ENDPOINT),
    region: unb64(d.AWS_REGION),
    forcePathStyle: true,
    credentials: { accessKeyId: unb64(d.AWS_ACCESS_KEY_ID), secretAccessKey: unb64(d.AWS_SECRET_ACCESS_KEY) },
  });
  return { s3, bucket };
}
