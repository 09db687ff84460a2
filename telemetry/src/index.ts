// OpenTelemetry for the TDS processes: the operator (operator/src/main.ts), the
// dashboard API (dashboard-api/src/server.ts) and the data gateway
// (dashboard-api/gateway/src/main.ts). One setup, configured only by the
// standard OTEL_* variables, which the Node SDK reads itself:
//
//   OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES   the resource (service.name, ...)
//   OTEL_TRACES_EXPORTER                          otlp (the default), console or none
//   OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL, ...   where and how (http/protobuf by default)
//   OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG  parentbased_always_on by default
//   OTEL_PROPAGATORS                              tracecontext,baggage by default (W3C)
//   OTEL_SDK_DISABLED=true                        no SDK at all
//
// The instrumentations are the maintained ones: HTTP (incoming and outgoing
// node:http), undici (the global fetch, which the operator's API client uses,
// so its calls carry `traceparent`), pg, the AWS SDK (S3), and fastify's own
// @fastify/otel (the successor of @opentelemetry/instrumentation-fastify, which
// is no longer maintained). ES modules are instrumented through
// import-in-the-middle's loader hook, which must be in place before the
// instrumented packages are imported: an entry point starts telemetry first
// and imports the rest of the process dynamically (see operator/src/main.ts).
import { FastifyOtelInstrumentation } from "@fastify/otel";
import { AwsInstrumentation } from "@opentelemetry/instrumentation-aws-sdk";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { register, supportsSyncHooks } from "import-in-the-middle/register-hooks.mjs";

/**
 * The ES modules the instrumentations patch (everything else loads untouched):
 * node:http and node:https for ES modules that import them (the Kubernetes
 * client's fetch), pg, and the AWS SDK.
 */
const hooked = ["http", "https", "node:http", "node:https", "pg", "pg-pool", /^@aws-sdk\//, /^@smithy\//];

/** Kubelet probes and Prometheus scrapes: no span. */
const untraced = new Set(["/healthz", "/readyz", "/livez", "/metrics"]);

export interface Telemetry {
  /** Flushes and stops the exporters; call it on shutdown. */
  shutdown(): Promise<void>;
}

let started: Telemetry | undefined;

/**
 * Starts the Node SDK once per process, before the instrumented packages are
 * imported. With OTEL_SDK_DISABLED=true it starts nothing.
 */
export function startTelemetry(): Telemetry {
  if (started) return started;
  if (process.env.OTEL_SDK_DISABLED === "true") {
    started = { shutdown: () => Promise.resolve() };
    return started;
  }
  // In-thread loader hooks (module.registerHooks): Node >= 24.11.1, which the
  // Makefile and the image pin. On an older Node, ES modules load unpatched.
  if (supportsSyncHooks()) register({ include: hooked });
  const sdk = new NodeSDK({
    // Client and pg spans only inside a trace (a reconcile, a request): the
    // leader lease renewals, watches and background loops would otherwise be a
    // root trace each, every few seconds. Probes and /metrics are not traced.
    instrumentations: [
      new HttpInstrumentation({
        requireParentforOutgoingSpans: true,
        ignoreIncomingRequestHook: (req) => untraced.has((req.url ?? "").split("?")[0] ?? ""),
      }),
      new UndiciInstrumentation({ requireParentforSpans: true }),
      new PgInstrumentation({ requireParentSpan: true }),
      new AwsInstrumentation(),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (route) => untraced.has(route.url),
      }),
    ],
  });
  sdk.start();
  started = { shutdown: () => sdk.shutdown() };
  return started;
}
