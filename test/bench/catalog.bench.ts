// Catalog search benchmark: loads 100k synthetic offers (Chinese and
// English titles, descriptions and keywords, spread over categories,
// classifications, regions, providers and prices) into a fresh database, then
// times CatalogStore.search (the route's query: filter, rank, keyset page of
// 20, facets, answered from the in-memory index) for English words, Chinese
// words, facets, text plus facets and the second page, against the same
// searches as a scan of catalog_offers (CatalogStore.scanSearch, the search
// before the index) in the same run. The first TDS_BENCH_CATALOG_CHECKED
// queries of each kind are answered both ways and must be equal. Bounded by
// TDS_BENCH_CATALOG_OFFERS, TDS_BENCH_CATALOG_QUERIES and
// TDS_BENCH_CATALOG_SCAN_QUERIES; writes test/bench/results/catalog.json.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { createTestDatabase } from "@tds/test/database";
import {
  CatalogStore,
  decodeCursor,
  type SearchFilters,
  type SearchPage,
} from "../../dashboard-api/src/catalog/store.ts";
import { documentTokens } from "../../dashboard-api/src/catalog/tokens.ts";

const OFFERS = Number(process.env.TDS_BENCH_CATALOG_OFFERS ?? 100_000);
const QUERIES = Number(process.env.TDS_BENCH_CATALOG_QUERIES ?? 300);
const SCAN_QUERIES = Number(process.env.TDS_BENCH_CATALOG_SCAN_QUERIES ?? 50);
const CHECKED = Number(process.env.TDS_BENCH_CATALOG_CHECKED ?? 20);
const SPACE = "bench";
const BATCH = 2000;

const EN = [
  "turbine",
  "telemetry",
  "vibration",
  "maintenance",
  "furnace",
  "steel",
  "grid",
  "battery",
  "logistics",
  "traffic",
  "weather",
  "satellite",
  "pump",
  "compressor",
  "bearing",
  "failure",
  "energy",
  "emission",
  "quality",
  "inspection",
  "robot",
  "welding",
  "paint",
  "supply",
  "demand",
  "forecast",
  "sensor",
  "camera",
];
const ZH = [
  "燃气轮机",
  "振动",
  "温度",
  "维修",
  "故障",
  "钢铁",
  "电网",
  "电池",
  "物流",
  "交通",
  "气象",
  "卫星",
  "水泵",
  "压缩机",
  "轴承",
  "能源",
  "排放",
  "质量",
  "检测",
  "机器人",
  "焊接",
  "供应链",
  "预测",
  "传感器",
];
const CATEGORIES = [
  "industrial.telemetry",
  "industrial.maintenance",
  "energy.grid",
  "mobility.traffic",
  "geospatial.survey",
  "industrial.quality",
];
const CLASSES = ["public", "internal", "important", "core"];
const REGIONS = ["CN-SH", "CN-JS", "CN-HB", "CN-GD", "CN-BJ", "DE-BY"];

let seed = 42;
const rnd = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
const words = (xs: readonly string[], n: number, sep: string) =>
  Array.from({ length: n }, () => pick(xs)).join(sep);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const round = (x: number, d = 2): number => Number(x.toFixed(d));

async function load(pool: pg.Pool): Promise<number> {
  const t = performance.now();
  for (let start = 0; start < OFFERS; start += BATCH) {
    const rows = [];
    for (let i = start; i < Math.min(OFFERS, start + BATCH); i++) {
      const zh = rnd() < 0.5;
      const title = zh ? `${words(ZH, 3, "")}数据 ${i}` : `${words(EN, 3, " ")} data ${i}`;
      const description = zh ? words(ZH, 6, "，") : words(EN, 8, " ");
      const keywords = [pick(EN), pick(ZH), pick(EN)];
      const provider = `p${i % 200}`;
      const accessMode = rnd() < 0.3 ? "computeOnly" : "download";
      const price = rnd() < 0.3 ? "0" : String(Math.floor(rnd() * 5000));
      rows.push({
        name: `o-${i}`,
        provider,
        title,
        description,
        keywords,
        category: pick(CATEGORIES),
        classification: pick(CLASSES),
        region: pick(REGIONS),
        accessMode,
        price,
        publishedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
        search: documentTokens(title, description, keywords.join(" "), provider),
        titleSearch: documentTokens(title),
      });
    }
    await pool.query(
      `insert into catalog_offers (space, namespace, name, uid, provider, provider_name, title, description, keywords,
         classification, data_category, region, access_mode, contract_approval, purposes, format, content_id,
         byte_size, objects, currency, price, list_price, published_at, search, title_search)
       select $1::text, $1::text || '--' || (r->>'provider'), r->>'name', r->>'name', r->>'provider', r->>'provider', r->>'title',
         r->>'description', array(select jsonb_array_elements_text(r->'keywords')), r->>'classification',
         r->>'category', r->>'region', r->>'accessMode', 'Automatic', '{research}', 'text/csv',
         'sha256:' || repeat('ab', 32), 1000, 1, 'CNY', jsonb_build_object('perContract', r->>'price'),
         (r->>'price')::numeric, (r->>'publishedAt')::timestamptz,
         array_to_tsvector(array(select jsonb_array_elements_text(r->'search'))),
         array_to_tsvector(array(select jsonb_array_elements_text(r->'titleSearch')))
       from jsonb_array_elements($2::jsonb) as t(r)`,
      [SPACE, JSON.stringify(rows)],
    );
  }
  await pool.query("analyze catalog_offers");
  return (performance.now() - t) / 1000;
}

async function main(): Promise<void> {
  const db = await createTestDatabase("catalog_bench", { migrate: true, maxConnections: 4 });
  const pool = db.pool;
  try {
    const loadSeconds = await load(pool);
    const store = new CatalogStore(pool);
    const kinds: Record<string, () => { f: SearchFilters; page2?: boolean }> = {
      english: () => ({ f: { q: pick(EN) } }),
      englishTwoWords: () => ({ f: { q: `${pick(EN)} ${pick(EN)}` } }),
      chinese: () => ({ f: { q: pick(ZH) } }),
      facetsOnly: () => ({
        f: { category: [pick(CATEGORIES)], accessMode: ["download"], classification: [pick(CLASSES)] },
      }),
      textAndFacets: () => ({ f: { q: pick(EN), region: [pick(REGIONS)], priceMax: "1000" } }),
      chineseSecondPage: () => ({ f: { q: pick(ZH) }, page2: true }),
      browseSecondPage: () => ({ f: {}, page2: true }),
    };
    // cpu: this process's CPU time per search (user + system), which the other loads on the machine do not
    // inflate the way they do the wall time.
    type Stats = {
      p50Ms: number;
      p99Ms: number;
      maxMs: number;
      cpuP50Ms: number;
      cpuP99Ms: number;
      meanHits: number;
    };
    const results: Record<string, { index: Stats; scan: Stats; p99Ratio: number }> = {};
    const all: number[] = [];
    const allScan: number[] = [];
    let checked = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    await store.search(SPACE, {}, 20); // loads the index
    const indexLoadSeconds = (performance.now() - t0) / 1000;
    // What the index holds on the heap (garbage of the load included: an upper bound).
    const indexHeapMB = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
    const time = async (
      gen: () => { f: SearchFilters; page2?: boolean },
      n: number,
      search: (...args: Parameters<CatalogStore["search"]>) => Promise<SearchPage>,
      sink: number[],
    ): Promise<Stats> => {
      const times: number[] = [];
      const cpu: number[] = [];
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const { f, page2 } = gen();
        let cursor;
        if (page2) {
          const first = await search(SPACE, f, 20);
          cursor = first.next === undefined ? undefined : decodeCursor(first.next);
        }
        const t = performance.now();
        const c = process.cpuUsage();
        const page = await search(SPACE, f, 20, cursor);
        const used = process.cpuUsage(c);
        const ms = performance.now() - t;
        times.push(ms);
        cpu.push((used.user + used.system) / 1000);
        sink.push(ms);
        hits += page.total;
      }
      times.sort((a, b) => a - b);
      cpu.sort((a, b) => a - b);
      return {
        p50Ms: round(percentile(times, 50)),
        p99Ms: round(percentile(times, 99)),
        maxMs: round(times.at(-1) ?? Number.NaN),
        cpuP50Ms: round(percentile(cpu, 50)),
        cpuP99Ms: round(percentile(cpu, 99)),
        meanHits: Math.round(hits / n),
      };
    };
    for (const [kind, gen] of Object.entries(kinds)) {
      // The checked sample: both ways, the first page and the next.
      for (let i = 0; i < CHECKED; i++) {
        const { f } = gen();
        const a = await store.search(SPACE, f, 20);
        const b = await store.scanSearch(SPACE, f, 20);
        assert.deepEqual(a, b, `${kind}: ${JSON.stringify(f)}`);
        if (a.next !== undefined) {
          const c = decodeCursor(a.next);
          assert.deepEqual(await store.search(SPACE, f, 20, c), await store.scanSearch(SPACE, f, 20, c));
        }
        checked++;
      }
      for (let i = 0; i < 5; i++) await store.search(SPACE, gen().f, 20); // warm up
      const index = await time(gen, QUERIES, (...args) => store.search(...args), all);
      const scan = await time(gen, SCAN_QUERIES, (...args) => store.scanSearch(...args), allScan);
      results[kind] = { index, scan, p99Ratio: round(scan.p99Ms / index.p99Ms, 1) };
      console.log(kind, results[kind]);
    }
    allScan.sort((a, b) => a - b);
    all.sort((a, b) => a - b);
    const out = {
      benchmark: "catalog",
      date: new Date().toISOString(),
      node: process.version,
      offers: OFFERS,
      queriesPerKind: QUERIES,
      scanQueriesPerKind: SCAN_QUERIES,
      checkedQueries: checked,
      indexLoadSeconds: round(indexLoadSeconds, 2),
      indexHeapMB: round(indexHeapMB, 0),
      pageSize: 20,
      loadSeconds: round(loadSeconds, 1),
      overall: { p50Ms: round(percentile(all, 50)), p99Ms: round(percentile(all, 99)) },
      loadAverage: os.loadavg().map((x) => round(x, 1)),
      overallScan: { p50Ms: round(percentile(allScan, 50)), p99Ms: round(percentile(allScan, 99)) },
      byKind: results,
    };
    await mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await writeFile(new URL("./results/catalog.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
    console.log(JSON.stringify(out.overall));
  } finally {
    await db.drop();
  }
}

await main();
