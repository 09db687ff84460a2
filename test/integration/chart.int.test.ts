// The Helm chart as a provider installs it: helm (built from its Go module)
// lints it strictly, renders it with several value sets, refuses bad values
// naming the field, and the real kube-apiserver accepts what it renders
// (server-side dry-run apply of every object, the CRDs included).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { kubectl } from "@tds/test/testkit";
import { chartDir, helm, renderChart, templateChart, type ChartObject } from "../harness/chart.ts";

const run = randomBytes(3).toString("hex");
const scratch = mkdtempSync(join(tmpdir(), "tds-chart-"));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const clusterScoped = new Set([
  "ClusterRole",
  "ClusterRoleBinding",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
  "CustomResourceDefinition",
  "Namespace",
]);

interface Container {
  name: string;
  image: string;
  command: string[];
  env: { name: string; value?: string }[];
  volumeMounts: { name: string; mountPath: string }[];
  securityContext: Record<string, unknown>;
}
interface PodSpec {
  containers: Container[];
  volumes: { name: string; emptyDir?: unknown }[];
  securityContext: Record<string, unknown>;
  imagePullSecrets?: { name: string }[];
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
}
const podSpec = (d: ChartObject) =>
  (d.spec as { template: { spec: PodSpec; metadata: { annotations?: Record<string, string> } } }).template;
const find = (objs: ChartObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} in ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(", ")}`);
  return o;
};

test("helm lint --strict passes, with the optional monitoring objects on and off", () => {
  helm(["lint", "--strict", chartDir]);
  const values = join(scratch, "monitoring.yaml");
  writeFileSync(
    values,
    stringify({
      operator: { metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } },
      dashboardApi: { metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } },
      telemetry: {
        otlpEndpoint: "http://otel-collector.observability:4318",
        grafanaDashboard: { enabled: true },
      },
    }),
  );
  helm(["lint", "--strict", chartDir, "-f", values]);
});

test("the default values render restricted Deployments with a writable /tmp, standard labels, PDBs and a metrics Service", () => {
  const objs = renderChart({ namespace: "tds-system" });
  for (const name of ["tds-operator", "tds-dashboard-api"]) {
    const d = find(objs, "Deployment", name);
    const tpl = podSpec(d);
    const c = tpl.spec.containers[0];
    assert.ok(c);
    assert.equal(c.image, "registry.example.com/tds/tds:0.1.0");
    assert.equal(c.command[0], "/usr/local/bin/node", "compiled JavaScript, no tsx");
    assert.ok(!c.command.includes("tsx"));
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    assert.ok(c.volumeMounts.some((m) => m.name === "tmp" && m.mountPath === "/tmp"));
    assert.ok(tpl.spec.volumes.some((v) => v.name === "tmp" && v.emptyDir));
    assert.equal(tpl.spec.securityContext.runAsNonRoot, true);
    assert.equal(tpl.spec.securityContext.runAsUser, 65532);
    const labels = d.metadata.labels ?? {};
    for (const l of [
      "app.kubernetes.io/name",
      "app.kubernetes.io/instance",
      "app.kubernetes.io/version",
      "app.kubernetes.io/managed-by",
      "app.kubernetes.io/component",
      "helm.sh/chart",
    ])
      assert.ok(labels[l], `${name} has label ${l}`);
    find(objs, "PodDisruptionBudget", name);
  }
  const metrics = find(objs, "Service", "tds-operator-metrics");
  assert.deepEqual((metrics.spec as { selector: Record<string, string> }).selector, {
    "app.kubernetes.io/name": "tds",
    "app.kubernetes.io/instance": "tds",
    "app.kubernetes.io/component": "operator",
  });
  const env = podSpec(find(objs, "Deployment", "tds-operator")).spec.containers[0]?.env ?? [];
  const value = (n: string) => env.find((e) => e.name === n)?.value;
  assert.equal(value("TDS_RESYNC_MS"), "300000");
  assert.equal(value("TDS_DASHBOARD_TOKEN_FILE"), "/var/run/secrets/tds/dashboard-api/token");
  assert.equal(value("TDS_DASHBOARD_URL"), "http://tds-dashboard-api.tds-system.svc:80");
  assert.ok(!objs.some((o) => o.kind === "ServiceMonitor" || o.kind === "PrometheusRule"));
  assert.equal(objs.filter((o) => o.kind === "ValidatingAdmissionPolicy").length, 2);
});

test("only the gateway holds the object store's credentials, and it exports the evidence checkpoints the API signs", () => {
  const objs = renderChart({
    namespace: "tds-system",
    values: { evidence: { bucket: "acme-evidence", checkpointIntervalMs: 30000, exportIntervalMs: 45000 } },
  });
  type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string } } };
  const envOf = (name: string) =>
    (podSpec(find(objs, "Deployment", name)).spec.containers[0]?.env ?? []) as Env[];
  const secretsOf = (name: string) =>
    envOf(name)
      .filter((e) => e.valueFrom?.secretKeyRef)
      .map((e) => `${e.name}=${e.valueFrom?.secretKeyRef?.name ?? ""}`);
  assert.deepEqual(secretsOf("tds-dashboard-api"), ["DATABASE_URL=tds-database"]);
  assert.ok(
    !envOf("tds-dashboard-api").some((e) => e.name.startsWith("TDS_S3_")),
    "no S3 settings in the API",
  );
  assert.deepEqual(secretsOf("tds-gateway"), [
    "DATABASE_URL=tds-database",
    "TDS_S3_ACCESS_KEY_ID=tds-object-store",
    "TDS_S3_SECRET_ACCESS_KEY=tds-object-store",
  ]);
  const value = (name: string, n: string) => envOf(name).find((e) => e.name === n)?.value;
  assert.equal(value("tds-gateway", "TDS_EVIDENCE_BUCKET"), "acme-evidence");
  assert.equal(value("tds-gateway", "TDS_EVIDENCE_EXPORT_INTERVAL_MS"), "45000");
  assert.equal(value("tds-dashboard-api", "TDS_EVIDENCE_CHECKPOINT_INTERVAL_MS"), "30000");
  // The API's ClusterRole reads no Secret (each space's Role tds-evidence-signer grants its signing key alone).
  const rules =
    (find(objs, "ClusterRole", "tds-dashboard-api") as { rules?: { resources: string[] }[] }).rules ?? [];
  assert.ok(!rules.some((r) => r.resources.includes("secrets")));
});

test("the common platform keys reach both Deployments, and an image digest replaces the tag", () => {
  const common = {
    serviceAccount: { annotations: { "iam.example.com/role": "tds" } },
    podAnnotations: { "example.com/scrape": "yes" },
    nodeSelector: { "kubernetes.io/os": "linux" },
    tolerations: [{ key: "dedicated", operator: "Equal", value: "tds", effect: "NoSchedule" }],
    affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
    extraEnv: [{ name: "TZ", value: "UTC" }],
  };
  const digest = `sha256:${"ab".repeat(32)}`;
  const objs = renderChart({
    namespace: "tds-system",
    values: {
      image: { digest },
      imagePullSecrets: [{ name: "registry" }],
      operator: { ...common, resyncSeconds: 45 },
      dashboardApi: common,
    },
  });
  for (const name of ["tds-operator", "tds-dashboard-api"]) {
    const tpl = podSpec(find(objs, "Deployment", name));
    const c = tpl.spec.containers[0];
    assert.ok(c);
    assert.equal(c.image, `registry.example.com/tds/tds@${digest}`);
    assert.deepEqual(tpl.spec.imagePullSecrets, [{ name: "registry" }]);
    assert.deepEqual(tpl.spec.nodeSelector, common.nodeSelector);
    assert.deepEqual(tpl.spec.tolerations, common.tolerations);
    assert.deepEqual(tpl.spec.affinity, common.affinity);
    assert.equal(tpl.metadata.annotations?.["example.com/scrape"], "yes");
    assert.ok(c.env.some((e) => e.name === "TZ" && e.value === "UTC"));
    const sa = find(objs, "ServiceAccount", name).metadata as { annotations?: Record<string, string> };
    assert.equal(sa.annotations?.["iam.example.com/role"], "tds");
  }
  const env = podSpec(find(objs, "Deployment", "tds-operator")).spec.containers[0]?.env ?? [];
  assert.equal(env.find((e) => e.name === "TDS_RESYNC_MS")?.value, "45000");
});

test("two releases share no cluster-scoped name, and the policies name each release's own identities", () => {
  const a = renderChart({ release: "acme", namespace: "tds-acme", includeCrds: false });
  const b = renderChart({ release: "globex", namespace: "tds-globex", includeCrds: false });
  const names = (objs: ChartObject[]) =>
    new Set(objs.filter((o) => clusterScoped.has(o.kind)).map((o) => `${o.kind}/${o.metadata.name}`));
  const shared = [...names(a)].filter((n) => names(b).has(n));
  assert.deepEqual(shared, []);
  assert.ok(names(a).has("ClusterRole/acme-tds-operator"));
  const policy = JSON.stringify(find(a, "ValidatingAdmissionPolicy", "acme-tds-sandboxjob-review"));
  assert.ok(policy.includes("system:serviceaccount:tds-acme:acme-tds-dashboard-api"));
  const binding = find(a, "ValidatingAdmissionPolicyBinding", "acme-tds-sandboxjob-review");
  assert.equal((binding.spec as { policyName: string }).policyName, "acme-tds-sandboxjob-review");
  const crb = find(a, "ClusterRoleBinding", "acme-tds-operator");
  assert.deepEqual((crb as unknown as { subjects: unknown[] }).subjects, [
    { kind: "ServiceAccount", name: "acme-tds-operator", namespace: "tds-acme" },
  ]);
  const env = podSpec(find(a, "Deployment", "acme-tds-operator")).spec.containers[0]?.env ?? [];
  assert.equal(env.find((e) => e.name === "TDS_LEASE_NAME")?.value, "acme-tds-operator");
});

test("the optional ServiceMonitors and PrometheusRules render when enabled; the policies can be turned off", () => {
  const objs = renderChart({
    namespace: "tds-system",
    values: {
      operator: { metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } },
      dashboardApi: { metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } },
      admissionPolicies: { enabled: false },
    },
  });
  assert.equal(objs.filter((o) => o.kind === "ServiceMonitor").length, 2);
  // The API's metrics are on a port of their own, behind a Service of their own: never on the public one.
  const apiMonitor = find(objs, "ServiceMonitor", "tds-dashboard-api");
  assert.deepEqual(
    (apiMonitor.spec as { endpoints: { port: string }[] }).endpoints.map((e) => e.port),
    ["metrics"],
  );
  const ports = (name: string) =>
    (find(objs, "Service", name).spec as { ports: { name: string; port: number }[] }).ports;
  assert.deepEqual(
    ports("tds-dashboard-api-metrics").map((p) => [p.name, p.port]),
    [["metrics", 9464]],
  );
  assert.deepEqual(
    ports("tds-dashboard-api").map((p) => p.name),
    ["http"],
  );
  const api = podSpec(find(objs, "Deployment", "tds-dashboard-api")).spec.containers[0];
  assert.equal(api?.env.find((e) => e.name === "TDS_METRICS_PORT")?.value, "9464");
  const rule = find(objs, "PrometheusRule", "tds-operator");
  assert.ok(JSON.stringify(rule).includes('tds_leader{job=\\"tds-operator-metrics\\"'));
  // The risk alert (docs/operations.md, "Risk findings"): every API replica reports the same count, hence max.
  const risk = find(objs, "PrometheusRule", "tds-dashboard-api");
  const [group] = (risk.spec as { groups: { rules: { alert: string; expr: string; for: string }[] }[] })
    .groups;
  const [alert] = group?.rules ?? [];
  assert.ok(alert);
  assert.equal(alert.alert, "TdsRiskFindingOpen");
  assert.equal(
    alert.expr,
    'max by (space, rule) (tds_risk_findings_open{job="tds-dashboard-api-metrics", namespace="tds-system"}) > 0',
  );
  assert.equal(alert.for, "1m");
  assert.ok(!objs.some((o) => o.kind.startsWith("ValidatingAdmissionPolicy")));
});

test("TLS with client certificates renders the Secret's mount, HTTPS probes and the trust-bundle watch, only when enabled", () => {
  const tls = { enabled: true, secretName: "door-tls" };
  const objs = renderChart({ namespace: "tds-system", values: { gateway: { tls }, dashboardApi: { tls } } });
  for (const name of ["tds-gateway", "tds-dashboard-api"]) {
    const pod = podSpec(find(objs, "Deployment", name)).spec as unknown as {
      containers: {
        env: { name: string; value?: string }[];
        volumeMounts: { name: string; mountPath: string }[];
        readinessProbe: { httpGet: { scheme?: string } };
      }[];
      volumes: { name: string; secret?: { secretName: string } }[];
    };
    const c = pod.containers[0];
    assert.ok(c);
    assert.equal(c.env.find((e) => e.name === "TDS_TLS_CERT_FILE")?.value, "/etc/tds/tls/tls.crt");
    assert.equal(c.env.find((e) => e.name === "TDS_TLS_KEY_FILE")?.value, "/etc/tds/tls/tls.key");
    assert.ok(c.volumeMounts.some((m) => m.name === "tls" && m.mountPath === "/etc/tds/tls"));
    assert.equal(pod.volumes.find((v) => v.name === "tls")?.secret?.secretName, "door-tls");
    assert.equal(c.readinessProbe.httpGet.scheme, "HTTPS");
    const rules = (
      find(objs, "ClusterRole", name) as unknown as { rules: { resources: string[]; verbs: string[] }[] }
    ).rules;
    assert.deepEqual(rules.find((r) => r.resources.includes("configmaps"))?.verbs, ["get", "list", "watch"]);
  }
  // Default: plain HTTP, and no watch of ConfigMaps.
  const plain = renderChart({ namespace: "tds-system" });
  const gw = podSpec(find(plain, "Deployment", "tds-gateway")).spec.containers[0]?.env ?? [];
  assert.ok(!gw.some((e) => e.name.startsWith("TDS_TLS_")));
  const gwRules = (
    find(plain, "ClusterRole", "tds-gateway") as unknown as { rules: { resources: string[] }[] }
  ).rules;
  assert.ok(!gwRules.some((r) => r.resources.includes("configmaps")));
});

test("each process gets the standard OTEL_* variables, and the Grafana dashboard ConfigMap renders when enabled", () => {
  const envOf = (objs: ChartObject[], name: string) => {
    const env = podSpec(find(objs, "Deployment", name)).spec.containers[0]?.env ?? [];
    return (n: string) => env.find((e) => e.name === n)?.value;
  };
  // Default: named services and resource attributes, but nothing exported and no dashboard.
  const plain = renderChart({ namespace: "tds-system" });
  for (const [deployment, service] of [
    ["tds-operator", "tds-operator"],
    ["tds-dashboard-api", "tds-dashboard-api"],
    ["tds-gateway", "tds-gateway"],
  ] as const) {
    const value = envOf(plain, deployment);
    assert.equal(value("OTEL_SERVICE_NAME"), service);
    assert.equal(value("OTEL_TRACES_EXPORTER"), "none");
    assert.equal(value("OTEL_EXPORTER_OTLP_ENDPOINT"), undefined);
    assert.match(
      value("OTEL_RESOURCE_ATTRIBUTES") ?? "",
      /^service\.namespace=tds-system,service\.version=[^,]+,k8s\.namespace\.name=tds-system,k8s\.pod\.name=\$\(OTEL_K8S_POD_NAME\)/,
    );
  }
  assert.ok(!plain.some((o) => o.kind === "ConfigMap" && o.metadata.name === "tds-grafana-dashboard"));

  const objs = renderChart({
    namespace: "tds-system",
    values: {
      telemetry: {
        otlpEndpoint: "http://otel-collector.observability:4317",
        otlpProtocol: "grpc",
        sampler: "parentbased_traceidratio",
        samplerArg: "0.25",
        serviceNames: { operator: "acme-operator" },
        resourceAttributes: { "deployment.environment.name": "prod" },
        grafanaDashboard: { enabled: true, folder: "TDS" },
      },
    },
  });
  for (const deployment of ["tds-operator", "tds-dashboard-api", "tds-gateway"]) {
    const value = envOf(objs, deployment);
    assert.equal(value("OTEL_TRACES_EXPORTER"), "otlp");
    assert.equal(value("OTEL_EXPORTER_OTLP_ENDPOINT"), "http://otel-collector.observability:4317");
    assert.equal(value("OTEL_EXPORTER_OTLP_PROTOCOL"), "grpc");
    assert.equal(value("OTEL_TRACES_SAMPLER"), "parentbased_traceidratio");
    assert.equal(value("OTEL_TRACES_SAMPLER_ARG"), "0.25");
    assert.ok(value("OTEL_RESOURCE_ATTRIBUTES")?.endsWith(",deployment.environment.name=prod"));
  }
  assert.equal(envOf(objs, "tds-operator")("OTEL_SERVICE_NAME"), "acme-operator");
  const cm = find(objs, "ConfigMap", "tds-grafana-dashboard") as ChartObject & {
    data: Record<string, string>;
  };
  assert.equal(cm.metadata.labels?.grafana_dashboard, "1");
  const dashboard = JSON.parse(cm.data["tds.json"] ?? "") as { panels: { targets?: { expr: string }[] }[] };
  const exprs = dashboard.panels
    .flatMap((p) => p.targets ?? [])
    .map((t) => t.expr)
    .join("\n");
  // The metrics the processes export (operator/src/runtime/metrics.ts, dashboard-api/src/plugins/telemetry.ts), unprefixed defaults included.
  for (const metric of [
    "tds_reconcile_duration_seconds_bucket",
    "tds_workqueue_depth",
    "tds_leader",
    "tds_api_http_request_duration_seconds_bucket",
    "tds_api_usage_events_total",
    "process_cpu_seconds_total",
    "nodejs_eventloop_lag_p99_seconds",
  ])
    assert.ok(exprs.includes(metric), metric);
});

test("values.schema.json refuses bad values and names the field", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ operator: { resyncSeconds: 30.5 } }, "/operator/resyncSeconds"],
    [{ operator: { replicas: -1 } }, "/operator/replicas"],
    [{ gateway: { publicUrl: "tds.example.com" } }, "/gateway/publicUrl"],
    [{ evidence: { exportIntervalMs: 10 } }, "/evidence/exportIntervalMs"],
    [{ evidence: { bucket: "Evidence_Bucket" } }, "/evidence/bucket"],
    [{ dashboardApi: { publicUrl: "https://tds.example.com" } }, "publicUrl"],
    [{ image: { digest: "latest" } }, "/image/digest"],
    [{ image: { pullPolicy: "Sometimes" } }, "/image/pullPolicy"],
    [{ operator: { resyncSecond: 30 } }, "resyncSecond"],
    [{ database: { urlSecret: { name: "" } } }, "/database/urlSecret/name"],
    [{ podSecurityContext: { runAsUser: 0 } }, "/podSecurityContext/runAsUser"],
    [{ telemetry: { otlpEndpoint: "otel:4318" } }, "/telemetry/otlpEndpoint"],
    [{ telemetry: { otlpProtocol: "thrift" } }, "/telemetry/otlpProtocol"],
    [{ telemetry: { samplerArg: "1.5" } }, "/telemetry/samplerArg"],
    [{ gateway: { tls: { enabled: true } } }, "/gateway/tls"],
    [
      { dashboardApi: { tls: { enabled: false, clientCertificateHeader: "ssl client cert" } } },
      "/dashboardApi/tls/clientCertificateHeader",
    ],
  ];
  for (const [values, field] of cases) {
    assert.throws(
      () => templateChart({ namespace: "tds-system", values }),
      (err: { stderr?: string }) => {
        assert.match(err.stderr ?? "", /values don't meet the specifications of the schema/);
        assert.ok(err.stderr?.includes(field), `${JSON.stringify(values)}: ${err.stderr ?? ""}`);
        return true;
      },
    );
  }
});

test("the local kube-apiserver accepts every object the chart renders (server-side dry run, CRDs included)", () => {
  const ns = `tds-chart-${run}`;
  kubectl(["create", "namespace", ns]);
  try {
    for (const values of [
      {},
      {
        image: { digest: `sha256:${"cd".repeat(32)}` },
        imagePullSecrets: [{ name: "registry" }],
        operator: { replicas: 1, nodeSelector: { "kubernetes.io/os": "linux" }, spaceSelector: "tier=gold" },
        dashboardApi: {
          service: { type: "LoadBalancer", port: 443 },
          podDisruptionBudget: { enabled: false },
        },
      },
    ]) {
      const text = templateChart({ release: `r${run}`, namespace: ns, values, includeCrds: true });
      const out = kubectl(
        [
          "apply",
          "--server-side",
          "--dry-run=server",
          "--field-manager=tds-chart-test",
          "-o",
          "name",
          "-f",
          "-",
        ],
        text,
      );
      const applied = out.trim().split("\n").filter(Boolean);
      const rendered = renderChart({ release: `r${run}`, namespace: ns, values, includeCrds: true });
      assert.equal(applied.length, rendered.length, out);
      for (const kind of [
        "deployment",
        "customresourcedefinition",
        "validatingadmissionpolicy",
        "poddisruptionbudget",
      ])
        assert.ok(
          applied.some((l) => l.startsWith(`${kind}.`)),
          `${kind} in ${out}`,
        );
    }
  } finally {
    kubectl(["delete", "namespace", ns, "--wait=false"]);
  }
});
