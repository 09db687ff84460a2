// The review flow of SandboxJobs end to end on the real control plane with
// kube-scheduler and KWOK, S3 and PostgreSQL. KWOK pods run no code, so the
// test plays each job while its pod is Running: it reads the input and writes
// outputs through the gateway with the job's token from its grant Secret. An
// ordinary output waits for review, the provider releases it through the API
// and the consumer downloads it with its contract token; a copy of an input
// and an output over its size limit are withheld automatically and cannot be
// downloaded. The ValidatingAdmissionPolicy tds-sandboxjob-review (from
// charts/tds) denies the consumer's admin the review annotation; the API sets
// it as the chart's ServiceAccount tds-dashboard-api.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "../../dashboard-api/src/test-support.ts";
import type { FastifyInstance } from "fastify";
import { eventually, installCrds, kubeConfig, kubectl } from "../harness/testkit.ts";
import { buildApp } from "../../dashboard-api/src/app.ts";
import { migrate } from "../../dashboard-api/src/migrate.ts";
import { createTokenVerifier } from "../../dashboard-api/src/auth/tokens.ts";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "../../dashboard-api/src/auth/keys.ts";
import { gatewayFromEnv } from "../../dashboard-api/src/gateway/index.ts";
import { kubeSandboxJobs } from "../../dashboard-api/src/sandboxjobs/kube.ts";
import { KubeClient, dataOf, type KubeObject } from "@tds/crds/kube";
import { kinds } from "../../operator/src/kinds.ts";
import { grantId, sandboxNamespace } from "../../operator/src/controllers/sandboxjob/sandboxjob.builders.ts";
import {
  provisionProviderAndConsumer,
  runId,
  startOperator,
  type TestOperator,
} from "../../operator/src/testing/fixtures.ts";

const run = runId();
const space = `sbr-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
const INPUT = "unit,t\n1,80\n2,81\n";
const client = new KubeClient(kubeConfig());

let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let operator: TestOperator;
let key: DevKey;
let contractToken: string;

interface Status {
  phase?: string;
  state?: string;
  credentialsSecret?: string;
  review?: { state: string; reason?: string; reviewer?: string };
  outputs?: { name: string; bytes?: number; sha256?: string }[];
  conditions?: { type: string; status: string; reason: string }[];
}
type Obj = KubeObject & { status?: Status };
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 90_000);
const getJob = (name: string) => client.get<Obj>(kinds.sandboxJob, name, consNs);
const bindingName = `tds-sandboxjob-review-${run}`;
const RELEASE_NS = "tds-system";

/**
 * The dashboard API's identity as the chart runs it: ServiceAccount
 * tds-dashboard-api in the release namespace, with a short-lived token and
 * just enough RBAC for the review route.
 */
function apiIdentity(): KubeConfig {
  const rbac = (kind: string, name: string, extra: Record<string, unknown>) => ({
    apiVersion: kind.startsWith("Cluster") ? "rbac.authorization.k8s.io/v1" : "v1",
    kind,
    metadata: { name, ...(kind === "ServiceAccount" ? { namespace: RELEASE_NS } : {}) },
    ...extra,
  });
  kubectl(
    ["apply", "--server-side", "--field-manager=tds-tests", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: RELEASE_NS } },
        rbac("ServiceAccount", "tds-dashboard-api", {}),
        rbac("ClusterRole", "tds-test-sandboxjob-reviewer", {
          rules: [
            { apiGroups: ["tds.dev"], resources: ["sandboxjobs"], verbs: ["get", "patch"] },
            { apiGroups: ["tds.dev"], resources: ["datacontracts"], verbs: ["get"] },
          ],
        }),
        rbac("ClusterRoleBinding", "tds-test-sandboxjob-reviewer", {
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: "tds-test-sandboxjob-reviewer",
          },
          subjects: [{ kind: "ServiceAccount", name: "tds-dashboard-api", namespace: RELEASE_NS }],
        }),
      ],
    }),
  );
  const token = kubectl(["create", "token", "tds-dashboard-api", "-n", RELEASE_NS, "--duration=1h"]).trim();
  const admin = kubeConfig();
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error("the admin kubeconfig has no cluster");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "tds-dashboard-api", token }],
    contexts: [{ name: "api", cluster: cluster.name, user: "tds-dashboard-api" }],
    currentContext: "api",
  });
  return kc;
}

function sandboxJob(name: string, runFor = "12s"): KubeObject {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "SandboxJob",
    metadata: { name, namespace: consNs },
    spec: {
      contractRef: { name: "c-run" },
      image: "registry.example/analysis@sha256:" + "a".repeat(64),
      resources: { cpu: "500m", memory: "256Mi" },
      maxDurationSeconds: 600,
      env: [{ name: "KWOK_RUN_DURATION", value: runFor }],
      outputs: [{ name: "report", path: "/outputs/report.json", maxSize: "1Ki" }],
    },
  };
}

/** kubectl as another user (impersonation through the admin kubeconfig); the error text on failure. */
function kubectlAs(user: string, args: string[], input?: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: kubectl([`--as=${user}`, ...args], input) };
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: unknown }).stderr ?? err) };
  }
}

/** True when the API server admits the object (server-side dry run, as the harness admin). */
function admits(obj: KubeObject): true | undefined {
  try {
    kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(obj));
    return true;
  } catch {
    return undefined;
  }
}

before(async () => {
  installCrds();
  // The chart's policy as rendered for release namespace tds-system (it is cluster-wide and the same for every run).
  kubectl(
    ["apply", "--server-side", "--force-conflicts", "--field-manager=tds-tests", "-f", "-"],
    readFileSync(
      fileURLToPath(new URL("../../charts/tds/templates/sandboxjob-review-policy.yaml", import.meta.url)),
      "utf8",
    ).replaceAll("{{ .Release.Namespace }}", RELEASE_NS),
  );
  db = await createTestDatabase("tds_sbr");
  const url = new URL(db.url);
  await migrate(url.toString());
  pool = new pg.Pool({ connectionString: url.toString() });
  key = await generateDevKey();
  const gateway = gatewayFromEnv(process.env, pool);
  assert.ok(gateway, "the gateway needs TDS_S3_* and KUBECONFIG: run under the harness");
  app = await buildApp({
    pool,
    verifyToken: createTokenVerifier({ jwks: jwksOf(key) }),
    gateway,
    sandboxJobsKube: kubeSandboxJobs(apiIdentity()),
  });
  const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  const token = await mintToken(key, { role: "operator", subject: "system:tds-operator" });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    dashboard: { url: baseUrl, token: () => Promise.resolve(token) },
  });
  await provisionProviderAndConsumer(client, run, space, provider, consumer);
  // This run's binding: only this space's namespaces.
  kubectl(
    ["apply", "--server-side", "--field-manager=tds-tests", "-f", "-"],
    JSON.stringify({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: bindingName },
      spec: {
        policyName: "tds-sandboxjob-review",
        validationActions: ["Deny"],
        matchResources: { namespaceSelector: { matchLabels: { "tds.dev/space": space } } },
      },
    }),
  );
  // The admission plugin sees the binding and its parameter through informers: wait until it admits a plain job.
  await until("the policy binding and its parameter in effect", () =>
    Promise.resolve(admits(sandboxJob("probe"))),
  );
  const d = dataOf(await client.get(kinds.secret, "storage-credentials", provNs));
  const s3 = new S3Client({
    endpoint: unb64(d.S3_ENDPOINT),
    region: unb64(d.AWS_REGION),
    forcePathStyle: true,
    credentials: { accessKeyId: unb64(d.AWS_ACCESS_KEY_ID), secretAccessKey: unb64(d.AWS_SECRET_ACCESS_KEY) },
  });
  await s3.send(
    new PutObjectCommand({ Bucket: `tds-${space}-${provider}`, Key: "turbines/data.csv", Body: INPUT }),
  );
  await client.create(kinds.dataOffer, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataOffer",
    metadata: { name: "compute", namespace: provNs },
    spec: {
      title: "Offer compute",
      classification: "public",
      dataCategory: "industrial.telemetry",
      regionOfOrigin: "CN-SH",
      asset: { key: "turbines/data.csv", format: "text/csv" },
      policy: { purposes: ["research"], accessMode: "computeOnly" },
    },
  });
  await client.create(kinds.dataContract, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataContract",
    metadata: { name: "c-run", namespace: consNs },
    spec: { offerRef: { namespace: provNs, name: "compute" }, purpose: "research" },
  });
  const contract = await until("contract Active", async () => {
    const c = await client.get<Obj>(kinds.dataContract, "c-run", consNs);
    return c.status?.state === "Active" && c.status.credentialsSecret ? c : undefined;
  });
  contractToken = unb64(
    dataOf(await client.get(kinds.secret, contract.status?.credentialsSecret ?? "", consNs)).token,
  );
});

after(async () => {
  kubectl(["delete", "validatingadmissionpolicybinding", bindingName, "--ignore-not-found"]);
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await app.close();
  await pool.end();
  await db.drop();
});

/** Creates a job, waits until its pod runs, and returns its uid, grant id and job token. */
async function runningJob(name: string): Promise<{ uid: string; grant: string; token: string }> {
  const created = await client.create<Obj>(kinds.sandboxJob, sandboxJob(name));
  await until(`${name} Running`, async () =>
    (await getJob(name)).status?.phase === "Running" ? true : undefined,
  );
  const secret = await client.get(kinds.secret, "sandbox-grant", sandboxNamespace(created as never));
  return {
    uid: created.metadata.uid ?? "",
    grant: grantId(created as never),
    token: unb64(dataOf(secret).token),
  };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const putOutput = (job: string, token: string, body: string | Buffer) =>
  app.inject({
    method: "PUT",
    url: `/v1/sandbox/${job}/outputs/report`,
    headers: { ...auth(token), "content-type": "application/octet-stream" },
    payload: body,
  });
const reviewed = (name: string, state: string) =>
  until(`${name} ${state}`, async () => {
    const j = await getJob(name);
    return j.status?.review?.state === state ? j : undefined;
  });

test("a job reads its input and writes an output through the gateway; the provider releases it and the consumer downloads it", async () => {
  const job = await runningJob("release");
  const input = await app.inject({
    url: `/v1/sandbox/${job.grant}/inputs/turbines/data.csv`,
    headers: auth(job.token),
  });
  assert.equal(input.statusCode, 200, input.body);
  assert.equal(input.body, INPUT);
  const outside = await app.inject({
    url: `/v1/sandbox/${job.uid}/inputs/turbines/other.csv`,
    headers: auth(job.token),
  });
  assert.equal(outside.json<{ code: string }>().code, "TDS_ERR_OUTSIDE_ASSET");
  const wrongToken = await app.inject({
    url: `/v1/sandbox/${job.uid}/inputs/turbines/data.csv`,
    headers: auth(contractToken),
  });
  assert.equal(wrongToken.statusCode, 401);

  const report = JSON.stringify({ meanT: 80.5 });
  const put = await putOutput(job.grant, job.token, report);
  assert.equal(put.statusCode, 201, put.body);
  const undeclared = await app.inject({
    method: "PUT",
    url: `/v1/sandbox/${job.uid}/outputs/secret-copy`,
    headers: { ...auth(job.token), "content-type": "text/plain" },
    payload: "x",
  });
  assert.equal(undeclared.json<{ code: string }>().code, "TDS_ERR_OUTPUT_NOT_DECLARED");

  const pending = await reviewed("release", "PendingReview");
  assert.equal(pending.status?.phase, "Succeeded");
  assert.deepEqual(
    pending.status.outputs?.map((o) => [o.name, o.bytes]),
    [["report", Buffer.byteLength(report)]],
  );
  const early = await app.inject({
    url: `/v1/sandbox/${job.uid}/outputs/report`,
    headers: auth(contractToken),
  });
  assert.equal(early.json<{ code: string }>().code, "TDS_ERR_OUTPUT_NOT_RELEASED");

  const consumerJwt = await mintToken(key, {
    role: "participant",
    subject: "c",
    space,
    participant: consumer,
  });
  const byConsumer = await app.inject({
    method: "POST",
    url: `/v1/spaces/${space}/sandboxjobs/${consNs}/release/review`,
    headers: auth(consumerJwt),
    payload: { decision: "release" },
  });
  assert.equal(byConsumer.statusCode, 403, byConsumer.body);
  const providerJwt = await mintToken(key, {
    role: "participant",
    subject: "p",
    space,
    participant: provider,
  });
  const released = await app.inject({
    method: "POST",
    url: `/v1/spaces/${space}/sandboxjobs/${consNs}/release/review`,
    headers: auth(providerJwt),
    payload: { decision: "release", reason: "Aggregates only" },
  });
  assert.equal(released.statusCode, 200, released.body);
  const done = await reviewed("release", "Released");
  assert.equal(done.status?.review?.reviewer, `participant:${provider}`);

  const download = await app.inject({
    url: `/v1/sandbox/${job.uid}/outputs/report`,
    headers: auth(contractToken),
  });
  assert.equal(download.statusCode, 200, download.body);
  assert.equal(download.body, report);
  const noToken = await app.inject({ url: `/v1/sandbox/${job.uid}/outputs/report` });
  assert.equal(noToken.statusCode, 401);
});

test("an output that copies an input, or is over its size limit, is withheld automatically and not downloadable", async () => {
  const [copy, big] = await Promise.all([runningJob("copy"), runningJob("big")]);
  const copied = await putOutput(copy.grant, copy.token, INPUT);
  assert.equal(copied.statusCode, 201, copied.body);
  const tooBig = await putOutput(big.grant, big.token, Buffer.alloc(2048, 1));
  assert.equal(tooBig.statusCode, 413, tooBig.body);
  assert.equal(tooBig.json<{ code: string }>().code, "TDS_ERR_OUTPUT_TOO_LARGE");

  const [c, b] = await Promise.all([reviewed("copy", "Withheld"), reviewed("big", "Withheld")]);
  assert.match(c.status?.review?.reason ?? "", /contains the SHA-256 of input object turbines\/data\.csv/);
  assert.match(b.status?.review?.reason ?? "", /2048 bytes, over its limit of 1024 bytes/);
  for (const uid of [copy.uid, big.uid]) {
    const r = await app.inject({ url: `/v1/sandbox/${uid}/outputs/report`, headers: auth(contractToken) });
    assert.equal(r.statusCode, 403, r.body);
    assert.equal(r.json<{ code: string }>().code, "TDS_ERR_OUTPUT_NOT_RELEASED");
  }
  // The token stops working when the job is no longer running.
  const late = await putOutput(copy.grant, copy.token, "later");
  assert.ok(late.statusCode === 401 || late.statusCode === 403, late.body);
});

test("the review annotation is denied to the consumer's admin by the admission policy; the API's identity may set it", async () => {
  await client.create(kinds.sandboxJob, sandboxJob("policy", "300s"));
  const admin = `${consumer}-admin`;
  await until("the consumer admin may edit SandboxJobs", () =>
    Promise.resolve(
      kubectlAs(admin, ["auth", "can-i", "patch", "sandboxjobs.tds.dev", "-n", consNs]).ok ? true : undefined,
    ),
  );
  const denied = kubectlAs(admin, [
    "annotate",
    "-n",
    consNs,
    "sandboxjob",
    "policy",
    "tds.dev/review=release",
  ]);
  assert.equal(denied.ok, false);
  assert.match(denied.out, /tds-sandboxjob-review/);
  assert.match(denied.out, /only the provider decides the review/);
  const reviewer = kubectlAs(admin, [
    "annotate",
    "-n",
    consNs,
    "sandboxjob",
    "policy",
    "tds.dev/reviewed-by=consumer",
  ]);
  assert.equal(reviewer.ok, false);
  // Other annotations stay the consumer's.
  const other = kubectlAs(admin, ["annotate", "-n", consNs, "sandboxjob", "policy", "example.com/note=mine"]);
  assert.equal(other.ok, true, other.out);
  // Creating a job that already carries the annotation is denied too.
  const preset = sandboxJob("preset");
  preset.metadata.annotations = { "tds.dev/review": "release" };
  const createdPreset = kubectlAs(admin, ["create", "-f", "-"], JSON.stringify(preset));
  assert.equal(createdPreset.ok, false);
  assert.match(createdPreset.out, /only the provider decides the review/);
  // A member of the group tds:reviewers is allowed.
  const grouped = kubectlAs(admin, [
    "--as-group=tds:reviewers",
    "annotate",
    "-n",
    consNs,
    "sandboxjob",
    "policy",
    "tds.dev/review-reason=checked",
  ]);
  assert.equal(grouped.ok, true, grouped.out);
});
