// The gateway process (started by main.ts once telemetry is in place): the
// metered data gateway (the chart's gateway Deployment). It holds the object
// store's credentials, which the API's pods do not: it streams providers'
// objects and exports the evidence checkpoints the API signs to the evidence
// bucket (evidence-export.ts). Reads the environment, applies migrations (the
// API does too; node-pg-migrate takes a lock), serves, and drains on
// SIGTERM/SIGINT (@tds/dashboard-api/serve).
//
//   DATABASE_URL         the ledger, evidence and DSP transfer tables (required)
//   TDS_S3_ENDPOINT, TDS_S3_REGION, TDS_S3_ACCESS_KEY_ID, TDS_S3_SECRET_ACCESS_KEY (required)
//   KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount: grants from the API server's watch (required)
//   TDS_EVIDENCE_BUCKET (tds-evidence), TDS_EVIDENCE_EXPORT_INTERVAL_MS (60000): the checkpoints' export
//   TDS_AUTH_OIDC=off: no participant OIDC tokens beside contract tokens (auth/oidc.ts)
//   TDS_TLS_CERT_FILE, TDS_TLS_KEY_FILE, TDS_TLS_CLIENT_CERT_HEADER: HTTPS and client
//   certificates (plugins/client-certificates.ts); plain HTTP when unset
//   PORT (8080), HOST (0.0.0.0), TDS_METRICS_PORT (9464: /metrics, never on the
//   public port), LOG_LEVEL (info), TDS_GATEWAY_MONITOR_MS (2000), TDS_SHUTDOWN_GRACE_MS (10000)
import pg from "pg";
import type { Telemetry } from "@tds/telemetry";
import { doorCertificateVerifier } from "@tds/dashboard-api/certificate-trust";
import { forwardedHeaderFromEnv, tlsFromEnv } from "@tds/dashboard-api/client-certificates";
import { envInt } from "@tds/dashboard-api/config";
import { DspStore } from "@tds/dashboard-api/dsp-store";
import { TransferTokens } from "@tds/dashboard-api/dsp-transfer-tokens";
import { GroupedAppender } from "@tds/dashboard-api/evidence-append";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { jsonLinesMigrationLog, migrate } from "@tds/dashboard-api/migrate";
import { createOidcVerifier, oidcParticipantsFromKube } from "@tds/dashboard-api/oidc-verifier";
import { serveUntilSignal } from "@tds/dashboard-api/serve";
import { loggerOptions } from "@tds/dashboard-api/telemetry";
import { buildGatewayApp } from "./app.ts";
import { bucketExporter, startCheckpointExport } from "./evidence-export.ts";
import { gatewayFromEnv } from "./index.ts";

export async function run(telemetry: Telemetry): Promise<void> {
  const env = process.env;
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) throw new Error("DATABASE_URL is required");
  await migrate(databaseUrl, jsonLinesMigrationLog);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const transferTokens = new TransferTokens(new DspStore(pool));
  const gateway = gatewayFromEnv(env, pool);
  // The consumer participant's own OIDC access token, beside its contract token (auth/oidc.ts).
  const participantTokens =
    env.TDS_AUTH_OIDC === "off"
      ? undefined
      : createOidcVerifier({
          participants: oidcParticipantsFromKube(gateway.watch),
        });
  // HTTPS with client certificates when TDS_TLS_CERT_FILE/TDS_TLS_KEY_FILE are set (plugins/client-certificates.ts).
  const https = tlsFromEnv(env);
  const forwardedHeader = forwardedHeaderFromEnv(env);
  const evidence = new EvidenceStore(pool);
  const app = await buildGatewayApp({
    ...(https ? { https } : {}),
    ...(https || forwardedHeader
      ? {
          certificates: {
            verifier: doorCertificateVerifier(gateway.watch, new GroupedAppender(evidence)),
            ...(forwardedHeader ? { forwardedHeader } : {}),
          },
        }
      : {}),
    gateway: { ...gateway, transferTokens, ...(participantTokens ? { participantTokens } : {}) },
    pool,
    logger: loggerOptions(env.LOG_LEVEL ?? "info"),
    defaultMetrics: true,
  });
  const unlisten = await transferTokens.listen(pool, (err) => {
    app.log.warn({ err }, "DSP transfer notifications: a change is applied at the next request");
  });
  const checkpointExport = startCheckpointExport({
    store: evidence,
    exporter: bucketExporter(gateway.s3, env.TDS_EVIDENCE_BUCKET ?? "tds-evidence"),
    intervalMs: envInt(env, "TDS_EVIDENCE_EXPORT_INTERVAL_MS", 60_000),
    onError: (err, space) => {
      app.log.warn({ err, space }, "evidence checkpoint export failed; retrying on the next pass");
    },
  });
  await serveUntilSignal({
    app,
    host: env.HOST ?? "0.0.0.0",
    port: envInt(env, "PORT", 8080),
    metricsPort: envInt(env, "TDS_METRICS_PORT", 9464),
    shutdownGraceMs: envInt(env, "TDS_SHUTDOWN_GRACE_MS", 10_000),
    telemetry,
    draining: "in-flight transfers",
    beforeClose: () => Promise.all([checkpointExport.stop(), unlisten().catch(() => undefined)]),
    afterClose: () => pool.end(),
  });
}

export { startFailed as failed } from "@tds/dashboard-api/telemetry";
