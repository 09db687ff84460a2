// Evidence export benchmark: the memory a full `GET /export` costs the server,
// streamed (the route) against the in-memory document the route built before
// it streamed. A log of TDS_BENCH_EXPORT_ENTRIES (default 200,000) is loaded
// through the real append path; each way of exporting then runs in a fresh
// child process (its memory is the export's alone): the streamed export is
// served and fetched over HTTP by a reader that discards the bytes (with the
// heap capped at TDS_BENCH_EXPORT_STREAM_HEAP_MB when set). Peak RSS is the
// kernel's high-water mark. Writes test/bench/results/evidence-export.json.
// Run under the harness (make bench).
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import Fastify from "fastify";
import pg from "pg";
import { evidenceRoutes } from "@tds/dashboard-api/evidence-routes";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { benchEntry, inMemoryExportBytes } from "@tds/test/evidence";
import { createTestDatabase } from "@tds/test/database";

const ENTRIES = Number(process.env.TDS_BENCH_EXPORT_ENTRIES ?? 200_000);
const BASELINE = process.env.TDS_BENCH_EXPORT_BASELINE !== "0";
const HEAP_CAP = process.env.TDS_BENCH_EXPORT_STREAM_HEAP_MB;
const STREAM_HEAP_MB = HEAP_CAP ? Number(HEAP_CAP) : undefined;
const BATCH = 5000;
const MB = 1024 * 1024;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

interface Memory {
  seconds: number;
  bytes: number;
  /** The child process after start-up (modules loaded, server listening), before the export. */
  rssBeforeMB: number;
  /** The kernel's high-water mark of the child's resident set (getrusage maxrss). */
  peakRssMB: number;
  peakRssGrowthMB: number;
  /** Sampled every 5 ms; includes garbage not yet collected. */
  peakHeapGrowthMB: number;
  peakExternalGrowthMB: number;
}

const round = (x: number): number => Number((x / MB).toFixed(1));

/** GET url and discard the body; resolves with its length. */
function download(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let n = 0;
      res.on("data", (c: Buffer) => (n += c.length));
      res.on("end", () => {
        resolve(n);
      });
      res.on("error", reject);
    }).on("error", reject);
  });
}

/**
 * In a fresh process, so its memory is the export's alone: serves the route
 * and downloads the streamed export, or builds the in-memory document, while
 * sampling memory. Prints the measurement as JSON.
 */
async function child(mode: string, url: string, space: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const store = new EvidenceStore(pool);
  const app = Fastify();
  await app.register(evidenceRoutes, {
    prefix: "/v1/spaces/:space/evidence",
    store,
    authorize: () => Promise.resolve({ canSeeAllEntries: true as const }),
    authorizeAppend: () => Promise.resolve(false),
  });
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  await store.head(space); // the pool's first connection is not the export's cost
  gc();
  const before = process.memoryUsage();
  let peak = { heap: before.heapUsed, external: before.external + before.arrayBuffers };
  const sample = setInterval(() => {
    const m = process.memoryUsage();
    peak = {
      heap: Math.max(peak.heap, m.heapUsed),
      external: Math.max(peak.external, m.external + m.arrayBuffers),
    };
  }, 5);
  const t = performance.now();
  const bytes =
    mode === "streamed"
      ? await download(`${base}/v1/spaces/${space}/evidence/export`)
      : (await inMemoryExportBytes(store, space)).length;
  const seconds = (performance.now() - t) / 1000;
  clearInterval(sample);
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const m: Memory = {
    seconds: Number(seconds.toFixed(2)),
    bytes,
    rssBeforeMB: round(before.rss),
    peakRssMB: round(peakRss),
    peakRssGrowthMB: round(peakRss - before.rss),
    peakHeapGrowthMB: round(peak.heap - before.heapUsed),
    peakExternalGrowthMB: round(peak.external - (before.external + before.arrayBuffers)),
  };
  await app.close();
  await pool.end();
  console.log(JSON.stringify(m));
}

function measureIn(mode: string, url: string, space: string, heapLimitMB?: number): Memory {
  const r = spawnSync(
    process.execPath,
    [
      ...(heapLimitMB === undefined ? [] : [`--max-old-space-size=${String(heapLimitMB)}`]),
      "--import",
      "tsx",
      fileURLToPath(import.meta.url),
      "--child",
      mode,
      url,
      space,
    ],
    { encoding: "utf8", maxBuffer: 16 * MB },
  );
  if (r.status !== 0) throw new Error(`the ${mode} export failed (${String(r.status)}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as Memory;
}

async function main(): Promise<void> {
  const db = await createTestDatabase("evidence_export_bench", { migrate: true, maxConnections: 60 });
  try {
    const store = new EvidenceStore(db.pool);
    const space = "export";
    const t = performance.now();
    for (let loaded = 0; loaded < ENTRIES; loaded += BATCH) {
      const n = Math.min(BATCH, ENTRIES - loaded);
      await store.append(
        space,
        Array.from({ length: n }, (_, i) => benchEntry(space, loaded + i)),
      );
    }
    const loadSeconds = (performance.now() - t) / 1000;
    // Optionally under a heap cap, to show the streamed export fits in it whatever the log's size.
    const streamed = measureIn("streamed", db.url, space, STREAM_HEAP_MB);
    const inMemory = BASELINE ? measureIn("inMemory", db.url, space) : undefined;
    if (inMemory && inMemory.bytes !== streamed.bytes)
      throw new Error(
        `the exports differ in length: ${streamed.bytes} streamed, ${inMemory.bytes} in memory`,
      );

    const results = {
      benchmark: "evidence-export",
      date: new Date().toISOString(),
      node: process.version,
      entries: ENTRIES,
      loadSeconds: Number(loadSeconds.toFixed(1)),
      exportMB: round(streamed.bytes),
      streamed: {
        ...streamed,
        ...(STREAM_HEAP_MB === undefined ? {} : { maxOldSpaceMB: STREAM_HEAP_MB }),
        MBperSecond: Number((streamed.bytes / MB / streamed.seconds).toFixed(1)),
      },
      ...(inMemory ? { inMemory } : {}),
    };
    await mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await writeFile(
      new URL(`./results/evidence-export.json`, import.meta.url),
      `${JSON.stringify(results, null, 2)}\n`,
    );
    console.log(JSON.stringify(results, null, 2));
  } finally {
    await db.drop();
  }
}

if (process.argv[2] === "--child") {
  await child(process.argv[3] ?? "", process.argv[4] ?? "", process.argv[5] ?? "");
} else {
  await main();
}
