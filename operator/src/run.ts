// The operator process (started by main.ts once telemetry is in place): reads
// its configuration from the environment, runs the manager, and shuts down
// cleanly on SIGTERM or SIGINT.
import type { Telemetry } from "@tds/telemetry";
import { createLogger } from "./runtime/log.ts";
import { KubeClient, defaultKubeConfig, isConflict, kinds } from "@tds/kube";
import { createOperator } from "./operator.ts";
import { VersityGatewayStore } from "./storage/objectstore.ts";
import { errorText } from "./runtime/controller.ts";

const log = createLogger({ component: "tds-operator" });

export async function run(telemetry: Telemetry): Promise<void> {
  const kc = defaultKubeConfig();
  const leaseNamespace = process.env.TDS_OPERATOR_NAMESPACE ?? "tds-system";
  try {
    await new KubeClient(kc).create(kinds.namespace, { metadata: { name: leaseNamespace } });
  } catch (err) {
    if (!isConflict(err))
      log.warn("cannot create the operator namespace", { namespace: leaseNamespace, err: errorText(err) });
  }
  const workers = process.env.TDS_OPERATOR_WORKERS ? Number(process.env.TDS_OPERATOR_WORKERS) : undefined;
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= 64)) {
    throw new Error(
      `TDS_OPERATOR_WORKERS must be an integer from 1 to 64, not ${process.env.TDS_OPERATOR_WORKERS ?? ""}`,
    );
  }
  const coalesce = process.env.TDS_OPERATOR_COALESCE_MS;
  const coalesceMs = coalesce ? Number(coalesce) : undefined;
  if (
    coalesceMs !== undefined &&
    !(Number.isInteger(coalesceMs) && coalesceMs >= 0 && coalesceMs <= 60_000)
  ) {
    throw new Error(`TDS_OPERATOR_COALESCE_MS must be an integer from 0 to 60000, not ${coalesce ?? ""}`);
  }
  const manager = createOperator({
    kubeConfig: kc,
    workers,
    coalesceMs,
    log,
    store: VersityGatewayStore.fromEnv(),
    leaseNamespace,
    leaseName: process.env.TDS_LEASE_NAME,
    port: Number(process.env.TDS_OPERATOR_PORT ?? 8080),
    host: process.env.TDS_OPERATOR_HOST ?? "127.0.0.1",
    resyncMs: process.env.TDS_RESYNC_MS ? Number(process.env.TDS_RESYNC_MS) : undefined,
    leaseDurationMs: process.env.TDS_LEASE_DURATION_MS
      ? Number(process.env.TDS_LEASE_DURATION_MS)
      : undefined,
    renewDeadlineMs: process.env.TDS_RENEW_DEADLINE_MS
      ? Number(process.env.TDS_RENEW_DEADLINE_MS)
      : undefined,
    retryPeriodMs: process.env.TDS_RETRY_PERIOD_MS ? Number(process.env.TDS_RETRY_PERIOD_MS) : undefined,
    identity: process.env.TDS_OPERATOR_IDENTITY,
    settings: process.env.TDS_STORAGE_SAMPLE_MS
      ? { storageSampleMs: Number(process.env.TDS_STORAGE_SAMPLE_MS) }
      : {},
    spaceSelector: process.env.TDS_SPACE_SELECTOR || undefined,
  });
  const state = { stopping: false };
  const shutdown = (signal: string) => {
    if (state.stopping) return;
    state.stopping = true;
    log.info("shutting down", { signal });
    manager
      .stop()
      .then(
        () => telemetry.shutdown(),
        (err: unknown) => {
          log.error("shutdown failed", { err: errorText(err) });
        },
      )
      .finally(() => {
        process.exit(0);
      });
  };
  process.on("SIGTERM", () => {
    shutdown("SIGTERM");
  });
  process.on("SIGINT", () => {
    shutdown("SIGINT");
  });
  log.info("starting", { leaseNamespace, identity: manager.elector.identity });
  await manager.start();
  if (!state.stopping) {
    // Leadership was lost: exit so that the process restarts as a fresh candidate.
    process.exit(1);
  }
}

/** Logs a failed start and exits. */
export function failed(err: unknown): never {
  log.error("operator failed", { err: errorText(err) });
  process.exit(1);
}
