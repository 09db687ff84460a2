// A SandboxJob with two inputs from two providers, end to end on the real control
// plane with kube-scheduler and KWOK, S3 and PostgreSQL. KWOK pods run no code, so
// the test plays the job while its pod is Running: with the job's token from its
// credential Secret it reads the first provider's input (spec.contractRef, input main) and
// the second's (spec.inputs, ?input=second) through the gateway, each checked against
// its own contract. When the job has Succeeded, its usage is split between the two
// providers by bytes read (the space's revenueSharing, ProportionalToUsage), posted
// as one usage event pair per input, and kept in status.revenueShares. Revoking the
// second input's contract stops a running job.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";
import { startApi, type TestApi } from "@tds/test/api";
import { KubeClient, dataOf, type KubeObject, kinds } from "@tds/kube";
import {
  credentialId,
  sandboxNamespace,
} from "../../operator/src/controllers/sandboxjob/sandboxjob.builders.ts";
import { participantManifest, participantStorage } from "../harness/operator-fixtures.ts";
import {
  provisionProviderAndConsumer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";

const run = runId();
const space = `sbi-${run}`;
const first = `${space}-p1`;
const second = `${space}-p2`;
const consumer = `${space}-cons`;
const consNs = `${space}--${consumer}`;
const FIRST_DATA = "unit,t\n" + "1,80\n".repeat(60); // 307 bytes
const SECOND_DATA = "unit,v\n" + "2,9\n".repeat(20); // 87 bytes
const client = new KubeClient(kubeConfig());

let api: TestApi;
let operator: TestOperator;

interface Status {
  phase?: string;
  state?: string;
  agreementId?: string;
  startTime?: string;
  completionTime?: string;
  usage?: { cpuMilliseconds: number; memoryByteSeconds: number };
  credential?: { id: string; agreementId: string; inputs?: { name: string; agreementId: string }[] };
  revenueShares?: {
    input: string;
    provider: string;
    contract: string;
    basis: string;
    bytes: number;
    reads: number;
    cpuMilliseconds: number;
    memoryByteSeconds: number;
  }[];
  conditions?: { type: string; status: string; reason: string; message: string }[];
}
type Obj = KubeObject & { status?: Status };
const cond = (o: Obj | undefined, t: string) => o?.status?.conditions?.find((c) => c.type === t);
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 90_000);
const getJob = (name: string) => client.get<Obj>(kinds.sandboxJob, name, consNs);

function sandboxJob(name: string, main: string, further: string, runFor: string): KubeObject {
  return {
    apiVersion: "tds.dev/v1alpha1",
    kind: "SandboxJob",
    metadata: { name, namespace: consNs },
    spec: {
      contractRef: { name: main },
      inputs: [{ name: "second", contractRef: { name: further } }],
      image: "registry.example/analysis@sha256:" + "a".repeat(64),
      resources: { cpu: "500m", memory: "256Mi" },
      maxDurationSeconds: 600,
      env: [{ name: "KWOK_RUN_DURATION", value: runFor }],
      outputs: [{ name: "report", path: "/outputs/report.json", maxSize: "1Ki" }],
    },
  };
}

async function activeContract(name: string, provider: string): Promise<Obj> {
  await client.create(kinds.dataContract, {
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataContract",
    metadata: { name, namespace: consNs },
    spec: { offerRef: { namespace: `${space}--${provider}`, name: "compute" }, purpose: "research" },
  });
  return until(`contract ${name} Active`, async () => {
    const c = await client.get<Obj>(kinds.dataContract, name, consNs);
    return c.status?.state === "Active" ? c : undefined;
  });
}

async function providerS3(provider: string): Promise<S3Client> {
  return (await participantStorage(client, space, provider)).s3;
}

before(async () => {
  installCrds();
  api = await startApi("tds_sbi");
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: await api.operatorClient(),
  });
  await provisionProviderAndConsumer(client, run, space, first, consumer);
  await client.create(
    kinds.participant,
    participantManifest(second, space, { roles: ["provider"] }) as KubeObject,
  );
  await until("the second provider Ready", async () => {
    const p = await client.get<Obj>(kinds.participant, second);
    return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? true : undefined;
  });
  for (const [provider, key, body] of [
    [first, "turbines/data.csv", FIRST_DATA],
    [second, "vibration/data.csv", SECOND_DATA],
  ] as const) {
    await (
      await providerS3(provider)
    ).send(new PutObjectCommand({ Bucket: `tds--${space}--${provider}`, Key: key, Body: body }));
    await client.create(kinds.dataOffer, {
      apiVersion: "tds.dev/v1alpha1",
      kind: "DataOffer",
      metadata: { name: "compute", namespace: `${space}--${provider}` },
      spec: {
        title: `Offer of ${provider}`,
        classification: "public",
        dataCategory: "industrial.telemetry",
        regionOfOrigin: "CN-SH",
        asset: { key, format: "text/csv" },
        policy: { purposes: ["research"], accessMode: "computeOnly" },
      },
    });
  }
  await activeContract("c-first", first);
  await activeContract("c-second", second);
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

/** Creates a job, waits until its pod runs, and returns its uid, credential id and job token. */
async function runningJob(name: string, main: string, further: string, runFor: string) {
  const created = await client.create<Obj>(kinds.sandboxJob, sandboxJob(name, main, further, runFor));
  const job = await until(`${name} Running`, async () => {
    const j = await getJob(name);
    return j.status?.phase === "Running" ? j : undefined;
  });
  const secret = await client.get(kinds.secret, "sandbox-credential", sandboxNamespace(created as never));
  return {
    uid: created.metadata.uid ?? "",
    credential: credentialId(created as never),
    token: unb64(dataOf(secret).token),
    job,
  };
}

test("a job reads two providers' inputs, each under its own grant, and its usage is split by bytes read", async () => {
  const { uid, credential, token, job } = await runningJob("two", "c-first", "c-second", "15s");
  const [c1, c2] = await Promise.all(
    ["c-first", "c-second"].map((c) => client.get<Obj>(kinds.dataContract, c, consNs)),
  );
  assert.equal(job.status?.credential?.agreementId, c1?.status?.agreementId);
  assert.deepEqual(job.status?.credential?.inputs, [
    { name: "second", agreementId: c2?.status?.agreementId },
  ]);
  const read = (path: string, headers: Record<string, string> = {}) =>
    api.gateway.app.inject({
      url: `/v1/sandbox/${credential}/inputs/${path}`,
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
  const main = await read("turbines/data.csv", { "idempotency-key": "r1" });
  assert.equal(main.statusCode, 200, main.body);
  assert.equal(main.body, FIRST_DATA);
  const other = await read("vibration/data.csv?input=second", { "idempotency-key": "r2" });
  assert.equal(other.statusCode, 200, other.body);
  assert.equal(other.body, SECOND_DATA);
  // A retry of a read is the same read; each input is read only under its own contract.
  assert.equal(
    (await read("vibration/data.csv?input=second", { "idempotency-key": "r2" })).body,
    SECOND_DATA,
  );
  const crossed = await read("vibration/data.csv");
  assert.equal(crossed.statusCode, 403, crossed.body);
  assert.equal(crossed.json<{ code: string }>().code, "TDS_ERR_OUTSIDE_ASSET");
  const undeclared = await read("vibration/data.csv?input=third");
  assert.equal(undeclared.statusCode, 404, undeclared.body);
  assert.equal(undeclared.json<{ code: string }>().code, "TDS_ERR_INPUT_NOT_DECLARED");

  const done = await until("Succeeded and metered", async () => {
    const j = await getJob("two");
    return j.status?.phase === "Succeeded" && cond(j, "Metered")?.status === "True" ? j : undefined;
  });
  const runMs = Date.parse(done.status?.completionTime ?? "") - Date.parse(done.status?.startTime ?? "");
  const cpu = BigInt((500 * runMs) / 1000);
  const memory = (256n * 1024n * 1024n * BigInt(runMs)) / 1000n;
  // Bytes 307 : 87 (the retry counted once): the second gets floor(total x 87 / 394), the first the rest.
  const cpuSecond = (cpu * 87n) / 394n;
  const memorySecond = (memory * 87n) / 394n;
  assert.deepEqual(done.status?.revenueShares, [
    {
      input: "main",
      provider: first,
      contract: "c-first",
      basis: "ProportionalToUsage",
      bytes: 307,
      reads: 1,
      cpuMilliseconds: Number(cpu - cpuSecond),
      memoryByteSeconds: Number(memory - memorySecond),
    },
    {
      input: "second",
      provider: second,
      contract: "c-second",
      basis: "ProportionalToUsage",
      bytes: 87,
      reads: 1,
      cpuMilliseconds: Number(cpuSecond),
      memoryByteSeconds: Number(memorySecond),
    },
  ]);
  const rows = await api.pool.query<{ id: string; provider: string; contract: string; quantity: string }>(
    "select id, provider, contract, quantity::text from usage_events where space = $1 and id like 'sandbox/%' order by id",
    [space],
  );
  assert.deepEqual(rows.rows, [
    { id: `sandbox/${uid}/cpu`, provider: first, contract: "c-first", quantity: String(cpu - cpuSecond) },
    { id: `sandbox/${uid}/cpu/second`, provider: second, contract: "c-second", quantity: String(cpuSecond) },
    {
      id: `sandbox/${uid}/memory`,
      provider: first,
      contract: "c-first",
      quantity: String(memory - memorySecond),
    },
    {
      id: `sandbox/${uid}/memory/second`,
      provider: second,
      contract: "c-second",
      quantity: String(memorySecond),
    },
  ]);
  // Both grants were used: the gateway metered each provider's bytes under its own agreement.
  const reads = await api.pool.query<{ agreement_id: string; bytes: string }>(
    "select agreement_id, sum(bytes)::text as bytes from gateway_transfers where sandbox_job = $1 group by 1 order by sum(bytes) desc",
    [uid],
  );
  assert.deepEqual(reads.rows, [
    { agreement_id: c1?.status?.agreementId, bytes: "307" },
    { agreement_id: c2?.status?.agreementId, bytes: "87" },
  ]);
});

test("revoking any one input's contract stops a running job", async () => {
  await activeContract("c-second-b", second);
  await runningJob("long", "c-first", "c-second-b", "300s");
  await client.mergePatch(kinds.dataContract, "c-second-b", consNs, {
    metadata: { annotations: { "tds.dev/revoke": "Consumer misused the data" } },
  });
  const stopped = await until("Failed", async () => {
    const j = await getJob("long");
    return j.status?.phase === "Failed" ? j : undefined;
  });
  assert.equal(cond(stopped, "Ready")?.reason, "ContractRevoked");
  assert.match(
    cond(stopped, "Ready")?.message ?? "",
    /spec\.inputs\[0\]\.contractRef: DataContract c-second-b is Revoked/,
  );
});
