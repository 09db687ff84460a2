// SandboxJobs on the real node, end to end, with the gateway as the chart
// runs it: the TDS image (infra/image) and the demo's sample analysis image
// are built and imported into the node's containerd; the chart's gateway
// objects (templates/gateway.yaml, rendered by helm) run the gateway as a pod
// that reaches PostgreSQL, S3 and the API server at the node's bridge address;
// the operator places sandbox pods on the real node under RuntimeClass gvisor.
//   - The analysis reads its contract's input through the gateway pod with its
//     job token, writes its outputs, exits 0; its CPU is metered from the
//     kubelet's summary (basis Measured); the outputs wait for review, the
//     provider releases them and the consumer downloads exactly those bytes.
//   - The sandbox namespace has a ResourceQuota (status.hard filled before the
//     Job exists) and a LimitRange of exactly the job's resources.
//   - An image the node does not have fails the job with ImageUnavailable,
//     meters nothing and is evidenced.
//   - Revoking the contract of a running job stops its container: it is gone
//     from containerd.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { release } from "node:os";
import { dirname, join } from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { KubeClient, dataOf, type KubeObject, kinds } from "@tds/kube";
import { buildApp } from "@tds/dashboard-api/app";
import { migrate } from "@tds/dashboard-api/migrate";
import { createTokenVerifier } from "@tds/dashboard-api/auth-tokens";
import { generateDevKey, jwksOf, mintToken } from "@tds/dashboard-api/auth-keys";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { sandboxNamespace } from "../../operator/src/controllers/sandboxjob/sandboxjob.builders.ts";
import {
  provisionProviderAndConsumer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";
import { containersOfNamespace, runningContainersOfNamespace } from "../harness/images.ts";
import type { EnvironmentInfo } from "../harness/environment.ts";
import { onRealNode } from "../harness/chart-release.ts";
import { installGatewayPod, loadImages } from "../harness/gateway-pod.ts";
import { env, eventually, installCrds, kubeConfig, kubectl } from "../harness/testkit.ts";

const run = runId();
const space = `sbn-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
const gwNs = `tds-gw-${run}`;
const release_ = `gw${run}`;
const INPUT_KEY = "maintenance/work-orders.csv";
const client = new KubeClient(kubeConfig());

interface Status {
  phase?: string;
  state?: string;
  agreementId?: string;
  credentialsSecret?: string;
  sandboxNamespace?: string;
  cpuSeconds?: number;
  usage?: {
    basis: string;
    cpuMilliseconds: number;
    memoryByteSeconds: number;
    samples?: number;
    reservedCpuMilliseconds: number;
  };
  review?: { state: string; reason?: string };
  outputs?: { name: string; bytes?: number; sha256?: string }[];
  conditions?: { type: string; status: string; reason: string; message?: string }[];
}
type Obj = KubeObject & { status?: Status };
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const cond = (o: Obj, t: string) => o.status?.conditions?.find((c) => c.type === t);
const getJob = (name: string) => client.get<Obj>(kinds.sandboxJob, name, consNs);

/** Work orders as the demo writes them: unit,opened,part,cause. */
function workOrders(): string {
  const rows = ["unit,opened,part,cause"];
  for (let i = 0; i < 1200; i++)
    rows.push(
      `GT-${String((i % 12) + 1)},2025-${String((i % 6) + 1).padStart(2, "0")}-01,part-${String(i % 17)},${i % 5 === 0 ? "crack" : "wear"}`,
    );
  return rows.join("\n") + "\n";
}
const INPUT = workOrders();

let db: TestDatabase | undefined;
let pool: pg.Pool;
let app: FastifyInstance | undefined;
let operator: TestOperator | undefined;
let analysisImage: string;
let gatewayUrl: string;
let gatewayDeployment = "";
let contractToken: string;

before(async () => {
  installCrds();
  const images = await loadImages(join(dirname(env("KUBECONFIG")), "images", "sandbox-node"));
  analysisImage = images.analysis;
  db = await createTestDatabase("tds_sbn");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url });
  const key = await generateDevKey();
  app = await buildApp({ pool, verifyToken: createTokenVerifier({ jwks: jwksOf(key) }) });
  const apiUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  const operatorToken = await mintToken(key, { role: "operator", subject: "system:tds-operator" });
  // The chart's gateway in its own namespace, on the real node.
  const gateway = installGatewayPod({
    info: process.env as unknown as EnvironmentInfo,
    kubectl,
    namespace: gwNs,
    release: release_,
    image: images.tds,
    databaseUrl: db.url,
    monitorIntervalMs: 500,
  });
  gatewayUrl = gateway.url;
  gatewayDeployment = gateway.deployment;

  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: { url: apiUrl, token: () => Promise.resolve(operatorToken) },
    gateway: { namespace: gwNs, podLabels: gateway.podLabels },
    // Sandboxes reach the gateway by its DNS name, through the DNS policy to the cluster DNS pod.
    sandbox: { ...onRealNode, gatewayUrl: gateway.podUrl },
  });
  await provisionProviderAndConsumer(client, run, space, provider, consumer);
  const d = dataOf(await client.get(kinds.secret, "storage-credentials", provNs));
  await new S3Client({
    endpoint: unb64(d.S3_ENDPOINT),
    region: unb64(d.AWS_REGION),
    forcePathStyle: true,
    credentials: { accessKeyId: unb64(d.AWS_ACCESS_KEY_ID), secretAccessKey: unb64(d.AWS_SECRET_ACCESS_KEY) },
  }).send(new PutObjectCommand({ Bucket: unb64(d.BUCKET), Key: INPUT_KEY, Body: INPUT }));
  await client.create(kinds.dataOffer, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataOffer",
    metadata: { name: "logs", namespace: provNs },
    spec: {
      title: "Maintenance logs",
      classification: "public",
      dataCategory: "industrial.maintenance",
      regionOfOrigin: "CN-SH",
      asset: { key: INPUT_KEY, format: "text/csv" },
      policy: { purposes: ["research"], accessMode: "computeOnly" },
    },
  });
  for (const name of ["c-run", "c-revoke"])
    await client.create(kinds.dataContract, {
      apiVersion: "tds.dev/v1alpha1",
      kind: "DataContract",
      metadata: { name, namespace: consNs },
      spec: { offerRef: { namespace: provNs, name: "logs" }, purpose: "research" },
    });
  const contract = await eventually(
    "contracts Active",
    async () => {
      const cs = await Promise.all(
        ["c-run", "c-revoke"].map((n) => client.get<Obj>(kinds.dataContract, n, consNs)),
      );
      return cs.every((c) => c.status?.state === "Active" && c.status.credentialsSecret) ? cs[0] : undefined;
    },
    90_000,
  );
  contractToken = unb64(
    dataOf(await client.get(kinds.secret, contract.status?.credentialsSecret ?? "", consNs)).token,
  );
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  kubectl(["delete", "namespace", gwNs, "--wait=false", "--ignore-not-found"]);
  kubectl(["delete", "clusterrole,clusterrolebinding", `${release_}-tds-gateway`, "--ignore-not-found"]);
  await operator?.stop();
  await app?.close();
  await (pool as pg.Pool | undefined)?.end();
  await db?.drop();
});

function job(name: string, contract: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "SandboxJob",
    metadata: { name, namespace: consNs },
    spec: {
      contractRef: { name: contract },
      resources: { cpu: "500m", memory: "256Mi" },
      maxDurationSeconds: 300,
      ...spec,
    },
  };
}

test("the sample analysis runs in gVisor on the real node, reads through the gateway pod, and its reviewed outputs download byte for byte", async () => {
  const created = await client.create(
    kinds.sandboxJob,
    job("analysis", "c-run", {
      image: analysisImage,
      env: [
        { name: "INPUT_KEY", value: INPUT_KEY },
        { name: "BOOTSTRAP_RESAMPLES", value: "20000" },
      ],
      outputs: [
        { name: "failure-rates", path: "/outputs/failure-rates.json", maxSize: "1Mi" },
        { name: "summary", path: "/outputs/summary.csv", maxSize: "1Mi" },
      ],
    }),
  );
  const uid = created.metadata.uid ?? "";
  const sbx = sandboxNamespace(created as never);
  // The quota is in force (status.hard) before the Job exists, and admits exactly the job's pod.
  const quota = await eventually(
    "the sandbox quota",
    () =>
      client.find<KubeObject & { status?: { hard?: Record<string, string> } }>(
        kinds.resourceQuota,
        "tds-quota",
        sbx,
      ),
    60_000,
  );
  const k8sJob = await eventually("the Job", () => client.find(kinds.job, "sandbox", sbx), 60_000);
  const jobCreated = Date.parse(k8sJob.metadata.creationTimestamp ?? "");
  const quotaLive = await client.get<KubeObject & { status?: { hard?: Record<string, string> } }>(
    kinds.resourceQuota,
    "tds-quota",
    sbx,
  );
  assert.equal(quotaLive.status?.hard?.pods, "1");
  assert.equal(quotaLive.status.hard["limits.cpu"], "500m");
  assert.ok(Date.parse(quota.metadata.creationTimestamp ?? "") <= jobCreated);
  const limits = await client.get<KubeObject & { spec: { limits: { max: Record<string, string> }[] } }>(
    kinds.limitRange,
    "tds-limits",
    sbx,
  );
  assert.deepEqual(limits.spec.limits[0]?.max, { cpu: "500m", memory: "256Mi" });
  const pod = await eventually(
    "the sandbox pod on the real node",
    async () =>
      (
        await client.list<KubeObject & { spec?: { nodeName?: string; runtimeClassName?: string } }>(
          kinds.pod,
          sbx,
        )
      ).items[0],
    60_000,
  );
  assert.equal(pod.spec?.nodeName, env("TDS_REAL_NODE"));
  assert.equal(pod.spec.runtimeClassName, "gvisor");

  const done: Obj = await eventually(
    "the analysis Succeeded, metered and collected",
    async () => {
      const j = await getJob("analysis");
      if (j.status?.phase === "Failed") {
        // The job's own logs stay in its sandbox (a consumer must not read around the review);
        // the gateway's log says what the job asked for.
        const gatewayLog = kubectl(["logs", "-n", gwNs, `deployment/${gatewayDeployment}`, "--tail=40"]);
        throw new Error(
          `the job failed: ${JSON.stringify(j.status.conditions)}\ngateway log:\n${gatewayLog}`,
        );
      }
      return j.status?.phase === "Succeeded" && cond(j, "Metered")?.status === "True" && j.status.review
        ? j
        : undefined;
    },
    240_000,
  );
  assert.equal(done.status?.review?.state, "PendingReview", JSON.stringify(done.status?.review));
  // Metered from what the container used, not from requests x run time.
  const usage = done.status.usage;
  assert.ok(usage, "no usage recorded");
  assert.equal(usage.basis, "Measured", JSON.stringify(usage));
  assert.ok((usage.samples ?? 0) >= 1);
  assert.ok(usage.cpuMilliseconds > 100, `measured ${String(usage.cpuMilliseconds)} ms of CPU`);
  assert.ok(
    usage.cpuMilliseconds <= usage.reservedCpuMilliseconds + 1000,
    `measured ${String(usage.cpuMilliseconds)} ms against a reservation of ${String(usage.reservedCpuMilliseconds)} ms`,
  );
  const metered = await pool.query<{ meter: string; quantity: string }>(
    "select meter, quantity::text from usage_events where id = $1",
    [`sandbox/${uid}/cpu`],
  );
  assert.deepEqual(metered.rows, [
    { meter: "sandbox.cpu_milliseconds", quantity: String(usage.cpuMilliseconds) },
  ]);
  console.log(
    `measured CPU ${String(usage.cpuMilliseconds)} ms (${String(usage.samples)} samples), reserved ${String(usage.reservedCpuMilliseconds)} ms`,
  );

  kubectl([
    "annotate",
    "sandboxjob",
    "-n",
    consNs,
    "analysis",
    "tds.dev/review=release",
    "tds.dev/reviewed-by=provider",
  ]);
  await eventually(
    "released",
    async () => ((await getJob("analysis")).status?.review?.state === "Released" ? true : undefined),
    60_000,
  );
  const outputs = Object.fromEntries((done.status.outputs ?? []).map((o) => [o.name, o]));
  const download = async (name: string) => {
    const r = await fetch(`${gatewayUrl}/v1/sandbox/${uid}/outputs/${name}`, {
      headers: { authorization: `Bearer ${contractToken}` },
    });
    assert.equal(r.status, 200, await r.clone().text());
    return Buffer.from(await r.arrayBuffer());
  };
  const reportBytes = await download("failure-rates");
  const summary = await download("summary");
  for (const [name, bytes] of [
    ["failure-rates", reportBytes],
    ["summary", summary],
  ] as const) {
    assert.equal(createHash("sha256").update(bytes).digest("hex"), outputs[name]?.sha256, name);
    assert.equal(bytes.length, outputs[name]?.bytes, name);
  }
  // The numbers are the input's: 1200 work orders of 12 turbines over 6 months.
  const report = JSON.parse(reportBytes.toString("utf8")) as {
    input: { rows: number; bytes: number };
    turbines: { unit: string; workOrders: number; failuresPerMonth: number; interval95: [number, number] }[];
    ranOn: { kernel: string };
  };
  assert.equal(report.input.rows, 1200);
  // (An output that named the input's SHA-256 would be withheld as a copy: sandbox-scan.ts.)
  assert.equal(report.input.bytes, Buffer.byteLength(INPUT));
  assert.equal(report.turbines.length, 12);
  for (const t of report.turbines) {
    assert.equal(t.workOrders, 100);
    assert.equal(t.failuresPerMonth, 16.667);
    assert.ok(t.interval95[0] <= t.failuresPerMonth && t.failuresPerMonth <= t.interval95[1]);
  }
  // gVisor's kernel, not the machine's.
  assert.notEqual(report.ranOn.kernel, release());
  assert.match(
    summary.toString("utf8"),
    /^unit,work_orders,failures_per_month,low95,high95\nGT-1,100,16\.667,/,
  );
});

test("an image the node does not have fails the job with ImageUnavailable, meters nothing and is evidenced", async () => {
  const created = await client.create(
    kinds.sandboxJob,
    job("no-image", "c-run", { image: `tds.local/missing@sha256:${"0".repeat(64)}` }),
  );
  const failed = await eventually(
    "ImageUnavailable",
    async () => {
      const j = await getJob("no-image");
      return j.status?.phase === "Failed" ? j : undefined;
    },
    120_000,
  );
  const ready = cond(failed, "Ready");
  assert.equal(ready?.reason, "ImageUnavailable");
  assert.match(ready.message ?? "", /tds\.local\/missing/);
  assert.equal(failed.status?.usage, undefined);
  assert.equal(cond(failed, "Metered"), undefined);
  const uid = created.metadata.uid ?? "";
  const events = await pool.query("select id from usage_events where id like $1", [`sandbox/${uid}/%`]);
  assert.equal(events.rowCount, 0);
  const actions = await eventually(
    "the failure evidenced",
    async () => {
      const r = await pool.query<{ action: string }>(
        "select convert_from(entry, 'UTF8')::jsonb ->> 'action' as action from evidence_entries where space = $1 and convert_from(entry, 'UTF8')::jsonb -> 'object' ->> 'uid' = $2 order by leaf_index",
        [space, uid],
      );
      const list = r.rows.map((x) => x.action);
      return list.includes("sandbox.failed") ? list : undefined;
    },
    60_000,
  );
  assert.ok(!actions.includes("sandbox.running"), actions.join(","));
});

test("revoking the contract of a running job stops its container on the node", async (t) => {
  const created = await client.create(
    kinds.sandboxJob,
    job("long", "c-revoke", {
      image: analysisImage,
      // PID 1 without a SIGTERM handler: it ignores the signal, so only the grace's end stops it.
      command: ["/usr/local/bin/node", "-e", "setInterval(() => console.log('working'), 1000)"],
    }),
  );
  const sbx = sandboxNamespace(created as never);
  await eventually(
    "the job Running",
    async () => ((await getJob("long")).status?.phase === "Running" ? true : undefined),
    120_000,
  );
  await eventually(
    "its container running in containerd",
    () => Promise.resolve(runningContainersOfNamespace(sbx).length > 0 || undefined),
    30_000,
  );
  const revokedAt = Date.now();
  kubectl(["annotate", "datacontract", "-n", consNs, "c-revoke", "tds.dev/revoke=test: contract withdrawn"]);
  const stopped = await eventually(
    "the job stopped",
    async () => {
      const j = await getJob("long");
      return j.status?.phase === "Failed" ? j : undefined;
    },
    60_000,
  );
  assert.equal(cond(stopped, "Ready")?.reason, "ContractRevoked");
  await eventually(
    "no container of the sandbox running on the node",
    () => Promise.resolve(runningContainersOfNamespace(sbx).length === 0 || undefined),
    60_000,
  );
  const stoppedAt = Date.now();
  // The kubelet removes a deleted pod's containers and sandbox in its container GC,
  // which runs once a minute: removal may take a minute more than the stop.
  await eventually(
    "no container of the sandbox left on the node",
    () => Promise.resolve(containersOfNamespace(sbx).length === 0 || undefined),
    180_000,
  );
  t.diagnostic(
    `revoked → not running ${String(stoppedAt - revokedAt)} ms, → removed ${String(Date.now() - revokedAt)} ms`,
  );
});
