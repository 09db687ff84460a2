// Test support for the gateway's integration tests and benchmark (not used by
// production code): the gateway's own app (@tds/gateway) on a private database. It declares what the operator would have decided, on the
// real API server: the provider and consumer namespaces, a Participant whose
// status names its bucket, DataOffers, and DataContracts whose status is set
// through the status subresource plus their credentials Secrets. The
// provider's bucket is real, on the harness's S3 server.
import { createHash, randomBytes } from "node:crypto";
import { CreateBucketCommand, PutObjectCommand, S3ServiceException } from "@aws-sdk/client-s3";
import { KubeClient } from "@tds/kube";
import { installCrds, kubeConfig, kubectl } from "@tds/test/testkit";
import type pg from "pg";
import type { FastifyInstance } from "fastify";
import { GroupedAppender } from "@tds/dashboard-api/evidence-append";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { Ledger } from "@tds/dashboard-api/ledger";
import { buildGatewayApp, gatewayS3, KubeGrantSource, type StreamMonitor } from "@tds/gateway";
import { createTestDatabase, type TestDatabase } from "./database.ts";

export interface GatewayWorld {
  readonly run: string;
  readonly space: string;
  readonly provider: string;
  readonly consumer: string;
  readonly providerNs: string;
  readonly consumerNs: string;
  readonly bucket: string;
  readonly s3: NonNullable<ReturnType<typeof gatewayS3>>;
  readonly db: TestDatabase;
  readonly pool: pg.Pool;
  readonly app: FastifyInstance;
  readonly url: string;
  /** Live grant reads, as the gateway's cache falls back to. */
  readonly source: KubeGrantSource;
  monitor: StreamMonitor | undefined;
  put(key: string, body: Buffer | string): Promise<void>;
  offer(name: string, asset: { key?: string; prefix?: string }, policy?: Record<string, unknown>): void;
  contract(
    name: string,
    offer: string,
    status: Record<string, unknown>,
    spec?: Record<string, unknown>,
  ): { agreementId: string; token: string };
  setContractStatus(name: string, status: Record<string, unknown>): void;
  close(): Promise<void>;
}

const apply = (obj: unknown): void => {
  kubectl(["apply", "--server-side", "--field-manager=tds-tests", "-f", "-"], JSON.stringify(obj));
};

export async function gatewayWorld(
  opts: {
    monitorIntervalMs?: number;
    /**
     * Also create the DataSpace and the consumer Participant (Active), so the
     * gateway re-decides every access against the space's rules (grants.ts,
     * policyRefusal); without them only the contract's state and window apply.
     */
    rules?: boolean;
  } = {},
): Promise<GatewayWorld> {
  installCrds();
  const run = randomBytes(3).toString("hex");
  const space = `gw-${run}`;
  const provider = `gwp-${run}`;
  const consumer = `gwc-${run}`;
  const providerNs = `${space}--${provider}`;
  const consumerNs = `${space}--${consumer}`;
  const bucket = `tds-${space}-${provider}`;
  const s3 = gatewayS3(process.env);
  if (!s3) throw new Error("TDS_S3_* is not set: run under the harness");

  for (const ns of [providerNs, consumerNs]) {
    apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { "tds.dev/test-run": run } },
    });
  }
  apply({
    apiVersion: "tds.dev/v1alpha1",
    kind: "Participant",
    metadata: { name: provider, labels: { "tds.dev/test-run": run } },
    spec: {
      dataSpace: space,
      organization: { legalName: `${provider} Ltd`, registrationId: `REG-${provider}`, region: "CN-SH" },
      identity: { certificate: { subject: `CN=${provider},O=${provider} Ltd,C=CN` } },
      roles: ["provider"],
    },
  });
  kubectl([
    "patch",
    "participant",
    provider,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { phase: "Active", namespace: providerNs, bucket } }),
  ]);
  if (opts.rules) {
    apply({
      apiVersion: "tds.dev/v1alpha1",
      kind: "DataSpace",
      metadata: { name: space, labels: { "tds.dev/test-run": run } },
      spec: {
        displayName: `Gateway test space ${space}`,
        admission: { mode: "Automatic" },
        crossBorder: { homeRegion: "CN" },
        storage: { participantQuota: { default: "10Gi", maximum: "1Ti" } },
        sandbox: {
          defaultResources: { cpu: "250m", memory: "256Mi" },
          maxResources: { cpu: "2", memory: "4Gi" },
        },
        metering: { currency: "CNY", priceSheet: { storagePerGBMonth: "0.12", transferPerGB: "0.5" } },
      },
    });
    apply({
      apiVersion: "tds.dev/v1alpha1",
      kind: "Participant",
      metadata: { name: consumer, labels: { "tds.dev/test-run": run } },
      spec: {
        dataSpace: space,
        organization: { legalName: `${consumer} Ltd`, registrationId: `REG-${consumer}`, region: "CN-HB" },
        identity: { certificate: { subject: `CN=${consumer},O=${consumer} Ltd,C=CN` } },
        roles: ["consumer"],
      },
    });
    kubectl([
      "patch",
      "participant",
      consumer,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { phase: "Active", namespace: consumerNs } }),
    ]);
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!(err instanceof S3ServiceException && err.name.startsWith("BucketAlready"))) throw err;
  }

  const db = await createTestDatabase("tds_gw", { migrate: true });
  const pool = db.pool;
  const world: GatewayWorld = {
    run,
    space,
    provider,
    consumer,
    providerNs,
    consumerNs,
    bucket,
    s3,
    db,
    pool,
    app: undefined as unknown as FastifyInstance,
    url: "",
    source: undefined as unknown as KubeGrantSource,
    monitor: undefined,
    async put(key, body) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    offer(name, asset, policy = {}) {
      apply({
        apiVersion: "tds.dev/v1alpha1",
        kind: "DataOffer",
        metadata: { name, namespace: providerNs },
        spec: {
          title: `Offer ${name}`,
          classification: "public",
          dataCategory: "industrial.telemetry",
          regionOfOrigin: "CN",
          asset: { ...asset, format: "application/octet-stream" },
          policy: { purposes: ["research"], ...policy },
        },
      });
    },
    contract(name, offer, status, spec = {}) {
      const agreementId = `agr-${run}-${name}`;
      const token = randomBytes(32).toString("base64url");
      apply({
        apiVersion: "tds.dev/v1alpha1",
        kind: "DataContract",
        metadata: { name, namespace: consumerNs, labels: { "tds.dev/agreement-id": agreementId } },
        spec: { offerRef: { namespace: providerNs, name: offer }, purpose: "research", ...spec },
      });
      apply({
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: `contract-${name}`,
          namespace: consumerNs,
          labels: { "tds.dev/agreement-id": agreementId },
        },
        stringData: { agreementId, token, gatewayUrl: world.url },
      });
      // As the operator does at agreement: the terms fixed in status (here the
      // request's access limit), which the gateway enforces.
      const requested = (spec as { requestedAccesses?: number }).requestedAccesses;
      world.setContractStatus(name, {
        agreementId,
        terms: requested === undefined ? {} : { maxAccesses: requested },
        credentialsSecret: `contract-${name}`,
        credentialsDigest: `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`,
        ...status,
      });
      return { agreementId, token };
    },
    setContractStatus(name, status) {
      kubectl([
        "patch",
        "datacontract",
        name,
        "-n",
        consumerNs,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({ status }),
      ]);
    },
    async close() {
      await world.app.close();
      await db.drop();
      kubectl(["delete", "participant", provider, consumer, "--ignore-not-found", "--wait=false"]);
      if (opts.rules) kubectl(["delete", "dataspace", space, "--ignore-not-found", "--wait=false"]);
      kubectl(["delete", "namespace", providerNs, consumerNs, "--ignore-not-found", "--wait=false"]);
    },
  };
  const kc = kubeConfig();
  const source = new KubeGrantSource(new KubeClient(kc, "tds-tests"));
  (world as { source: KubeGrantSource }).source = source;
  const app = await buildGatewayApp({
    pool,
    gateway: {
      source,
      watch: new KubeClient(kc, "tds-tests"),
      s3,
      ledger: new Ledger(pool, new GroupedAppender(new EvidenceStore(pool))),
      monitorIntervalMs: opts.monitorIntervalMs ?? 200,
      onMonitor: (m) => {
        world.monitor = m;
      },
    },
  });
  (world as { app: FastifyInstance }).app = app;
  (world as { url: string }).url = await app.listen({ host: "127.0.0.1", port: 0 });
  return world;
}

/** Sums of the gateway's usage events for an agreement, by meter. */
export async function meteredFor(
  pool: pg.Pool,
  agreementId: string,
): Promise<{ bytes: number; accesses: number; events: number }> {
  const { rows } = await pool.query<{ meter: string; total: string; n: string }>(
    `select e.meter, sum(e.quantity)::text as total, count(*)::text as n
       from usage_events e join gateway_transfers t on t.transfer_id = split_part(e.id, '/', 1)
      where e.source = 'tds-gateway' and t.agreement_id = $1
      group by e.meter`,
    [agreementId],
  );
  const get = (m: string) => rows.find((r) => r.meter === m);
  return {
    bytes: Number(get("transfer.bytes")?.total ?? 0),
    accesses: Number(get("offer.accesses")?.total ?? 0),
    events: rows.reduce((n, r) => n + Number(r.n), 0),
  };
}
