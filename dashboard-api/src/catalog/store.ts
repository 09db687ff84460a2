// The catalog in PostgreSQL (migrations/0000000000003_catalog.sql): upsert and
// delete by the operator, and search with filters, facets and keyset
// pagination. The order is total (ties broken by the offer's namespace/name),
// so a cursor names an exact position and pages never repeat or skip a row
// while the catalog is unchanged.
import type { Pool } from "pg";
import type { CatalogEntry } from "@tds/wire";
import { documentTokens, searchQuery } from "./tokens.ts";
import { catalogIndex, emptyFacets, type Cursor, type SearchFilters } from "./search-index.ts";

export type { SearchFilters } from "./search-index.ts";

export interface CatalogOffer extends CatalogEntry {
  id: string;
  listPrice: string;
}

export interface SearchPage {
  items: CatalogOffer[];
  total: number;
  next?: string;
  facets: Record<string, { value: string; count: number }[]>;
}

/** Price bands of the price facet (per-contract amount). */
export const PRICE_BANDS = [
  { value: "free", min: "0", max: "0" },
  { value: "0-100", min: "0.0001", max: "100" },
  { value: "100-1000", min: "100.0001", max: "1000" },
  { value: "1000+", min: "1000.0001", max: undefined },
] as const;

const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify(c)).toString("base64url");
export function decodeCursor(s: string): Cursor | undefined {
  try {
    const c = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Partial<Cursor>;
    return typeof c.k === "string" && typeof c.id === "string" ? { k: c.k, id: c.id } : undefined;
  } catch {
    return undefined;
  }
}

const COLUMNS = `space, namespace, name, id, uid, provider, provider_name, title, description, keywords,
  classification, data_category, region, access_mode, contract_approval, purposes, format, content_id,
  byte_size, objects, currency, price, list_price::text as list_price, valid_from, valid_until, published_at`;

interface Row {
  space: string;
  namespace: string;
  name: string;
  id: string;
  uid: string;
  provider: string;
  provider_name: string;
  title: string;
  description: string;
  keywords: string[];
  classification: string;
  data_category: string;
  region: string;
  access_mode: CatalogEntry["accessMode"];
  contract_approval: CatalogEntry["contractApproval"];
  purposes: string[];
  format: string;
  content_id: string;
  byte_size: string;
  objects: number;
  currency: string;
  price: Record<string, string>;
  list_price: string;
  valid_from: Date | null;
  valid_until: Date | null;
  published_at: Date;
  sort_key?: string;
}

const iso = (d: Date): string => d.toISOString().replace(/\.000Z$/, "Z");

function toOffer(r: Row): CatalogOffer {
  return {
    id: r.id,
    space: r.space,
    namespace: r.namespace,
    name: r.name,
    uid: r.uid,
    provider: r.provider,
    providerName: r.provider_name,
    title: r.title,
    description: r.description,
    keywords: r.keywords,
    classification: r.classification,
    dataCategory: r.data_category,
    regionOfOrigin: r.region,
    accessMode: r.access_mode,
    contractApproval: r.contract_approval,
    purposes: r.purposes,
    format: r.format,
    contentId: r.content_id,
    byteSize: Number(r.byte_size),
    objects: r.objects,
    currency: r.currency,
    price: r.price,
    listPrice: r.list_price,
    publishedAt: iso(r.published_at),
    ...(r.valid_from || r.valid_until
      ? {
          validity: {
            ...(r.valid_from ? { notBefore: iso(r.valid_from) } : {}),
            ...(r.valid_until ? { notAfter: iso(r.valid_until) } : {}),
          },
        }
      : {}),
  };
}

export class CatalogStore {
  constructor(private readonly pool: Pool) {}

  async upsert(e: CatalogEntry): Promise<void> {
    const lexemes = documentTokens(e.title, e.description, e.keywords.join(" "), e.providerName);
    await this.pool.query(
      `insert into catalog_offers (space, namespace, name, uid, provider, provider_name, title, description,
         keywords, classification, data_category, region, access_mode, contract_approval, purposes, format,
         content_id, byte_size, objects, currency, price, list_price, valid_from, valid_until, published_at,
         search, title_search)
       values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22::numeric,$23,$24,$25,
         array_to_tsvector($26::text[]), array_to_tsvector($27::text[]))
       on conflict (space, namespace, name) do update set
         uid = excluded.uid, provider = excluded.provider, provider_name = excluded.provider_name,
         title = excluded.title, description = excluded.description, keywords = excluded.keywords,
         classification = excluded.classification, data_category = excluded.data_category,
         region = excluded.region, access_mode = excluded.access_mode,
         contract_approval = excluded.contract_approval, purposes = excluded.purposes, format = excluded.format,
         content_id = excluded.content_id, byte_size = excluded.byte_size, objects = excluded.objects,
         currency = excluded.currency, price = excluded.price, list_price = excluded.list_price,
         valid_from = excluded.valid_from, valid_until = excluded.valid_until,
         published_at = excluded.published_at, search = excluded.search, title_search = excluded.title_search,
         updated_at = now()`,
      [
        e.space,
        e.namespace,
        e.name,
        e.uid,
        e.provider,
        e.providerName,
        e.title,
        e.description,
        e.keywords,
        e.classification,
        e.dataCategory,
        e.regionOfOrigin,
        e.accessMode,
        e.contractApproval,
        e.purposes,
        e.format,
        e.contentId,
        e.byteSize,
        e.objects,
        e.currency,
        JSON.stringify(e.price),
        e.price.perContract ?? "0",
        e.validity?.notBefore ?? null,
        e.validity?.notAfter ?? null,
        e.publishedAt,
        lexemes,
        documentTokens(e.title),
      ],
    );
  }

  /** True when a row was removed. */
  async remove(space: string, namespace: string, name: string): Promise<boolean> {
    const r = await this.pool.query(
      "delete from catalog_offers where space = $1 and namespace = $2 and name = $3",
      [space, namespace, name],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async get(space: string, namespace: string, name: string): Promise<CatalogOffer | undefined> {
    const r = await this.pool.query<Row>(
      `select ${COLUMNS} from catalog_offers where space = $1 and namespace = $2 and name = $3`,
      [space, namespace, name],
    );
    const row = r.rows[0];
    return row ? toOffer(row) : undefined;
  }

  /** Every offer of a space, oldest first (for the DCAT export). */
  async all(space: string): Promise<CatalogOffer[]> {
    const r = await this.pool.query<Row>(
      `select ${COLUMNS} from catalog_offers where space = $1 order by published_at, id`,
      [space],
    );
    return r.rows.map(toOffer);
  }

  /**
   * One page of a search, from the process's index of the space
   * (search-index.ts); the page's offers are read from catalog_offers, in
   * the statement that checks the index is current. Falls back to the scan
   * when the catalog keeps changing under the search.
   */
  async search(space: string, f: SearchFilters, limit: number, cursor?: Cursor): Promise<SearchPage> {
    const found = await catalogIndex(this.pool).search(space, f, limit, cursor, async (ids) => {
      const keys = ids.map((id) => id.split("/"));
      // The version row comes with no offer when the page is empty.
      const r = await this.pool.query<(Row | { [K in keyof Row]: null }) & { version: string }>({
        name: "catalog-page",
        text: `select v.version::text as version, o.*
         from (select coalesce((select version from catalog_versions where space = $1), 0) as version) v
         left join lateral (select ${COLUMNS} from catalog_offers
           where space = $1 and (namespace, name) in (select * from unnest($2::text[], $3::text[]))) o on true`,
        values: [space, keys.map((k) => k[0] ?? ""), keys.map((k) => k[1] ?? "")],
      });
      return {
        version: r.rows[0]?.version ?? "0",
        rows: r.rows.flatMap((row) => (row.id === null ? [] : [row])),
      };
    });
    if (!found) return this.scanSearch(space, f, limit, cursor);
    const byId = new Map(found.rows.map((row) => [row.id, row]));
    const items = found.page.ids.flatMap((i) => {
      const row = byId.get(i.id);
      return row ? [toOffer(row)] : [];
    });
    const last = found.page.ids.at(-1);
    return {
      items,
      total: found.page.total,
      facets: found.page.facets,
      ...(found.page.more && last ? { next: encodeCursor({ k: last.sortKey, id: last.id }) } : {}),
    };
  }

  /**
   * The same search as a scan of catalog_offers: filter, rank every hit,
   * count the facets over every hit. The fallback of search, and the oracle
   * its tests compare it with. Ids are ordered bytewise (collate "C"), as the
   * index orders them, whatever the database's collation.
   */
  async scanSearch(space: string, f: SearchFilters, limit: number, cursor?: Cursor): Promise<SearchPage> {
    const params: unknown[] = [space];
    const p = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    const where: string[] = ["space = $1"];
    const tsq = f.q === undefined ? undefined : searchQuery(f.q);
    if (f.q !== undefined && tsq === undefined) where.push("false");
    const q = tsq === undefined ? undefined : p(tsq);
    if (q) where.push(`search @@ ${q}::tsquery`);
    const anyOf = (column: string, values: string[] | undefined) => {
      if (values && values.length > 0) where.push(`${column} = any(${p(values)}::text[])`);
    };
    anyOf("data_category", f.category);
    anyOf("classification", f.classification);
    anyOf("region", f.region);
    anyOf("provider", f.provider);
    anyOf("access_mode", f.accessMode);
    if (f.priceMin !== undefined) where.push(`list_price >= ${p(f.priceMin)}::numeric`);
    if (f.priceMax !== undefined) where.push(`list_price <= ${p(f.priceMax)}::numeric`);
    const filtered = where.join(" and ");
    const filterParams = [...params];

    // Relevance (title matches first, then ts_rank) when searching, else newest first.
    const sortKey = q
      ? `((case when title_search @@ ${q}::tsquery then 1 else 0 end) + ts_rank(search, ${q}::tsquery))::real`
      : "published_at";
    const sortText = q
      ? `${sortKey}::text`
      : `to_char(published_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
    let page = filtered;
    if (cursor) {
      const k = q ? `${p(cursor.k)}::real` : `${p(cursor.k)}::timestamptz`;
      page += ` and (${sortKey} < ${k} or (${sortKey} = ${k} and id collate "C" > ${p(cursor.id)}))`;
    }
    const rows = await this.pool.query<Row>(
      `select ${COLUMNS}, ${sortText} as sort_key from catalog_offers where ${page}
       order by ${sortKey} desc, id collate "C" asc limit ${p(limit + 1)}`,
      params,
    );
    const items = rows.rows.slice(0, limit);
    const last = items.at(-1);
    const more = rows.rows.length > limit && last?.sort_key !== undefined;

    const facetRows = await this.pool.query<{ facet: string; value: string; count: string; total: string }>(
      `with f as (select data_category, classification, region, provider, access_mode, list_price
                  from catalog_offers where ${filtered})
       select 'category' as facet, data_category as value, count(*)::text as count from f group by 2
       union all select 'classification', classification, count(*)::text from f group by 2
       union all select 'region', region, count(*)::text from f group by 2
       union all select 'provider', provider, count(*)::text from f group by 2
       union all select 'accessMode', access_mode, count(*)::text from f group by 2
       union all select 'price', case when list_price = 0 then 'free' when list_price <= 100 then '0-100'
                   when list_price <= 1000 then '100-1000' else '1000+' end, count(*)::text from f group by 2
       union all select 'total', '', count(*)::text from f`,
      filterParams,
    );
    const facets: SearchPage["facets"] = emptyFacets();
    let total = 0;
    for (const r of facetRows.rows) {
      if (r.facet === "total") total = Number(r.count);
      else facets[r.facet]?.push({ value: r.value, count: Number(r.count) });
    }
    for (const list of Object.values(facets))
      list.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1));
    return {
      items: items.map(toOffer),
      total,
      facets,
      ...(more && last.sort_key !== undefined
        ? { next: encodeCursor({ k: last.sort_key, id: last.id }) }
        : {}),
    };
  }
}
