// Gateway benchmark: throughput of GET /v1/data/... against a direct GET of
// the same object from the same S3 server (signed, same SDK on the direct
// side; plain HTTP to the gateway), for 1 MB, 64 MB and (when
// TDS_BENCH_GATEWAY_1GB=1) 1 GB objects, alternating the two paths so both
// see the same machine state; and the gateway's added latency for small
// objects (p50/p99 of a 1 KiB GET, gateway minus direct). The gateway runs as
// deployed: its own process (@tds/gateway, dashboard-api/gateway/src/main.ts)
// with its watch-backed grant cache, on the bench's database and the
// harness's API server and S3 server. A second baseline, a bare proxy
// (s3-proxy.ts: the same SDK GET piped through node:http, nothing else),
// separates the cost of any extra hop from the gateway's own.
// The bench's space, with its rules and the consumer Participant, is in the
// cluster, so every gateway GET is also re-decided by the policy engine
// (grants.ts, policyRefusal); TDS_BENCH_GATEWAY_RULES=0 leaves them out, to
// measure the gateway without that check on the same machine.
// Writes test/bench/results/gateway.json (gateway-norules.json without the rules).
// Run under the harness (make bench).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { Agent, get, type IncomingMessage } from "node:http";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { join } from "node:path";
import { gatewayWorld } from "@tds/test/gateway-world";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "../harness/processes.ts";

const MB = 1024 * 1024;
const sizes: [string, number, number][] = [
  ["1MB", 1 * MB, 40],
  ["64MB", 64 * MB, 6],
  ...(process.env.TDS_BENCH_GATEWAY_1GB === "1"
    ? ([["1GB", 1024 * MB, 2]] as [string, number, number][])
    : []),
];
const SMALL_RUNS = Number(process.env.TDS_BENCH_GATEWAY_SMALL ?? 300);
const RULES = process.env.TDS_BENCH_GATEWAY_RULES !== "0";

const round = (x: number, d = 3): number => Number(x.toFixed(d));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function drain(body: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) n += chunk.length;
  return n;
}

async function main(): Promise<void> {
  const w = await gatewayWorld({ monitorIntervalMs: 2000, rules: RULES });
  let server: ManagedProcess | undefined;
  let proxy: ManagedProcess | undefined;
  try {
    w.offer("bench", { prefix: "bench/" });
    const { agreementId, token } = w.contract("bench", "bench", { state: "Active" });
    const port = await freePort();
    const metricsPort = await freePort();
    const logFile = join(process.env.TDS_STATE_DIR ?? ".tds", "bench-gateway.log");
    server = startProcess({
      name: "gateway",
      command: process.execPath,
      args: ["--import", "tsx", "dashboard-api/gateway/src/main.ts"],
      logFile,
      env: {
        ...process.env,
        DATABASE_URL: w.db.url,
        PORT: String(port),
        TDS_METRICS_PORT: String(metricsPort),
        HOST: "127.0.0.1",
        TDS_RATE_LIMIT_PER_MINUTE: "10000000",
        // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the gateway process alone.
        NODE_OPTIONS: process.env.TDS_BENCH_GATEWAY_NODE_OPTIONS ?? "",
      },
    });
    const gatewayUrl = `http://127.0.0.1:${port}`;
    const metricsUrl = `http://127.0.0.1:${String(metricsPort)}/metrics`;
    await waitUntil(
      "the gateway serves the bench contract from its cache",
      server,
      async () => {
        try {
          const metrics = await (await fetch(metricsUrl)).text();
          return /gateway grant cache synced/.test(await readFile(logFile, "utf8")) && metrics.length > 0;
        } catch {
          return false;
        }
      },
      60_000,
    );
    const proxyPort = await freePort();
    proxy = startProcess({
      name: "s3-proxy",
      command: process.execPath,
      args: ["--import", "tsx", "test/bench/s3-proxy.ts"],
      logFile: join(process.env.TDS_STATE_DIR ?? ".tds", "bench-s3-proxy.log"),
      env: { ...process.env, PORT: String(proxyPort) },
    });
    const proxyUrl = `http://127.0.0.1:${proxyPort}`;
    await waitUntil(
      "the bare proxy listens",
      proxy,
      async () => {
        try {
          await (await fetch(`${proxyUrl}/`)).arrayBuffer();
          return true;
        } catch {
          return false;
        }
      },
      30_000,
    );
    // node:http on both sides' readers (the SDK uses it too), with keep-alive.
    const agent = new Agent({ keepAlive: true });
    const httpGet = async (url: string, headers: Record<string, string>): Promise<number> => {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        get(url, { agent, headers }, resolve).on("error", reject);
      });
      if (res.statusCode !== 200) throw new Error(`${url} answered ${String(res.statusCode)}`);
      return drain(res);
    };
    const gw = (key: string) =>
      httpGet(`${gatewayUrl}/v1/data/${agreementId}/${key}`, { authorization: `Bearer ${token}` });
    const bare = (key: string) => httpGet(`${proxyUrl}/${w.bucket}/${key}`, {});
    const direct = async (key: string): Promise<number> => {
      const out = await w.s3.send(new GetObjectCommand({ Bucket: w.bucket, Key: key }));
      return drain(out.Body as Readable);
    };

    /** Milliseconds per GET of `key` on each path, the paths alternating run by run. */
    const timed = async (runs: number, key: string, size: number) => {
      const t: Record<"gateway" | "proxy" | "direct", number[]> = { gateway: [], proxy: [], direct: [] };
      for (let i = 0; i < runs; i++) {
        for (const [name, fn] of [
          ["gateway", gw],
          ["proxy", bare],
          ["direct", direct],
        ] as const) {
          const start = performance.now();
          const n = await fn(key);
          if (n !== size) throw new Error(`${name} returned ${n} of ${size} bytes`);
          t[name].push(performance.now() - start);
        }
      }
      return t;
    };

    const throughput: Record<string, unknown>[] = [];
    for (const [label, size, runs] of sizes) {
      const key = `bench/${label}.bin`;
      await w.put(key, randomBytes(size));
      await gw(key);
      await bare(key);
      await direct(key); // warm every path
      const t = await timed(runs, key, size);
      const mbps = (ms: number[]) => (size * ms.length) / MB / (ms.reduce((a, b) => a + b, 0) / 1000);
      const g = mbps(t.gateway);
      const d = mbps(t.direct);
      const p = mbps(t.proxy);
      throughput.push({
        size: label,
        bytes: size,
        runs,
        gatewayMBps: round(g, 1),
        proxyMBps: round(p, 1),
        directMBps: round(d, 1),
        ratio: round(g / d),
        gatewayToProxy: round(g / p),
        proxyToDirect: round(p / d),
      });
      console.log(
        `${label}: gateway ${g.toFixed(1)} MB/s, bare proxy ${p.toFixed(1)} MB/s, direct ${d.toFixed(1)} MB/s; ` +
          `gateway/direct ${(g / d).toFixed(3)}, gateway/proxy ${(g / p).toFixed(3)}, proxy/direct ${(p / d).toFixed(3)}`,
      );
    }

    await w.put("bench/small.bin", randomBytes(1024));
    const lat = await timed(SMALL_RUNS, "bench/small.bin", 1024);
    const small = {
      bytes: 1024,
      runs: SMALL_RUNS,
      gatewayP50Ms: round(pct(lat.gateway, 50)),
      gatewayP99Ms: round(pct(lat.gateway, 99)),
      proxyP50Ms: round(pct(lat.proxy, 50)),
      proxyP99Ms: round(pct(lat.proxy, 99)),
      directP50Ms: round(pct(lat.direct, 50)),
      directP99Ms: round(pct(lat.direct, 99)),
      addedP50Ms: round(pct(lat.gateway, 50) - pct(lat.direct, 50)),
      addedP99Ms: round(pct(lat.gateway, 99) - pct(lat.direct, 99)),
    };
    console.log(
      `small objects: added latency p50 ${small.addedP50Ms} ms, p99 ${small.addedP99Ms} ms ` +
        `(bare proxy p50 ${round(pct(lat.proxy, 50) - pct(lat.direct, 50))} ms)`,
    );

    const metrics = await (await fetch(metricsUrl)).text();
    const grantLookups: Record<string, number> = {};
    for (const m of metrics.matchAll(/^tds_gateway_grant_lookups_total\{answer="(\w+)"\} (\d+)$/gm)) {
      grantLookups[m[1] ?? ""] = Number(m[2]);
    }
    const result = {
      benchmark: "gateway",
      when: new Date().toISOString(),
      node: process.version,
      policyAtEveryAccess: RULES,
      note: "Gateway (the @tds/gateway process, dashboard-api/gateway/src/main.ts) and S3 on loopback in one environment; direct = signed S3 GET with the AWS SDK; gateway and bare proxy (s3-proxy.ts, own process) = node:http GET with keep-alive. Each gateway GET includes the token check, the grant from the watch cache, the PostgreSQL access claim and, after the stream, the metering transaction and evidence append.",
      grantLookups,
      oneGigabyte:
        process.env.TDS_BENCH_GATEWAY_1GB === "1"
          ? "measured"
          : "skipped (set TDS_BENCH_GATEWAY_1GB=1; ~1 min)",
      throughput,
      smallObjectLatency: small,
    };
    const dir = new URL("./results/", import.meta.url);
    await mkdir(dir, { recursive: true });
    await writeFile(
      new URL(RULES ? "gateway.json" : "gateway-norules.json", dir),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  } finally {
    await server?.stop();
    await proxy?.stop();
    await w.close();
  }
}

await main();
