// buildGatewayApp(): the metered data gateway as its own fastify instance,
// for its own process (gateway/main.ts): GET /v1/data, the /v1/sandbox
// endpoints, /healthz and /readyz, with the API's error shape
// (application/problem+json, errors.ts) and input rules. With TLS and a
// certificate verifier, every client certificate presented is verified
// (plugins/client-certificates.ts) before any route runs. Its metrics are
// served on a port of their own by main.ts (metricsApp). No JWT layer: each
// route authenticates the contract, transfer or job token it is given
// (routes.ts, sandbox.ts).
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { Pool } from "pg";
import {
  clientErrorHandler,
  frameworkErrors,
  problemSchema,
  registerErrorHandling,
  sendProblem,
} from "@tds/dashboard-api/errors";
import { inputPlugin } from "@tds/dashboard-api/input";
import {
  clientCertificatesPlugin,
  identityRoute,
  type ClientCertificateOptions,
  type DoorTls,
} from "@tds/dashboard-api/client-certificates";
import { telemetryPlugin } from "@tds/dashboard-api/telemetry";
import { gatewayRoutes, type GatewayOptions } from "./routes.ts";

export interface GatewayAppOptions {
  readonly gateway: GatewayOptions;
  /** For /readyz: the ledger's database. */
  readonly pool: Pool;
  readonly logger?: FastifyServerOptions["logger"];
  readonly defaultMetrics?: boolean;
  /** Serve HTTPS, asking for client certificates (plugins/client-certificates.ts). */
  readonly https?: DoorTls;
  /** Verify the client certificates presented; adds GET /v1/spaces/:space/identity. */
  readonly certificates?: ClientCertificateOptions;
}

export async function buildGatewayApp(opts: GatewayAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    logger: opts.logger ?? false,
    requestIdHeader: "x-request-id",
    routerOptions: { maxParamLength: 16 * 1024 },
    frameworkErrors,
    clientErrorHandler,
  });
  app.addSchema(problemSchema);
  registerErrorHandling(app);
  await app.register(inputPlugin);
  await app.register(telemetryPlugin, { defaultMetrics: opts.defaultMetrics ?? false });
  if (opts.certificates) {
    await app.register(clientCertificatesPlugin, opts.certificates);
    identityRoute(app, { public: true });
  }
  app.get("/healthz", () => Promise.resolve({ status: "ok" }));
  app.get("/readyz", async (request, reply) => {
    try {
      await opts.pool.query("select 1");
      return { status: "ready" };
    } catch (err) {
      request.log.warn({ err }, "readiness check failed");
      return sendProblem(reply, request, 503, "TDS_ERR_UNAVAILABLE", "Database is not reachable");
    }
  });
  await app.register(gatewayRoutes, opts.gateway);
  return app;
}
