// Public surface of @tds/gateway, the metered data gateway: its app
// (buildGatewayApp, for its own process, main.ts), its dependencies from the
// environment (gatewayFromEnv), and the evidence checkpoints' export to S3.
// The dashboard API does not import it: the two share the database and the
// library of @tds/dashboard-api (the ledger, the evidence append path, usage
// ingest), not code paths.
import { S3Client } from "@aws-sdk/client-s3";
import { defaultKubeConfig, KubeClient, kubeConfigured, type KubeConfig } from "@tds/kube";
import type { Pool } from "pg";
import { ConsentIndex } from "@tds/dashboard-api/consent-index";
import { GroupedAppender } from "@tds/dashboard-api/evidence-append";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { KubeGrantSource } from "./kube.ts";
import { Ledger } from "@tds/dashboard-api/ledger";
import { KubeSandboxSource } from "./sandbox-kube.ts";
import type { GatewayOptions } from "./routes.ts";

export { buildGatewayApp, type GatewayAppOptions } from "./app.ts";
export { gatewayRoutes, type GatewayOptions } from "./routes.ts";
export { KubeGrantSource } from "./kube.ts";
export type { StreamMonitor } from "./monitor.ts";
export {
  bucketExporter,
  checkpointKey,
  exportCheckpoints,
  s3CheckpointExporter,
  startCheckpointExport,
  type CheckpointExporter,
} from "./evidence-export.ts";

/** An S3 client for the store's admin account, tuned for streaming. */
export function gatewayS3(env: NodeJS.ProcessEnv): S3Client | undefined {
  const endpoint = env.TDS_S3_ENDPOINT;
  const accessKeyId = env.TDS_S3_ACCESS_KEY_ID;
  const secretAccessKey = env.TDS_S3_SECRET_ACCESS_KEY;
  if (!endpoint || !accessKeyId || !secretAccessKey) return undefined;
  return new S3Client({
    endpoint,
    region: env.TDS_S3_REGION ?? "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    // Checksum validation would wrap every body in a hashing stream; the gateway passes bytes through.
    responseChecksumValidation: "WHEN_REQUIRED",
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
}

/** The field manager of the gateway's Kubernetes client (it reads; the API writes as tds-dashboard-api). */
export const GATEWAY_FIELD_MANAGER = "tds-gateway";

/** The gateway's one Kubernetes client (@tds/kube) on `kc` (by default the kubeconfig found the standard way). */
export function gatewayKubeClient(kc: KubeConfig = defaultKubeConfig()): KubeClient {
  return new KubeClient(kc, GATEWAY_FIELD_MANAGER);
}

/**
 * The gateway's dependencies from the environment: it needs TDS_S3_* and a
 * kubeconfig (KUBECONFIG, ~/.kube/config or in-cluster), and throws naming what
 * is missing. TDS_GATEWAY_MONITOR_MS sets the monitor interval. Its `watch` is
 * the process's one Kubernetes client.
 */
export function gatewayFromEnv(env: NodeJS.ProcessEnv, pool: Pool): GatewayOptions & { watch: KubeClient } {
  const s3 = gatewayS3(env);
  if (!s3)
    throw new Error("the gateway needs TDS_S3_ENDPOINT, TDS_S3_ACCESS_KEY_ID and TDS_S3_SECRET_ACCESS_KEY");
  if (!kubeConfigured(env))
    throw new Error(
      "the gateway needs a kubeconfig: KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount",
    );
  const interval = Number(env.TDS_GATEWAY_MONITOR_MS ?? 2000);
  if (!Number.isSafeInteger(interval) || interval < 50) {
    throw new Error(`TDS_GATEWAY_MONITOR_MS must be an integer of at least 50, got ${String(interval)}`);
  }
  const kube = gatewayKubeClient();
  return {
    source: new KubeGrantSource(kube),
    watch: kube,
    sandbox: new KubeSandboxSource(kube),
    s3,
    // One transaction for the evidence of the transfers that end together (evidence/grouped.ts).
    ledger: new Ledger(pool, new GroupedAppender(new EvidenceStore(pool))),
    monitorIntervalMs: interval,
    consents: new ConsentIndex(pool),
  };
}
