// `make demo`: the product on the embedded default. Starts the local control
// plane, PostgreSQL and S3, installs TDS, applies crds/samples/, prints one
// ready line, and stops everything on SIGINT or SIGTERM. With the real node
// (root on Linux), TDS is installed as a provider would: the chart (charts/tds)
// with helm, the operator, the dashboard API and the gateway as pods from the
// project's image on the real node; the sample analysis runs there as a
// SandboxJob in gVisor, its outputs wait for review, and the demo prints the
// release and download commands. Without it (TDS_NODE=none), the operator and
// the API run as processes on this machine, and it says so.
import { execFileSync } from "node:child_process";
import { get as httpsGet } from "node:https";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jwksOf, loadOrCreateDevKey, mintToken } from "@tds/dashboard-api/auth-keys";
import { devKeyFile } from "@tds/dashboard-api/config";
import { repoRoot, startEnvironment, type Environment } from "./environment.ts";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "./processes.ts";
import { seedOfferAssets } from "./demo-data.ts";
import { chartDir, releaseToolsDir, templateChart } from "./chart.ts";
import { chartFullname, helmInstall, prerequisiteObjects, realNodeValues } from "./chart-release.ts";
import { loadImages } from "./gateway-pod.ts";
import { ANALYSIS_PROGRAM } from "./analysis/image.ts";
import { createCertificateAuthority, issueCertificate } from "@tds/operator/pki";

/** The sample space and consumer (crds/samples). */
const DEMO_SPACE = "yangtze-industrial";
const DEMO_CONSUMER = "wuhan-analytics";

/** A curl command with which the sample consumer asks the demo space's DSP endpoint for its catalog. */
async function dspCatalogCommand(dashboardUrl: string, childEnv: NodeJS.ProcessEnv): Promise<string> {
  const key = await loadOrCreateDevKey(devKeyFile(childEnv));
  const token = await mintToken(key, {
    role: "participant",
    subject: "demo-dsp",
    space: DEMO_SPACE,
    participant: DEMO_CONSUMER,
    expiresIn: "8h",
  });
  const body = JSON.stringify({
    "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
    "@type": "CatalogRequestMessage",
  });
  return `curl -fsS -X POST -H "Authorization: Bearer ${token}" -H "Content-Type: application/json" -d '${body}' ${dashboardUrl}/dsp/${DEMO_SPACE}/2025-1/catalog/request`;
}

/**
 * Waits (up to a minute) for the sample download contract to be Active and
 * returns a curl command that fetches one telemetry object with its token.
 */
async function downloadCommand(
  env: Environment,
  gatewayUrl: string | undefined,
): Promise<string | undefined> {
  if (!gatewayUrl) return undefined;
  const ns = `${DEMO_SPACE}--${DEMO_CONSUMER}`;
  const contract = "wuhan-telemetry";
  const get = (path: string) => {
    try {
      return kubectl(env, ["get", "datacontract", contract, "-n", ns, "-o", `jsonpath=${path}`]).trim();
    } catch {
      return "";
    }
  };
  const deadline = Date.now() + 60_000;
  while (get("{.status.state}") !== "Active") {
    if (Date.now() > deadline) {
      console.warn(`the sample contract ${ns}/${contract} is not Active: ${get("{.status}")}`);
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const agreement = get("{.status.agreementId}");
  const secretName = get("{.status.credentialsSecret}");
  const kc = `KUBECONFIG=${env.info.KUBECONFIG} ${join(env.info.TDS_BIN_DIR, "kubectl")}`;
  const token = `$(${kc} get secret ${secretName} -n ${ns} -o jsonpath='{.data.token}' | base64 -d)`;
  return `curl -fsS -H "Authorization: Bearer ${token}" -o readings.parquet ${gatewayUrl}/v1/data/${agreement}/telemetry/2025/month=01/readings.parquet`;
}

const SAMPLE_JOB = "failure-rates";

/**
 * Runs the sample analysis (test/harness/analysis) as a SandboxJob under the
 * sample compute-only contract, waits until it has finished and its outputs
 * are held for review, and returns the commands that release and download them.
 */
async function sampleAnalysis(env: Environment, image: string, gatewayUrl: string): Promise<string[]> {
  const ns = `${DEMO_SPACE}--${DEMO_CONSUMER}`;
  const kc = `KUBECONFIG=${env.info.KUBECONFIG} ${join(env.info.TDS_BIN_DIR, "kubectl")}`;
  execFileSync(join(env.info.TDS_BIN_DIR, "kubectl"), ["apply", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "tds.dev/v1alpha1",
      kind: "SandboxJob",
      metadata: { name: SAMPLE_JOB, namespace: ns },
      spec: {
        contractRef: { name: "wuhan-maintenance-model" },
        image,
        command: ["/usr/local/bin/node", ANALYSIS_PROGRAM],
        env: [{ name: "INPUT_KEY", value: "maintenance/work-orders-2015-2025.csv" }],
        resources: { cpu: "1", memory: "512Mi" },
        maxDurationSeconds: 600,
        outputs: [
          { name: "failure-rates", path: "/outputs/failure-rates.json", maxSize: "1Mi" },
          { name: "summary", path: "/outputs/summary.csv", maxSize: "1Mi" },
        ],
      },
    }),
    env: { ...process.env, KUBECONFIG: env.info.KUBECONFIG },
    stdio: ["pipe", "ignore", "inherit"],
  });
  const get = (path: string) => {
    try {
      return kubectl(env, ["get", "sandboxjob", SAMPLE_JOB, "-n", ns, "-o", `jsonpath=${path}`]).trim();
    } catch {
      return "";
    }
  };
  const deadline = Date.now() + 300_000;
  while (!["PendingReview", "Withheld"].includes(get("{.status.review.state}"))) {
    const phase = get("{.status.phase}");
    if (["Failed", "Rejected", "DeadlineExceeded"].includes(phase) || Date.now() > deadline) {
      console.warn(`the sample analysis did not finish: ${get("{.status}")}`);
      return [];
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const uid = get("{.metadata.uid}");
  const usage = get("{.status.usage}");
  const contractSecret = kubectl(env, [
    "get",
    "datacontract",
    "wuhan-maintenance-model",
    "-n",
    ns,
    "-o",
    "jsonpath={.status.credentialsSecret}",
  ]).trim();
  const token = `$(${kc} get secret ${contractSecret} -n ${ns} -o jsonpath='{.data.token}' | base64 -d)`;
  return [
    `the sample analysis ran in gVisor on the real node; its outputs wait for review (usage ${usage}):`,
    `  ${kc} get sandboxjob ${SAMPLE_JOB} -n ${ns} -o jsonpath='{.status.outputs}'`,
    `release them as the provider:`,
    `  ${kc} annotate sandboxjob ${SAMPLE_JOB} -n ${ns} tds.dev/review=release tds.dev/reviewed-by=shanghai-turbines`,
    `then download them as the consumer, through the gateway pod:`,
    `  curl -fsS -H "Authorization: Bearer ${token}" ${gatewayUrl}/v1/sandbox/${uid}/outputs/failure-rates`,
  ];
}

function kubectl(env: Environment, args: readonly string[], input?: string): string {
  return execFileSync(join(env.info.TDS_BIN_DIR, "kubectl"), args, {
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: env.info.KUBECONFIG },
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "inherit"],
  });
}

const notReadyColumns =
  "custom-columns=PARTICIPANT:.metadata.name,READY:.status.conditions[?(@.type=='Ready')].status," +
  "REASON:.status.conditions[?(@.type=='Ready')].reason";

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(dir, f));
}

/** The release the demo installs with helm, as a provider would (docs/install.md). */
const RELEASE = "tds";
const RELEASE_NS = "tds-system";
/** Fixed ClusterIPs in the Service range's static band (10.0.0.0/24): the API's URL goes into its DSP config, the gateway's into each contract's Secret. */
const API_IP = "10.0.0.13";
const GATEWAY_IP = "10.0.0.14";
/** The gateway process (@tds/gateway) as the demo runs it on this machine. */
const gatewayEntry = "dashboard-api/gateway/src/main.ts";

const podColumns =
  "custom-columns=NAME:.metadata.name,COMPONENT:.metadata.labels.app\\.kubernetes\\.io/component," +
  "STATUS:.status.phase,NODE:.spec.nodeName,IMAGE:.spec.containers[0].image";

const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

/** The API's DSP settings: the demo space speaks DSP; its participants call it with their own API tokens (docs/dsp.md). */
function dspEnv(publicUrl: string): { name: string; value: string }[] {
  return [
    {
      name: "TDS_DSP_SPACES",
      value: JSON.stringify({
        [DEMO_SPACE]: { participantId: `urn:tds:${DEMO_SPACE}`, consumer: DEMO_CONSUMER, counterparties: [] },
      }),
    },
    { name: "TDS_PUBLIC_URL", value: publicUrl },
  ];
}

interface Running {
  /** How TDS runs: pods of a helm release, or host processes. */
  readonly mode: string;
  readonly dashboardUrl?: string;
  /** The gateway that serves downloads: its pod's Service, or its host process. */
  readonly gatewayUrl?: string;
  /** The sample analysis image, loaded into the real node. */
  readonly analysisImage?: string;
  readonly lines: string[];
  /** Printed after the ready line. */
  readonly details: string[];
}

/**
 * With the real node: TDS as a provider installs it. The TDS image and the
 * sample analysis image are built and loaded into the node's containerd, the
 * provider's prerequisites created (the database and object-store Secrets, the
 * JWKS of the demo's signing key), and the chart installed with helm: the
 * operator, the dashboard API and the gateway run as pods on the real node,
 * reaching PostgreSQL, S3 and the API server at the node's address. This
 * machine is the node, so its service proxy routes the Services' ClusterIPs.
 */
async function installRelease(env: Environment, childEnv: NodeJS.ProcessEnv): Promise<Running> {
  const lines: string[] = [];
  const details: string[] = [];
  const t0 = Date.now();
  const images = await loadImages(join(env.info.KUBECONFIG, "..", "images"), env.info);
  const t1 = Date.now();
  const key = await loadOrCreateDevKey(devKeyFile(childEnv));
  kubectl(
    env,
    ["apply", "-f", "-"],
    JSON.stringify(
      prerequisiteObjects({
        info: env.info,
        namespace: RELEASE_NS,
        databaseUrl: env.info.DATABASE_URL,
        jwks: jwksOf(key),
      }),
    ),
  );
  const dashboardUrl = `http://${API_IP}:80`;
  const gatewayUrl = `http://${GATEWAY_IP}:80`;
  helmInstall({
    release: RELEASE,
    namespace: RELEASE_NS,
    kubeconfig: env.info.KUBECONFIG,
    values: [
      realNodeValues(images.tds, env.info),
      {
        dashboardApi: {
          service: { type: "ClusterIP", port: 80, clusterIP: API_IP },
          extraEnv: dspEnv(dashboardUrl),
        },
        gateway: { publicUrl: gatewayUrl, service: { type: "ClusterIP", port: 80, clusterIP: GATEWAY_IP } },
      },
    ],
  });
  const t2 = Date.now();
  const fullname = chartFullname(RELEASE);
  const serviceUrl = (service: string) =>
    kubectl(env, [
      "get",
      "service",
      "-n",
      RELEASE_NS,
      service,
      "-o",
      "jsonpath=http://{.spec.clusterIP}:{.spec.ports[0].port}",
    ]).trim();
  // The pods are Ready (helm --wait); the service proxy's rules for their endpoints follow within seconds.
  let answer = "";
  for (let i = 0; i < 30 && answer !== "200"; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 1_000));
    answer = await fetch(`${dashboardUrl}/readyz`).then(
      (r) => String(r.status),
      (err: unknown) => String(err),
    );
  }
  if (answer !== "200")
    throw new Error(`the dashboard API's Service does not answer at ${dashboardUrl}/readyz: ${answer}`);
  lines.push(`API docs ${dashboardUrl}/docs`);
  lines.push(`API metrics ${serviceUrl(`${fullname}-dashboard-api-metrics`)}/metrics`);
  lines.push(`gateway pod ${gatewayUrl}`);
  lines.push(`operator metrics ${serviceUrl(`${fullname}-operator-metrics`)}/metrics`);
  const helmBin = join(releaseToolsDir(), "helm");
  details.push(
    `TDS's pods (kubectl get pods -n ${RELEASE_NS}), installed by helm install ${RELEASE} charts/tds -n ${RELEASE_NS}:`,
    ...kubectl(env, ["get", "pods", "-n", RELEASE_NS, "-o", podColumns])
      .trimEnd()
      .split("\n")
      .map((l) => `  ${l}`),
    `  images built and loaded in ${seconds(t1 - t0)}, helm install --wait took ${seconds(t2 - t1)}`,
    `the release: ${helmBin} status ${RELEASE} -n ${RELEASE_NS} --kubeconfig ${env.info.KUBECONFIG}`,
  );
  return {
    mode: `TDS runs as pods: helm release ${RELEASE} of charts/tds in namespace ${RELEASE_NS} on the real node ${env.info.TDS_REAL_NODE}`,
    dashboardUrl,
    gatewayUrl,
    analysisImage: images.analysis,
    lines,
    details,
  };
}

/**
 * Without the real node (TDS_NODE=none, not root, not Linux, or an external
 * cluster): the operator and the dashboard API run as processes on this
 * machine, with the CRDs and the chart's admission policies applied here, and
 * the gateway runs as its own process, as in the chart.
 */
async function startHostProcesses(
  env: Environment,
  childEnv: NodeJS.ProcessEnv,
  children: ManagedProcess[],
  logs: string,
): Promise<Running> {
  const mode =
    `host-process mode, no real node (${env.info.TDS_NODE_ABSENT}): the operator, the dashboard API ` +
    `and the gateway run as processes on this machine, not pods; sandboxes run on KWOK's fake node`;
  const lines: string[] = [];
  const crds = yamlFiles(join(repoRoot, "crds/generated"));
  if (crds.length > 0) {
    kubectl(env, ["apply", "--server-side", "--field-manager=tds-demo", ...crds.flatMap((f) => ["-f", f])]);
    kubectl(env, [
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd",
      "-l",
      "app.kubernetes.io/part-of=tds",
    ]);
  }
  // Decisions only through the dashboard API: the chart's admission policies (SandboxJob review,
  // DataContract decisions), rendered for release namespace tds-system. The demo's API runs as the
  // harness admin, whose certificate puts it in the group tds:reviewers that the policies allow.
  const policies = join(env.info.KUBECONFIG, "..", "admission-policies.yaml");
  writeFileSync(
    policies,
    templateChart({
      namespace: RELEASE_NS,
      showOnly: readdirSync(join(chartDir, "templates"))
        .filter((f) => f.endsWith("-policy.yaml") || f.endsWith("-binding.yaml"))
        .sort()
        .map((f) => `templates/${f}`),
    }),
  );
  kubectl(env, ["apply", "--server-side", "--force-conflicts", "--field-manager=tds-demo", "-f", policies]);
  const tsx = ["--import", "tsx"];
  let dashboardUrl: string | undefined;
  let gatewayUrl: string | undefined;
  if (existsSync(join(repoRoot, "dashboard-api/src/server.ts"))) {
    const port = await freePort();
    const metricsPort = await freePort();
    const url = `http://127.0.0.1:${String(port)}`;
    const gatewayPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${String(gatewayPort)}`;
    const api = startProcess({
      name: "dashboard-api",
      command: process.execPath,
      args: [...tsx, join(repoRoot, "dashboard-api/src/server.ts")],
      env: {
        ...childEnv,
        OTEL_SERVICE_NAME: "tds-dashboard-api",
        PORT: String(port),
        TDS_METRICS_PORT: String(metricsPort),
        HOST: "127.0.0.1",
        ...Object.fromEntries(dspEnv(url).map((e) => [e.name, e.value])),
        TDS_DSP_GATEWAY_URL: gatewayUrl,
      },
      logFile: join(logs, "dashboard-api.log"),
    });
    children.push(api);
    await waitUntil("dashboard API /readyz", api, () => fetch(`${url}/readyz`).then((r) => r.ok), 60_000);
    // The gateway, its own process as in the chart: /v1/data, /v1/sandbox and the evidence export to S3.
    const gatewayMetricsPort = await freePort();
    const gateway = startProcess({
      name: "gateway",
      command: process.execPath,
      args: [...tsx, join(repoRoot, gatewayEntry)],
      env: {
        ...childEnv,
        OTEL_SERVICE_NAME: "tds-gateway",
        PORT: String(gatewayPort),
        TDS_METRICS_PORT: String(gatewayMetricsPort),
        HOST: "127.0.0.1",
      },
      logFile: join(logs, "gateway.log"),
    });
    children.push(gateway);
    await waitUntil(
      "gateway /readyz",
      gateway,
      () => fetch(`${gatewayUrl ?? ""}/readyz`).then((r) => r.ok),
      60_000,
    );
    childEnv.TDS_GATEWAY_URL = gatewayUrl;
    childEnv.TDS_DASHBOARD_URL = url;
    // The operator posts storage usage with a token of its own role, signed by the API's dev key.
    const key = await loadOrCreateDevKey(devKeyFile(childEnv));
    childEnv.TDS_DASHBOARD_TOKEN = await mintToken(key, {
      role: "operator",
      subject: `system:serviceaccount:${RELEASE_NS}:tds-operator`,
      expiresIn: "30d",
    });
    dashboardUrl = url;
    lines.push(`API docs ${url}/docs`);
    lines.push(`API metrics http://127.0.0.1:${String(metricsPort)}/metrics`);
    lines.push(`gateway ${gatewayUrl}, metrics http://127.0.0.1:${String(gatewayMetricsPort)}/metrics`);
  }
  if (existsSync(join(repoRoot, "operator/src/main.ts"))) {
    const port = await freePort();
    const operator = startProcess({
      name: "operator",
      command: process.execPath,
      args: [...tsx, join(repoRoot, "operator/src/main.ts")],
      env: { ...childEnv, OTEL_SERVICE_NAME: "tds-operator", TDS_OPERATOR_PORT: String(port) },
      logFile: join(logs, "operator.log"),
    });
    children.push(operator);
    const url = `http://127.0.0.1:${String(port)}`;
    await waitUntil("operator /healthz", operator, () => fetch(`${url}/healthz`).then((r) => r.ok), 60_000);
    lines.push(`operator metrics ${url}/metrics`);
  }
  return {
    mode,
    ...(dashboardUrl ? { dashboardUrl } : {}),
    ...(gatewayUrl ? { gatewayUrl } : {}),
    lines,
    details: [],
  };
}

/**
 * One more gateway replica on this machine, serving HTTPS and asking for client
 * certificates (docs/identity.md), and the commands a participant runs to call it
 * with the certificate its space's CA issued. Its server certificate comes from a
 * CA made for the demo, written next to the logs.
 */
async function tlsGateway(
  env: Environment,
  childEnv: NodeJS.ProcessEnv,
  children: ManagedProcess[],
  logs: string,
): Promise<string[]> {
  const ca = await createCertificateAuthority("TDS demo gateway CA", 30);
  const server = await issueCertificate(ca, {
    subject: "CN=localhost",
    usage: "server",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    validForDays: 30,
  });
  const file = (name: string, pem: string) => {
    writeFileSync(join(logs, name), pem, { mode: 0o600 });
    return join(logs, name);
  };
  const caFile = file("gateway-ca.crt", ca.certPem);
  const port = await freePort();
  const gateway = startProcess({
    name: "gateway-tls",
    command: process.execPath,
    args: ["--import", "tsx", join(repoRoot, gatewayEntry)],
    env: {
      ...childEnv,
      OTEL_SERVICE_NAME: "tds-gateway-tls",
      HOST: "127.0.0.1",
      PORT: String(port),
      TDS_METRICS_PORT: String(await freePort()),
      TDS_TLS_CERT_FILE: file("gateway-tls.crt", server.certPem),
      TDS_TLS_KEY_FILE: file("gateway-tls.key", server.keyPem),
    },
    logFile: join(logs, "gateway-tls.log"),
  });
  children.push(gateway);
  await waitUntil(
    "the TLS gateway /healthz",
    gateway,
    () =>
      new Promise<boolean>((resolve) => {
        const req = httpsGet(`https://127.0.0.1:${String(port)}/healthz`, { ca: ca.certPem }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        });
        req.on("error", () => {
          resolve(false);
        });
      }),
    60_000,
  );
  const ns = `${DEMO_SPACE}--shanghai-turbines`;
  const kc = `KUBECONFIG=${env.info.KUBECONFIG} ${join(env.info.TDS_BIN_DIR, "kubectl")}`;
  const secret = (key: string, out: string) =>
    `${kc} -n ${ns} get secret participant-identity -o jsonpath='{.data.tls\\.${key}}' | base64 -d > ${out}`;
  return [
    "call the gateway with the participant's certificate, issued by the space CA (mTLS, docs/identity.md):",
    `  ${secret("crt", "shanghai-turbines.crt")}`,
    `  ${secret("key", "shanghai-turbines.key")}`,
    `  curl --cert shanghai-turbines.crt --key shanghai-turbines.key --cacert ${caFile} https://127.0.0.1:${String(port)}/v1/spaces/${DEMO_SPACE}/identity`,
  ];
}

async function main(): Promise<void> {
  const started = Date.now();
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, resolve);
  });
  const env = await startEnvironment();
  const environmentUp = Date.now();
  const children: ManagedProcess[] = [];
  const logs = join(env.info.KUBECONFIG, "..", "logs");
  try {
    // Traces go nowhere unless the user points OTEL_EXPORTER_OTLP_ENDPOINT at a collector (docs/operations.md).
    const childEnv: NodeJS.ProcessEnv = {
      OTEL_TRACES_EXPORTER: process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? "otlp" : "none",
      ...process.env,
      ...env.info,
    };
    const { mode, dashboardUrl, gatewayUrl, analysisImage, lines, details } = env.info.TDS_REAL_NODE
      ? await installRelease(env, childEnv)
      : await startHostProcesses(env, childEnv, children, logs);
    const samples = yamlFiles(join(repoRoot, "crds/samples"));
    if (samples.length > 0) kubectl(env, ["apply", ...samples.flatMap((f) => ["-f", f])]);
    const later = yamlFiles(join(repoRoot, "crds/samples/after-onboarding"));
    if (samples.length > 0 && later.length > 0) {
      try {
        kubectl(env, ["wait", "--for=condition=Ready", "participants", "--all", "--timeout=180s"]);
      } catch {
        // Show why and go on: the ready participants' objects still apply.
        console.warn(kubectl(env, ["get", "participants", "-o", notReadyColumns]));
      }
      try {
        const seeded = await seedOfferAssets(env.info, later);
        lines.push(`${seeded} sample objects uploaded to the providers' buckets`);
      } catch (err) {
        console.warn(`cannot upload the sample offers' data: ${String(err)}`);
      }
      try {
        kubectl(env, ["apply", ...later.flatMap((f) => ["-f", f])]);
      } catch {
        console.warn("some of crds/samples/after-onboarding did not apply (see above)");
      }
    }
    const download = await downloadCommand(env, gatewayUrl);
    const analysis = gatewayUrl && analysisImage ? await sampleAnalysis(env, analysisImage, gatewayUrl) : [];
    if (download) lines.push("download through the gateway: see below");
    if (dashboardUrl) {
      const space = kubectl(env, ["get", "dataspaces", "-o", "jsonpath={.items[0].metadata.name}"]).trim();
      const key = await loadOrCreateDevKey(devKeyFile(childEnv));
      const finance = await mintToken(key, {
        role: "finance-viewer",
        subject: "demo-finance",
        ...(space ? { space } : {}),
        expiresIn: "8h",
      });
      const page = space
        ? `${dashboardUrl}/dashboard#token=${finance}&space=${space}`
        : `${dashboardUrl}/dashboard`;
      lines.unshift(`dashboard ${page}`);
    }

    console.log(
      [`TDS demo ready: KUBECONFIG=${env.info.KUBECONFIG}`, mode, ...lines, `logs ${logs}`].join(" | ") +
        " (Ctrl-C stops everything)",
    );
    if (details.length > 0) console.log(details.join("\n"));
    console.log(
      `ready after ${seconds(Date.now() - started)} (the environment took ${seconds(environmentUp - started)})`,
    );
    console.log(`try: KUBECONFIG=${env.info.KUBECONFIG} ${join(env.info.TDS_BIN_DIR, "kubectl")} get tds`);
    if (download)
      console.log(`download a sample object as the consumer, through the metered gateway:\n  ${download}`);
    if (analysis.length > 0) console.log(analysis.join("\n"));
    try {
      console.log((await tlsGateway(env, childEnv, children, logs)).join("\n"));
    } catch (err) {
      console.warn(`the TLS gateway did not start: ${String(err)}`);
    }
    if (dashboardUrl) {
      console.log(`DSP: ${dashboardUrl}/dsp/${DEMO_SPACE}`);
      console.log(
        `the demo space's DSP catalog, as the consumer:\n  ${await dspCatalogCommand(dashboardUrl, childEnv)}`,
      );
    }
    await stopSignal;
    console.log("stopping the demo");
  } finally {
    for (const c of children.reverse()) await c.stop();
    await env.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
