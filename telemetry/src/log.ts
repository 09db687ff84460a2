// The trace context of a JSON log line, for every process's logger (the
// operator's runtime/log.ts, pino's mixin in the dashboard API and gateway).
// Only @opentelemetry/api: importing it starts no SDK.
import { context, trace } from "@opentelemetry/api";

/**
 * The active span's trace and span ids, for a JSON log line (`trace_id`,
 * `span_id`, `trace_flags`, the names the OpenTelemetry log data model and
 * pino's instrumentation use); empty outside a span.
 */
export function traceFields(): { trace_id?: string; span_id?: string; trace_flags?: string } {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  if (!trace.isSpanContextValid(sc)) return {};
  return {
    trace_id: sc.traceId,
    span_id: sc.spanId,
    trace_flags: `0${sc.traceFlags.toString(16)}`.slice(-2),
  };
}
