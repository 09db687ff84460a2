// The metered data gateway, as a fastify plugin the dashboard API registers
// when the gateway is configured (gatewayFromEnv). One process serves both;
// the gateway's routes are public to the JWT layer and authenticate contract
// tokens themselves.
import { S3Client } from "@aws-sdk/client-s3";
import { apiKubeClient } from "../plugins/kube.ts";
import type { Pool } from "pg";
import { GroupedAppender } from "../evidence/grouped.ts";
import { EvidenceStore } from "../evidence/store.ts";
import { KubeGrantSource } from "./kube.ts";
import { Ledger } from "./ledger.ts";
import { KubeSandboxSource } from "./sandbox-kube.ts";
import type { GatewayOptions } from "./routes.ts";

export { gatewayRoutes, type GatewayOptions } from "./routes.ts";

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

/**
 * The gateway's dependencies from the environment, or undefined when the
 * gateway is off: it needs TDS_S3_* and a kubeconfig (KUBECONFIG or in-cluster).
 * TDS_GATEWAY=off disables it; TDS_GATEWAY_MONITOR_MS sets the monitor interval.
 */
export function gatewayFromEnv(env: NodeJS.ProcessEnv, pool: Pool): GatewayOptions | undefined {
  if (env.TDS_GATEWAY === "off") return undefined;
  const s3 = gatewayS3(env);
  if (!s3) return undefined;
  if (!env.KUBECONFIG && !env.KUBERNETES_SERVICE_HOST) return undefined;
  const interval = Number(env.TDS_GATEWAY_MONITOR_MS ?? 2000);
  if (!Number.isSafeInteger(interval) || interval < 50) {
    throw new Error(`TDS_GATEWAY_MONITOR_MS must be an integer of at least 50, got ${String(interval)}`);
  }
  const kube = apiKubeClient();
  return {
    source: new KubeGrantSource(kube),
    watch: kube,
    sandbox: new KubeSandboxSource(kube),
    s3,
    // One transaction for the evidence of the transfers that end together (evidence/grouped.ts).
    ledger: new Ledger(pool, new GroupedAppender(new EvidenceStore(pool))),
    monitorIntervalMs: interval,
  };
}
