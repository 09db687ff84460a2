// Manifests and an in-process operator for integration tests. Each test run
// labels its spaces with a unique selector and runs its own operator limited to
// them, so test files sharing one cluster never touch each other's spaces.
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
import { participantNamespace } from "@tds/crds";

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
  await client.create(kinds.dataSpace, spaceManifest(space, run, spaceSpec) as KubeObject);
  await client.create(
    kinds.participant,
    participantManifest(provider, space, { roles: ["provider"] }) as KubeObject,
  );
  await client.create(
    kinds.participant,
    participantManifest(consumer, space, { roles: ["consumer"] }) as KubeObject,
  );
  const ready = (o: KubeObject) =>
    ((o as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []).some(
      (c) => c.type === "Ready" && c.status === "True",
    );
  await eventually(
    "the participants to be Ready",
    async () => {
      const ps = await Promise.all([provider, consumer].map((p) => client.get(kinds.participant, p)));
      return ps.every(ready);
    },
    90_000,
  );
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
