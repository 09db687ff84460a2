// Jaeger, a real trace backend for the tracing test: the all-in-one
// `cmd/jaeger` built from its Go module by test/localcluster/build-jaeger.sh
// (cached in ~/.cache/tds), run on loopback with in-memory storage. It takes
// OTLP over HTTP and answers its HTTP query API (/api/traces).
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./environment.ts";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "./processes.ts";

/** The folder holding the jaeger binary (built on first use, then reused). */
export function jaegerDir(): string {
  const out = execFileSync(join(repoRoot, "test/localcluster/build-jaeger.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const dir = out.trim().split("\n").pop();
  if (!dir) throw new Error("test/localcluster/build-jaeger.sh printed no folder");
  return dir;
}

/** A span as Jaeger's query API returns it. */
export interface JaegerSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly operationName: string;
  readonly processID: string;
  /** Microseconds since the epoch. */
  readonly startTime: number;
  readonly references?: readonly { refType: string; traceID: string; spanID: string }[];
  readonly tags?: readonly { key: string; value: unknown }[];
}

export interface JaegerTrace {
  readonly traceID: string;
  readonly spans: readonly JaegerSpan[];
  readonly processes: Readonly<Record<string, { serviceName: string }>>;
}

export interface Jaeger {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT (OTLP over HTTP, the SDK's default protocol). */
  readonly otlpEndpoint: string;
  readonly queryUrl: string;
  readonly process: ManagedProcess;
  /** The service's recent traces, newest first (GET /api/traces). */
  traces(service: string, operation?: string): Promise<JaegerTrace[]>;
  stop(): Promise<void>;
}

export async function startJaeger(dir: string): Promise<Jaeger> {
  const binary = join(jaegerDir(), "jaeger");
  const [otlp, query, queryGrpc, health] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const host = "127.0.0.1";
  const config = join(dir, "jaeger.yaml");
  // all-in-one.yaml of cmd/jaeger, reduced to what the test uses, every port on loopback.
  writeFileSync(
    config,
    `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: ${host}:${String(query)}
    grpc:
      endpoint: ${host}:${String(queryGrpc)}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  healthcheckv2:
    use_v2: true
    http:
      endpoint: ${host}:${String(health)}
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${host}:${String(otlp)}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`,
  );
  const proc = startProcess({
    name: "jaeger",
    command: binary,
    args: ["--config", config],
    // Jaeger traces itself to localhost:4317 unless told not to.
    env: { ...process.env, OTEL_SDK_DISABLED: "true", OTEL_TRACES_EXPORTER: "none" },
    logFile: join(dir, "jaeger.log"),
  });
  const queryUrl = `http://${host}:${String(query)}`;
  await waitUntil(
    "jaeger query API",
    proc,
    () =>
      fetch(`${queryUrl}/api/services`).then(
        (r) => r.ok,
        () => false,
      ),
    60_000,
  );
  return {
    otlpEndpoint: `http://${host}:${String(otlp)}`,
    queryUrl,
    process: proc,
    traces: async (service, operation) => {
      const q = new URLSearchParams({ service, limit: "50", lookback: "1h" });
      if (operation) q.set("operation", operation);
      const res = await fetch(`${queryUrl}/api/traces?${q.toString()}`);
      if (res.status === 404) return [];
      if (!res.ok) throw new Error(`jaeger /api/traces: ${String(res.status)} ${await res.text()}`);
      return ((await res.json()) as { data: JaegerTrace[] | null }).data ?? [];
    },
    stop: () => proc.stop(),
  };
}
