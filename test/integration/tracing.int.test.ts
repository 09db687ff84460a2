// OpenTelemetry against a real trace backend: Jaeger (built from its Go module,
// test/harness/jaeger.ts) receives OTLP from the operator and the dashboard API,
// each configured only by the standard OTEL_* variables. One DataSpace
// reconcile, which appends its evidence through the API, is one trace across
// both services: the operator's `reconcile dataspace` span, its fetch to the
// API (W3C traceparent), the API's HTTP and fastify spans, and the pg queries
// inside. The JSON log lines written inside the trace carry its trace id, and
// neither process logs at error level on a normal start. A Participant's
// reconcile traces its bucket's S3 calls (the AWS SDK instrumentation).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import { eventually, installCrds, kubeConfig } from "@tds/test/testkit";
import { loadOrCreateDevKey, mintToken } from "@tds/dashboard-api/auth-keys";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { startServer, stopServer, type ServerProcess } from "@tds/test/server";
import { participantManifest, runId, spaceManifest } from "../harness/operator-fixtures.ts";
import { spawnOperator, type OperatorProcess } from "../harness/operator-process.ts";
import { startJaeger, type Jaeger, type JaegerSpan, type JaegerTrace } from "../harness/jaeger.ts";

const run = runId();
const space = `tr-${run}`;
const dir = mkdtempSync(join(tmpdir(), "tds-tracing-"));
const client = new KubeClient(kubeConfig());
let jaeger: Jaeger | undefined;
let db: TestDatabase | undefined;
let api: ServerProcess | undefined;
let operator: OperatorProcess | undefined;

/** The standard variables, as the chart sets them; a short batch delay so spans arrive quickly. */
function otel(service: string, endpoint: string): Record<string, string> {
  return {
    OTEL_SERVICE_NAME: service,
    OTEL_RESOURCE_ATTRIBUTES: `deployment.environment.name=test,tds.test.run=${run}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_METRICS_EXPORTER: "none",
    OTEL_LOGS_EXPORTER: "none",
    OTEL_BSP_SCHEDULE_DELAY: "200",
  };
}

before(async () => {
  installCrds();
  jaeger = await startJaeger(dir);
  const endpoint = jaeger.otlpEndpoint;
  db = await createTestDatabase("tds_tracing");
  const keyFile = join(dir, "dev-key.json");
  api = await startServer({
    ...otel("tds-dashboard-api", endpoint),
    DATABASE_URL: db.url,
    TDS_AUTH_DEV_KEY_FILE: keyFile,
    LOG_LEVEL: "info",
  });
  const token = await mintToken(await loadOrCreateDevKey(keyFile), {
    role: "operator",
    subject: "system:serviceaccount:tds-system:tds-operator",
    expiresIn: "1h",
  });
  operator = spawnOperator(
    {
      ...otel("tds-operator", endpoint),
      TDS_DASHBOARD_URL: api.url,
      TDS_DASHBOARD_TOKEN: token,
      TDS_OPERATOR_NAMESPACE: "default",
      TDS_LEASE_NAME: `tds-tracing-${run}`,
      TDS_SPACE_SELECTOR: `tds.dev/test-run=${run}`,
      // The controller's "reconciling" and "reconciled" lines are debug.
      TDS_LOG_LEVEL: "debug",
    },
    dir,
    "operator",
  );
});

after(async () => {
  await client.delete(kinds.participant, `${space}-p`).catch(() => undefined);
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator?.kill("SIGTERM");
  if (api) await stopServer(api);
  await db?.drop();
  await jaeger?.stop();
});

const serviceOf = (t: JaegerTrace, s: JaegerSpan) => t.processes[s.processID]?.serviceName;
const tag = (s: JaegerSpan, key: string) => s.tags?.find((x) => x.key === key)?.value;
const parentOf = (s: JaegerSpan) => s.references?.find((r) => r.refType === "CHILD_OF")?.spanID;

/** The reconcile trace that reached the API, once Jaeger holds its spans from both services. */
let seen = "";
async function reconcileTrace(j: Jaeger): Promise<JaegerTrace | undefined> {
  const traces = await j.traces("tds-operator", "reconcile dataspace");
  seen = traces.map((t) => names(t).join(", ")).join(" | ");
  return traces.find((t) => {
    const root = t.spans.find((s) => s.operationName === "reconcile dataspace");
    return (
      root &&
      String(tag(root, "tds.key")) === space &&
      t.spans.some(
        (s) => serviceOf(t, s) === "tds-dashboard-api" && tag(s, "db.system.name") === "postgresql",
      )
    );
  });
}

test("one DataSpace reconcile is one trace across the operator and the API, with the pg spans inside", async (t) => {
  assert.ok(jaeger && api);
  const j = jaeger;
  await client.create(kinds.dataSpace, spaceManifest(space, run) as KubeObject);
  const trace = await eventually("the reconcile's trace in Jaeger", () => reconcileTrace(j), 60_000).catch(
    (err: unknown) => {
      throw new Error(`${String(err)}; the operator's reconcile traces: ${seen || "none"}`);
    },
  );
  const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
  const root = trace.spans.find((s) => s.operationName === "reconcile dataspace");
  assert.ok(root);
  assert.equal(parentOf(root), undefined, "the reconcile span is the trace's root");

  // The operator's call: an undici client span under the reconcile, whose traceparent
  // the API continues: its HTTP server span is that client span's child.
  const evidence = trace.spans.find(
    (s) =>
      serviceOf(trace, s) === "tds-dashboard-api" &&
      serviceOf(trace, byId.get(parentOf(s) ?? "") ?? s) === "tds-operator",
  );
  assert.ok(evidence, `an API span whose parent is the operator's: ${names(trace).join(", ")}`);
  assert.match(evidence.operationName, /^POST \/v1\/spaces\/:space\/evidence\/entries$/);
  const clientSpan = byId.get(parentOf(evidence) ?? "");
  assert.ok(clientSpan);
  assert.equal(tag(clientSpan, "span.kind"), "client");
  const ancestors = (s: JaegerSpan): JaegerSpan[] => {
    const out: JaegerSpan[] = [];
    for (let p = byId.get(parentOf(s) ?? ""); p && out.length < 50; p = byId.get(parentOf(p) ?? ""))
      out.push(p);
    return out;
  };
  assert.ok(ancestors(clientSpan).includes(root), "the operator's client span is under the reconcile");

  // pg spans inside the API's request, and the services named by OTEL_SERVICE_NAME.
  const pgSpans = trace.spans.filter((s) => tag(s, "db.system.name") === "postgresql");
  assert.ok(pgSpans.length > 0);
  for (const s of pgSpans) {
    assert.equal(serviceOf(trace, s), "tds-dashboard-api");
    assert.ok(ancestors(s).includes(evidence), `${s.operationName} is under the API's request`);
  }
  const services = new Set(Object.values(trace.processes).map((p) => p.serviceName));
  assert.deepEqual([...services].sort(), ["tds-dashboard-api", "tds-operator"]);
  t.diagnostic(
    `trace ${trace.traceID}, ${String(trace.spans.length)} spans:\n${tree(trace, root).join("\n")}`,
  );

  // JSON logs: the lines written inside the trace carry its id, in both processes.
  const operatorLines = jsonLines(readFileSync(join(dir, "operator.log"), "utf8"));
  const apiLines = jsonLines(api.output());
  assert.ok(
    operatorLines.some((l) => l.trace_id === trace.traceID),
    "an operator log line with the reconcile's trace id",
  );
  assert.ok(
    apiLines.some((l) => l.trace_id === trace.traceID),
    "an API log line (pino's request log) with the trace id",
  );
  // No error-level line on a normal start (the operator's "error", pino's 50 and 60).
  assert.deepEqual(
    operatorLines.filter((l) => l.level === "error"),
    [],
  );
  assert.deepEqual(
    apiLines.filter((l) => typeof l.level === "number" && l.level >= 50),
    [],
  );
});

/** The spans under `top`, one line each, indented by depth, children in start order. */
function tree(t: JaegerTrace, top: JaegerSpan, depth = 0): string[] {
  const children = t.spans
    .filter((s) => parentOf(s) === top.spanID)
    .sort((a, b) => a.startTime - b.startTime);
  return [
    `${"  ".repeat(depth)}${top.operationName} (${serviceOf(t, top) ?? "?"})`,
    ...children.flatMap((c) => (depth < 20 ? tree(t, c, depth + 1) : [])),
  ];
}

function names(t: JaegerTrace): string[] {
  return t.spans.map((s) => `${serviceOf(t, s) ?? "?"}:${s.operationName}`);
}

/** Every line of a log as JSON; a line that is not JSON fails the test (logs are JSON only). */
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        assert.fail(`a log line that is not JSON: ${l}`);
      }
    });
}

test("a Participant reconcile traces its S3 calls (the AWS SDK instrumentation)", async () => {
  assert.ok(jaeger);
  const j = jaeger;
  await client.create(kinds.participant, participantManifest(`${space}-p`, space) as KubeObject);
  const trace = await eventually(
    "a participant reconcile with S3 spans",
    async () =>
      (await j.traces("tds-operator", "reconcile participant")).find((t) =>
        t.spans.some((s) => tag(s, "rpc.system") === "aws-api" && tag(s, "rpc.service") === "S3"),
      ),
    60_000,
  );
  // Named <service>.<operation>, under the reconcile (its bucket: HeadBucket, CreateBucket, ListObjectsV2, ...).
  const s3 = trace.spans.filter((s) => tag(s, "rpc.system") === "aws-api");
  for (const span of s3) {
    assert.match(span.operationName, /^S3\.[A-Za-z0-9]+$/);
    assert.equal(serviceOf(trace, span), "tds-operator");
    assert.ok(parentOf(span), `${span.operationName} has a parent in the reconcile's trace`);
  }
});
