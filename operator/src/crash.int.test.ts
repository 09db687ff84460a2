// Crash consistency: the operator is SIGKILLed just before each write point of
// the space and participant provisioning path (one fresh space per write
// point), then a healthy operator takes over. Everything converges, with one
// bucket per participant, and deleting the spaces leaves no orphans.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3Client, ListBucketsCommand } from "@aws-sdk/client-s3";
import { env, eventually, installCrds, kubeConfig } from "@tds/test/testkit";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import { bucketName } from "./storage/objectstore.ts";
import { participantManifest, runId, spaceManifest } from "@tds/test/operator";
import { spawnOperator, type OperatorProcess } from "@tds/test/operator-process";

const run = runId();
const client = new KubeClient(kubeConfig());
const logDir = mkdtempSync(join(tmpdir(), "tds-crash-"));
const procs: OperatorProcess[] = [];
const s3 = new S3Client({
  endpoint: env("TDS_S3_ENDPOINT"),
  region: env("TDS_S3_REGION"),
  forcePathStyle: true,
  credentials: { accessKeyId: env("TDS_S3_ACCESS_KEY_ID"), secretAccessKey: env("TDS_S3_SECRET_ACCESS_KEY") },
});

const ready = (o: KubeObject | undefined) =>
  (
    (o as { status?: { conditions?: { type: string; status: string }[] } } | undefined)?.status?.conditions ??
    []
  ).some((c) => c.type === "Ready" && c.status === "True");

function operatorEnv(
  selector: string,
  lease: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    TDS_OPERATOR_NAMESPACE: "default",
    TDS_LEASE_NAME: lease,
    TDS_SPACE_SELECTOR: selector,
    TDS_RETRY_PERIOD_MS: "300",
    ...extra,
  };
}

async function createSpace(i: number): Promise<string> {
  const space = `cr-${run}-${i}`;
  const manifest = spaceManifest(space, run) as KubeObject;
  manifest.metadata.labels = { ...manifest.metadata.labels, "tds.dev/crash-point": String(i) };
  await client.create(kinds.dataSpace, manifest);
  await client.create(kinds.participant, participantManifest(`${space}-p`, space) as KubeObject);
  return space;
}

async function converged(space: string): Promise<boolean> {
  return (
    ready(await client.find(kinds.dataSpace, space)) &&
    ready(await client.find(kinds.participant, `${space}-p`))
  );
}

/** Waits (up to 180 s) until the operator logs that its controllers started, or exits. */
async function controllersStarted(p: OperatorProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (p.child.exitCode === null && p.child.signalCode === null && Date.now() < deadline) {
    if (existsSync(logFile) && readFileSync(logFile, "utf8").includes('"controllers started"')) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

after(async () => {
  for (const p of procs) await p.kill("SIGKILL");
});

test(
  "killed at every write point, the operator converges with no duplicates and deletion leaves no orphans",
  { timeout: 900_000 },
  async (t) => {
    installCrds();
    // A clean run (space 0) lists the write points of the provisioning path.
    const space0 = await createSpace(0);
    const dry = spawnOperator(
      operatorEnv(`tds.dev/test-run=${run},tds.dev/crash-point=0`, `tds-crash-${run}-0`, {
        TDS_LOG_WRITE_POINTS: "1",
      }),
      logDir,
      "dry",
    );
    procs.push(dry);
    await eventually("the clean run to converge", () => converged(space0), 60_000);
    await dry.kill("SIGTERM");
    const points = readFileSync(join(logDir, "dry.log"), "utf8")
      .split("\n")
      .filter((l) => l.includes('"write point"'))
      .map((l) => (JSON.parse(l) as { what: string }).what);
    assert.ok(
      points.length >= 20,
      `expected the provisioning path to have many write points, saw ${points.length}`,
    );
    t.diagnostic(`${points.length} write points: ${points.join("; ")}`);

    // One fresh space per write point; kill the operator just before that write.
    const spaces = [space0];
    const crashed: number[] = [];
    const pending = points.map((_, k) => k + 1);
    const worker = async () => {
      for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
        const space = await createSpace(i);
        spaces.push(space);
        const p = spawnOperator(
          operatorEnv(`tds.dev/test-run=${run},tds.dev/crash-point=${i}`, `tds-crash-${run}-${i}`, {
            TDS_CRASH_BEFORE_WRITE: String(i),
          }),
          logDir,
          `crash-${i}`,
        );
        procs.push(p);
        // The 45 s for reaching the write point count from the controllers' start: loading
        // the operator's modules alone took over 45 s on a loaded machine.
        await controllersStarted(p, join(logDir, `crash-${i}.log`));
        const outcome = await Promise.race([
          p.exited,
          new Promise<"timeout">((r) =>
            setTimeout(() => {
              r("timeout");
            }, 45_000),
          ),
        ]);
        if (outcome !== "timeout" && outcome.signal === "SIGKILL") crashed.push(i);
        await p.kill("SIGKILL");
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    // Write order varies a little between runs (two workers, watch timing), but
    // nearly every run must have died at its write point.
    assert.ok(crashed.length >= points.length - 2, `only ${crashed.length} of ${points.length} runs crashed`);

    // A healthy operator takes over every space.
    const healthy = spawnOperator(
      operatorEnv(`tds.dev/test-run=${run}`, `tds-crash-${run}-healthy`),
      logDir,
      "healthy",
    );
    procs.push(healthy);
    for (const space of spaces) await eventually(`${space} to converge`, () => converged(space), 120_000);

    const buckets = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? [])
      .map((b) => b.Name ?? "")
      .filter((n) => n.startsWith(`tds--cr-${run}-`));
    assert.deepEqual(
      buckets.sort(),
      spaces.map((s) => bucketName(s, `${s}-p`)).sort(),
      "exactly one bucket per participant",
    );
    for (const space of spaces) {
      const secrets = await client.list(kinds.secret, `${space}--${space}-p`);
      assert.deepEqual(
        secrets.items
          .map((s) => s.metadata.name)
          .filter((n) => n !== undefined && !n.startsWith("default-token"))
          .sort(),
        ["participant-identity", "storage-credentials"],
      );
      assert.equal(
        (await client.list(kinds.secret, `tds-${space}`)).items.filter((s) => s.metadata.name === "space-ca")
          .length,
        1,
      );
    }

    for (const space of spaces) await client.delete(kinds.dataSpace, space);
    await eventually(
      "every space, namespace, bucket and cluster role to be gone",
      async () => {
        for (const space of spaces) {
          if (await client.find(kinds.dataSpace, space)) return false;
          if (await client.find(kinds.namespace, `tds-${space}`)) return false;
          if (await client.find(kinds.namespace, `${space}--${space}-p`)) return false;
          if (await client.find(kinds.clusterRole, `tds:space:${space}:admin`)) return false;
        }
        const left = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).filter((b) =>
          (b.Name ?? "").startsWith(`tds--cr-${run}-`),
        );
        return left.length === 0;
      },
      180_000,
      500,
    );
    await healthy.kill("SIGTERM");
  },
);
