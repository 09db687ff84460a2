// The demo's sample analysis: a consumer's program as it runs in a TDS
// sandbox (its image: test/harness/analysis/image.ts; Node runs the file
// as it is, stripping the types). It knows only its
// environment, as any consumer's code would:
//   TDS_INPUT_URL, TDS_OUTPUT_URL, TDS_GATEWAY_TOKEN  set by the operator
//   INPUT_KEY              the object to read (the offer's asset key)
//   BOOTSTRAP_RESAMPLES    resamples of the confidence intervals (default 20000)
// It reads the maintenance work orders (CSV: unit,opened,part,cause) through
// the gateway with the job token, computes the failure rate of each turbine
// (work orders per month in service) with a bootstrap 95% interval, the most
// replaced parts and the causes, writes /outputs/failure-rates.json and
// /outputs/summary.csv, and uploads both through the gateway.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { release } from "node:os";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const token = env("TDS_GATEWAY_TOKEN");
const key = env("INPUT_KEY");
const resamples = Number(process.env.BOOTSTRAP_RESAMPLES ?? 20000);

/**
 * fetch, retried as a careful client does: a network error (a name not resolved
 * yet, a reset connection), 429 or a 5xx is tried again, up to 6 times in
 * about 30 s. Uploads carry an Idempotency-Key, so a retry is the same transfer.
 */
async function fetchRetried(url: string, init: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await fetch(url, init);
      if ((r.status < 500 && r.status !== 429) || attempt === 6) return r;
      console.error(`${init.method ?? "GET"} ${url}: ${String(r.status)}, retrying`);
    } catch (err) {
      if (attempt === 6) throw err;
      console.error(`${init.method ?? "GET"} ${url}: ${String(err)}, retrying`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
  }
}

const res = await fetchRetried(env("TDS_INPUT_URL") + key, { headers: { authorization: `Bearer ${token}` } });
if (!res.ok) throw new Error(`GET input ${key}: ${res.status} ${await res.text()}`);
const text = await res.text();
const [header, ...lines] = text.trimEnd().split("\n");
if (header !== "unit,opened,part,cause") throw new Error(`unexpected columns: ${header}`);
interface WorkOrder {
  unit: string;
  month: string;
  part: string;
  cause: string;
}
const rows: WorkOrder[] = lines.map((l, i) => {
  const [unit, opened, part, cause] = l.split(",");
  if (!unit || !opened || !part || !cause) throw new Error(`line ${String(i + 2)}: four columns expected`);
  return { unit, month: opened.slice(0, 7), part, cause };
});

const count = (items: string[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
};
const months = [...new Set(rows.map((r) => r.month))].sort();
const byUnit = count(rows.map((r) => r.unit));
const units = [...byUnit.keys()].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
// Work orders of each unit in each month: the sample the intervals resample.
const perMonth = new Map(
  units.map((u) => [u, months.map((m) => rows.filter((r) => r.unit === u && r.month === m).length)]),
);

// A deterministic generator (mulberry32), so the same input gives the same output bytes.
let seed = 0x7d5;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const interval = (sample: number[]): [number, number] => {
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < sample.length; i++) sum += sample[Math.floor(random() * sample.length)] ?? 0;
    means[b] = sum / sample.length;
  }
  means.sort();
  return [means[Math.floor(resamples * 0.025)] ?? 0, means[Math.floor(resamples * 0.975)] ?? 0];
};
const round = (x: number): number => Math.round(x * 1000) / 1000;
const turbines = units.map((unit) => {
  const n = byUnit.get(unit) ?? 0;
  const [low, high] = interval(perMonth.get(unit) ?? []);
  return {
    unit,
    workOrders: n,
    failuresPerMonth: round(n / months.length),
    interval95: [round(low), round(high)],
  };
});
const top = (m: Map<string, number>, n: number) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([name, workOrders]) => ({ name, workOrders }));

const report = {
  input: {
    key,
    bytes: Buffer.byteLength(text),
    rows: rows.length,
  },
  months: { first: months[0], last: months.at(-1), count: months.length },
  turbines,
  mostReplacedParts: top(count(rows.map((r) => r.part)), 10),
  causes: top(count(rows.map((r) => r.cause)), 10),
  method: `work orders per month in service; 95% bootstrap interval over months, ${resamples} resamples`,
  ranOn: { kernel: release(), node: process.version },
};
const outputs: Record<string, [string, string]> = {
  "failure-rates": ["/outputs/failure-rates.json", JSON.stringify(report, null, 2) + "\n"],
  summary: [
    "/outputs/summary.csv",
    "unit,work_orders,failures_per_month,low95,high95\n" +
      turbines.map((t) => [t.unit, t.workOrders, t.failuresPerMonth, ...t.interval95].join(",")).join("\n") +
      "\n",
  ],
};
mkdirSync("/outputs", { recursive: true });
for (const [name, [path, body]] of Object.entries(outputs)) {
  writeFileSync(path, body);
  const put = await fetchRetried(env("TDS_OUTPUT_URL") + name, {
    method: "PUT",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/octet-stream",
      "idempotency-key": name,
    },
    body,
  });
  if (!put.ok) throw new Error(`PUT output ${name}: ${put.status} ${await put.text()}`);
  console.log(
    `${name}: ${Buffer.byteLength(body)} bytes, sha256 ${createHash("sha256").update(body).digest("hex")}`,
  );
}
console.log(
  `${rows.length} work orders of ${units.length} turbines over ${months.length} months (kernel ${release()})`,
);
