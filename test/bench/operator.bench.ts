// Operator benchmark on the local environment (real API server, KWOK nodes, the
// S3 server): N DataSpaces with P Participants each.
// 1. Convergence: the spaces and participants are created first; then an
//    operator starts (in this process, limited to them by label) and the time
//    until every space and participant is Ready is measured.
// 2. Baseline: the child objects the operator made (every owned kind under its
//    label) are read back, renamed to a second set of spaces, and server-side
//    applied by a plain client with the same concurrency as the operator's
//    workers, one space or participant per worker at a time, namespace first.
// 3. Writes while nothing changes: the operator's write requests during two
//    resync periods, not counting its leader Lease, from the first 5 s without
//    a write after convergence; each is listed by verb and path.
// 4. Memory: the heap (after a full GC) with the caches filled, minus the heap
//    before the operator started, per 1,000 cached objects, against the JSON
//    size of those objects.
// TDS_BENCH_OPERATOR_SPACES (default 200), TDS_BENCH_OPERATOR_PARTICIPANTS
// (default 5), TDS_BENCH_OPERATOR_RESYNC_MS (default 60000) and
// TDS_BENCH_OPERATOR_TIMEOUT_MS (default 900000) bound it. Writes
// test/bench/results/operator.json. Run with --expose-gc.
import { mkdir, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeClient, type KubeObject, type ResourceType, kinds } from "@tds/kube";
import { installCrds, kubeConfig } from "@tds/test/testkit";
import { ownedKinds } from "../../operator/src/operator.ts";
import { VersityGatewayStore, type ObjectStore } from "../../operator/src/storage/objectstore.ts";
import { participantManifest, runId, spaceManifest, startOperator } from "../harness/operator-fixtures.ts";
import { managedSelector } from "@tds/crds";

const SPACES = Number(process.env.TDS_BENCH_OPERATOR_SPACES ?? 200);
const PARTICIPANTS = Number(process.env.TDS_BENCH_OPERATOR_PARTICIPANTS ?? 5);
const RESYNC_MS = Number(process.env.TDS_BENCH_OPERATOR_RESYNC_MS ?? 60_000);
const TIMEOUT_MS = Number(process.env.TDS_BENCH_OPERATOR_TIMEOUT_MS ?? 900_000);
// The same concurrency on both sides: the operator's workers per controller (most of the
// work is the participants'), and the plain client's workers.
const WORKERS = Number(process.env.TDS_BENCH_OPERATOR_WORKERS ?? 4);

const gc = (globalThis as { gc?: () => void }).gc;
const heapUsed = (): number => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};

const ready = (o: KubeObject): boolean =>
  ((o as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []).some(
    (c) => c.type === "Ready" && c.status === "True",
  );

async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const item = items[next++];
        if (item !== undefined) await fn(item);
      }
    }),
  );
}

/** An object as a plain client would apply it: no server-set metadata, owners or status. */
function applyable(o: KubeObject, rename: (s: string) => string): KubeObject {
  const serverSet = new Set([
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
    "generation",
  ]);
  const metadata = Object.fromEntries(Object.entries(o.metadata).filter(([k]) => !serverSet.has(k)));
  const body = Object.fromEntries(Object.entries(o).filter(([k]) => k !== "status"));
  return JSON.parse(rename(JSON.stringify({ ...body, metadata }))) as KubeObject;
}

const round = (x: number, d = 3): number => Number(x.toFixed(d));

/** The kind (and subresource) a request path addresses: `/api/v1/namespaces/n/secrets/x` is `secrets`. */
function requestKind(path: string): string {
  const parts = (path.split("?")[0] ?? path).split("/").filter(Boolean);
  const rest = parts.slice(parts[0] === "api" ? 2 : 3);
  if (rest[0] === "namespaces" && rest.length > 2) rest.splice(0, 2);
  const [kind = "?", , sub] = rest;
  return sub ? `${kind}/${sub}` : kind;
}

const sortedCounts = (c: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(c).sort((a, b) => b[1] - a[1]));

/** The object store with the time spent in each method, summed (where a reconcile waits on S3). */
function timedStore(store: ObjectStore): {
  store: ObjectStore;
  spent: Record<string, { calls: number; ms: number }>;
} {
  const spent: Record<string, { calls: number; ms: number }> = {};
  const timed = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== "function") return v;
      return async (...args: unknown[]) => {
        const t = performance.now();
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          const s = (spent[String(prop)] ??= { calls: 0, ms: 0 });
          s.calls++;
          s.ms = round(s.ms + performance.now() - t, 1);
        }
      };
    },
  });
  return { store: timed, spent };
}

async function main(): Promise<void> {
  installCrds();
  const run = runId();
  const client = new KubeClient(kubeConfig(), "tds-bench");
  const prefix = `ob${run}`;
  const spaceNames = Array.from({ length: SPACES }, (_, i) => `${prefix}-${String(i)}`);
  const participantNames = (space: string) =>
    Array.from({ length: PARTICIPANTS }, (_, j) => `${space}-p${String(j)}`);

  // 1. Everything declared first (with no operator running), then the operator.
  let t = performance.now();
  await pool(spaceNames, 8, async (s) => {
    await client.create(kinds.dataSpace, spaceManifest(s, run) as KubeObject);
    for (const p of participantNames(s)) {
      await client.create(kinds.participant, participantManifest(p, s) as KubeObject);
    }
  });
  const declareMs = performance.now() - t;
  const heapBefore = heapUsed();
  const expected = SPACES * (1 + PARTICIPANTS);
  t = performance.now();
  const s3 = timedStore(VersityGatewayStore.fromEnv());
  const operator = await startOperator(run, {
    store: s3.store,
    workers: WORKERS,
    resyncMs: RESYNC_MS,
    settings: { storageSampleMs: 10 * 60_000 },
  });
  const leaseWrites: string[] = [];
  let writes = 0;
  // Every request by verb and kind (and subresource), and the paths written at rest.
  const requests: Record<string, number> = {};
  const restWritePaths: string[] = [];
  let atRest = false;
  operator.manager.client.observe((method, path) => {
    const key = `${method} ${requestKind(path)}`;
    requests[key] = (requests[key] ?? 0) + 1;
    if (!["POST", "PUT", "PATCH", "DELETE"].includes(method)) return;
    if (path.includes("/leases/") || path.endsWith("/leases")) leaseWrites.push(path);
    else {
      writes++;
      if (atRest) restWritePaths.push(`${method} ${path.split("?")[0] ?? path}`);
    }
  });
  let readyCount = 0;
  for (;;) {
    const [spaces, participants] = await Promise.all([
      client.list(kinds.dataSpace, undefined, { labelSelector: `tds.dev/test-run=${run}` }),
      client.list(kinds.participant),
    ]);
    const mine = new Set(spaceNames);
    readyCount =
      spaces.items.filter(ready).length +
      participants.items.filter(
        (p) => mine.has((p as unknown as { spec: { dataSpace: string } }).spec.dataSpace) && ready(p),
      ).length;
    if (readyCount >= expected || performance.now() - t > TIMEOUT_MS) break;
    await sleep(500);
  }
  const convergeMs = performance.now() - t;
  const convergeWrites = writes;
  // Where the time went: reconcile time and count per controller and result, and retries.
  const reconciles: Record<string, { count: number; seconds: number }> = {};
  // Where each reconcile read its object (cache, or live: miss, own-write, conflict).
  const primaryReads: Record<string, number> = {};
  for (const m of await operator.manager.metrics.registry.getMetricsAsJSON()) {
    if (m.name === "tds_reconcile_duration_seconds") {
      for (const v of m.values as {
        metricName?: string;
        labels: Record<string, string | number>;
        value: number;
      }[]) {
        const key = `${String(v.labels.controller)}/${String(v.labels.result)}`;
        const r = (reconciles[key] ??= { count: 0, seconds: 0 });
        if (v.metricName?.endsWith("_count")) r.count = v.value;
        if (v.metricName?.endsWith("_sum")) r.seconds = round(v.value);
      }
    }
    if (m.name === "tds_workqueue_retries_total") {
      for (const v of m.values)
        reconciles[`${String(v.labels.controller)}/retries`] = { count: v.value, seconds: 0 };
    }
    if (m.name === "tds_primary_reads_total") {
      for (const v of m.values)
        primaryReads[`${String(v.labels.controller)}/${String(v.labels.source)}`] = v.value;
    }
  }

  // 3. Two resync periods with nothing changed, from the first 5 s without a write (the
  // queues' last reconciles of the convergence, such as spaces re-queued by their
  // participants' last status writes, land first; bounded by one resync period).
  const settleStart = performance.now();
  for (let seen = writes, quietSince = performance.now(); ;) {
    await sleep(250);
    if (writes !== seen) [seen, quietSince] = [writes, performance.now()];
    if (performance.now() - quietSince >= 5000 || performance.now() - settleStart > RESYNC_MS) break;
  }
  const settleMs = performance.now() - settleStart;
  const writesAfterConvergence = writes - convergeWrites;
  const writesAtRest = writes;
  const convergeRequests = { ...requests };
  atRest = true;
  await sleep(2 * RESYNC_MS + 1000);
  const restWrites = writes - writesAtRest;

  // 4. The caches, full.
  const heapAfter = heapUsed();
  const cached = operator.manager.cachedObjects();
  const cachedCount = cached.reduce((n, c) => n + c.objects.length, 0);
  const cachedJsonBytes = cached.reduce(
    (n, c) => n + c.objects.reduce((m, o) => m + Buffer.byteLength(JSON.stringify(o)), 0),
    0,
  );
  await operator.stop();

  // 2. The baseline: the same child objects, renamed, applied by a plain client.
  const children: { r: ResourceType; o: KubeObject }[] = [];
  for (const r of ownedKinds) {
    const list = await client.list(r, undefined, { labelSelector: managedSelector });
    for (const o of list.items) {
      if ((o.metadata.labels?.["tds.dev/space"] ?? "").startsWith(`${prefix}-`)) children.push({ r, o });
    }
  }
  const basePrefix = `ba${run}`;
  const rename = (s: string) => s.replaceAll(`${prefix}-`, `${basePrefix}-`);
  const units = new Map<string, { r: ResourceType; o: KubeObject }[]>();
  for (const c of children) {
    const l = c.o.metadata.labels ?? {};
    const unit = l["tds.dev/participant"] ?? l["tds.dev/space"] ?? "";
    units.set(unit, [...(units.get(unit) ?? []), { r: c.r, o: applyable(c.o, rename) }]);
  }
  const order = (r: ResourceType) => (r === kinds.namespace ? 0 : r === kinds.serviceAccount ? 1 : 2);
  const baseClient = new KubeClient(kubeConfig(), "tds-bench-baseline");
  t = performance.now();
  await pool([...units.values()], WORKERS, async (objects) => {
    for (const { r, o } of [...objects].sort((a, b) => order(a.r) - order(b.r))) await baseClient.apply(r, o);
  });
  const baselineMs = performance.now() - t;

  const result = {
    benchmark: "operator",
    spaces: SPACES,
    participantsPerSpace: PARTICIPANTS,
    resyncMs: RESYNC_MS,
    declareMs: Math.round(declareMs),
    convergence: {
      readyObjects: readyCount,
      expectedObjects: expected,
      operatorMs: Math.round(convergeMs),
      operatorWrites: convergeWrites,
      childObjects: children.length,
      baselineMs: Math.round(baselineMs),
      baselineWorkers: WORKERS,
      ratio: round(convergeMs / baselineMs),
      reconciles,
      primaryReads,
      objectStore: s3.spent,
      requests: sortedCounts(convergeRequests),
    },
    settleMs: Math.round(settleMs),
    writesAfterConvergence,
    writesDuringTwoResyncs: restWrites,
    writesDuringTwoResyncsByPath: restWritePaths,
    leaseWritesDuringRun: leaseWrites.length,
    memory: {
      gcExposed: gc !== undefined,
      heapBeforeBytes: heapBefore,
      heapAfterBytes: heapAfter,
      cachedObjects: cachedCount,
      cachedJsonBytes,
      heapPer1000ObjectsBytes: Math.round(((heapAfter - heapBefore) / cachedCount) * 1000),
      jsonPer1000ObjectsBytes: Math.round((cachedJsonBytes / cachedCount) * 1000),
      ratio: round((heapAfter - heapBefore) / cachedJsonBytes),
    },
  };
  await mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await writeFile(
    new URL("./results/operator.json", import.meta.url),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  console.log(JSON.stringify(result, null, 2));
  if (readyCount < expected) {
    throw new Error(
      `only ${String(readyCount)} of ${String(expected)} objects were Ready after ${String(TIMEOUT_MS)} ms`,
    );
  }
}

await main();
