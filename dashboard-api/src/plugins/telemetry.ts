// Telemetry: Prometheus metrics (a registry per app, served at /metrics by
// metricsApp on a port of its own, never the public one; Node's default
// process metrics unprefixed, as standard dashboards expect them), the
// request's OpenTelemetry span (started by the HTTP and fastify
// instrumentations that @tds/telemetry installs) for child spans, and pino
// JSON logs with the trace id on each line (loggerOptions).
import { context, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import { traceFields } from "@tds/telemetry/log";
import type { FastifyServerOptions } from "fastify";
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
    if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
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

    // The instrumentations' span for this request (none when no SDK runs, as in unit tests).
    app.addHook("onRequest", (request, _reply, next) => {
      request.span = trace.getSpan(context.active()) ?? null;
      next();
    });
    app.addHook("onResponse", (request, reply, next) => {
      const route = request.routeOptions.url ?? "unmatched";
      metrics.httpDuration
        .labels(request.method, route, String(reply.statusCode))
        .observe(reply.elapsedTime / 1000);
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

/** pino's options for a process: JSON lines at `level`, each with the active trace and span ids. */
export function loggerOptions(level: string): Exclude<FastifyServerOptions["logger"], boolean | undefined> {
  return { level, mixin: traceFields };
}

/** Logs a failed start as one JSON line (pino's fatal level) and exits. */
export function startFailed(err: unknown): never {
  const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(JSON.stringify({ level: 60, time: Date.now(), msg, ...traceFields() }) + "\n");
  process.exit(1);
}
