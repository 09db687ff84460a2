// The review flow of SandboxJobs end to end on the real control plane with
// kube-scheduler and KWOK, S3 and PostgreSQL. KWOK pods run no code, so the
// test plays each job while its pod is Running: it reads the input and writes
// outputs through the gateway with the job's token from its credential Secret. An
// ordinary output waits for review, the provider releases it through the API
// and the consumer downloads it with its contract token; every byte read,
// written and downloaded is metered once (retries with the same
// Idempotency-Key count nothing) and evidenced. A copy of an input, an output
// that embeds one or names its SHA-256, and an output over its size limit
// are withheld automatically, with a reason naming the input and how, and
// cannot be downloaded. The ValidatingAdmissionPolicy tds-sandboxjob-review
// (from charts/tds) denies the consumer's admin the review annotation; the
// API sets it as the chart's ServiceAccount tds-dashboard-api. The space is
// of type CrossBorder: a released output read by a consumer abroad is an
// export, allowed or refused by the rules as they are then, recorded in the
// month's export report (JSON and CSV) with its evidence entry, once however
// often it is retried.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { S3Client, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import type { FastifyInstance } from "fastify";
import { eventually, installCrds, kubeConfig, kubectl, readRest } from "../harness/testkit.ts";
import { templateChart } from "../harness/chart.ts";
import { buildApp } from "@tds/dashboard-api/app";
import { migrate } from "@tds/dashboard-api/migrate";
import { createTokenVerifier } from "@tds/dashboard-api/auth-tokens";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "@tds/dashboard-api/auth-keys";
import { startGateway, type TestGateway } from "@tds/test/gateway";
import { apiKubeClient } from "@tds/dashboard-api/kube";
import { KubeClient, KubeConfig, dataOf, kinds, type KubeObject } from "@tds/kube";
import type { ExportReport, ExportTransfer } from "@tds/dashboard-api/export-report";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { riskPass } from "@tds/dashboard-api/risk-evaluator";
import type { DataSpace } from "@tds/crds";
import {
  credentialId,
  sandboxNamespace,
} from "../../operator/src/controllers/sandboxjob/sandboxjob.builders.ts";
import {
  participantManifest,
  provisionProviderAndConsumer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";

const run = runId();
const space = `sbr-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
// A consumer abroad: its certificate (issued by the space CA) vouches for C=DE, its declared region DE-BY.
const abroad = `${space}-abroad`;
const abroadNs = `${space}--${abroad}`;
// Over 64 bytes, so an output that embeds it whole is caught (sandbox-fingerprint.ts: MIN_PART).
const INPUT =
  "unit,t\n" + Array.from({ length: 20 }, (_, i) => `${String(i + 1)},${String(80 + (i % 3))}\n`).join("");
const client = new KubeClient(kubeConfig());

let db: TestDatabase;
let gw: TestGateway;
let pool: pg.Pool;
let app: FastifyInstance;
let operator: TestOperator;
let key: DevKey;
let contractToken: string;
let agreementId: string;
let providerS3: S3Client;

interface Status {
  phase?: string;
  agreementId?: string;
  state?: string;
  credentialsSecret?: string;
  review?: {
    state: string;
    reason?: string;
    reviewer?: string;
    check?: { rule: string; output: string; input?: string };
  };
  crossBorderExport?: boolean;
  outputs?: { name: string; bytes?: number; sha256?: string }[];
  credential?: { id: string; tokenDigest: string };
  conditions?: { type: string; status: string; reason: string }[];
}
type Obj = KubeObject & { status?: Status };
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 90_000);
const getJob = (name: string, ns = consNs) => client.get<Obj>(kinds.sandboxJob, name, ns);
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

function sandboxJob(name: string, runFor = "12s", ns = consNs, contract = "c-run"): KubeObject {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "SandboxJob",
    metadata: { name, namespace: ns },
    spec: {
      contractRef: { name: contract },
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
    templateChart({ namespace: RELEASE_NS, showOnly: ["templates/sandboxjob-review-policy.yaml"] }),
  );
  db = await createTestDatabase("tds_sbr");
  const url = new URL(db.url);
  await migrate(url.toString());
  pool = new pg.Pool({ connectionString: url.toString() });
  key = await generateDevKey();
  gw = await startGateway(pool);
  app = await buildApp({
    pool,
    verifyToken: createTokenVerifier({ jwks: jwksOf(key) }),
    kube: apiKubeClient(apiIdentity()),
  });
  const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  const token = await mintToken(key, { role: "operator", subject: "system:tds-operator" });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: { url: baseUrl, token: () => Promise.resolve(token) },
  });
  await provisionProviderAndConsumer(client, run, space, provider, consumer, {
    spaceType: "CrossBorder",
    risk: { copiedInputs: {} },
  });
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
  const s3 = (providerS3 = new S3Client({
    endpoint: unb64(d.S3_ENDPOINT),
    region: unb64(d.AWS_REGION),
    forcePathStyle: true,
    credentials: { accessKeyId: unb64(d.AWS_ACCESS_KEY_ID), secretAccessKey: unb64(d.AWS_SECRET_ACCESS_KEY) },
  }));
  await s3.send(
    new PutObjectCommand({ Bucket: `tds--${space}--${provider}`, Key: "turbines/data.csv", Body: INPUT }),
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
  agreementId = contract.status?.agreementId ?? "";
  contractToken = unb64(
    dataOf(await client.get(kinds.secret, contract.status?.credentialsSecret ?? "", consNs)).token,
  );
});

after(async () => {
  kubectl(["delete", "validatingadmissionpolicybinding", bindingName, "--ignore-not-found"]);
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await app.close();
  await gw.close();
  await pool.end();
  await db.drop();
});

/** Creates a job, waits until its pod runs, and returns its uid, credential id and job token. */
async function runningJob(
  name: string,
  runFor?: string,
  ns = consNs,
  contract = "c-run",
): Promise<{ uid: string; credential: string; token: string }> {
  const created = await client.create<Obj>(kinds.sandboxJob, sandboxJob(name, runFor, ns, contract));
  await until(`${name} Running`, async () =>
    (await getJob(name, ns)).status?.phase === "Running" ? true : undefined,
  );
  const secret = await client.get(kinds.secret, "sandbox-credential", sandboxNamespace(created as never));
  const token = unb64(dataOf(secret).token);
  // The gateway learns the credential from status (the token's digest), never from the Secret.
  const credential = (await getJob(name, ns)).status?.credential;
  assert.equal(credential?.id, credentialId(created as never));
  assert.equal(credential.tokenDigest, `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`);
  return { uid: created.metadata.uid ?? "", credential: credentialId(created as never), token };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const putOutput = (job: string, token: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  gw.app.inject({
    method: "PUT",
    url: `/v1/sandbox/${job}/outputs/report`,
    headers: { ...auth(token), "content-type": "application/octet-stream", ...headers },
    payload: body,
  });
/** The gateway's usage of this run's agreement, by meter (its events are ingested with the ledger's rows). */
async function meteredByMeter(): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ meter: string; total: string }>(
    `select e.meter, sum(e.quantity)::text as total
       from usage_events e join gateway_transfers t on t.transfer_id = split_part(e.id, '/', 1)
      where e.source = 'tds-gateway' and t.agreement_id = $1
      group by e.meter`,
    [agreementId],
  );
  return Object.fromEntries(rows.map((r) => [r.meter, Number(r.total)]));
}

/** The gateway's evidence actions about a SandboxJob, sorted. */
async function gatewayEvidence(job: string): Promise<string[]> {
  const { rows } = await pool.query<{ action: string }>(
    `select convert_from(entry, 'UTF8')::jsonb ->> 'action' as action from evidence_entries
      where space = $1 and object_kind = 'SandboxJob' and object_name = $2 and event_id like 'gateway/%'`,
    [space, job],
  );
  return rows.map((r) => r.action).sort();
}

/** The offer's provider releases a job's outputs through the API. */
async function providerRelease(ns: string, job: string) {
  const providerJwt = await mintToken(key, {
    role: "participant",
    subject: "p",
    space,
    participant: provider,
  });
  return app.inject({
    method: "POST",
    url: `/v1/spaces/${space}/sandboxjobs/${ns}/${job}/review`,
    headers: auth(providerJwt),
    payload: { decision: "release", reason: "Aggregates only" },
  });
}

const reviewed = (name: string, state: string, ns = consNs) =>
  until(`${name} ${state}`, async () => {
    const j = await getJob(name, ns);
    return j.status?.review?.state === state ? j : undefined;
  });

test("a job reads its input and writes an output through the gateway; the provider releases it and the consumer downloads it", async () => {
  const job = await runningJob("release");
  const read = (headers: Record<string, string> = {}) =>
    gw.app.inject({
      url: `/v1/sandbox/${job.credential}/inputs/turbines/data.csv`,
      headers: { ...auth(job.token), ...headers },
    });
  const input = await read({ "idempotency-key": "read-1" });
  assert.equal(input.statusCode, 200, input.body);
  assert.equal(input.body, INPUT);
  // The same request identity again: the same transfer, its bytes not metered twice.
  const retried = await read({ "idempotency-key": "read-1" });
  assert.equal(retried.body, INPUT);
  assert.equal(retried.headers["tds-transfer-id"], input.headers["tds-transfer-id"]);
  const part = await read({ "idempotency-key": "read-2", range: "bytes=0-9" });
  assert.equal(part.statusCode, 206, part.body);
  assert.equal(part.body, INPUT.slice(0, 10));
  // Without a key, every read is a transfer of its own.
  assert.equal((await read()).body, INPUT);
  const outside = await gw.app.inject({
    url: `/v1/sandbox/${job.uid}/inputs/turbines/other.csv`,
    headers: auth(job.token),
  });
  assert.equal(outside.json<{ code: string }>().code, "TDS_ERR_OUTSIDE_ASSET");
  const wrongToken = await gw.app.inject({
    url: `/v1/sandbox/${job.uid}/inputs/turbines/data.csv`,
    headers: auth(contractToken),
  });
  assert.equal(wrongToken.statusCode, 401);

  const report = JSON.stringify({ meanT: 80.5 });
  for (let i = 0; i < 2; i++) {
    const put = await putOutput(job.credential, job.token, report, { "idempotency-key": "write-1" });
    assert.equal(put.statusCode, 201, put.body);
  }
  const undeclared = await gw.app.inject({
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
  const early = await gw.app.inject({
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
  const released = await providerRelease(consNs, "release");
  assert.equal(released.statusCode, 200, released.body);
  const done = await reviewed("release", "Released");
  assert.equal(done.status?.review?.reviewer, `participant:${provider}`);

  for (let i = 0; i < 2; i++) {
    const download = await gw.app.inject({
      url: `/v1/sandbox/${job.uid}/outputs/report`,
      headers: { ...auth(contractToken), "idempotency-key": "get-1" },
    });
    assert.equal(download.statusCode, 200, download.body);
    assert.equal(download.body, report);
  }
  const noToken = await gw.app.inject({ url: `/v1/sandbox/${job.uid}/outputs/report` });
  assert.equal(noToken.statusCode, 401);

  // Every attempt leaves one evidence entry, appended after its metering commit: once all 8 are
  // in, the usage is final. Metered bytes are the bytes read, written and downloaded, each once.
  const actions = await until("the evidence of 8 sandbox transfer attempts", async () => {
    const a = await gatewayEvidence("release");
    return a.length >= 8 ? a : undefined;
  });
  assert.deepEqual(actions, [
    ...Array<string>(4).fill("sandbox.input-read"),
    ...Array<string>(2).fill("sandbox.output-transferred"),
    ...Array<string>(2).fill("sandbox.output-written"),
  ]);
  assert.deepEqual(await meteredByMeter(), {
    "sandbox.input_bytes": 2 * Buffer.byteLength(INPUT) + 10,
    "sandbox.output_bytes": Buffer.byteLength(report),
    "transfer.bytes": Buffer.byteLength(report),
  });
  // They count no access, so the sweep of unfinished downloads has nothing to meter for them.
  const unswept = await pool.query<{ n: string }>(
    "select count(*)::text as n from gateway_transfers where agreement_id = $1 and not access_metered",
    [agreementId],
  );
  assert.equal(unswept.rows[0]?.n, "0");
});

test("an output that copies, embeds or names an input, or is over its size limit, is withheld automatically and not downloadable", async () => {
  const [copy, embed, digest, big] = await Promise.all([
    runningJob("copy"),
    runningJob("embed"),
    runningJob("digest"),
    runningJob("big"),
  ]);
  const sha = createHash("sha256").update(INPUT).digest("hex");
  const prefix = '{"rows": "';
  const outputs: [typeof copy, string | Buffer, number][] = [
    [copy, INPUT, 201],
    [embed, `${prefix}${INPUT}"}`, 201],
    [digest, `{"seen": "${sha.toUpperCase()}"}`, 201],
    [big, Buffer.alloc(2048, 1), 413],
  ];
  for (const [job, body, status] of outputs) {
    const put = await putOutput(job.credential, job.token, body);
    assert.equal(put.statusCode, status, put.body);
  }

  const reasons = await Promise.all(
    ["copy", "embed", "digest", "big"].map(
      async (name) => (await reviewed(name, "Withheld")).status?.review?.reason,
    ),
  );
  const last = String(Buffer.byteLength(INPUT) - 1);
  assert.deepEqual(reasons, [
    "Output report is a copy of input object turbines/data.csv",
    `Output report contains bytes 0-${last} of input object turbines/data.csv at byte ${String(prefix.length)}`,
    "Output report contains the SHA-256 of input object turbines/data.csv as hex text at byte 10",
    "Output report is 2048 bytes, over its limit of 1024 bytes",
  ]);
  // The check that withheld each, and for the three that copy the input a sandbox.input-copied entry of
  // their own, which the space's copiedInputs risk rule counts: one finding about the consumer, stored once.
  const checks = await Promise.all(
    ["copy", "embed", "digest", "big"].map(async (name) => (await getJob(name)).status?.review?.check),
  );
  const input = { output: "report", input: "turbines/data.csv" };
  assert.deepEqual(checks, [
    { rule: "InputCopied", ...input },
    { rule: "InputEmbedded", ...input },
    { rule: "InputDigest", ...input },
    { rule: "OutputTooLarge", output: "report" },
  ]);
  const evidence = new EvidenceStore(pool);
  const copiedEntry = async (uid: string) => {
    const stored = await evidence.entryByEventId(space, `sandbox/${uid}/input-copied`);
    return stored
      ? (JSON.parse(stored.entry.toString("utf8")) as { action: string; time: string })
      : undefined;
  };
  const copied = await Promise.all(
    [copy, embed, digest].map(({ uid }) => until(`${uid} input-copied evidence`, () => copiedEntry(uid))),
  );
  assert.deepEqual(
    copied.map((e) => e.action),
    ["sandbox.input-copied", "sandbox.input-copied", "sandbox.input-copied"],
  );
  assert.equal(await copiedEntry(big.uid), undefined, "withheld for its size: no copy");
  const spaceObj = await client.get<DataSpace & KubeObject>(kinds.dataSpace, space);
  const passes = await Promise.all(
    [0, 1].map(() => riskPass({ pool, evidence, spaces: [spaceObj], now: new Date() })),
  );
  const findings = await pool.query<{
    subject: string;
    observed: string;
    threshold: string;
    message: string;
  }>(
    "select subject, observed, threshold, message from risk_findings where space = $1 and rule = 'copiedInputs'",
    [space],
  );
  assert.equal(
    passes.flat().reduce((n, p) => n + p.found, 0),
    findings.rows.length,
    "each finding stored once",
  );
  const jobNames = ["copy", "digest", "embed"].map((n) => `${consNs}/${n}`).join(", ");
  // One per window the jobs fell in: all three in one day, unless the run straddled midnight UTC.
  const days = new Set(copied.map((e) => e.time.slice(0, 10)));
  if (days.size === 1) {
    assert.equal(findings.rows.length, 1);
    assert.deepEqual(
      [findings.rows[0]?.subject, findings.rows[0]?.observed, findings.rows[0]?.threshold],
      [consumer, "3", "1"],
    );
    assert.match(
      findings.rows[0]?.message ?? "",
      new RegExp(`withheld for copying an input .*: ${jobNames}$`),
    );
  } else assert.equal(findings.rows.length, days.size);
  // The manifest the operator read says which input matched and how.
  const manifest = await providerS3.send(
    new GetObjectCommand({
      Bucket: `tds--${space}--${provider}`,
      Key: `tds-outbox/${embed.uid}/.manifest/report.json`,
    }),
  );
  assert.deepEqual(JSON.parse((await manifest.Body?.transformToString()) ?? "{}"), {
    name: "report",
    key: `tds-outbox/${embed.uid}/report`,
    bytes: prefix.length + Buffer.byteLength(INPUT) + 2,
    sha256: createHash("sha256").update(`${prefix}${INPUT}"}`).digest("hex"),
    inputMatches: [
      {
        key: "turbines/data.csv",
        sha256: sha,
        match: "embedded",
        offset: prefix.length,
        inputOffset: 0,
        length: Buffer.byteLength(INPUT),
      },
    ],
    scanComplete: true,
  });
  for (const { uid } of [copy, embed, digest, big]) {
    const r = await gw.app.inject({ url: `/v1/sandbox/${uid}/outputs/report`, headers: auth(contractToken) });
    assert.equal(r.statusCode, 403, r.body);
    assert.equal(r.json<{ code: string }>().code, "TDS_ERR_OUTPUT_NOT_RELEASED");
  }
  // The token stops working when the job is no longer running.
  const late = await putOutput(copy.credential, copy.token, "later");
  assert.ok(late.statusCode === 401 || late.statusCode === 403, late.body);
});

test("a released output read by a consumer abroad is an export: allowed, then refused by the negative list, each once in the export report with its evidence", async () => {
  await client.create(kinds.participant, {
    ...participantManifest(abroad, space, {
      roles: ["consumer"],
      organization: { legalName: "Abroad GmbH", registrationId: "R-DE", region: "DE-BY" },
      identity: { certificate: { subject: `CN=${abroad},O=Abroad GmbH,C=DE` } },
    }),
  } as KubeObject);
  await until("the consumer abroad Ready", async () => {
    const p = await client.get<Obj>(kinds.participant, abroad);
    return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? true : undefined;
  });
  await client.create(kinds.dataContract, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataContract",
    metadata: { name: "c-abroad", namespace: abroadNs },
    spec: { offerRef: { namespace: provNs, name: "compute" }, purpose: "research" },
  });
  const contract = await until("the contract abroad Active", async () => {
    const c = await client.get<Obj>(kinds.dataContract, "c-abroad", abroadNs);
    return c.status?.state === "Active" && c.status.credentialsSecret ? c : undefined;
  });
  assert.equal(contract.status?.crossBorderExport, true);
  const abroadAgreement = contract.status.agreementId ?? "";
  const abroadToken = unb64(
    dataOf(await client.get(kinds.secret, contract.status.credentialsSecret ?? "", abroadNs)).token,
  );

  const job = await runningJob("export", undefined, abroadNs, "c-abroad");
  const report = JSON.stringify({ meanT: 80.6 });
  assert.equal((await putOutput(job.credential, job.token, report)).statusCode, 201);
  await reviewed("export", "PendingReview", abroadNs);
  const released = await providerRelease(abroadNs, "export");
  assert.equal(released.statusCode, 200, released.body);
  await reviewed("export", "Released", abroadNs);

  const read = (idem: string) =>
    gw.app.inject({
      url: `/v1/sandbox/${job.uid}/outputs/report`,
      headers: { ...auth(abroadToken), "idempotency-key": idem },
    });
  // Allowed (the public level allows transfers abroad), and retried: one transfer, one export.
  const first = await read("export-1");
  assert.equal(first.statusCode, 200, first.body);
  assert.equal(first.body, report);
  const transferId = String(first.headers["tds-transfer-id"]);
  const again = await read("export-1");
  assert.equal(again.statusCode, 200, again.body);
  assert.equal(again.headers["tds-transfer-id"], transferId);

  // The negative list now names the offer's category for DE. A job still running under the contract
  // tells when the gateway's cache has the new rule: its input reads are refused (they record no export).
  const probe = await runningJob("export-probe", "300s", abroadNs, "c-abroad");
  const probeRead = () =>
    gw.app.inject({
      url: `/v1/sandbox/${probe.credential}/inputs/turbines/data.csv`,
      headers: auth(probe.token),
    });
  assert.equal((await probeRead()).statusCode, 200);
  await client.mergePatch(kinds.dataSpace, space, undefined, {
    spec: {
      crossBorder: {
        negativeList: [
          {
            dataCategory: "industrial.telemetry",
            destinationRegions: ["DE"],
            reason: "export control list 2026",
          },
        ],
      },
    },
  });
  await until("the gateway refuses the contract's input reads", async () =>
    (await probeRead()).statusCode === 200 ? undefined : true,
  );
  const refusedMessage =
    "Category industrial.telemetry is on the export negative list for DE-BY: export control list 2026";
  const refused = await read("export-2");
  assert.equal(refused.statusCode, 403, refused.body);
  assert.deepEqual(
    [refused.json<{ code: string }>().code, refused.json<{ detail: string }>().detail],
    ["TDS_ERR_EXPORT_REFUSED", `Rule ExportNegativeListed: ${refusedMessage}`],
  );
  assert.equal((await read("export-2")).statusCode, 403);

  const rows = await pool.query<{ event_id: string; allowed: boolean }>(
    "select event_id, allowed from gateway_exports where space = $1 order by decided_at",
    [space],
  );
  const allowedId = `gateway/${transferId}/export/DE-BY`;
  assert.equal(
    rows.rows.length,
    2,
    "one row for the allowed release, one for the refused, however often retried",
  );
  assert.deepEqual(rows.rows[0], { event_id: allowedId, allowed: true });
  const refusedId = rows.rows[1]?.event_id ?? "";
  assert.match(refusedId, /^gateway\/[0-9a-f]{40}\/export-refused\/DE-BY$/);
  const entryOf = async (eventId: string) => {
    const r = await pool.query<{
      leaf_index: string;
      action: string;
      time: string;
      kind: string;
      name: string;
    }>(
      `select leaf_index, convert_from(entry, 'UTF8')::jsonb ->> 'action' as action,
              convert_from(entry, 'UTF8')::jsonb ->> 'time' as time, object_kind as kind, object_name as name
         from evidence_entries where space = $1 and event_id = $2`,
      [space, eventId],
    );
    return r.rows.length === 1 ? r.rows[0] : undefined;
  };
  const allowedEntry = await until("the allowed export's evidence", () => entryOf(allowedId));
  const refusedEntry = await until("the refused export's evidence", () => entryOf(refusedId));
  assert.deepEqual(
    [allowedEntry.action, allowedEntry.kind, allowedEntry.name],
    ["data.export-allowed", "DataContract", "c-abroad"],
  );
  assert.deepEqual(
    [refusedEntry.action, refusedEntry.kind, refusedEntry.name],
    ["data.export-refused", "DataContract", "c-abroad"],
  );

  const period = allowedEntry.time.slice(0, 7);
  const [y, m] = period.split("-").map(Number) as [number, number];
  const common = {
    agreementId: abroadAgreement,
    contract: { namespace: abroadNs, name: "c-abroad", uid: contract.metadata.uid ?? "" },
    offer: { namespace: provNs, name: "compute" },
    consumer: abroad,
    provider,
    objectKey: `tds-outbox/${job.uid}/report`,
    destination: "DE-BY",
    regionSource: "certificate" as const,
  };
  const transfers: ExportTransfer[] = [
    {
      time: allowedEntry.time,
      outcome: "allowed",
      rule: "CrossBorderAllowed",
      message: "Transfer of industrial.telemetry to DE-BY is allowed",
      ...common,
      bytes: Buffer.byteLength(report),
      transferId,
      evidence: { eventId: allowedId, leafIndex: Number(allowedEntry.leaf_index) },
    },
    {
      time: refusedEntry.time,
      outcome: "refused",
      rule: "ExportNegativeListed",
      message: refusedMessage,
      ...common,
      bytes: 0,
      transferId: null,
      evidence: { eventId: refusedId, leafIndex: Number(refusedEntry.leaf_index) },
    },
  ];
  const auditor = await mintToken(key, { role: "auditor", subject: "sbr-auditor", space });
  const json = await app.inject({ url: `/v1/spaces/${space}/exports/${period}`, headers: auth(auditor) });
  assert.equal(json.statusCode, 200, json.body);
  assert.deepEqual(json.json(), {
    format: "tds.dev/export-report/v1",
    space,
    period,
    from: new Date(Date.UTC(y, m - 1, 1)).toISOString(),
    to: new Date(Date.UTC(y, m, 1)).toISOString(),
    totals: { allowed: 1, refused: 1, bytes: Buffer.byteLength(report) },
    transfers,
  } satisfies ExportReport);
  const csv = await app.inject({
    url: `/v1/spaces/${space}/exports/${period}?format=csv`,
    headers: auth(auditor),
  });
  assert.equal(csv.statusCode, 200, csv.body);
  const line = (t: ExportTransfer) =>
    [
      t.time,
      t.outcome,
      t.rule,
      t.message,
      abroadAgreement,
      abroadNs,
      "c-abroad",
      common.contract.uid,
      provNs,
      "compute",
      abroad,
      provider,
      common.objectKey,
      "DE-BY",
      "certificate",
      String(t.bytes),
      t.transferId ?? "",
      t.evidence.eventId,
      String(t.evidence.leafIndex),
    ].join(",");
  assert.deepEqual(csv.body.split("\r\n").slice(1), [...transfers.map(line), ""]);

  await client.mergePatch(kinds.dataSpace, space, undefined, { spec: { crossBorder: { negativeList: [] } } });
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

// Last in this file: it revokes the contract the other tests run their jobs under.
test("revoking the contract cuts a job's open input stream, as it cuts downloads", async () => {
  // A large input, so the stream is still open when the revocation lands.
  const big = Buffer.alloc(48 * 1024 * 1024, 0x61);
  await providerS3.send(
    new PutObjectCommand({ Bucket: `tds--${space}--${provider}`, Key: "turbines/data.csv", Body: big }),
  );
  const job = await runningJob("cut", "300s");
  const res = await fetch(`${gw.url}/v1/sandbox/${job.credential}/inputs/turbines/data.csv`, {
    headers: auth(job.token),
  });
  assert.equal(res.status, 200);
  const body = res.body as ReadableStream<Uint8Array> | null;
  assert.ok(body);
  const reader = body.getReader();
  let received = (await reader.read()).value?.length ?? 0;
  // The reader stalls; backpressure keeps the rest in the store. Now the contract is revoked.
  kubectl(["annotate", "-n", consNs, "datacontract", "c-run", "tds.dev/revoke=test: stop the job"]);
  await until("the contract Revoked", async () =>
    (await client.get<Obj>(kinds.dataContract, "c-run", consNs)).status?.state === "Revoked"
      ? true
      : undefined,
  );
  // The watch pushes the change to the stream monitor at once; its own tick (2 s) is the bound.
  await new Promise((r) => setTimeout(r, 2_500));
  const rest = await readRest(reader);
  received += rest.bytes;
  const failed = rest.cut;
  assert.ok(failed, `the job sees a truncated body, not a clean end (got ${received} bytes)`);
  assert.ok(received < big.length / 2, `the job got ${received} of ${big.length} bytes`);
  // The bytes that did leave are metered, as an interrupted transfer.
  await until("the cut read's evidence", async () => {
    const r = await pool.query(
      `select 1 from evidence_entries where space = $1 and convert_from(entry, 'UTF8') like '%sandbox.input-read-interrupted%'`,
      [space],
    );
    return (r.rowCount ?? 0) > 0 ? true : undefined;
  });
});
