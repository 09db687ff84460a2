// Telemetry: Prometheus metrics (a registry per app, served at /metrics by
// metricsApp on a port of its own, never the public one), OpenTelemetry spans
// around each request (exported when server.ts installs an SDK), and pino JSON logs.
import { context, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import Fastify, { type FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

declare module "fastify" {
  interface FastifyInstance {
    metrics: AppMetrics;
  }
  interface FastifyRequest {
    span: Span | null;
  }
}

export interface AppMetrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<"method" | "route" | "status">;
  readonly usageEvents: Counter<"outcome">;
}

export const tracer = trace.getTracer("tds-dashboard-api");

export interface TelemetryOptions {
  readonly defaultMetrics?: boolean;
}

export const telemetryPlugin = fp<TelemetryOptions>(
  (app, opts, done) => {
    const registry = new Registry();
    if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: "tds_api_" });
    const metrics: AppMetrics = {
      registry,
      httpDuration: new Histogram({
        name: "tds_api_http_request_duration_seconds",
        help: "HTTP request duration by route and status",
        labelNames: ["method", "route", "status"],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
      usageEvents: new Counter({
        name: "tds_api_usage_events_total",
        help: "Usage events received, by outcome (accepted, duplicate, conflict)",
        labelNames: ["outcome"],
        registers: [registry],
      }),
    };
    app.decorate("metrics", metrics);
    app.decorateRequest("span", null);

    app.addHook("onRequest", (request, _reply, next) => {
      request.span = tracer.startSpan(`${request.method} ${request.routeOptions.url ?? "unknown"}`, {
        attributes: { "http.request.method": request.method, "url.path": request.url.split("?")[0] },
      });
      next();
    });
    app.addHook("onResponse", (request, reply, next) => {
      const route = request.routeOptions.url ?? "unmatched";
      metrics.httpDuration
        .labels(request.method, route, String(reply.statusCode))
        .observe(reply.elapsedTime / 1000);
      if (request.span) {
        request.span.setAttribute("http.response.status_code", reply.statusCode);
        if (reply.statusCode >= 500) request.span.setStatus({ code: SpanStatusCode.ERROR });
        request.span.end();
      }
      next();
    });

    done();
  },
  { name: "tds-telemetry" },
);

/**
 * The metrics endpoint as an app of its own (GET /metrics), for server.ts to
 * listen on TDS_METRICS_PORT: Prometheus scrapes it there, and it is not part
 * of the public API or its document.
 */
export function metricsApp(registry: Registry): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get("/metrics", async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  return app;
}

/** Runs `fn` inside a child span of the request's span. */
export async function traced<T>(parent: Span | null, name: string, fn: () => Promise<T>): Promise<T> {
  const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
  const span = tracer.startSpan(name, undefined, ctx);
  try {
    return await context.with(trace.setSpan(ctx, span), fn);
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}
