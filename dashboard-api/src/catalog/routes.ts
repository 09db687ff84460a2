// Catalogue routes, mounted under /v1/spaces/:space/catalog: search with
// facets and keyset pagination, one offer, the DCAT (JSON-LD) export, and the
// operator's internal PUT/DELETE of entries. Members of a space read its
// catalogue; only the operator's identity (or a platform admin) writes it.
import { DECIMAL_AMOUNT } from "@tds/crds";
import { recordOfferPrice } from "../statements/prices.ts";
import { registerSpace } from "../spaces.ts";
import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import { canSeeSpace } from "../auth/principal.ts";
import { principalOf } from "../plugins/auth.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { dcatCatalog } from "./dcat.ts";
import { CatalogStore, decodeCursor, type CatalogEntryInput, type SearchFilters } from "./store.ts";

const NAME = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
// The DataOffer's own amount pattern (crds/src/common.types.ts): six decimals, as every price.
const DECIMAL = DECIMAL_AMOUNT;
const RFC3339 = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$";
/** Roles that may write the catalogue: the operator's service identity and platform admins. */
const WRITERS: ReadonlySet<string> = new Set(["operator", "platform-admin"]);

const spaceParams = {
  type: "object",
  required: ["space"],
  properties: { space: { type: "string", pattern: NAME, maxLength: 63 } },
} as const;
const offerParams = {
  type: "object",
  required: ["space", "namespace", "name"],
  properties: {
    space: { type: "string", pattern: NAME, maxLength: 63 },
    namespace: { type: "string", pattern: NAME, maxLength: 63 },
    name: { type: "string", maxLength: 253, pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" },
  },
} as const;
const list = (maxLength: number) =>
  ({ type: "array", maxItems: 50, items: { type: "string", minLength: 1, maxLength } }) as const;
const str = (maxLength: number) => ({ type: "string", maxLength }) as const;

const entrySchema = {
  type: "object",
  additionalProperties: false,
  required: [
    "space",
    "namespace",
    "name",
    "uid",
    "provider",
    "providerName",
    "title",
    "description",
    "keywords",
    "classification",
    "dataCategory",
    "regionOfOrigin",
    "accessMode",
    "contractApproval",
    "purposes",
    "format",
    "contentId",
    "byteSize",
    "objects",
    "currency",
    "price",
    "publishedAt",
  ],
  properties: {
    space: str(63),
    namespace: str(63),
    name: str(253),
    uid: str(100),
    provider: str(63),
    providerName: str(256),
    title: { type: "string", minLength: 1, maxLength: 200 },
    description: str(8192),
    keywords: list(64),
    classification: str(63),
    dataCategory: str(63),
    regionOfOrigin: str(16),
    accessMode: { type: "string", enum: ["download", "computeOnly"] },
    contractApproval: { type: "string", enum: ["Automatic", "Manual"] },
    purposes: list(63),
    format: str(127),
    contentId: { type: "string", pattern: "^sha256:[0-9a-f]{64}$" },
    byteSize: { type: "integer", minimum: 0 },
    objects: { type: "integer", minimum: 0 },
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
    price: { type: "object", additionalProperties: { type: "string", pattern: DECIMAL } },
    publishedAt: { type: "string", pattern: RFC3339 },
    validity: {
      type: "object",
      additionalProperties: false,
      properties: {
        notBefore: { type: "string", pattern: RFC3339 },
        notAfter: { type: "string", pattern: RFC3339 },
      },
    },
  },
} as const;

const offerSchema = {
  type: "object",
  properties: {
    ...entrySchema.properties,
    id: { type: "string" },
    listPrice: { type: "string" },
  },
} as const;
const facetList = {
  type: "array",
  items: { type: "object", properties: { value: { type: "string" }, count: { type: "integer" } } },
} as const;

interface SearchQuery {
  q?: string;
  category?: string[];
  classification?: string[];
  region?: string[];
  provider?: string[];
  accessMode?: string[];
  priceMin?: string;
  priceMax?: string;
  limit: number;
  cursor?: string;
}

export interface CatalogRoutesOptions {
  /** The catalogue's title in the DCAT export, by space; defaults to the space name. */
  readonly titleOf?: (space: string) => Promise<string | undefined>;
}

function member(request: FastifyRequest, space: string): void {
  if (!canSeeSpace(principalOf(request), space))
    throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
}
function writer(request: FastifyRequest, space: string): void {
  member(request, space);
  const p = principalOf(request);
  if (!WRITERS.has(p.role)) throw new TdsError("forbidden", `Role ${p.role} may not write the catalogue`);
}

export const catalogRoutes: FastifyPluginCallback<CatalogRoutesOptions> = (app, opts, done) => {
  const store = () => new CatalogStore(app.pool());

  app.get<{ Params: { space: string }; Querystring: SearchQuery }>(
    "/",
    {
      schema: {
        operationId: "searchCatalog",
        tags: ["catalogue"],
        summary:
          "Search the space's catalogue: full text over title, description and keywords (Chinese and English), facets, keyset pagination",
        params: spaceParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            q: { type: "string", maxLength: 200 },
            category: list(63),
            classification: list(63),
            region: list(16),
            provider: list(63),
            accessMode: list(16),
            priceMin: { type: "string", pattern: DECIMAL },
            priceMax: { type: "string", pattern: DECIMAL },
            limit: { type: "integer", minimum: 1, maximum: 100, default: 20 },
            cursor: { type: "string", maxLength: 512 },
          },
        },
        response: {
          200: {
            type: "object",
            properties: {
              items: { type: "array", items: offerSchema },
              total: { type: "integer" },
              next: { type: "string" },
              facets: {
                type: "object",
                properties: {
                  category: facetList,
                  classification: facetList,
                  region: facetList,
                  provider: facetList,
                  accessMode: facetList,
                  price: facetList,
                },
              },
            },
          },
          "4xx": problemResponse,
        },
      },
    },
    async (request) => {
      const { space } = request.params;
      member(request, space);
      const { limit, cursor, ...rest } = request.query;
      const c = cursor === undefined ? undefined : decodeCursor(cursor);
      if (cursor !== undefined && !c)
        throw new TdsError("validation", "cursor is not one this API issued", {
          field: "querystring/cursor",
        });
      const filters: SearchFilters = rest;
      return store().search(space, filters, limit, c);
    },
  );

  app.get<{ Params: { space: string } }>(
    "/dcat",
    {
      schema: {
        operationId: "getDcatCatalog",
        tags: ["catalogue"],
        summary: "The catalogue as a DCAT 3 dcat:Catalog in JSON-LD (application/ld+json)",
        params: spaceParams,
        response: {
          200: {
            description: "A dcat:Catalog",
            content: { "application/ld+json": { schema: { type: "object", additionalProperties: true } } },
          },
        },
      },
    },
    async (request, reply) => {
      const { space } = request.params;
      member(request, space);
      const offers = await store().all(space);
      const title = (await opts.titleOf?.(space)) ?? `Catalogue of data space ${space}`;
      return reply.type("application/ld+json").send(JSON.stringify(dcatCatalog(space, title, offers)));
    },
  );

  type OfferP = { Params: { space: string; namespace: string; name: string } };
  app.get<OfferP>(
    "/offers/:namespace/:name",
    {
      schema: {
        operationId: "getCatalogEntry",
        tags: ["catalogue"],
        summary: "One catalogue entry",
        params: offerParams,
        response: { 200: offerSchema, "4xx": problemResponse },
      },
    },
    async (request) => {
      const { space, namespace, name } = request.params;
      member(request, space);
      const offer = await store().get(space, namespace, name);
      if (!offer) throw new TdsError("notFound", `Offer ${namespace}/${name} is not in the catalogue`);
      return offer;
    },
  );

  app.put<OfferP & { Body: CatalogEntryInput }>(
    "/offers/:namespace/:name",
    {
      schema: {
        operationId: "putCatalogEntry",
        tags: ["catalogue"],
        summary: "Internal (the operator): publish or update a Ready offer. Idempotent",
        params: offerParams,
        body: entrySchema,
        response: { 204: { type: "null" }, "4xx": problemResponse },
      },
    },
    async (request, reply) => {
      const { space, namespace, name } = request.params;
      writer(request, space);
      const b = request.body;
      if (b.space !== space || b.namespace !== namespace || b.name !== name)
        throw new TdsError("validation", "body space, namespace and name must match the path", {
          field: "body",
        });
      // The offer's own price first, so no catalogue entry is ever without its price on record.
      await app.tx(async (c) => {
        await registerSpace(c, space);
        await recordOfferPrice(c, b);
      });
      await store().upsert(b);
      return reply.status(204).send();
    },
  );

  app.delete<OfferP>(
    "/offers/:namespace/:name",
    {
      schema: {
        operationId: "deleteCatalogEntry",
        tags: ["catalogue"],
        summary: "Internal (the operator): withdraw an offer. Idempotent: a missing entry is not an error",
        params: offerParams,
        response: { 204: { type: "null" }, "4xx": problemResponse },
      },
    },
    async (request, reply) => {
      const { space, namespace, name } = request.params;
      writer(request, space);
      await store().remove(space, namespace, name);
      return reply.status(204).send();
    },
  );
  done();
};
