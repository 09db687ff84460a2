// The dashboard API process (started by server.ts once telemetry is in place):
// reads the environment, applies migrations, serves, and drains in-flight
// requests on SIGTERM/SIGINT (serve.ts). It holds no object-store
// credentials: the data routes and the evidence checkpoints' export to S3 are
// the gateway's process (@tds/gateway).
import type { Telemetry } from "@tds/telemetry";
import pg from "pg";
import { buildApp } from "./app.ts";
import { originFor } from "./evidence/checkpoint.ts";
import { startCheckpointer } from "./evidence/checkpoint-loop.ts";
import { EvidenceStore } from "./evidence/store.ts";
import { secretSignerFor } from "./evidence/wiring.ts";
import { kubeConfigured } from "@tds/kube";
import { clusterView } from "./kube/cluster-view.ts";
import { apiKubeClient } from "./plugins/kube.ts";
import { startPriceSync } from "./statements/price-sync.ts";
import { pruneRefusals, riskGauge, riskPass } from "./risk/evaluator.ts";
import { startPeriodic } from "./periodic.ts";
import { jwksOf, loadOrCreateDevKey } from "./auth/keys.ts";
import { anyVerifier, createKubernetesVerifier } from "./auth/kubernetes.ts";
import { createTokenVerifier, defaultAudience } from "./auth/tokens.ts";
import { createOidcVerifier, oidcParticipantsFromKube, withOidc } from "./auth/oidc.ts";
import { loadConfig } from "./config.ts";
import { jsonLinesMigrationLog, migrate } from "./migrate.ts";
import { loggerOptions } from "./plugins/telemetry.ts";
import { serveUntilSignal } from "./serve.ts";
import { dspFromEnv } from "./dsp/index.ts";
import { DspSpacesFromCluster } from "./dsp/cluster.ts";
import { doorCertificateVerifier } from "./auth/certificate-trust.ts";
import { forwardedHeaderFromEnv, tlsFromEnv } from "./plugins/client-certificates.ts";

export async function run(telemetry: Telemetry): Promise<void> {
  const config = loadConfig(process.env);
  let jwks = config.jwks;
  let devKey = false;
  if (!jwks) {
    jwks = jwksOf(await loadOrCreateDevKey(config.devKeyFile));
    devKey = true;
  }
  await migrate(config.databaseUrl, jsonLinesMigrationLog);
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 });
  // The one Kubernetes client of the process (plugins/kube.ts), when a kubeconfig is found.
  const kube = kubeConfigured(process.env) ? apiKubeClient() : undefined;
  const cluster = kube ? clusterView(kube) : undefined;
  const signerFor = cluster
    ? secretSignerFor({ readSecretKey: cluster.readSecretKey, origin: (space) => originFor(space) })
    : undefined;
  const jwt = createTokenVerifier({
    jwks,
    ...(config.audience ? { audience: config.audience } : {}),
    ...(config.issuer ? { issuer: config.issuer } : {}),
  });
  // Kubernetes ServiceAccount and user tokens too, when there is a cluster (auth/kubernetes.ts).
  const bearer =
    kube && process.env.TDS_AUTH_KUBERNETES !== "off"
      ? anyVerifier(
          jwt,
          createKubernetesVerifier({
            client: kube,
            audience: config.audience ?? defaultAudience,
            operatorServiceAccount: process.env.TDS_AUTH_OPERATOR_SERVICEACCOUNT ?? "tds-system:tds-operator",
          }),
        )
      : jwt;
  // Participants' own OIDC tokens, checked against their declared issuers (auth/oidc.ts).
  const oidc =
    kube && process.env.TDS_AUTH_OIDC !== "off"
      ? createOidcVerifier({
          participants: oidcParticipantsFromKube(kube),
        })
      : undefined;
  const verifier = oidc ? withOidc(oidc, bearer) : bearer;
  // Every DataSpace's spec.dsp, live (dsp/cluster.ts); logs through the app's logger once it exists.
  const dspLog =
    (level: "debug" | "info" | "warn" | "error") => (msg: string, fields?: Record<string, unknown>) => {
      app.log[level](fields ?? {}, msg);
    };
  const dspSpaces =
    kube && process.env.TDS_DSP !== "off"
      ? new DspSpacesFromCluster({
          client: kube,
          log: { debug: dspLog("debug"), info: dspLog("info"), warn: dspLog("warn"), error: dspLog("error") },
        })
      : undefined;
  const dsp = dspFromEnv(process.env, config.port, pool, kube, dspSpaces);
  // HTTPS with client certificates when TDS_TLS_CERT_FILE/TDS_TLS_KEY_FILE are set (plugins/client-certificates.ts).
  const https = tlsFromEnv(process.env);
  const forwardedHeader = forwardedHeaderFromEnv(process.env);
  const certificates =
    https || forwardedHeader
      ? {
          verifier: doorCertificateVerifier(kube, new EvidenceStore(pool)),
          ...(forwardedHeader ? { forwardedHeader } : {}),
        }
      : undefined;
  const app = await buildApp({
    ...(https ? { https } : {}),
    ...(certificates ? { certificates } : {}),
    pool,
    closePool: true,
    verifyToken: verifier,
    logger: loggerOptions(config.logLevel),
    rateLimitPerMinute: config.rateLimitPerMinute,
    defaultMetrics: true,
    evidence: signerFor ? { signerFor } : {},
    ...(kube ? { kube } : {}),
    ...(dsp ? { dsp } : {}),
  });
  const checkpointer = signerFor
    ? startCheckpointer({
        store: new EvidenceStore(pool),
        signerFor,
        intervalMs: config.checkpointIntervalMs,
        onError: (err, space) => {
          app.log.warn({ err, space }, "evidence checkpoint failed; retrying on the next pass");
        },
      })
    : undefined;
  const priceSync = cluster
    ? startPriceSync({
        pool,
        listDataSpaces: cluster.listDataSpaces,
        listParticipants: cluster.listParticipants,
        intervalMs: config.priceSyncIntervalMs,
        onAdded: (spaces) => {
          app.log.info({ spaces }, "price sheets added from DataSpace specs");
        },
        onError: (err) => {
          app.log.warn({ err }, "cannot sync price sheets from DataSpaces; retrying");
        },
      })
    : undefined;
  // The space's risk rules (risk/evaluator.ts), judged on the metering and the gateway's refusals,
  // and the refusals' retention (without a cluster there are no rules to judge, but refusals to prune).
  const gauge = riskGauge(app.metrics.registry);
  const riskEvidence = new EvidenceStore(pool);
  const risk = startPeriodic({
    intervalMs: config.riskIntervalMs,
    pass: async () => {
      const now = new Date();
      await pruneRefusals(pool, new Date(now.getTime() - config.refusalRetentionHours * 3_600_000));
      if (!cluster) return [];
      return riskPass({ pool, evidence: riskEvidence, spaces: await cluster.listDataSpaces(), now, gauge });
    },
    onError: (err) => {
      app.log.warn({ err }, "risk pass failed; retrying on the next pass");
    },
  });
  dspSpaces?.start().catch((err: unknown) => {
    app.log.error({ err }, "dsp: cannot watch the DataSpaces; no space's spec.dsp is served");
  });
  if (!kube)
    app.log.warn(
      "no kubeconfig: evidence checkpoints are not signed and price sheets come only from the API",
    );
  if (devKey)
    app.log.warn(
      { keyFile: config.devKeyFile },
      "no TDS_AUTH_JWKS configured: verifying tokens with the dev key; mint one with dashboard-api/src/mint-token.ts",
    );

  await serveUntilSignal({
    app,
    host: config.host,
    port: config.port,
    metricsPort: config.metricsPort,
    shutdownGraceMs: config.shutdownGraceMs,
    telemetry,
    draining: "in-flight requests",
    // The background loops use the pool, which app.close() ends: stop them first.
    beforeClose: () => Promise.all([checkpointer?.stop(), priceSync?.stop(), risk.stop(), dspSpaces?.stop()]),
  });
}

export { startFailed as failed } from "./plugins/telemetry.ts";
