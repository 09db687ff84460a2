// Kubernetes client benchmark: what keeping connections alive saves on each
// request to the harness's real kube-apiserver. Measured in the same run,
// alternating so both sides see the same machine:
//   - KubeClient (crds/kube/src/client.ts), one keep-alive agent per TLS identity;
//   - the baseline: @kubernetes/client-node's own CoreV1Api, whose
//     applySecurityAuthentication makes a new agent, so a new TCP connection and
//     a client-certificate TLS handshake, for every request (KubeClient did the
//     same through applyToHTTPSOptions before).
// Each request is a GET of the namespace `default`. Reported: latency p50/p99
// and this process's CPU per request (user + system), with their ratios.
// TDS_BENCH_KUBE_REQUESTS bounds each series (default 300). Writes
// test/bench/results/kube-client.json. Run under the harness (make bench).
import { mkdir, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { CoreV1Api } from "@kubernetes/client-node";
import { KubeClient, kinds } from "@tds/kube";
import { kubeConfig } from "../harness/testkit.ts";

const REQUESTS = Number(process.env.TDS_BENCH_KUBE_REQUESTS ?? 300);
const BLOCK = 10;
const round = (x: number, d = 3): number => Number(x.toFixed(d));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

interface Series {
  readonly latencies: number[];
  cpuMicros: number;
}

async function timed(series: Series, get: () => Promise<unknown>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await get();
  series.latencies.push(performance.now() - t0);
  const cpu = process.cpuUsage(cpu0);
  series.cpuMicros += cpu.user + cpu.system;
}

async function main(): Promise<void> {
  const kc = kubeConfig();
  const client = new KubeClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const keptAlive = () => client.get(kinds.namespace, "default");
  const perRequest = () => core.readNamespace({ name: "default" });
  await keptAlive();
  await perRequest();
  const ours: Series = { latencies: [], cpuMicros: 0 };
  const baseline: Series = { latencies: [], cpuMicros: 0 };
  // Blocks of BLOCK requests, the two sides taking turns to go first.
  for (let i = 0; i < REQUESTS; i += BLOCK) {
    const sides: [Series, () => Promise<unknown>][] = [
      [ours, keptAlive],
      [baseline, perRequest],
    ];
    if ((i / BLOCK) % 2 === 1) sides.reverse();
    for (const [series, get] of sides) for (let k = 0; k < BLOCK; k++) await timed(series, get);
  }
  client.close();
  const summary = (s: Series) => ({
    requests: s.latencies.length,
    p50Ms: round(pct(s.latencies, 50)),
    p99Ms: round(pct(s.latencies, 99)),
    cpuMsPerRequest: round(s.cpuMicros / 1000 / s.latencies.length),
  });
  const result = {
    requests: REQUESTS,
    keptAlive: summary(ours),
    newConnectionPerRequest: summary(baseline),
    p50Ratio: round(pct(ours.latencies, 50) / pct(baseline.latencies, 50)),
    cpuRatio: round(ours.cpuMicros / baseline.cpuMicros),
  };
  const dir = new URL("./results/", import.meta.url);
  await mkdir(dir, { recursive: true });
  await writeFile(new URL("kube-client.json", dir), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

await main();
