// The catalog's search index against the real PostgreSQL: its answers are
// the scan's (CatalogStore.scanSearch, today's query) for text, prefixes with
// several expansions, filters, facets and every page; it follows publishes,
// updates and withdrawals made through another replica (another pool, so
// another index); and an index rebuilt from scratch answers the same.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import type { CatalogEntry } from "@tds/wire";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { CatalogStore, decodeCursor, type SearchFilters, type SearchPage } from "./store.ts";

const SPACE = "idx";
let db: TestDatabase;
const pools: pg.Pool[] = [];
const replica = (): CatalogStore => {
  const pool = new pg.Pool({ connectionString: db.url, max: 3 });
  pools.push(pool);
  return new CatalogStore(pool);
};

const EN = ["turbine", "turbo", "turbulence", "telemetry", "vibration", "pump", "steel", "grid", "tur"];
const ZH = ["燃气轮机", "振动", "温度", "轮机", "钢铁", "电网", "水泵"];
let seed = 7;
const rnd = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;

function offer(i: number, version = 0): CatalogEntry {
  const zh = i % 2 === 0;
  const words = Array.from({ length: 3 }, () => pick(zh ? ZH : EN));
  return {
    space: SPACE,
    namespace: `ns-${i % 7}`,
    name: `o-${i}`,
    uid: `uid-${i}-${version}`,
    provider: `p${i % 5}`,
    providerName: `Provider ${i % 5}`,
    title: zh ? `${words.join("")}数据` : `${words.join(" ")} data`,
    description: Array.from({ length: 5 }, () => pick([...EN, ...ZH])).join(" "),
    keywords: [pick(EN), pick(ZH)],
    classification: pick(["public", "internal", "important"]),
    dataCategory: pick(["industrial.telemetry", "energy.grid", "mobility.traffic"]),
    regionOfOrigin: pick(["CN-SH", "CN-JS", "DE-BY"]),
    accessMode: rnd() < 0.3 ? "computeOnly" : "download",
    contractApproval: "Automatic",
    purposes: ["research"],
    format: "text/csv",
    contentId: `sha256:${"ab".repeat(32)}`,
    byteSize: 1000,
    objects: 1,
    currency: "CNY",
    price: { perContract: pick(["0", "0.5", "100", "100.000001", "999.99", "1000", "25000"]) },
    // Some offers share a publication time, so the id breaks ties.
    publishedAt: new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 3) * 60_000).toISOString(),
  };
}

const QUERIES: SearchFilters[] = [
  {},
  { q: "turbine" },
  { q: "tur" }, // a prefix of four words: hits rank differently by which they hold
  { q: "turb" },
  { q: "turbine vib" },
  // Broad searches without filters: their facets are kept on every write, and the page walks the id order.
  { q: "pump" },
  { q: "steel grid" },
  { q: "振动" },
  { q: "钢铁 电网" },
  { q: "燃气轮机" },
  { q: "轮" },
  { q: "振动 tur" },
  { q: "nothing-matches-this" },
  { q: " ,, " },
  { category: ["energy.grid"], accessMode: ["download"] },
  { q: "tur", region: ["CN-SH", "DE-BY"], priceMax: "1000" },
  { priceMin: "100.000001", priceMax: "999.99" },
  { provider: ["p1", "p3"], classification: ["internal"] },
  { region: ["CN-SH", "CN-SH", "DE-BY"], accessMode: ["computeOnly"] },
  { q: "data", category: ["no-such-category"] },
  // Few hits: the page sorts them instead of walking the newest-first order.
  { provider: ["p1"], classification: ["internal"], region: ["DE-BY"], accessMode: ["computeOnly"] },
  { q: "tur", provider: ["p2"], classification: ["public"], region: ["CN-JS"] },
];

type Search = (store: CatalogStore, ...args: Parameters<CatalogStore["search"]>) => Promise<SearchPage>;
const viaIndex: Search = (store, ...args) => store.search(...args);
const viaScan: Search = (store, ...args) => store.scanSearch(...args);

/** Every page of a search, 13 at a time. */
async function pages(search: Search, store: CatalogStore, f: SearchFilters) {
  const out = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await search(store, SPACE, f, 13, cursor === undefined ? undefined : decodeCursor(cursor));
    out.push(page);
    cursor = page.next;
    if (cursor === undefined) return out;
  }
  throw new Error("more than 100 pages");
}

async function sameAsScan(store: CatalogStore, label: string): Promise<void> {
  for (const f of QUERIES) {
    const a = await pages(viaIndex, store, f);
    const b = await pages(viaScan, store, f);
    assert.deepEqual(a, b, `${label}: ${JSON.stringify(f)}`);
  }
}

before(async () => {
  db = await createTestDatabase("tds_catalog_index");
  await migrate(db.url);
});
after(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db.drop();
});

test("the index answers as the scan, follows another replica's writes, and rebuilt gives the same", async () => {
  const a = replica();
  const b = replica();
  for (let i = 0; i < 400; i++) await b.upsert(offer(i));
  await sameAsScan(a, "after publishing");
  const turbine = (await a.search(SPACE, { q: "turbine" }, 100)).total;
  assert.ok(turbine > 0);

  // Writes through replica b: updates, withdrawals, re-publications; replica a's index follows.
  for (let i = 0; i < 400; i += 3) await b.upsert(offer(i, 1));
  for (let i = 1; i < 400; i += 4) await b.remove(SPACE, `ns-${i % 7}`, `o-${i}`);
  for (let i = 1; i < 100; i += 8) await b.upsert(offer(i, 2));
  await b.upsert({ ...offer(5000), title: "Zyxwv unique turbine" });
  const unique = await a.search(SPACE, { q: "zyxwv" }, 10);
  assert.deepEqual(
    unique.items.map((o) => o.name),
    ["o-5000"],
  );
  await sameAsScan(a, "after changes through another replica");
  await b.remove(SPACE, "ns-2", "o-5000");
  assert.equal((await a.search(SPACE, { q: "zyxwv" }, 10)).total, 0);

  // Enough withdrawals to compact the index (a quarter of its slots and at least 1000).
  for (let round = 0; round < 4; round++) for (let i = 400; i < 800; i++) await b.upsert(offer(i, round));
  await sameAsScan(a, "after compaction");

  // Rebuilt from scratch (a new replica's index) it gives the same answers as the warm one.
  const fresh = replica();
  for (const f of QUERIES) {
    assert.deepEqual(await pages(viaIndex, fresh, f), await pages(viaIndex, a, f), JSON.stringify(f));
  }
});
