// `make demo`: the product on the embedded default. Starts the local control
// plane, PostgreSQL and S3, installs the CRDs, starts the operator and the
// dashboard API, applies crds/samples/, prints one ready line, and stops
// everything on SIGINT or SIGTERM. With the real node (root on Linux), the
// chart's gateway runs as a pod there, and the sample analysis runs as a
// SandboxJob in gVisor: its outputs wait for review, and the demo prints the
// release and download commands.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadOrCreateDevKey, mintToken } from "../../dashboard-api/src/auth/keys.ts";
import { devKeyFile } from "../../dashboard-api/src/config.ts";
import { repoRoot, startEnvironment, type Environment } from "./environment.ts";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "./processes.ts";
import { seedOfferAssets } from "./demo-data.ts";
import { chartDir, templateChart } from "./chart.ts";
import { installGatewayPod, loadImages, onRealNode, type GatewayPod } from "./gateway-pod.ts";
import { ANALYSIS_PROGRAM } from "./analysis/image.ts";

/** The sample space and consumer (crds/samples). */
const DEMO_SPACE = "yangtze-industrial";
const DEMO_CONSUMER = "wuhan-analytics";

/** A curl command with which the sample consumer asks the demo space's DSP endpoint for its catalogue. */
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

function kubectl(env: Environment, args: readonly string[]): string {
  return execFileSync(join(env.info.TDS_BIN_DIR, "kubectl"), args, {
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: env.info.KUBECONFIG },
    stdio: ["ignore", "pipe", "inherit"],
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

async function main(): Promise<void> {
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, resolve);
  });
  const env = await startEnvironment();
  const children: ManagedProcess[] = [];
  const logs = join(env.info.KUBECONFIG, "..", "logs");
  const lines: string[] = [];
  let dashboardUrl: string | undefined;
  try {
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
        namespace: "tds-system",
        showOnly: readdirSync(join(chartDir, "templates"))
          .filter((f) => f.endsWith("-policy.yaml") || f.endsWith("-binding.yaml"))
          .sort()
          .map((f) => `templates/${f}`),
      }),
    );
    kubectl(env, ["apply", "--server-side", "--force-conflicts", "--field-manager=tds-demo", "-f", policies]);
    // Traces go nowhere unless the user points OTEL_EXPORTER_OTLP_ENDPOINT at a collector (docs/operations.md).
    const childEnv: NodeJS.ProcessEnv = {
      OTEL_TRACES_EXPORTER: process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? "otlp" : "none",
      ...process.env,
      ...env.info,
    };
    const tsx = ["--import", "tsx"];
    if (existsSync(join(repoRoot, "dashboard-api/src/server.ts"))) {
      const port = await freePort();
      const metricsPort = await freePort();
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
          // The demo space speaks DSP; its participants call it with their own API tokens (docs/dsp.md).
          TDS_DSP_SPACES: JSON.stringify({
            [DEMO_SPACE]: {
              participantId: `urn:tds:${DEMO_SPACE}`,
              consumer: DEMO_CONSUMER,
              counterparties: [],
            },
          }),
          TDS_PUBLIC_URL: `http://127.0.0.1:${String(port)}`,
        },
        logFile: join(logs, "dashboard-api.log"),
      });
      children.push(api);
      const url = `http://127.0.0.1:${port}`;
      await waitUntil("dashboard API /readyz", api, () => fetch(`${url}/readyz`).then((r) => r.ok), 60_000);
      childEnv.TDS_DASHBOARD_URL = url;
      // The operator posts storage usage with a token of its own role, signed by the API's dev key.
      const key = await loadOrCreateDevKey(devKeyFile(childEnv));
      childEnv.TDS_DASHBOARD_TOKEN = await mintToken(key, {
        role: "operator",
        subject: "system:serviceaccount:tds-system:tds-operator",
        expiresIn: "30d",
      });
      dashboardUrl = url;
      lines.push(`API docs ${url}/docs`);
      lines.push(`API metrics http://127.0.0.1:${String(metricsPort)}/metrics`);
    }
    // With the real node: the chart's gateway as a pod there, which the sandboxes reach.
    let gatewayPod: GatewayPod | undefined;
    let analysisImage: string | undefined;
    if (env.info.TDS_REAL_NODE && dashboardUrl) {
      const images = await loadImages(join(env.info.KUBECONFIG, "..", "images"), env.info);
      analysisImage = images.analysis;
      gatewayPod = installGatewayPod({
        info: env.info,
        kubectl: (args, input) =>
          execFileSync(join(env.info.TDS_BIN_DIR, "kubectl"), args, {
            encoding: "utf8",
            input,
            env: { ...process.env, KUBECONFIG: env.info.KUBECONFIG },
          }),
        namespace: "tds-system",
        release: "tds",
        image: images.tds,
        databaseUrl: env.info.DATABASE_URL,
      });
      childEnv.TDS_GATEWAY_NAMESPACE = "tds-system";
      childEnv.TDS_GATEWAY_POD_LABELS = Object.entries(gatewayPod.podLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      childEnv.TDS_SANDBOX_GATEWAY_URL = gatewayPod.podUrl;
      childEnv.TDS_SANDBOX_NODE_SELECTOR = JSON.stringify(onRealNode.nodeSelector);
      childEnv.TDS_SANDBOX_TOLERATIONS = JSON.stringify(onRealNode.tolerations);
      lines.push(`gateway pod ${gatewayPod.url}`);
    } else if (!env.info.TDS_REAL_NODE) {
      lines.push(`no real node (${env.info.TDS_NODE_ABSENT}): sandboxes run on KWOK's fake node`);
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
      const url = `http://127.0.0.1:${port}`;
      await waitUntil("operator /healthz", operator, () => fetch(`${url}/healthz`).then((r) => r.ok), 60_000);
      lines.push(`operator metrics ${url}/metrics`);
    }
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
    const download = await downloadCommand(env, gatewayPod?.url ?? dashboardUrl);
    const analysis =
      gatewayPod && analysisImage ? await sampleAnalysis(env, analysisImage, gatewayPod.url) : [];
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
      [`TDS demo ready: KUBECONFIG=${env.info.KUBECONFIG}`, ...lines, `logs ${logs}`].join(" | ") +
        " (Ctrl-C stops everything)",
    );
    console.log(`try: KUBECONFIG=${env.info.KUBECONFIG} ${join(env.info.TDS_BIN_DIR, "kubectl")} get tds`);
    if (download)
      console.log(`download a sample object as the consumer, through the metered gateway:\n  ${download}`);
    if (analysis.length > 0) console.log(analysis.join("\n"));
    if (dashboardUrl) {
      console.log(`DSP: ${dashboardUrl}/dsp/${DEMO_SPACE}`);
      console.log(
        `the demo space's DSP catalogue, as the consumer:\n  ${await dspCatalogCommand(dashboardUrl, childEnv)}`,
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
