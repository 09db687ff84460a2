// The catalog's search index: one per API process and space, in memory,
// derived from catalog_offers (docs/performance.md, "Catalog search").
//
// It holds, per offer, the lexemes of its search and title vectors (inverted:
// lexeme -> offers), its facet values, list price, publication time and id,
// and answers CatalogStore.search with the same results as the full scan of
// catalog_offers (CatalogStore.scanSearch): filter, total, six facet counts
// over every hit, and one keyset page in the same total order.
//
// Fresh across replicas: every write of catalog_offers takes the next version
// of its space (migrations/0000000000020_catalog_versions.sql), and every search reads
// the space's version in the same round trip as its page. When the version is
// not the one the index holds, the index reads what changed since (offers
// with a later version, withdrawals with a later version) in one snapshot and
// the search runs again. Rebuilt from scratch, the index gives the same answers.
//
// Relevance is today's: (1 if the title matches) + ts_rank(search, query), as
// a real. The vectors carry no positions and the rank is not normalised by
// length, so ts_rank depends only on which of the offer's lexemes match the
// query; the index groups the hits by that set and asks PostgreSQL for the
// rank of each group it has not asked about before (a memo: the rank of a
// group never changes). So a search takes one round trip (the page and the
// version), and two when a group's rank is new.
//
// Broad text searches without filters visit none of their hits: the total
// and facets of every lexeme held by at least a 64th of the offers, and of
// every broad lexeme set searched since, are kept on put and withdraw
// (LexemeFacets), and the page walks the id order until it has picked its
// rows. Facet filters start from the offers of the filter's values.
import type { Pool, PoolClient } from "pg";
import { searchQuery, searchTerms, type SearchTerm } from "./tokens.ts";

/** The facets of a search page, in the order of the page's `facets` object. */
export const FACETS = ["category", "classification", "region", "provider", "accessMode", "price"] as const;
type Facet = (typeof FACETS)[number];
const perFacet = <T>(make: (facet: Facet) => T): Record<Facet, T> =>
  Object.fromEntries(FACETS.map((f) => [f, make(f)])) as Record<Facet, T>;

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

export interface SearchFilters {
  q?: string;
  category?: string[];
  classification?: string[];
  region?: string[];
  provider?: string[];
  accessMode?: string[];
  /** Inclusive bounds on the list price (the per-contract amount), exact decimals. */
  priceMin?: string;
  priceMax?: string;
}

/** A keyset position: the sort key of the last row (its rank, text of a real, or its publication time) and its id. */
export interface Cursor {
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

/** Merges two sorted arrays. */
function mergeSorted<T>(a: T[], b: T[], cmp: (x: T, y: T) => number): T[] {
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length)
    out.push(cmp(a[i] as T, b[j] as T) <= 0 ? (a[i++] as T) : (b[j++] as T));
  while (i < a.length) out.push(a[i++] as T);
  while (j < b.length) out.push(b[j++] as T);
  return out;
}

/** Slots kept in one total order, with slots added since merged in on use. */
class Order {
  slots: number[] = [];
  private pending: number[] = [];
  /** Each slot's position in the order (stale when `positioned` is not `changes`). */
  private positions = new Int32Array(0);
  private changes = 0;
  private positioned = -1;
  constructor(private readonly cmp: (a: number, b: number) => number) {}
  add(slot: number): void {
    this.pending.push(slot);
  }
  settled(): number[] {
    if (this.pending.length > 0) {
      this.slots = mergeSorted(this.slots, this.pending.sort(this.cmp), this.cmp);
      this.pending = [];
      this.changes++;
    }
    return this.slots;
  }
  /** Each slot's position in the order: comparing two is comparing their positions. */
  position(): Int32Array {
    const xs = this.settled();
    if (this.positioned !== this.changes) {
      if (this.positions.length < xs.length) this.positions = new Int32Array(xs.length * 2);
      for (let i = 0; i < xs.length; i++) this.positions[xs[i] as number] = i;
      this.positioned = this.changes;
    }
    return this.positions;
  }
  /** The first position whose slot is not before the probe (a slot or a comparison with the probe). */
  lowerBound(before: (slot: number) => boolean): number {
    const xs = this.settled();
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(xs[mid] as number)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  remap(map: Int32Array): void {
    const kept: number[] = [];
    for (const s of this.settled()) {
      const to = map[s] as number;
      if (to >= 0) kept.push(to);
    }
    this.slots = kept;
    this.changes++;
  }
}

/** Lexeme -> the slots of the offers that hold it, with the lexemes sorted for prefix lookups. */
class Postings {
  readonly lists = new Map<string, number[]>();
  private sorted: string[] = [];
  /** Lexemes added since `sorted` was last brought up to date. */
  private pending: string[] = [];

  add(lexeme: string, slot: number): void {
    const list = this.lists.get(lexeme);
    if (list) {
      list.push(slot);
      return;
    }
    this.lists.set(lexeme, [slot]);
    this.pending.push(lexeme);
  }

  private settle(): void {
    if (this.pending.length === 0) return;
    this.sorted = mergeSorted(this.sorted, this.pending.sort(), (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.pending = [];
  }

  /** The lexemes a term matches: itself, or every lexeme it is a prefix of. */
  expand(term: SearchTerm): string[] {
    if (!term.prefix) return this.lists.has(term.lexeme) ? [term.lexeme] : [];
    this.settle();
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
    this.pending = [];
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

/** A growable column of numbers, one per slot. */
class Column<A extends Int32Array | Float64Array> {
  n = 0;
  constructor(
    public a: A,
    private readonly make: (length: number) => A,
  ) {}
  push(v: number): void {
    if (this.n === this.a.length) {
      const bigger = this.make(this.a.length * 2);
      bigger.set(this.a);
      this.a = bigger;
    }
    this.a[this.n++] = v;
  }
  /** Keeps the values of the slots `map` sends somewhere, in slot order. */
  remap(map: Int32Array): void {
    const out = this.make(Math.max(1024, this.n));
    let n = 0;
    for (let s = 0; s < this.n; s++) if ((map[s] as number) >= 0) out[n++] = this.a[s] as number;
    this.a = out;
    this.n = n;
  }
}
const ints = () => new Column(new Int32Array(1024), (n) => new Int32Array(n));
const floats = () => new Column(new Float64Array(1024), (n) => new Float64Array(n));

/**
 * Marks on slots that need no clearing: each use takes a fresh range of
 * values, so a mark left by an earlier use never equals one of this use.
 */
class Stamps {
  marks = new Int32Array(0);
  private epoch = 0;
  /** The first of `count` fresh values, with room for `slots` slots. */
  fresh(count: number, slots: number): number {
    if (this.marks.length < slots) {
      this.marks = new Int32Array(Math.max(1024, slots * 2));
      this.epoch = 0;
    }
    if (this.epoch > 2_000_000_000 - count) {
      this.marks.fill(0);
      this.epoch = 0;
    }
    const base = this.epoch + 1;
    this.epoch += count + 1;
    return base;
  }
}

/** Live offers per facet value (indexed by the facet's value codes). */
type Counts = Record<Facet, number[]>;

/** Whether a sorted list of slots holds a slot (binary search). */
function holds(list: readonly number[], slot: number): boolean {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as number) < slot) lo = mid + 1;
    else hi = mid;
  }
  return list[lo] === slot;
}

/**
 * The total and facet counts of the live offers that hold every lexeme of a
 * set: the answer of a text search without filters, without visiting its
 * hits. Kept on put and withdraw for every set it holds: every single lexeme
 * held by at least a 64th of the offers (counted when the index is built),
 * and the sets of the broad searches asked since (counted on first use).
 */
class LexemeFacets {
  private readonly sets = new Map<string, { lexemes: string[]; total: number; counts: Counts }>();
  /** The sets by their first lexeme: the ones an offer can add to. */
  private readonly byFirst = new Map<string, { lexemes: string[]; total: number; counts: Counts }[]>();
  /** How many sets were added on use (bounded: past 4096 they are all dropped). */
  private asked = 0;

  get(lexemes: readonly string[]): { total: number; counts: Counts } | undefined {
    return this.sets.get(lexemes.join(" "));
  }

  /** Holds a set from now on, with its counts (`asked`: added by a search, not by the build). */
  add(lexemes: string[], total: number, counts: Counts, asked: boolean): void {
    const key = lexemes.join(" ");
    if (this.sets.has(key) || lexemes.length === 0) return;
    if (asked && ++this.asked > 4096) this.dropAsked();
    const entry = { lexemes, total, counts };
    this.sets.set(key, entry);
    const first = lexemes[0] ?? "";
    const list = this.byFirst.get(first);
    if (list) list.push(entry);
    else this.byFirst.set(first, [entry]);
  }

  private dropAsked(): void {
    for (const [key, e] of this.sets) {
      if (e.lexemes.length > 1) this.sets.delete(key);
    }
    for (const [first, list] of this.byFirst) {
      const kept = list.filter((e) => e.lexemes.length === 1);
      if (kept.length > 0) this.byFirst.set(first, kept);
      else this.byFirst.delete(first);
    }
    this.asked = 0;
  }

  get size(): number {
    return this.sets.size;
  }

  /**
   * An offer with these facet codes became live (by 1) or was withdrawn (by
   * -1); `has` tells its lexemes, `lexemes` lists them (undefined: ask `has`
   * about every set's).
   */
  count(
    has: (lexeme: string) => boolean,
    lexemes: Iterable<string> | undefined,
    codes: Record<Facet, number>,
    by: number,
  ): void {
    for (const l of lexemes ?? this.byFirst.keys()) {
      for (const e of this.byFirst.get(l) ?? []) {
        if (!e.lexemes.every(has)) continue;
        e.total += by;
        for (const facet of FACETS) {
          const list = e.counts[facet];
          const code = codes[facet];
          while (list.length <= code) list.push(0);
          list[code] = (list[code] ?? 0) + by;
        }
      }
    }
  }

  clear(): void {
    this.sets.clear();
    this.byFirst.clear();
    this.asked = 0;
  }
}

/** The hits of a search, filtered and counted, grouped by rank (before the ranks are known). */
export interface Match {
  generation: number;
  /** The filtered hits' slots, and each one's rank group (an index into `groups`; 0 without text). */
  hits: Int32Array;
  groupOfHit: Int32Array;
  groups: { title: boolean; lexemes: string[] }[];
  ranked: boolean;
  /** Every live offer (no text, no filter): `hits` is left empty and the page walks the offers. */
  all: boolean;
  /**
   * A broad text search without filters (hits left empty): the page stamps
   * the hits of these expansions again and walks the id order; `sizes` are
   * its two groups' (without and with a title match).
   */
  dense?: { expansions: string[][]; titleExpansions: string[][] | undefined; sizes: Int32Array };
  total: number;
  facets: IndexPage["facets"];
}

/** The index of one space's catalog at one version. */
class SpaceIndex {
  version = "-1";
  /** Bumped whenever slots change, so a search that awaited knows its slots are stale. */
  generation = 0;
  private readonly search = new Postings();
  private readonly title = new Postings();
  private readonly values = perFacet(() => new Values());
  private readonly codes = perFacet(ints);
  /** Live offers per facet value, kept on put and withdraw: the facets of a search without filters. */
  private readonly totals = perFacet((): number[] => []);
  /** The facets of broad text searches without filters, kept on put and withdraw. */
  private readonly lexemeFacets = new LexemeFacets();
  /** Slots by the value of each facet (live and dead, ascending): the candidates of a facet filter. */
  private valueSlots = perFacet((): number[][] => []);
  private readonly units = floats();
  private readonly micros = ints();
  private readonly published = floats();
  private readonly aliveCol = ints();
  private ids: string[] = [];
  private keys: { namespace: string; name: string }[] = [];
  private publishedText: string[] = [];
  private readonly slotOf = new Map<string, number>();
  private dead = 0;
  /**
   * Marks of the terms an offer matched so far (intersections of the search
   * and of the title lexemes), and of a page's hits and their group.
   */
  private readonly matched = new Stamps();
  private readonly titleMatched = new Stamps();
  private readonly picked = new Stamps();
  private readonly cmpId = (a: number, b: number): number => {
    const x = this.ids[a] ?? "";
    const y = this.ids[b] ?? "";
    return x < y ? -1 : x > y ? 1 : 0;
  };
  /** Live and dead slots by id, and newest first (ties by id): the two orders of a page. */
  private readonly byId = new Order(this.cmpId);
  private readonly byPublished = new Order(
    (a, b) => (this.published.a[b] as number) - (this.published.a[a] as number) || this.cmpId(a, b),
  );

  put(r: OfferRow): void {
    this.withdraw(r.id);
    const price = parseAmount(r.list_price) ?? { units: Number.NaN, micros: 0 };
    const slot = this.ids.length;
    this.ids.push(r.id);
    this.keys.push({ namespace: r.namespace, name: r.name });
    this.publishedText.push(r.published);
    this.published.push(micros(r.published));
    this.units.push(price.units);
    this.micros.push(price.micros);
    this.aliveCol.push(1);
    this.codes.category.push(this.values.category.code(r.data_category));
    this.codes.classification.push(this.values.classification.code(r.classification));
    this.codes.region.push(this.values.region.code(r.region));
    this.codes.provider.push(this.values.provider.code(r.provider));
    this.codes.accessMode.push(this.values.accessMode.code(r.access_mode));
    this.codes.price.push(this.values.price.code(priceBand(price)));
    this.count(slot, 1);
    for (const l of r.search) this.search.add(l, slot);
    for (const l of r.title) this.title.add(l, slot);
    if (this.lexemeFacets.size > 0) {
      const lexemes = new Set(r.search);
      this.lexemeFacets.count((l) => lexemes.has(l), lexemes, this.codesOf(slot), 1);
    }
    for (const facet of FACETS) {
      const bySlot = this.valueSlots[facet];
      const code = this.codes[facet].a[slot] as number;
      while (bySlot.length <= code) bySlot.push([]);
      bySlot[code]?.push(slot);
    }
    this.slotOf.set(r.id, slot);
    this.byId.add(slot);
    this.byPublished.add(slot);
    this.generation++;
  }

  withdraw(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.aliveCol.a[slot] = 0;
    this.count(slot, -1);
    if (this.lexemeFacets.size > 0)
      this.lexemeFacets.count(
        (l) => holds(this.search.lists.get(l) ?? [], slot),
        undefined,
        this.codesOf(slot),
        -1,
      );
    this.slotOf.delete(id);
    this.dead++;
    this.generation++;
  }

  private codesOf(slot: number): Record<Facet, number> {
    return perFacet((facet) => this.codes[facet].a[slot] as number);
  }

  /** Counts, ahead of searches, the facets of every lexeme held by at least a 64th of the offers. */
  countBroadLexemes(): void {
    const broad = this.broad();
    for (const [lexeme, list] of this.search.lists) {
      if (list.length < broad || this.lexemeFacets.get([lexeme])) continue;
      const counts = perFacet((): number[] => []);
      let total = 0;
      const alive = this.aliveCol.a;
      for (const s of list) {
        if (alive[s] !== 1) continue;
        total++;
        for (const facet of FACETS) {
          const code = this.codes[facet].a[s] as number;
          const c = counts[facet];
          while (c.length <= code) c.push(0);
          c[code] = (c[code] ?? 0) + 1;
        }
      }
      this.lexemeFacets.add([lexeme], total, counts, false);
    }
  }

  private count(slot: number, by: number): void {
    for (const facet of FACETS) {
      const code = this.codes[facet].a[slot] as number;
      const list = this.totals[facet];
      while (list.length <= code) list.push(0);
      list[code] = (list[code] ?? 0) + by;
    }
  }

  /** Drops withdrawn and replaced slots once they are a quarter of all. */
  compactIfWorthIt(): void {
    if (this.dead < 1000 || this.dead * 4 < this.ids.length) return;
    const alive = this.aliveCol.a;
    const map = new Int32Array(this.ids.length).fill(-1);
    let n = 0;
    for (let s = 0; s < this.ids.length; s++) if (alive[s] === 1) map[s] = n++;
    const keep = <T>(xs: T[]): T[] => xs.filter((_, s) => (map[s] as number) >= 0);
    this.ids = keep(this.ids);
    this.keys = keep(this.keys);
    this.publishedText = keep(this.publishedText);
    for (const c of [...Object.values(this.codes), this.units, this.micros, this.published, this.aliveCol])
      c.remap(map);
    this.slotOf.clear();
    this.ids.forEach((id, s) => this.slotOf.set(id, s));
    this.search.remap(map);
    this.title.remap(map);
    this.byId.remap(map);
    this.byPublished.remap(map);
    for (const facet of FACETS) {
      this.valueSlots[facet] = this.valueSlots[facet].map((list) => {
        const kept: number[] = [];
        for (const slot of list) if ((map[slot] as number) >= 0) kept.push(map[slot] as number);
        return kept;
      });
    }
    this.dead = 0;
    this.generation++;
  }

  /**
   * Stamps the slots that match every term (each term through any of its
   * expansions) with the returned value; returns them (live ones only) when
   * `collect`.
   */
  private intersect(
    postings: Postings,
    expansions: string[][],
    collect: boolean,
    stamps: Stamps,
  ): { target: number; hits: number[] } {
    const base = stamps.fresh(expansions.length, this.ids.length);
    const hits: number[] = [];
    const last = expansions.length - 1;
    const stamp = stamps.marks;
    const alive = this.aliveCol.a;
    expansions.forEach((lexemes, i) => {
      for (const l of lexemes) {
        const list = postings.lists.get(l) ?? [];
        for (let j = 0; j < list.length; j++) {
          const s = list[j] as number;
          // A slot's stamp is base + i once it matched terms 0..i.
          if (i === 0 ? stamp[s] === base : stamp[s] !== base + i - 1) continue;
          stamp[s] = base + i;
          if (collect && i === last && alive[s] === 1) hits.push(s);
        }
      }
    });
    return { target: base + last, hits };
  }

  /** The search's filtered hits, their facet counts and rank groups. Undefined: no hit. */
  match(f: SearchFilters): Match | undefined {
    const terms = f.q === undefined ? undefined : searchTerms(f.q);
    if (f.q !== undefined && terms === undefined) return undefined;
    const allowed = (facet: Facet, wanted: string[] | undefined): Uint8Array | undefined => {
      if (!wanted || wanted.length === 0) return undefined;
      const set = new Uint8Array(this.values[facet].names.length);
      for (const v of wanted) {
        const c = this.values[facet].find(v);
        if (c !== undefined) set[c] = 1;
      }
      return set;
    };
    const min = f.priceMin === undefined ? undefined : parseAmount(f.priceMin);
    const max = f.priceMax === undefined ? undefined : parseAmount(f.priceMax);
    if ((f.priceMin !== undefined && !min) || (f.priceMax !== undefined && !max))
      throw new RangeError("price bound is not a decimal amount");

    const unfiltered =
      [f.category, f.classification, f.region, f.provider, f.accessMode].every((v) => !v || v.length === 0) &&
      !min &&
      !max;

    // Candidates: the text's hits, the offers with one of a filter's values, or every slot (dead ones are
    // skipped below).
    let candidates: number[] | undefined;
    let expansions: string[][] = [];
    let titleExpansions: string[][] | undefined;
    let titleTarget = -1;
    /** The lexemes of a text search without filters whose terms each match one lexeme (else empty). */
    let lexemes: string[] = [];
    if (terms) {
      expansions = terms.map((t) => this.search.expand(t));
      if (expansions.some((e) => e.length === 0)) return undefined;
      const titleExp = terms.map((t) => this.title.expand(t));
      if (!titleExp.some((e) => e.length === 0)) titleExpansions = titleExp;
      if (unfiltered && expansions.every((e) => e.length === 1))
        lexemes = [...new Set(expansions.map((e) => e[0] ?? ""))].sort();
      const known = this.lexemeFacets.get(lexemes);
      if (known) {
        const broad = this.broadSearch(known, expansions, titleExpansions, lexemes);
        if (broad) return broad;
      }
      candidates = this.intersect(this.search, expansions, true, this.matched).hits;
      if (titleExpansions)
        titleTarget = this.intersect(this.title, titleExpansions, false, this.titleMatched).target;
    } else {
      // The filter whose values hold the fewest offers gives the candidates.
      const filters: [Facet, string[] | undefined][] = [
        ["category", f.category],
        ["classification", f.classification],
        ["region", f.region],
        ["provider", f.provider],
        ["accessMode", f.accessMode],
      ];
      for (const [facet, wanted] of filters) {
        if (!wanted || wanted.length === 0) continue;
        const lists = [...new Set(wanted)].map((v) => {
          const code = this.values[facet].find(v);
          return code === undefined ? [] : (this.valueSlots[facet][code] ?? []);
        });
        const size = lists.reduce((n, l) => n + l.length, 0);
        if (!candidates || size < candidates.length)
          candidates = lists.length === 1 ? lists[0] : lists.flat();
      }
    }

    if (!terms && unfiltered) {
      return {
        generation: this.generation,
        hits: new Int32Array(0),
        groupOfHit: new Int32Array(0),
        groups: [],
        ranked: false,
        all: true,
        total: this.slotOf.size,
        facets: this.facetsOf(this.totals),
      };
    }

    // Filter and count.
    const fCat = allowed("category", f.category);
    const fCls = allowed("classification", f.classification);
    const fReg = allowed("region", f.region);
    const fPro = allowed("provider", f.provider);
    const fMod = allowed("accessMode", f.accessMode);
    const cat = this.codes.category.a;
    const cls = this.codes.classification.a;
    const reg = this.codes.region.a;
    const pro = this.codes.provider.a;
    const mod = this.codes.accessMode.a;
    const band = this.codes.price.a;
    const nCat = new Int32Array(this.values.category.names.length);
    const nCls = new Int32Array(this.values.classification.names.length);
    const nReg = new Int32Array(this.values.region.names.length);
    const nPro = new Int32Array(this.values.provider.names.length);
    const nMod = new Int32Array(this.values.accessMode.names.length);
    const nBand = new Int32Array(this.values.price.names.length);
    const units = this.units.a;
    const mic = this.micros.a;
    const alive = this.aliveCol.a;
    const stamp = this.titleMatched.marks;
    const count = candidates ? candidates.length : this.ids.length;
    // Plain arrays grown as hits are found: a selective filter over many offers allocates little.
    const hitList: number[] = [];
    const titleList: number[] = [];
    for (let j = 0; j < count; j++) {
      const s = candidates ? (candidates[j] as number) : j;
      if (alive[s] !== 1) continue;
      const c = cat[s] as number;
      const l = cls[s] as number;
      const r = reg[s] as number;
      const p = pro[s] as number;
      const m = mod[s] as number;
      if (fCat && fCat[c] !== 1) continue;
      if (fCls && fCls[l] !== 1) continue;
      if (fReg && fReg[r] !== 1) continue;
      if (fPro && fPro[p] !== 1) continue;
      if (fMod && fMod[m] !== 1) continue;
      const u = units[s] as number;
      if (min && (u < min.units || (u === min.units && (mic[s] as number) < min.micros))) continue;
      if (max && (u > max.units || (u === max.units && (mic[s] as number) > max.micros))) continue;
      (nCat[c] as number)++;
      (nCls[l] as number)++;
      (nReg[r] as number)++;
      (nPro[p] as number)++;
      (nMod[m] as number)++;
      (nBand[band[s] as number] as number)++;
      hitList.push(s);
      if (terms) titleList.push(stamp[s] === titleTarget ? 1 : 0);
    }
    const counted = {
      category: nCat,
      classification: nCls,
      region: nReg,
      provider: nPro,
      accessMode: nMod,
      price: nBand,
    };
    const match: Match = {
      generation: this.generation,
      hits: Int32Array.from(hitList),
      groupOfHit: Int32Array.from(titleList),
      groups: [],
      ranked: terms !== undefined,
      all: false,
      total: hitList.length,
      facets: this.facetsOf(counted),
    };
    if (terms) this.group(match, expansions);
    // A broad search's facets are kept from now on.
    if (lexemes.length > 0 && match.total >= this.broad())
      this.lexemeFacets.add(
        lexemes,
        match.total,
        perFacet((facet) => Array.from(counted[facet])),
        true,
      );
    return match;
  }

  private facetsOf(counts: Record<Facet, ArrayLike<number>>): IndexPage["facets"] {
    return perFacet((facet) => {
      const list: { value: string; count: number }[] = [];
      const c = counts[facet];
      for (let i = 0; i < c.length; i++) {
        const n = c[i] ?? 0;
        if (n > 0) list.push({ value: this.values[facet].names[i] ?? "", count: n });
      }
      return list.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1));
    });
  }

  /** How many hits make a search broad: a 64th of the offers (at least 32). */
  private broad(): number {
    return Math.max(32, Math.ceil(this.slotOf.size / 64));
  }

  /**
   * A text search without filters whose facets are kept: the total and facets
   * come from `known`, and the page walks the id order picking out the hits
   * (the Match's `dense`), so no hit is visited. Undefined when the title and
   * other hits are not both broad or absent (the page would sort them).
   */
  private broadSearch(
    known: { total: number; counts: Counts },
    expansions: string[][],
    titleExpansions: string[][] | undefined,
    lexemes: string[],
  ): Match | undefined {
    let titleHits = 0;
    if (titleExpansions) {
      const target = this.intersect(this.search, expansions, false, this.matched).target;
      const marks = this.matched.marks;
      for (const s of this.intersect(this.title, titleExpansions, true, this.titleMatched).hits)
        if (marks[s] === target) titleHits++;
    }
    const sizes = Int32Array.of(known.total - titleHits, titleHits);
    const broad = this.broad();
    if (sizes.some((n) => n > 0 && n < broad)) return undefined;
    return {
      generation: this.generation,
      hits: new Int32Array(0),
      groupOfHit: new Int32Array(0),
      groups: [
        { title: false, lexemes },
        { title: true, lexemes },
      ],
      ranked: true,
      all: false,
      dense: { expansions, titleExpansions, sizes },
      total: known.total,
      facets: this.facetsOf(known.counts),
    };
  }

  /**
   * Rank groups: a hit's rank depends on its title match and on the set of
   * its lexemes that match the query. Terms with one expansion contribute the
   * same lexeme to every hit; a prefix with several adds the ones each hit holds.
   */
  private group(match: Match, expansions: string[][]): void {
    const fixed = [...new Set(expansions.filter((e) => e.length === 1).map((e) => e[0] ?? ""))];
    const several = expansions.filter((e) => e.length > 1).flat();
    match.groups = [
      { title: false, lexemes: [...fixed].sort() },
      { title: true, lexemes: [...fixed].sort() },
    ];
    if (several.length === 0) return;
    const index = new Map<number, number>();
    match.hits.forEach((s, i) => index.set(s, i));
    const extra = new Map<number, string[]>();
    for (const l of several) {
      for (const s of this.search.lists.get(l) ?? []) {
        const i = index.get(s);
        if (i === undefined) continue;
        const xs = extra.get(i);
        if (xs) xs.push(l);
        else extra.set(i, [l]);
      }
    }
    const groupIds = new Map<string, number>();
    for (const [i, more] of extra) {
      const title = match.groupOfHit[i] === 1;
      const lexemes = [...new Set([...fixed, ...more])].sort();
      const key = `${title ? 1 : 0} ${lexemes.join(" ")}`;
      let g = groupIds.get(key);
      if (g === undefined) {
        g = match.groups.length;
        match.groups.push({ title, lexemes });
        groupIds.set(key, g);
      }
      match.groupOfHit[i] = g;
    }
  }

  /** One page of a match in the total order (sort key descending, id ascending), after the cursor. */
  page(match: Match, ranks: string[], limit: number, cursor: Cursor | undefined): IndexPage {
    const want = limit + 1;
    const hits = match.hits;
    const groups = match.ranked ? match.groups.length : 1;
    // Stamp the hits with their group, so an order can be walked and its hits picked out.
    let groupOf: (s: number) => number;
    let sizes: Int32Array;
    if (match.dense) {
      const { expansions, titleExpansions } = match.dense;
      const target = this.intersect(this.search, expansions, false, this.matched).target;
      const titleTarget = titleExpansions
        ? this.intersect(this.title, titleExpansions, false, this.titleMatched).target
        : -1;
      const marks = this.matched.marks;
      const titleMarks = this.titleMatched.marks;
      const alive = this.aliveCol.a;
      groupOf = (s) => (alive[s] === 1 && marks[s] === target ? (titleMarks[s] === titleTarget ? 1 : 0) : -1);
      sizes = match.dense.sizes;
    } else {
      const base = this.picked.fresh(groups, this.ids.length);
      const hitStamp = this.picked.marks;
      sizes = new Int32Array(groups);
      for (let i = 0; i < hits.length; i++) {
        const g = match.ranked ? (match.groupOfHit[i] as number) : 0;
        hitStamp[hits[i] as number] = base + g;
        (sizes[g] as number)++;
      }
      groupOf = (s) => {
        const g = (hitStamp[s] as number) - base;
        return g >= 0 && g < groups ? g : -1;
      };
    }
    const picked: { s: number; key: string }[] = [];
    const cursorId = cursor?.id;
    /**
     * Takes, in id order, up to `want` of the hits whose group is in `inBucket`
     * (`count` of them), with ids after `after` when given: walking the id order
     * when they are dense, sorting them when they are few.
     */
    const takeById = (
      count: number,
      inBucket: (g: number) => boolean,
      after: string | undefined,
      key: string,
    ) => {
      const slots: number[] = [];
      const room = want - picked.length;
      if (!match.dense && count * 64 < this.ids.length) {
        for (let i = 0; i < hits.length; i++) {
          const s = hits[i] as number;
          if (inBucket(groupOf(s)) && (after === undefined || (this.ids[s] ?? "") > after)) slots.push(s);
        }
        const position = this.byId.position();
        slots.sort((a, b) => (position[a] as number) - (position[b] as number));
        slots.length = Math.min(slots.length, room);
      } else {
        const order = this.byId.settled();
        const from = after === undefined ? 0 : this.byId.lowerBound((x) => (this.ids[x] ?? "") <= after);
        for (let i = from; i < order.length && slots.length < room; i++) {
          const s = order[i] as number;
          const g = groupOf(s);
          if (g >= 0 && inBucket(g)) slots.push(s);
        }
      }
      for (const s of slots) picked.push({ s, key: key || (this.publishedText[s] ?? "") });
    };
    if (match.ranked) {
      // Groups by rank value, highest first; groups of equal rank tie and go by id together.
      const value = ranks.map((k) => Math.fround(Number(k)));
      const ck = cursor ? Math.fround(Number(cursor.k)) : undefined;
      const buckets = new Map<number, number[]>();
      for (let g = 0; g < groups; g++) {
        const v = value[g] ?? Number.NaN;
        if ((sizes[g] as number) === 0 || Number.isNaN(v)) continue;
        if (ck !== undefined && !(v <= ck)) continue;
        const b = buckets.get(v);
        if (b) b.push(g);
        else buckets.set(v, [g]);
      }
      for (const v of [...buckets.keys()].sort((a, b) => b - a)) {
        if (picked.length >= want) break;
        const members = buckets.get(v) ?? [];
        const inBucket = new Uint8Array(groups);
        let count = 0;
        for (const g of members) {
          inBucket[g] = 1;
          count += sizes[g] as number;
        }
        takeById(
          count,
          (g) => inBucket[g] === 1,
          v === ck ? cursorId : undefined,
          ranks[members[0] ?? 0] ?? "",
        );
      }
    } else if (!match.all && hits.length * 64 < this.ids.length) {
      const published = this.published.a;
      const ck = cursor ? micros(cursor.k) : undefined;
      const slots = Array.from(hits).filter(
        (s) =>
          ck === undefined ||
          (published[s] as number) < ck ||
          ((published[s] as number) === ck && (this.ids[s] ?? "") > (cursorId ?? "")),
      );
      const position = this.byId.position();
      slots.sort(
        (a, b) =>
          (published[b] as number) - (published[a] as number) ||
          (position[a] as number) - (position[b] as number),
      );
      for (const s of slots.slice(0, want)) picked.push({ s, key: this.publishedText[s] ?? "" });
    } else {
      const published = this.published.a;
      const ck = cursor ? micros(cursor.k) : undefined;
      const order = this.byPublished.settled();
      const from =
        ck === undefined
          ? 0
          : Number.isNaN(ck)
            ? order.length
            : this.byPublished.lowerBound(
                (x) =>
                  (published[x] as number) > ck ||
                  ((published[x] as number) === ck && (this.ids[x] ?? "") <= (cursorId ?? "")),
              );
      const alive = this.aliveCol.a;
      for (let i = from; i < order.length && picked.length < want; i++) {
        const s = order[i] as number;
        if (match.all ? alive[s] === 1 : groupOf(s) === 0)
          picked.push({ s, key: this.publishedText[s] ?? "" });
      }
    }
    return {
      ids: picked.slice(0, limit).map(({ s, key }) => ({
        id: this.ids[s] ?? "",
        ...(this.keys[s] as { namespace: string; name: string }),
        sortKey: key,
      })),
      more: picked.length > limit,
      total: match.total,
      facets: match.facets,
    };
  }
}

const rankKey = (tsquery: string, g: { title: boolean; lexemes: string[] }): string =>
  `${tsquery}\u0000${g.title ? 1 : 0} ${g.lexemes.join(" ")}`;

/** No facet value counted. */
export const emptyFacets = (): IndexPage["facets"] => perFacet(() => []);

/** The indexes of one database (one per pool), by space. */
export class CatalogIndex {
  private readonly spaces = new Map<string, SpaceIndex>();
  private readonly catchingUp = new Map<string, Promise<void>>();
  /**
   * Ranks already asked for, by query and group. A rank depends on nothing
   * but the query, the title match and the matching lexemes, so an entry
   * never goes stale; the memo is cleared when it grows past 10,000.
   */
  private readonly rankMemo = new Map<string, string>();

  constructor(private readonly pool: Pool) {}

  /**
   * One page of a search, or undefined when the catalog kept changing
   * under three attempts (the caller then scans). `fetchPage` reads the
   * page's offers and the space's version in one statement.
   */
  async search<T>(
    space: string,
    f: SearchFilters,
    limit: number,
    cursor: Cursor | undefined,
    fetchPage: (ids: string[]) => Promise<{ version: string; rows: T[] }>,
  ): Promise<{ page: IndexPage; rows: T[] } | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const index = await this.current(space);
      const match = index.match(f);
      let ranks: string[] = [];
      if (match?.ranked && match.total > 0) {
        const tsquery = searchQuery(f.q ?? "") ?? "";
        const memo = match.groups.map((g) => this.rankMemo.get(rankKey(tsquery, g)));
        if (memo.every((k) => k !== undefined)) ranks = memo;
        else {
          const r = await this.ranks(space, tsquery, match.groups);
          if (r.version !== index.version) {
            await this.catchUp(space, r.version);
            continue;
          }
          if (index.generation !== match.generation) continue;
          ranks = r.ranks;
          if (this.rankMemo.size > 10_000) this.rankMemo.clear();
          match.groups.forEach((g, i) => {
            const k = r.ranks[i];
            if (k !== undefined) this.rankMemo.set(rankKey(tsquery, g), k);
          });
        }
      }
      const page = match
        ? index.page(match, ranks, limit, cursor)
        : { ids: [], more: false, total: 0, facets: emptyFacets() };
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
    const r = await this.pool.query<{ version: string }>({
      name: "catalog-version",
      text: "select coalesce((select version from catalog_versions where space = $1), 0)::text as version",
      values: [space],
    });
    return r.rows[0]?.version ?? "0";
  }

  /** The sort key of each rank group, as text of a real, with the space's version. */
  private async ranks(
    space: string,
    tsquery: string,
    groups: { title: boolean; lexemes: string[] }[],
  ): Promise<{ version: string; ranks: string[] }> {
    // Named: prepared once per connection, so it is not planned again for every search.
    const r = await this.pool.query<{ version: string; i: string | null; k: string | null }>({
      name: "catalog-ranks",
      text: `select v.version::text as version, g.i::text as i, g.k
       from (select coalesce((select version from catalog_versions where space = $1), 0) as version) v
       left join lateral (
         select i, ((case when t then 1 else 0 end) + ts_rank(array_to_tsvector(string_to_array(lex, ' ')),
                    $2::tsquery))::real::text as k
         from unnest($3::boolean[], $4::text[]) with ordinality as g(t, lex, i)) g on true`,
      values: [space, tsquery, groups.map((g) => g.title), groups.map((g) => g.lexemes.join(" "))],
    });
    const ranks: string[] = [];
    for (const row of r.rows) if (row.i !== null && row.k !== null) ranks[Number(row.i) - 1] = row.k;
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
      if (!index) target.countBroadLexemes();
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
/** The process's index of the catalog in this pool's database. */
export function catalogIndex(pool: Pool): CatalogIndex {
  let index = indexes.get(pool);
  if (!index) {
    index = new CatalogIndex(pool);
    indexes.set(pool, index);
  }
  return index;
}
