// The gateway process (started by main.ts once telemetry is in place): the metered data gateway on its own (the chart's
// gateway Deployment; the API then runs with TDS_GATEWAY=off). It holds the
// object store's credentials, which the API's pods then need only for the
// evidence export. Reads the environment, applies migrations (the API does
// too; node-pg-migrate takes a lock), serves, and drains on SIGTERM/SIGINT.
//
//   DATABASE_URL         the ledger, evidence and DSP transfer tables (required)
//   TDS_S3_ENDPOINT, TDS_S3_REGION, TDS_S3_ACCESS_KEY_ID, TDS_S3_SECRET_ACCESS_KEY (required)
//   KUBECONFIG or the in-cluster ServiceAccount: grants from the API server's watch (required)
//   TDS_TLS_CERT_FILE, TDS_TLS_KEY_FILE, TDS_TLS_CLIENT_CERT_HEADER: HTTPS and client
//   certificates (plugins/client-certificates.ts); plain HTTP when unset
//   PORT (8080), HOST (0.0.0.0), TDS_METRICS_PORT (9464: /metrics, never on the
//   public port), LOG_LEVEL (info), TDS_GATEWAY_MONITOR_MS (2000), TDS_SHUTDOWN_GRACE_MS (10000)
import pg from "pg";
import type { Telemetry } from "@tds/telemetry";
import { loadConfig } from "../config.ts";
import { migrate } from "../migrate.ts";
import { DspStore } from "../dsp/store.ts";
import { TransferTokens } from "../dsp/transfer-tokens.ts";
import { buildGatewayApp } from "./app.ts";
import { gatewayFromEnv } from "./index.ts";
import { loggerOptions, metricsApp } from "../plugins/telemetry.ts";
import { certificateVerifierFromEnv } from "../auth/certificate-trust.ts";
import { forwardedHeaderFromEnv, tlsFromEnv } from "../plugins/client-certificates.ts";
import { GroupedAppender } from "../evidence/grouped.ts";
import { EvidenceStore } from "../evidence/store.ts";

export async function run(telemetry: Telemetry): Promise<void> {
  const config = loadConfig(process.env);
  const log = (level: number, msg: string) => {
    console.log(JSON.stringify({ level, time: Date.now(), msg }));
  };
  await migrate(config.databaseUrl, {
    info: (m) => {
      if (m.includes("Migrating") || m.includes("- ")) log(30, `migrations ${m.trim()}`);
    },
    warn: (m) => {
      log(40, m);
    },
    error: (m) => {
      log(50, m);
    },
  });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 });
  const transferTokens = new TransferTokens(new DspStore(pool));
  const gateway = gatewayFromEnv({ ...process.env, TDS_GATEWAY: "on" }, pool);
  if (!gateway)
    throw new Error(
      "the gateway needs TDS_S3_ENDPOINT, TDS_S3_ACCESS_KEY_ID and TDS_S3_SECRET_ACCESS_KEY, and a kubeconfig (KUBECONFIG or in-cluster)",
    );
  // HTTPS with client certificates when TDS_TLS_CERT_FILE/TDS_TLS_KEY_FILE are set (plugins/client-certificates.ts).
  const https = tlsFromEnv(process.env);
  const forwardedHeader = forwardedHeaderFromEnv(process.env);
  const app = await buildGatewayApp({
    ...(https ? { https } : {}),
    ...(https || forwardedHeader
      ? {
          certificates: {
            verifier: certificateVerifierFromEnv(process.env, new GroupedAppender(new EvidenceStore(pool))),
            ...(forwardedHeader ? { forwardedHeader } : {}),
          },
        }
      : {}),
    gateway: { ...gateway, transferTokens },
    pool,
    logger: loggerOptions(config.logLevel),
    defaultMetrics: true,
  });
  const unlisten = await transferTokens.listen(pool, (err) => {
    app.log.warn({ err }, "DSP transfer notifications: a change is applied at the next request");
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, "shutting down: draining in-flight transfers");
    const force = setTimeout(() => {
      app.log.error("drain timed out; exiting");
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    unlisten()
      .catch(() => undefined)
      .then(() => Promise.all([app.close(), metrics.close()]))
      .then(() => pool.end())
      .then(() => telemetry.shutdown())
      .then(
        () => {
          process.exitCode = 0;
        },
        (err: unknown) => {
          app.log.error({ err }, "error while closing");
          process.exitCode = 1;
        },
      );
  };
  const metrics = metricsApp(app.metrics.registry);
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await metrics.listen({ port: config.metricsPort, host: config.host });
  await app.listen({ port: config.port, host: config.host });
}

export { startFailed as failed } from "../plugins/telemetry.ts";
