// The catalogue's search index: one per API process and space, in memory,
// derived from catalog_offers (docs/performance.md, "Catalogue search").
//
// It holds, per offer, the lexemes of its search and title vectors (inverted:
// lexeme -> offers), its facet values, list price, publication time and id,
// and answers CatalogStore.search with the same results as the full scan of
// catalog_offers (CatalogStore.scanSearch): filter, total, six facet counts
// over every hit, and one keyset page in the same total order.
//
// Fresh across replicas: every write of catalog_offers takes the next version
// of its space (migrations/0020_catalog_versions.sql), and every search reads
// the space's version in the same round trip as its page. When the version is
// not the one the index holds, the index reads what changed since (offers
// with a later version, withdrawals with a later version) in one snapshot and
// the search runs again. Rebuilt from scratch, the index gives the same answers.
//
// Relevance is today's: (1 if the title matches) + ts_rank(search, query), as
// a real. The vectors carry no positions and the rank is not normalised by
// length, so ts_rank depends only on which of the offer's lexemes match the
// query; the index groups the hits by that set and asks PostgreSQL for the
// rank of each group, in the round trip that reads the version.
import type { Pool, PoolClient } from "pg";
import { searchQuery, searchTerms, type SearchTerm } from "./tokens.ts";

/** The facets of a search page, in the order of the page's `facets` object. */
export const FACETS = ["category", "classification", "region", "provider", "accessMode", "price"] as const;
type Facet = (typeof FACETS)[number];

/** An exact non-negative decimal as integer units and millionths (the API's prices have six decimals). */
interface Amount {
  units: number;
  micros: number;
}
const DECIMAL = /^([0-9]{1,15})(?:\.([0-9]{1,6})[0-9]*)?$/;
export function parseAmount(s: string): Amount | undefined {
  const m = DECIMAL.exec(s);
  if (!m) return undefined;
  const frac = m[2] ?? "";
  // numeric(20, 4) prints four decimals; more than six are not an amount the API accepts.
  if (s.includes(".") && s.slice(s.indexOf(".") + 1).length > 6) return undefined;
  return { units: Number(m[1]), micros: Number(frac.padEnd(6, "0")) };
}
const cmpAmount = (a: Amount, b: Amount): number => a.units - b.units || a.micros - b.micros;
function priceBand(a: Amount): string {
  if (a.units === 0 && a.micros === 0) return "free";
  if (a.units < 100 || (a.units === 100 && a.micros === 0)) return "0-100";
  if (a.units < 1000 || (a.units === 1000 && a.micros === 0)) return "100-1000";
  return "1000+";
}

/** A publication time as microseconds since the epoch, from the cursor's text form. */
function micros(text: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/.exec(text);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}Z`) * 1000 + Number((m[2] ?? "").padEnd(6, "0"));
}

export interface IndexFilters {
  q?: string;
  category?: string[];
  classification?: string[];
  region?: string[];
  provider?: string[];
  accessMode?: string[];
  priceMin?: string;
  priceMax?: string;
}

export interface IndexCursor {
  k: string;
  id: string;
}

/** What the index answers: the page's offer ids with their sort keys, the total and the facets. */
export interface IndexPage {
  ids: { id: string; namespace: string; name: string; sortKey: string }[];
  more: boolean;
  total: number;
  facets: Record<Facet, { value: string; count: number }[]>;
}

interface OfferRow {
  namespace: string;
  name: string;
  id: string;
  data_category: string;
  classification: string;
  region: string;
  provider: string;
  access_mode: string;
  list_price: string;
  published: string;
  search: string[];
  title: string[];
}

const OFFER_COLUMNS = `namespace, name, id, data_category, classification, region, provider, access_mode,
  list_price::text as list_price,
  to_char(published_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as published,
  tsvector_to_array(search) as search, tsvector_to_array(title_search) as title`;

/** Interned values of one facet. */
class Values {
  readonly names: string[] = [];
  private readonly codes = new Map<string, number>();
  code(v: string): number {
    let c = this.codes.get(v);
    if (c === undefined) {
      c = this.names.length;
      this.names.push(v);
      this.codes.set(v, c);
    }
    return c;
  }
  find(v: string): number | undefined {
    return this.codes.get(v);
  }
}

/** Lexeme -> the slots of the offers that hold it, with the lexemes sorted for prefix lookups. */
class Postings {
  readonly lists = new Map<string, number[]>();
  private sorted: string[] = [];

  add(lexeme: string, slot: number): void {
    const list = this.lists.get(lexeme);
    if (list) {
      list.push(slot);
      return;
    }
    this.lists.set(lexeme, [slot]);
    this.sorted.splice(this.lowerBound(lexeme), 0, lexeme);
  }

  /** The lexemes a term matches: itself, or every lexeme it is a prefix of. */
  expand(term: SearchTerm): string[] {
    if (!term.prefix) return this.lists.has(term.lexeme) ? [term.lexeme] : [];
    const out: string[] = [];
    for (let i = this.lowerBound(term.lexeme); i < this.sorted.length; i++) {
      const lexeme = this.sorted[i] ?? "";
      if (!lexeme.startsWith(term.lexeme)) break;
      out.push(lexeme);
    }
    return out;
  }

  /** Renumbers slots (-1: gone) and drops lexemes no offer holds any more. */
  remap(map: Int32Array): void {
    for (const [lexeme, list] of this.lists) {
      const kept: number[] = [];
      for (const s of list) {
        const to = map[s] ?? -1;
        if (to >= 0) kept.push(to);
      }
      if (kept.length > 0) this.lists.set(lexeme, kept);
      else this.lists.delete(lexeme);
    }
    this.sorted = [...this.lists.keys()].sort();
  }

  private lowerBound(s: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sorted[mid] ?? "") < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The index of one space's catalogue at one version. */
class SpaceIndex {
  version = "-1";
  /** Bumped whenever slots change, so a search that awaited knows its slots are stale. */
  generation = 0;
  private readonly search = new Postings();
  private readonly title = new Postings();
  private readonly values: Record<Facet, Values> = {
    category: new Values(),
    classification: new Values(),
    region: new Values(),
    provider: new Values(),
    accessMode: new Values(),
    price: new Values(),
  };
  private facetCodes: Record<Facet, number[]> = {
    category: [],
    classification: [],
    region: [],
    provider: [],
    accessMode: [],
    price: [],
  };
  private ids: string[] = [];
  private keys: { namespace: string; name: string }[] = [];
  private prices: Amount[] = [];
  private published: number[] = [];
  private publishedText: string[] = [];
  private alive: boolean[] = [];
  private readonly slotOf = new Map<string, number>();
  private dead = 0;
  private stamp = new Int32Array(0);
  private epoch = 0;

  get size(): number {
    return this.slotOf.size;
  }

  put(r: OfferRow): void {
    this.withdraw(r.id);
    const price = parseAmount(r.list_price) ?? { units: Number.NaN, micros: 0 };
    const slot = this.ids.length;
    this.ids.push(r.id);
    this.keys.push({ namespace: r.namespace, name: r.name });
    this.prices.push(price);
    this.publishedText.push(r.published);
    this.published.push(micros(r.published));
    this.alive.push(true);
    const codes = this.facetCodes;
    codes.category.push(this.values.category.code(r.data_category));
    codes.classification.push(this.values.classification.code(r.classification));
    codes.region.push(this.values.region.code(r.region));
    codes.provider.push(this.values.provider.code(r.provider));
    codes.accessMode.push(this.values.accessMode.code(r.access_mode));
    codes.price.push(this.values.price.code(priceBand(price)));
    for (const l of r.search) this.search.add(l, slot);
    for (const l of r.title) this.title.add(l, slot);
    this.slotOf.set(r.id, slot);
    this.generation++;
  }

  withdraw(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.alive[slot] = false;
    this.slotOf.delete(id);
    this.dead++;
    this.generation++;
  }

  /** Drops withdrawn and replaced slots once they are a quarter of all. */
  compactIfWorthIt(): void {
    if (this.dead < 1000 || this.dead * 4 < this.ids.length) return;
    const map = new Int32Array(this.ids.length).fill(-1);
    let n = 0;
    for (let s = 0; s < this.ids.length; s++) if (this.alive[s]) map[s] = n++;
    const keep = <T>(xs: T[]): T[] => xs.filter((_, s) => this.alive[s]);
    this.ids = keep(this.ids);
    this.keys = keep(this.keys);
    this.prices = keep(this.prices);
    this.published = keep(this.published);
    this.publishedText = keep(this.publishedText);
    for (const f of FACETS) this.facetCodes[f] = keep(this.facetCodes[f]);
    this.alive = this.ids.map(() => true);
    this.slotOf.clear();
    this.ids.forEach((id, s) => this.slotOf.set(id, s));
    this.search.remap(map);
    this.title.remap(map);
    this.dead = 0;
    this.generation++;
  }

  /** A fresh range of stamp values for one intersection. */
  private stamps(count: number): number {
    if (this.stamp.length < this.ids.length) {
      this.stamp = new Int32Array(Math.max(1024, this.ids.length * 2));
      this.epoch = 0;
    }
    if (this.epoch > 2_000_000_000 - count) {
      this.stamp.fill(0);
      this.epoch = 0;
    }
    const base = this.epoch + 1;
    this.epoch += count + 1;
    return base;
  }

  /**
   * The live slots that match every term (each term through any of its
   * expansions). Undefined when some term matches no lexeme.
   */
  private intersect(postings: Postings, expansions: string[][]): number[] {
    const base = this.stamps(expansions.length);
    const hits: number[] = [];
    const last = expansions.length - 1;
    expansions.forEach((lexemes, i) => {
      for (const l of lexemes) {
        for (const s of postings.lists.get(l) ?? []) {
          // A slot's stamp is base + i once it matched terms 0..i.
          if (i === 0 ? this.stamp[s] === base : this.stamp[s] !== base + i - 1) continue;
          this.stamp[s] = base + i;
          if (i === last && this.alive[s]) hits.push(s);
        }
      }
    });
    return hits;
  }

  /**
   * Filters, counts and groups the hits. `rank` gives the sort key of each
   * hit's rank group (computed by the caller from `groups`); it is called
   * synchronously after grouping, so the slots stay valid.
   */
  answer(
    f: IndexFilters,
    limit: number,
    cursor: IndexCursor | undefined,
    ranks: Map<string, string> | undefined,
  ): { page: IndexPage } | { groups: Map<string, { title: boolean; lexemes: string[] }> } | { empty: true } {
    const terms = f.q === undefined ? undefined : searchTerms(f.q);
    if (f.q !== undefined && terms === undefined) return { empty: true };
    const allowed = (facet: Facet, wanted: string[] | undefined): Uint8Array | undefined => {
      if (!wanted || wanted.length === 0) return undefined;
      const set = new Uint8Array(this.values[facet].names.length);
      for (const v of wanted) {
        const c = this.values[facet].find(v);
        if (c !== undefined) set[c] = 1;
      }
      return set;
    };
    const tests: [number[], Uint8Array][] = [];
    for (const [facet, wanted] of [
      ["category", f.category],
      ["classification", f.classification],
      ["region", f.region],
      ["provider", f.provider],
      ["accessMode", f.accessMode],
    ] as const) {
      const set = allowed(facet, wanted);
      if (set) tests.push([this.facetCodes[facet], set]);
    }
    const min = f.priceMin === undefined ? undefined : parseAmount(f.priceMin);
    const max = f.priceMax === undefined ? undefined : parseAmount(f.priceMax);
    if ((f.priceMin !== undefined && !min) || (f.priceMax !== undefined && !max))
      throw new RangeError("price bound is not a decimal amount");

    // Candidates: the text's hits, or every live offer.
    let candidates: number[];
    let titleHits: Set<number> | undefined;
    let multi: { term: number; lexemes: string[] }[] = [];
    let expansions: string[][] = [];
    if (terms) {
      expansions = terms.map((t) => this.search.expand(t));
      if (expansions.some((e) => e.length === 0)) return { empty: true };
      candidates = this.intersect(this.search, expansions);
      const titleExp = terms.map((t) => this.title.expand(t));
      titleHits = new Set(titleExp.some((e) => e.length === 0) ? [] : this.intersect(this.title, titleExp));
      multi = expansions.flatMap((lexemes, term) => (lexemes.length > 1 ? [{ term, lexemes }] : []));
    } else {
      candidates = [];
      for (let s = 0; s < this.ids.length; s++) if (this.alive[s]) candidates.push(s);
    }

    // Filter and count.
    const counts = FACETS.map((facet) => new Array<number>(this.values[facet].names.length).fill(0));
    const codes = FACETS.map((facet) => this.facetCodes[facet]);
    const filtered: number[] = [];
    for (const s of candidates) {
      let ok = true;
      for (const [col, set] of tests) {
        if (set[col[s] ?? 0] !== 1) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      const price = this.prices[s] as Amount;
      if (min && cmpAmount(price, min) < 0) continue;
      if (max && cmpAmount(price, max) > 0) continue;
      filtered.push(s);
      for (let i = 0; i < codes.length; i++) {
        const c = (codes[i] as number[])[s] ?? 0;
        const list = counts[i] as number[];
        list[c] = (list[c] ?? 0) + 1;
      }
    }

    // Rank groups: the hits' title match and the lexemes of theirs that match the query.
    let groupOf: ((s: number) => string) | undefined;
    if (terms) {
      const fixed = expansions.filter((e) => e.length === 1).map((e) => e[0] ?? "");
      const extra = new Map<number, string[]>();
      if (multi.length > 0) {
        const inFiltered = new Set(filtered);
        for (const { lexemes } of multi) {
          for (const l of lexemes) {
            for (const s of this.search.lists.get(l) ?? []) {
              if (!inFiltered.has(s)) continue;
              const xs = extra.get(s);
              if (xs) xs.push(l);
              else extra.set(s, [l]);
            }
          }
        }
      }
      const keyOf = (title: boolean, lexemes: string[]) => `${title ? 1 : 0} ${lexemes.join(" ")}`;
      const fixedSorted = [...new Set(fixed)].sort();
      const plain = [keyOf(false, fixedSorted), keyOf(true, fixedSorted)] as const;
      groupOf = (s: number) => {
        const title = titleHits?.has(s) ?? false;
        const more = extra.get(s);
        return more ? keyOf(title, [...new Set([...fixedSorted, ...more])].sort()) : plain[title ? 1 : 0];
      };
      if (!ranks) {
        const groups = new Map<string, { title: boolean; lexemes: string[] }>();
        for (const s of filtered) {
          const key = groupOf(s);
          if (!groups.has(key)) {
            const [t, ...lexemes] = key.split(" ");
            groups.set(key, { title: t === "1", lexemes });
          }
        }
        if (groups.size > 0) return { groups };
      }
    }

    // One page in the total order: sort key descending, id ascending.
    const rankNum = new Map<string, number>();
    for (const [g, k] of ranks ?? []) rankNum.set(g, Math.fround(Number(k)));
    const keyText = (s: number): string =>
      groupOf ? (ranks?.get(groupOf(s)) ?? "") : (this.publishedText[s] ?? "");
    const keyNum = (s: number): number =>
      groupOf ? (rankNum.get(groupOf(s)) ?? Number.NaN) : (this.published[s] ?? 0);
    const ck = cursor ? (groupOf ? Math.fround(Number(cursor.k)) : micros(cursor.k)) : undefined;
    const before = (ka: number, ia: string, kb: number, ib: string) => ka > kb || (ka === kb && ia < ib);
    const page: { s: number; k: number; id: string }[] = [];
    const want = limit + 1;
    for (const s of filtered) {
      const k = keyNum(s);
      const id = this.ids[s] ?? "";
      if (ck !== undefined && cursor && !(k < ck || (k === ck && id > cursor.id))) continue;
      const worst = page[page.length - 1];
      if (page.length === want && worst && !before(k, id, worst.k, worst.id)) continue;
      let i = page.length;
      while (i > 0 && before(k, id, (page[i - 1] as { k: number }).k, (page[i - 1] as { id: string }).id)) i--;
      page.splice(i, 0, { s, k, id });
      if (page.length > want) page.pop();
    }
    const facets = Object.fromEntries(
      FACETS.map((facet, i) => {
        const list = (counts[i] as number[])
          .map((count, c) => ({ value: this.values[facet].names[c] ?? "", count }))
          .filter((x) => x.count > 0);
        list.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1));
        return [facet, list];
      }),
    ) as IndexPage["facets"];
    return {
      page: {
        ids: page.slice(0, limit).map(({ s, id }) => ({ id, ...(this.keys[s] as { namespace: string; name: string }), sortKey: keyText(s) })),
        more: page.length > limit,
        total: filtered.length,
        facets,
      },
    };
  }
}

const emptyFacets = (): IndexPage["facets"] =>
  Object.fromEntries(FACETS.map((f) => [f, []])) as unknown as IndexPage["facets"];

/** The indexes of one database (one per pool), by space. */
export class CatalogIndex {
  private readonly spaces = new Map<string, SpaceIndex>();
  private readonly catchingUp = new Map<string, Promise<void>>();

  constructor(private readonly pool: Pool) {}

  /**
   * One page of a search, or undefined when the catalogue kept changing
   * under three attempts (the caller then scans). `fetchPage` reads the
   * page's offers and the space's version in one statement.
   */
  async search<T>(
    space: string,
    f: IndexFilters,
    limit: number,
    cursor: IndexCursor | undefined,
    fetchPage: (ids: string[]) => Promise<{ version: string; rows: T[] }>,
  ): Promise<{ page: IndexPage; rows: T[] } | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const index = await this.current(space);
      const generation = index.generation;
      let answer = index.answer(f, limit, cursor, undefined);
      if ("empty" in answer) {
        const version = await this.version(space);
        if (version !== index.version) {
          await this.catchUp(space, version);
          continue;
        }
        return { page: { ids: [], more: false, total: 0, facets: emptyFacets() }, rows: [] };
      }
      if ("groups" in answer) {
        const { version, ranks } = await this.ranks(space, searchQuery(f.q ?? "") ?? "", answer.groups);
        if (version !== index.version) {
          await this.catchUp(space, version);
          continue;
        }
        if (index.generation !== generation) continue;
        answer = index.answer(f, limit, cursor, ranks);
        if (!("page" in answer)) continue;
      }
      const { page } = answer;
      const fetched = await fetchPage(page.ids.map((i) => i.id));
      if (fetched.version !== index.version) {
        await this.catchUp(space, fetched.version);
        continue;
      }
      return { page, rows: fetched.rows };
    }
    return undefined;
  }

  /** The space's index, loaded on first use. */
  private async current(space: string): Promise<SpaceIndex> {
    const index = this.spaces.get(space);
    if (index) return index;
    await this.catchUp(space, undefined);
    return this.spaces.get(space) as SpaceIndex;
  }

  private async version(space: string): Promise<string> {
    const r = await this.pool.query<{ version: string }>(
      "select coalesce((select version from catalog_versions where space = $1), 0)::text as version",
      [space],
    );
    return r.rows[0]?.version ?? "0";
  }

  private async ranks(
    space: string,
    tsquery: string,
    groups: Map<string, { title: boolean; lexemes: string[] }>,
  ): Promise<{ version: string; ranks: Map<string, string> }> {
    const keys = [...groups.keys()];
    const r = await this.pool.query<{ version: string; i: string | null; k: string | null }>(
      `select v.version::text as version, g.i::text as i, g.k
       from (select coalesce((select version from catalog_versions where space = $1), 0) as version) v
       left join lateral (
         select i, ((case when t then 1 else 0 end) + ts_rank(array_to_tsvector(string_to_array(lex, ' ')),
                    $2::tsquery))::real::text as k
         from unnest($3::boolean[], $4::text[]) with ordinality as g(t, lex, i)) g on true`,
      [
        space,
        tsquery,
        keys.map((k) => groups.get(k)?.title ?? false),
        keys.map((k) => groups.get(k)?.lexemes.join(" ") ?? ""),
      ],
    );
    const ranks = new Map<string, string>();
    for (const row of r.rows) if (row.i !== null && row.k !== null) ranks.set(keys[Number(row.i) - 1] ?? "", row.k);
    return { version: r.rows[0]?.version ?? "0", ranks };
  }

  /** Brings the space's index to (at least) `seen`, or loads it; one catch-up per space at a time. */
  private async catchUp(space: string, seen: string | undefined): Promise<void> {
    for (;;) {
      const running = this.catchingUp.get(space);
      if (!running) break;
      await running;
      const index = this.spaces.get(space);
      if (index && seen !== undefined && BigInt(index.version) >= BigInt(seen)) return;
    }
    const run = this.readChanges(space).finally(() => this.catchingUp.delete(space));
    this.catchingUp.set(space, run);
    await run;
  }

  private async readChanges(space: string): Promise<void> {
    const index = this.spaces.get(space);
    const from = index?.version ?? "-1";
    const client: PoolClient = await this.pool.connect();
    try {
      // One snapshot: the version and every change up to it.
      await client.query("begin isolation level repeatable read read only");
      const v = await client.query<{ version: string }>(
        "select coalesce((select version from catalog_versions where space = $1), 0)::text as version",
        [space],
      );
      const version = v.rows[0]?.version ?? "0";
      if (index && version === index.version) {
        await client.query("commit");
        return;
      }
      const offers = await client.query<OfferRow>(
        `select ${OFFER_COLUMNS} from catalog_offers where space = $1 and version > $2::bigint`,
        [space, from],
      );
      const withdrawn = index
        ? await client.query<{ id: string }>(
            `select namespace || '/' || name as id from catalog_withdrawn where space = $1 and version > $2::bigint`,
            [space, from],
          )
        : { rows: [] };
      await client.query("commit");
      const target = index ?? new SpaceIndex();
      for (const w of withdrawn.rows) target.withdraw(w.id);
      for (const o of offers.rows) target.put(o);
      target.compactIfWorthIt();
      target.version = version;
      target.generation++;
      this.spaces.set(space, target);
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

const indexes = new WeakMap<Pool, CatalogIndex>();
/** The process's index of the catalogue in this pool's database. */
export function catalogIndex(pool: Pool): CatalogIndex {
  let index = indexes.get(pool);
  if (!index) {
    index = new CatalogIndex(pool);
    indexes.set(pool, index);
  }
  return index;
}
