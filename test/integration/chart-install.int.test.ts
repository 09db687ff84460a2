// The chart installed with helm on the real node, as a cloud provider would:
// the operator, the dashboard API and the gateway run as pods from the
// project's image (infra/image, loaded into containerd by digest), and reach
// PostgreSQL, S3 and the API server at the node's bridge address (TDS_POD_*).
//   - The operator's pod reconciles a space to Ready.
//   - The gateway's pod serves a metered download.
//   - A sandbox reaches the gateway's pod through the NetworkPolicies.
//   - Storage usage is metered.
//   - `helm upgrade` changes a value; `helm uninstall` leaves nothing of the
//     release behind, and the CRDs are kept, as Helm does.
// The release's operator manages only this run's spaces (operator.spaceSelector),
// and its admission policies are off: the suite's other tests share the cluster.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import pg from "pg";
import { KubeClient, dataOf, type KubeObject, kinds } from "@tds/kube";
import { generateDevKey, jwksOf } from "@tds/dashboard-api/auth-keys";
import { migrate } from "@tds/dashboard-api/migrate";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { provisionProviderAndConsumer, runId } from "../harness/operator-fixtures.ts";
import { chartDir, helm } from "../harness/chart.ts";
import {
  helmInstall,
  prerequisiteObjects,
  realNodeValues,
  type PodEnvironment,
} from "../harness/chart-release.ts";
import { loadImages } from "../harness/gateway-pod.ts";
import { env, eventually, installCrds, kubeConfig, kubectl } from "../harness/testkit.ts";

const run = runId();
const release = `e2e${run}`;
const ns = `tds-e2e-${run}`;
const fullname = `${release}-tds`;
const space = `ci-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
/** A fixed ClusterIP in the Service range's static band: this machine, outside the cluster DNS, downloads there. */
const GATEWAY_IP = "10.0.0.12";
const gatewayUrl = `http://${GATEWAY_IP}:80`;
const client = new KubeClient(kubeConfig());
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

type Obj = KubeObject & {
  status?: {
    state?: string;
    agreementId?: string;
    credentialsSecret?: string;
    phase?: string;
    review?: { state: string };
    conditions?: { type: string; status: string; reason: string }[];
  };
};

let db: TestDatabase | undefined;
let pool: pg.Pool | undefined;
let installed = false;
let analysisImage = "";

/** Where the pods reach the node's services, and the S3 admin keys (the environment's variables). */
function podEnvironment(): PodEnvironment {
  return {
    TDS_POD_HOST: env("TDS_POD_HOST"),
    TDS_POD_S3_ENDPOINT: env("TDS_POD_S3_ENDPOINT"),
    TDS_POD_S3_ADMIN_ENDPOINT: env("TDS_POD_S3_ADMIN_ENDPOINT"),
    TDS_S3_REGION: env("TDS_S3_REGION"),
    TDS_S3_ACCESS_KEY_ID: env("TDS_S3_ACCESS_KEY_ID"),
    TDS_S3_SECRET_ACCESS_KEY: env("TDS_S3_SECRET_ACCESS_KEY"),
  };
}

/** This run's values, over realNodeValues. */
const values = {
  operator: {
    spaceSelector: `tds.dev/test-run=${run}`,
    resyncSeconds: 30,
    extraEnv: [{ name: "TDS_STORAGE_SAMPLE_MS", value: "2000" }],
  },
  gateway: {
    publicUrl: gatewayUrl,
    monitorIntervalMs: 500,
    service: { type: "ClusterIP", port: 80, clusterIP: GATEWAY_IP },
  },
  // Sandboxes reach the gateway by the chart's default, its Service's DNS name.
  admissionPolicies: { enabled: false },
};

function helmRun(args: readonly string[]): string {
  return helm([...args, "--kubeconfig", env("KUBECONFIG")]);
}

before(async () => {
  installCrds();
  const images = await loadImages(join(dirname(env("KUBECONFIG")), "images", "chart-install"));
  analysisImage = images.analysis;
  db = await createTestDatabase("tds_e2e");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url });
  const key = await generateDevKey();
  const pods = podEnvironment();
  // What the provider creates first (charts/tds/README.md): the namespace, the two Secrets and the JWKS.
  kubectl(
    ["apply", "-f", "-"],
    JSON.stringify(
      prerequisiteObjects({ info: pods, namespace: ns, databaseUrl: db.url, jwks: jwksOf(key) }),
    ),
  );
  helmInstall({
    release,
    namespace: ns,
    kubeconfig: env("KUBECONFIG"),
    values: [realNodeValues(images.tds, pods), values],
  });
  installed = true;
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  if (installed) {
    try {
      helmRun(["uninstall", release, "-n", ns, "--wait", "--timeout", "2m"]);
    } catch {
      // the uninstall test ran it already
    }
  }
  kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]);
  await pool?.end();
  await db?.drop();
});

test("the operator's pod reconciles a space to Ready", async () => {
  const pods = JSON.parse(
    kubectl(["get", "pods", "-n", ns, "-l", `app.kubernetes.io/instance=${release}`, "-o", "json"]),
  ) as { items: { metadata: { labels: Record<string, string> }; spec: { nodeName: string } }[] };
  assert.deepEqual(pods.items.map((p) => p.metadata.labels["app.kubernetes.io/component"]).sort(), [
    "dashboard-api",
    "gateway",
    "operator",
  ]);
  for (const p of pods.items) assert.equal(p.spec.nodeName, env("TDS_REAL_NODE"));
  await provisionProviderAndConsumer(client, run, space, provider, consumer);
  const s = await client.get<Obj>(kinds.dataSpace, space);
  assert.equal(s.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
});

test("the gateway's pod serves a metered download, and a sandbox reaches it through the NetworkPolicies", async () => {
  const d = dataOf(await client.get(kinds.secret, "storage-credentials", provNs));
  const s3 = new S3Client({
    endpoint: unb64(d.S3_ENDPOINT),
    region: unb64(d.AWS_REGION),
    forcePathStyle: true,
    credentials: { accessKeyId: unb64(d.AWS_ACCESS_KEY_ID), secretAccessKey: unb64(d.AWS_SECRET_ACCESS_KEY) },
  });
  const body =
    "unit,opened,part,cause\n" +
    Array.from(
      { length: 120 },
      (_, i) => `GT-${String((i % 4) + 1)},2025-0${String((i % 3) + 1)}-01,p${String(i % 7)},wear`,
    ).join("\n") +
    "\n";
  await s3.send(new PutObjectCommand({ Bucket: unb64(d.BUCKET), Key: "logs.csv", Body: body }));
  for (const [name, mode] of [
    ["download", "download"],
    ["compute", "computeOnly"],
  ] as const) {
    await client.create(kinds.dataOffer, {
      apiVersion: "tds.dev/v1alpha1",
      kind: "DataOffer",
      metadata: { name, namespace: provNs },
      spec: {
        title: `Logs (${mode})`,
        classification: "public",
        dataCategory: "industrial.maintenance",
        regionOfOrigin: "CN-SH",
        asset: { key: "logs.csv", format: "text/csv" },
        policy: { purposes: ["research"], accessMode: mode },
      },
    });
    await client.create(kinds.dataContract, {
      apiVersion: "tds.dev/v1alpha1",
      kind: "DataContract",
      metadata: { name, namespace: consNs },
      spec: { offerRef: { namespace: provNs, name }, purpose: "research" },
    });
  }
  const contract = await eventually(
    "the download contract Active",
    async () => {
      const c = await client.get<Obj>(kinds.dataContract, "download", consNs);
      return c.status?.state === "Active" && c.status.credentialsSecret ? c : undefined;
    },
    120_000,
  );
  const token = unb64(
    dataOf(await client.get(kinds.secret, contract.status?.credentialsSecret ?? "", consNs)).token,
  );
  const res = await eventually(
    "the gateway pod serves the object",
    async () => {
      const r = await fetch(`${gatewayUrl}/v1/data/${contract.status?.agreementId ?? ""}/logs.csv`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return r.status === 200 ? r : undefined;
    },
    60_000,
  );
  assert.equal(await res.text(), body);
  await eventually(
    "the transfer metered",
    async () => {
      const r = await pool?.query<{ quantity: string }>(
        "select quantity::text from usage_events where space = $1 and meter = 'transfer.bytes'",
        [space],
      );
      return r?.rows.some((x) => x.quantity === String(Buffer.byteLength(body))) ? true : undefined;
    },
    60_000,
  );

  // A job under the compute-only contract reads the same object through the gateway pod.
  await eventually(
    "the compute contract Active",
    async () =>
      (await client.get<Obj>(kinds.dataContract, "compute", consNs)).status?.state === "Active"
        ? true
        : undefined,
    120_000,
  );
  const images = JSON.parse(
    kubectl(["get", "deployment", "-n", ns, `${fullname}-gateway`, "-o", "json"]),
  ) as {
    spec: { template: { spec: { containers: { image: string }[] } } };
  };
  assert.match(images.spec.template.spec.containers[0]?.image ?? "", /^tds\.local\/tds@sha256:/);
  await client.create(kinds.sandboxJob, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "SandboxJob",
    metadata: { name: "analysis", namespace: consNs },
    spec: {
      contractRef: { name: "compute" },
      image: analysisImage,
      env: [
        { name: "INPUT_KEY", value: "logs.csv" },
        { name: "BOOTSTRAP_RESAMPLES", value: "2000" },
      ],
      resources: { cpu: "500m", memory: "256Mi" },
      maxDurationSeconds: 300,
      outputs: [
        { name: "failure-rates", path: "/outputs/failure-rates.json", maxSize: "1Mi" },
        { name: "summary", path: "/outputs/summary.csv", maxSize: "1Mi" },
      ],
    },
  });
  const done = await eventually(
    "the job Succeeded with its outputs held for review",
    async () => {
      const j = await client.get<Obj>(kinds.sandboxJob, "analysis", consNs);
      if (j.status?.phase === "Failed")
        throw new Error(`the job failed: ${JSON.stringify(j.status.conditions)}`);
      return j.status?.review ? j : undefined;
    },
    240_000,
  );
  assert.equal(done.status?.phase, "Succeeded");
  assert.equal(done.status.review?.state, "PendingReview");
});

test("storage usage is metered by the operator's pod", async () => {
  await eventually(
    "a storage sample of the provider",
    async () => {
      const r = await pool?.query(
        "select 1 from usage_events where space = $1 and participant = $2 and meter = 'storage.byte_seconds' and quantity > 0",
        [space, provider],
      );
      return (r?.rowCount ?? 0) > 0 ? true : undefined;
    },
    120_000,
  );
});

test("helm upgrade changes a value, and helm uninstall leaves nothing of the release but the CRDs", () => {
  helmRun([
    "upgrade",
    release,
    chartDir,
    "-n",
    ns,
    "--reuse-values",
    "--set",
    "operator.resyncSeconds=60",
    "--wait",
    "--timeout",
    "5m",
  ]);
  const operator = JSON.parse(
    kubectl(["get", "deployment", "-n", ns, `${fullname}-operator`, "-o", "json"]),
  ) as {
    spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
  };
  assert.equal(
    operator.spec.template.spec.containers[0]?.env.find((e) => e.name === "TDS_RESYNC_MS")?.value,
    "60000",
  );
  helmRun(["uninstall", release, "-n", ns, "--wait", "--timeout", "2m"]);
  const left = kubectl([
    "get",
    "deployments,services,serviceaccounts,configmaps,secrets,roles,rolebindings,poddisruptionbudgets,clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings",
    "-A",
    "-l",
    `app.kubernetes.io/instance=${release}`,
    "-o",
    "name",
  ]).trim();
  assert.equal(left, "", `left behind:\n${left}`);
  for (const crd of ["dataspaces", "participants", "dataoffers", "datacontracts", "sandboxjobs"])
    assert.ok(kubectl(["get", "crd", `${crd}.tds.dev`, "-o", "name"]).trim());
});
