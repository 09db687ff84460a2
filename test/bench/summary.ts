// The benchmarks' summary: reads the JSON each benchmark of the run wrote to
// test/bench/results/ and writes test/bench/results/summary.json with every
// measure of issue 19 next to its baseline, its ratio and its goal, and the
// same rows as a Markdown table, summary.md (docs/performance.md's summary
// table is copied from it). A benchmark that did not run is listed as
// missing. Run by `make bench` after the benchmarks.
import { mkdir, readFile, writeFile } from "node:fs/promises";

const dir = new URL("./results/", import.meta.url);

async function load(name: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(new URL(`${name}.json`, dir), "utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

interface Row {
  measure: string;
  result: number | string;
  baseline?: string;
  goal: string;
  met?: boolean;
}

const at = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>(
    (x, k) => (x && typeof x === "object" ? (x as Record<string, unknown>)[k] : undefined),
    o,
  );
const num = (x: unknown): number => (typeof x === "number" ? x : Number.NaN);

const rows: Row[] = [];
const missing: string[] = [];

const catalog = await load("catalog");
if (catalog) {
  const byKind = (at(catalog, "byKind") ?? {}) as Record<string, unknown>;
  for (const [kind, r] of Object.entries(byKind)) {
    const p99 = num(at(r, "index", "p99Ms"));
    rows.push({
      measure: `catalog search p99, ${kind}, ${String(at(catalog, "offers"))} offers (ms)`,
      result: p99,
      baseline: `scan of catalog_offers p99 ${String(at(r, "scan", "p99Ms"))} ms (${String(at(r, "p99Ratio"))}x)`,
      goal: "<= 10 ms",
      met: p99 <= 10,
    });
  }
} else missing.push("catalog");

const metering = await load("metering");
if (metering) {
  const ratio = num(at(metering, "ingest", "ratio"));
  rows.push({
    measure: `deduplicated ingest with rollups, ${String(at(metering, "events"))} events (x baseline)`,
    result: ratio,
    baseline: `raw multi-row INSERT, ${String(at(metering, "ingest", "rawInsertEventsPerSecond"))} events/s`,
    goal: ">= 0.5",
    met: ratio >= 0.5,
  });
} else missing.push("metering");

const evidence = await load("evidence");
if (evidence) {
  const ratio = num(at(evidence, "appends", "singleAppendVsBaseline"));
  rows.push({
    measure: "single evidence append, sequential (x baseline)",
    result: ratio,
    baseline: `raw single-row INSERT, ${String(at(evidence, "appends", "baselineInsertPerSecond"))} /s`,
    goal: ">= 0.6",
    met: ratio >= 0.6,
  });
} else missing.push("evidence");

const gateway = await load("gateway");
if (gateway) {
  const throughput = (at(gateway, "throughput") ?? []) as Record<string, unknown>[];
  for (const t of throughput) {
    const ratio = num(t.gatewayToProxy);
    rows.push({
      measure: `gateway throughput, ${String(t.size)} (x bare proxy)`,
      result: ratio,
      baseline: `bare proxy ${String(t.proxyMBps)} MB/s`,
      goal: ">= 0.95",
      met: ratio >= 0.95,
    });
  }
  const small = at(gateway, "smallObjectLatency");
  const added = num(at(small, "gatewayP50Ms")) - num(at(small, "proxyP50Ms"));
  if (!Number.isNaN(added))
    rows.push({
      measure: "gateway p50 added latency over the bare proxy, 1 KiB (ms)",
      result: Number(added.toFixed(2)),
      baseline: `bare proxy p50 ${String(at(small, "proxyP50Ms"))} ms`,
      goal: "<= 0.5 ms",
      met: added <= 0.5,
    });
} else missing.push("gateway");

const operator = await load("operator");
if (operator) {
  const n = `${String(at(operator, "spaces"))} spaces x ${String(at(operator, "participantsPerSpace"))} participants`;
  const ratio = num(at(operator, "convergence", "ratio"));
  rows.push({
    measure: `time until ${n} are Ready (x baseline)`,
    result: ratio,
    baseline: `server-side apply of the same ${String(at(operator, "convergence", "childObjects"))} child objects, ${String(at(operator, "convergence", "baselineMs"))} ms, ${String(at(operator, "convergence", "baselineWorkers"))} workers`,
    goal: "<= 1.3",
    met: ratio <= 1.3,
  });
  const writes = num(at(operator, "writesDuringTwoResyncs"));
  rows.push({
    measure: `writes during two resync periods of ${n}, unchanged`,
    result: writes,
    goal: "0",
    met: writes === 0,
  });
  const heap = num(at(operator, "memory", "ratio"));
  rows.push({
    measure: "operator heap per cached object (x its JSON size)",
    result: heap,
    baseline: `${String(at(operator, "memory", "jsonPer1000ObjectsBytes"))} bytes of JSON per 1000 objects`,
    goal: "<= 3",
    met: heap <= 3,
  });
} else missing.push("operator");

const kube = await load("kube-client");
if (kube) {
  const ratio = num(at(kube, "cpuRatio"));
  rows.push({
    measure: "Kubernetes client CPU per request, kept-alive connections (x a new connection per request)",
    result: ratio,
    baseline: `client-node's CoreV1Api, ${String(at(kube, "newConnectionPerRequest", "cpuMsPerRequest"))} ms CPU and p50 ${String(at(kube, "newConnectionPerRequest", "p50Ms"))} ms per GET`,
    goal: "< 1",
    met: ratio < 1,
  });
} else missing.push("kube-client");

const summary = { benchmark: "summary", date: new Date().toISOString(), rows, missing };
await mkdir(dir, { recursive: true });
await writeFile(new URL("summary.json", dir), `${JSON.stringify(summary, null, 2)}\n`);
const cell = (x: string | number): string => String(x).replaceAll("|", "\\|");
const table = [
  "| Measure | Baseline in the same run | Result | Goal | Met |",
  "| --- | --- | --- | --- | --- |",
  ...rows.map(
    (r) =>
      `| ${cell(r.measure)} | ${cell(r.baseline ?? "—")} | ${cell(r.result)} | ${cell(r.goal)} | ${r.met === true ? "yes" : "**no**"} |`,
  ),
  ...(missing.length > 0 ? ["", `Not measured in this run: ${missing.join(", ")}.`] : []),
];
await writeFile(new URL("summary.md", dir), `Run of ${summary.date}\n\n${table.join("\n")}\n`);
for (const r of rows)
  console.log(`${r.met === true ? "met " : "MISS"}  ${r.measure}: ${String(r.result)} (goal ${r.goal})`);
if (missing.length > 0) console.log(`not measured in this run: ${missing.join(", ")}`);
