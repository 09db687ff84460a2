// A SandboxJob with two inputs from two providers, end to end on the real control
// plane with kube-scheduler and KWOK, S3 and PostgreSQL. KWOK pods run no code, so
// the test plays the job while its pod is Running: with the job's token from its
// credential Secret it reads the first provider's input (spec.contractRef, input main) and
// the second's (spec.inputs, ?input=second) through the gateway, each checked against
// its own contract. When the job has Succeeded, its usage is split between the two
// providers by the space's revenueSharing, posted as one usage event pair per input,
// and kept in status.revenueShares. The operator reads the mode from the DataSpace
// when it meters the job, so one space serves all three modes, patched before each
// job: ProportionalToUsage (bytes read, 307 : 87), ProportionalToAccesses (reads, the
// second input read twice under two Idempotency-Keys and once retried: 1 : 2) and
// Equal (1 : 1 whatever was read). The expected split is worked here from the rule
// (crds/src/revenue.ts), from what the test read. Revoking the second input's
// contract stops a running job.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";
import { startApi, type TestApi } from "@tds/test/api";
import { KubeClient, dataOf, type KubeObject, kinds } from "@tds/kube";
import type { RevenueSharing } from "@tds/crds";
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
/** The job's two inputs: main (spec.contractRef) of the first provider, second (spec.inputs) of the second. */
const INPUTS = {
  main: { provider: first, contract: "c-first", path: "turbines/data.csv", body: FIRST_DATA },
  second: {
    provider: second,
    contract: "c-second",
    path: "vibration/data.csv?input=second",
    body: SECOND_DATA,
  },
} as const;
type Input = keyof typeof INPUTS;
/** A read by the job's pod: of an input, with an Idempotency-Key (the same key again is a retry). */
type Read = readonly [Input, string];
const client = new KubeClient(kubeConfig());

let api: TestApi;
let operator: TestOperator;

interface Status {
  observedGeneration?: number;
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

/**
 * Sets the space's revenueSharing and waits until the operator has reconciled that
 * generation of the space: the operator reads the mode from its cache of the DataSpace
 * when it meters a job (sandboxjob.metering.ts), and the job is created after this.
 */
async function revenueSharing(mode: RevenueSharing): Promise<void> {
  const patched = await client.mergePatch<Obj>(kinds.dataSpace, space, undefined, {
    spec: { metering: { revenueSharing: mode } },
  });
  await until(`space ${space} reconciled with revenueSharing ${mode}`, async () => {
    const s = await client.get<Obj>(kinds.dataSpace, space);
    return s.status?.observedGeneration === patched.metadata.generation ? true : undefined;
  });
}

/**
 * A job of both inputs (c-first as main, c-second as second) that, once Running, makes
 * the reads given, in order, through the gateway with its own token, each answered with
 * its input's data. Returns the job's uid and the reader, for further reads while it runs.
 */
async function readingJob(name: string, reads: readonly Read[]) {
  const { uid, credential, token, job } = await runningJob(name, "c-first", "c-second", "15s");
  const read = (path: string, headers: Record<string, string> = {}) =>
    api.gateway.app.inject({
      url: `/v1/sandbox/${credential}/inputs/${path}`,
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
  for (const [input, key] of reads) {
    const res = await read(INPUTS[input].path, { "idempotency-key": key });
    assert.equal(res.statusCode, 200, `${input} ${key}: ${res.body}`);
    assert.equal(res.body, INPUTS[input].body);
  }
  return { uid, job, read };
}

/**
 * The rule (crds/src/revenue.ts) for two parties: each gets floor(total x weight /
 * sum of weights), and what the floors leave goes to the larger weight, on a tie to
 * the smaller name. Here the parties are the providers, first (…-p1) before second
 * (…-p2), each with one input, which takes its provider's whole part.
 */
function splitTwo(total: bigint, [w1, w2]: readonly [bigint, bigint]): readonly [bigint, bigint] {
  const a = (total * w1) / (w1 + w2);
  const b = (total * w2) / (w1 + w2);
  return w2 > w1 ? [a, total - a] : [total - b, b];
}

/**
 * Waits until the job has Succeeded and is metered, and checks its split under `mode`
 * to the unit, worked from the reads the test made: an input's reads are its distinct
 * Idempotency-Keys, its bytes that many times its object's size. The total is the
 * reservation over the run (no kubelet under KWOK: 500 millicores and 256 MiB for the
 * run's milliseconds, sandboxjob.builders.ts reservedUsage). Checks status.revenueShares,
 * the usage events the dashboard API holds (with the share each carries: basis, weights,
 * the run's total), and the gateway's ledger per agreement.
 */
async function assertSplit(name: string, uid: string, mode: RevenueSharing, reads: readonly Read[]) {
  const done = await until(`${name} Succeeded and metered`, async () => {
    const j = await getJob(name);
    return j.status?.phase === "Succeeded" && cond(j, "Metered")?.status === "True" ? j : undefined;
  });
  const runMs = BigInt(
    Date.parse(done.status?.completionTime ?? "") - Date.parse(done.status?.startTime ?? ""),
  );
  const cpu = (500n * runMs) / 1000n;
  const memory = (256n * 1024n * 1024n * runMs) / 1000n;
  const tally = (input: Input) => {
    const n = BigInt(new Set(reads.filter(([i]) => i === input).map(([, key]) => key)).size);
    return { reads: n, bytes: n * BigInt(Buffer.byteLength(INPUTS[input].body)) };
  };
  const weight = (input: Input) =>
    mode === "ProportionalToUsage"
      ? tally(input).bytes
      : mode === "ProportionalToAccesses"
        ? tally(input).reads
        : 1n;
  const weights = [weight("main"), weight("second")] as const;
  const [cpuMain, cpuSecond] = splitTwo(cpu, weights);
  const [memoryMain, memorySecond] = splitTwo(memory, weights);
  const share = (input: Input, cpuMilliseconds: bigint, memoryByteSeconds: bigint) => ({
    input,
    provider: INPUTS[input].provider,
    contract: INPUTS[input].contract,
    basis: mode,
    bytes: Number(tally(input).bytes),
    reads: Number(tally(input).reads),
    cpuMilliseconds: Number(cpuMilliseconds),
    memoryByteSeconds: Number(memoryByteSeconds),
  });
  assert.deepEqual(done.status?.revenueShares, [
    share("main", cpuMain, memoryMain),
    share("second", cpuSecond, memorySecond),
  ]);
  const rows = await api.pool.query<{
    id: string;
    provider: string;
    contract: string;
    quantity: string;
    share: unknown;
  }>(
    "select id, provider, contract, quantity::text, share from usage_events where space = $1 and id like $2 order by id",
    [space, `sandbox/${uid}/%`],
  );
  // Each provider has one input, so an input weighs what its provider does, of the two's sum.
  const row = (id: string, input: Input, quantity: bigint, total: bigint) => ({
    id: `sandbox/${uid}/${id}`,
    provider: INPUTS[input].provider,
    contract: INPUTS[input].contract,
    quantity: String(quantity),
    share: {
      job: uid,
      input,
      basis: mode,
      weight: String(weight(input)),
      inputsWeight: String(weight(input)),
      providerWeight: String(weight(input)),
      providersWeight: String(weights[0] + weights[1]),
      total: String(total),
    },
  });
  assert.deepEqual(rows.rows, [
    row("cpu", "main", cpuMain, cpu),
    row("cpu/second", "second", cpuSecond, cpu),
    row("memory", "main", memoryMain, memory),
    row("memory/second", "second", memorySecond, memory),
  ]);
  // What the split was weighed by, in the gateway's ledger: each input's transfers under its own agreement.
  const agreements = await Promise.all(
    (["main", "second"] as const).map(async (input) => {
      const c = await client.get<Obj>(kinds.dataContract, INPUTS[input].contract, consNs);
      return {
        agreement_id: c.status?.agreementId,
        reads: String(tally(input).reads),
        bytes: String(tally(input).bytes),
      };
    }),
  );
  const ledger = await api.pool.query<{ agreement_id: string; reads: string; bytes: string }>(
    "select agreement_id, count(*)::text as reads, sum(bytes)::text as bytes from gateway_transfers where sandbox_job = $1 group by 1",
    [uid],
  );
  const byAgreement = (a: { agreement_id?: string }, b: { agreement_id?: string }) =>
    (a.agreement_id ?? "") < (b.agreement_id ?? "") ? -1 : 1;
  assert.deepEqual(ledger.rows.sort(byAgreement), agreements.sort(byAgreement));
}

test("a job reads two providers' inputs, each under its own grant, and its usage is split by bytes read", async () => {
  await revenueSharing("ProportionalToUsage");
  // A retry of a read is the same read: bytes 307 : 87.
  const reads: Read[] = [
    ["main", "r1"],
    ["second", "r2"],
    ["second", "r2"],
  ];
  const { uid, job, read } = await readingJob("two", reads);
  const [c1, c2] = await Promise.all(
    ["c-first", "c-second"].map((c) => client.get<Obj>(kinds.dataContract, c, consNs)),
  );
  assert.equal(job.status?.credential?.agreementId, c1?.status?.agreementId);
  assert.deepEqual(job.status?.credential?.inputs, [
    { name: "second", agreementId: c2?.status?.agreementId },
  ]);
  // Each input is read only under its own contract.
  const crossed = await read("vibration/data.csv");
  assert.equal(crossed.statusCode, 403, crossed.body);
  assert.equal(crossed.json<{ code: string }>().code, "TDS_ERR_OUTSIDE_ASSET");
  const undeclared = await read("vibration/data.csv?input=third");
  assert.equal(undeclared.statusCode, 404, undeclared.body);
  assert.equal(undeclared.json<{ code: string }>().code, "TDS_ERR_INPUT_NOT_DECLARED");
  await assertSplit("two", uid, "ProportionalToUsage", reads);
});

test("under ProportionalToAccesses the usage is split by reads, a retry with the same key counting once", async () => {
  await revenueSharing("ProportionalToAccesses");
  // main once; second under two keys, a2 retried: reads 1 : 2 (not 1 : 3), bytes 307 : 174.
  const reads: Read[] = [
    ["main", "a1"],
    ["second", "a2"],
    ["second", "a2"],
    ["second", "a3"],
  ];
  const { uid } = await readingJob("accesses", reads);
  await assertSplit("accesses", uid, "ProportionalToAccesses", reads);
});

test("under Equal the usage is split evenly between the providers, however much each input was read", async () => {
  await revenueSharing("Equal");
  // reads 1 : 2 and bytes 307 : 174, split 1 : 1.
  const reads: Read[] = [
    ["main", "e1"],
    ["second", "e2"],
    ["second", "e3"],
  ];
  const { uid } = await readingJob("equal", reads);
  await assertSplit("equal", uid, "Equal", reads);
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
