// How the API and the gateway processes serve: the public app and its
// metrics app (plugins/telemetry.ts metricsApp, a port of its own) listen,
// and on SIGTERM or SIGINT the process drains: `beforeClose` (background
// loops that use the database, listeners) ends first, then both apps close
// (close() stops accepting connections and resolves once in-flight requests
// finish), then `afterClose` (the pool, when the app does not own it), then
// telemetry flushes. A drain that outlasts the grace period exits with 1.
import type { FastifyInstance } from "fastify";
import type { Telemetry } from "@tds/telemetry";
import { metricsApp } from "./plugins/telemetry.ts";

export interface ServeOptions {
  readonly app: FastifyInstance;
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly shutdownGraceMs: number;
  readonly telemetry: Telemetry;
  /** What is drained, for the log line ("in-flight requests"). */
  readonly draining: string;
  readonly beforeClose?: () => Promise<unknown>;
  readonly afterClose?: () => Promise<unknown>;
}

export async function serveUntilSignal(opts: ServeOptions): Promise<void> {
  const { app } = opts;
  // Prometheus scrapes /metrics on a port of its own, not the public one.
  const metrics = metricsApp(app.metrics.registry);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, `shutting down: draining ${opts.draining}`);
    const force = setTimeout(() => {
      app.log.error("drain timed out; exiting");
      process.exit(1);
    }, opts.shutdownGraceMs);
    force.unref();
    Promise.resolve(opts.beforeClose?.())
      .then(() => Promise.all([app.close(), metrics.close()]))
      .then(() => opts.afterClose?.())
      .then(() => opts.telemetry.shutdown())
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
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await metrics.listen({ port: opts.metricsPort, host: opts.host });
  await app.listen({ port: opts.port, host: opts.host });
}
