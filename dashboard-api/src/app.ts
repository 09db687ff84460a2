// buildApp(): the whole dashboard API as a fastify instance that never listens.
// Dependencies arrive as options (pool, token verifier) so tests can build it freely.
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { Type } from "@sinclair/typebox";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { Pool } from "pg";
import type { KubeClient } from "@tds/kube";
import type { Principal } from "./auth/principal.ts";
import type { TokenVerifier } from "./auth/tokens.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import {
  clientErrorHandler,
  ErrorCodes,
  frameworkErrors,
  problemResponse,
  problemSchema,
  registerErrorHandling,
  sendProblem,
  TdsError,
} from "./errors.ts";
import type { SignerFor } from "./evidence/checkpoint-loop.ts";
import { evidenceRoutes } from "./evidence/routes.ts";
import { EvidenceStore } from "./evidence/store.ts";
import { evidenceAccess, evidenceAppend, evidencePublicKeyRoute } from "./evidence/wiring.ts";
import { meteringRoutes } from "./metering/routes.ts";
import { authPlugin } from "./plugins/auth.ts";
import {
  clientCertificatesPlugin,
  identityRoute,
  type ClientCertificateOptions,
  type DoorTls,
} from "./plugins/client-certificates.ts";
import { dbPlugin } from "./plugins/db.ts";
import { kubePlugin } from "./plugins/kube.ts";
import { inputPlugin } from "./plugins/input.ts";
import { openapiOptions } from "./openapi.ts";
import { buildValidator } from "./validation.ts";
import { telemetryPlugin } from "./plugins/telemetry.ts";
import { reportRoutes } from "./reports/routes.ts";
import { statementRoutes } from "./statements/routes.ts";
import { catalogRoutes } from "./catalog/routes.ts";
import { contractRoutes } from "./contracts/routes.ts";
import { consentRoutes } from "./consents/routes.ts";
import { agreementRoutes } from "./ledger/agreements.ts";
import { sandboxReadRoutes } from "./ledger/sandbox-reads.ts";
import { sandboxJobRoutes } from "./sandboxjobs/routes.ts";
import { dspRoutes, type DspRoutesOptions } from "./dsp/routes.ts";
import { exportRoutes } from "./exports/routes.ts";
import { filingRoutes } from "./filing/routes.ts";
import { riskRoutes } from "./risk/routes.ts";

export interface BuildAppOptions {
  readonly pool: Pool | null;
  readonly verifyToken: TokenVerifier;
  /** Close the pool with the app. */
  readonly closePool?: boolean;
  readonly logger?: FastifyServerOptions["logger"];
  readonly rateLimitPerMinute?: number;
  readonly defaultMetrics?: boolean;
  /** Clock for timestamp validation and period checks; tests pin it. */
  readonly now?: () => Date;
  /** The evidence log's signing keys (run.ts: the spaces' Kubernetes Secrets); the gateway exports the checkpoints. */
  readonly evidence?: { readonly signerFor?: SignerFor };
  /**
   * The API's Kubernetes access (plugins/kube.ts: apiKubeClient) for the contract routes, the
   * sandbox job review and the filing record; those routes answer 503 without it.
   */
  readonly kube?: KubeClient;
  /** The Dataspace Protocol endpoints (/dsp/<space>/...); off when unset. See dsp/routes.ts. */
  readonly dsp?: Omit<DspRoutesOptions, "verifyToken">;
  /** Serve HTTPS, asking for client certificates (plugins/client-certificates.ts). */
  readonly https?: DoorTls;
  /** Verify client certificates: a verified one is a participant principal; adds GET /v1/spaces/:space/identity. */
  readonly certificates?: ClientCertificateOptions;
}

/** What /healthz and /readyz answer. */
const probeAnswer = Type.Object({ status: Type.String() });

/** The rate limiter's bucket for a caller: its participant, or its role and subject in its space. */
export function rateLimitKey(p: Principal | null, ip: string): string {
  if (!p) return `ip:${ip}`;
  if (p.role === "participant") return `participant:${p.space ?? ""}/${p.participant ?? ""}`;
  return `${p.role}:${p.space ?? "*"}:${p.subject}`;
}

export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    logger: opts.logger ?? false,
    bodyLimit: 16 * 1024 * 1024,
    // A parameter's limit is its documented maxLength (a 400 naming it), not the router's: Node's 16 KiB
    // limit on the request head comes first (431), even for 1024 characters percent-encoded 12 bytes each.
    routerOptions: { maxParamLength: 16 * 1024 },
    requestIdHeader: "x-request-id",
    // Router and HTTP parser errors in the documented shape too (errors.ts).
    frameworkErrors,
    clientErrorHandler,
    // Bodies validated without type coercion (validation.ts).
    schemaController: { compilersFactory: { buildValidator } },
    ajv: {
      customOptions: {
        allErrors: false,
        coerceTypes: "array",
        removeAdditional: false,
        allowUnionTypes: true,
      },
    },
  });
  app.addSchema(problemSchema);
  registerErrorHandling(app);
  // Before every route and the auth hook: 405 for undeclared methods, NUL refused (plugins/input.ts).
  await app.register(inputPlugin);

  await app.register(swagger, openapiOptions);
  // The UI's own routes are public; mark them so the auth hook skips them.
  app.addHook("onRoute", (route) => {
    if (route.url.startsWith("/docs")) {
      route.config = { ...(route.config ?? {}), public: true };
      route.schema = { ...(route.schema ?? {}), hide: true };
    }
  });
  await app.register(swaggerUi, { routePrefix: "/docs", uiConfig: { deepLinking: true } });

  await app.register(telemetryPlugin, { defaultMetrics: opts.defaultMetrics ?? false });
  await app.register(dbPlugin, { pool: opts.pool, closePool: opts.closePool ?? false });
  await app.register(kubePlugin, { client: opts.kube ?? null });
  if (opts.certificates) await app.register(clientCertificatesPlugin, opts.certificates);
  await app.register(authPlugin, { verify: opts.verifyToken });
  await app.register(rateLimit, {
    global: true,
    hook: "preHandler", // after authentication, so the key is the tenant
    max: opts.rateLimitPerMinute ?? 6000,
    timeWindow: 60_000,
    // One quota per caller: a participant's requests never use up its space's other tenants' quota.
    keyGenerator: (request) => rateLimitKey(request.principal, request.ip),
    allowList: (request) => request.routeOptions.config.public === true,
    // Thrown to the error handler, which renders it as a problem document.
    errorResponseBuilder: (_request, context) =>
      new TdsError(
        "rateLimited",
        `Rate limit of ${String(context.max)} requests per ${context.after} exceeded for this tenant`,
      ),
  });

  app.get("/openapi.json", { config: { public: true }, schema: { hide: true } }, () =>
    Promise.resolve(app.swagger()),
  );
  app.get(
    "/healthz",
    {
      config: { public: true },
      schema: {
        operationId: "getHealth",
        tags: ["operations"],
        summary: "Liveness",
        security: [],
        response: { 200: probeAnswer },
      },
    },
    () => Promise.resolve({ status: "ok" }),
  );
  app.get(
    "/readyz",
    {
      config: { public: true },
      schema: {
        operationId: "getReadiness",
        tags: ["operations"],
        summary: "Readiness: the database answers",
        security: [],
        response: {
          200: probeAnswer,
          503: problemResponse,
        },
      },
    },
    async (request, reply) => {
      try {
        await app.pool().query("select 1");
        return { status: "ready" };
      } catch (err) {
        app.log.warn({ err }, "readiness check failed");
        return sendProblem(reply, request, 503, ErrorCodes.unavailable.code, "Database is not reachable");
      }
    },
  );

  const now = opts.now ?? (() => new Date());
  await app.register(meteringRoutes, { now });
  await app.register(reportRoutes, { now });
  await app.register(statementRoutes, { now });
  await app.register(dashboardRoutes);
  await app.register(catalogRoutes, { prefix: "/v1/spaces/:space/catalog" });
  await app.register(contractRoutes, { prefix: "/v1/spaces/:space/contracts" });
  await app.register(consentRoutes, { prefix: "/v1/spaces/:space/consents", now });
  await app.register(agreementRoutes);
  await app.register(sandboxReadRoutes);
  if (opts.certificates) identityRoute(app, { public: false });
  await app.register(sandboxJobRoutes, { prefix: "/v1/spaces/:space/sandboxjobs" });
  await app.register(exportRoutes);
  await app.register(filingRoutes, { signerFor: opts.evidence?.signerFor, now });
  if (opts.dsp && opts.pool) await app.register(dspRoutes, { ...opts.dsp, verifyToken: opts.verifyToken });
  if (opts.pool) {
    const evidencePrefix = "/v1/spaces/:space/evidence";
    await app.register(evidenceRoutes, {
      prefix: evidencePrefix,
      store: new EvidenceStore(opts.pool),
      authorize: evidenceAccess,
      authorizeAppend: evidenceAppend,
      ...(opts.evidence?.signerFor ? { signerFor: opts.evidence.signerFor } : {}),
    });
    await app.register(riskRoutes, { evidence: new EvidenceStore(opts.pool) });
    await app.register(evidencePublicKeyRoute, {
      prefix: evidencePrefix,
      ...(opts.evidence?.signerFor ? { signerFor: opts.evidence.signerFor } : {}),
    });
  }
  return app;
}
