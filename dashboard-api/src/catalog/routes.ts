// Catalog routes, mounted under /v1/spaces/:space/catalog: search with
// facets and keyset pagination, one offer, the DCAT (JSON-LD) export, and the
// operator's internal PUT/DELETE of entries. Members of a space read its
// catalog; only the operator's identity (or a platform admin) writes it.
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { DECIMAL_AMOUNT, DNS1123_LABEL, DNS1123_SUBDOMAIN } from "@tds/crds";
import { CatalogEntrySchema } from "@tds/wire";
import { recordOfferPrice } from "../statements/prices.ts";
import { registerSpace } from "../spaces.ts";
import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import { canSeeSpace } from "../auth/principal.ts";
import { principalOf } from "../plugins/auth.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { withDefaults } from "../validation.ts";
import { dcatCatalog } from "./dcat.ts";
import { CatalogStore, decodeCursor, type SearchFilters } from "./store.ts";

/** Roles that may write the catalog: the operator's service identity and platform admins. */
const WRITERS: ReadonlySet<string> = new Set(["operator", "platform-admin"]);

const label = Type.String({ pattern: DNS1123_LABEL, maxLength: 63 });
const spaceParams = Type.Object({ space: label });
const offerParams = Type.Object({
  space: label,
  namespace: label,
  name: Type.String({ maxLength: 253, pattern: DNS1123_SUBDOMAIN }),
});
const list = (maxLength: number) => Type.Array(Type.String({ minLength: 1, maxLength }), { maxItems: 50 });

/** An entry as the catalog serves it: the operator's entry, its id and its list price. */
const offerSchema = Type.Object({
  ...CatalogEntrySchema.properties,
  id: Type.String(),
  listPrice: Type.String(),
});
const facetList = Type.Array(Type.Object({ value: Type.String(), count: Type.Integer() }));

export interface CatalogRoutesOptions {
  /** The catalog's title in the DCAT export, by space; defaults to the space name. */
  readonly titleOf?: (space: string) => Promise<string | undefined>;
}

function member(request: FastifyRequest, space: string): void {
  if (!canSeeSpace(principalOf(request), space))
    throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
}
function writer(request: FastifyRequest, space: string): void {
  member(request, space);
  const p = principalOf(request);
  if (!WRITERS.has(p.role)) throw new TdsError("forbidden", `Role ${p.role} may not write the catalog`);
}

export const catalogRoutes: FastifyPluginCallback<CatalogRoutesOptions> = (plugin, opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const store = () => new CatalogStore(app.pool());

  app.get(
    "/",
    {
      schema: {
        operationId: "searchCatalog",
        tags: ["catalog"],
        summary:
          "Search the space's catalog: full text over title, description and keywords (Chinese and English), facets, keyset pagination",
        params: spaceParams,
        querystring: withDefaults(
          {
            q: Type.Optional(Type.String({ maxLength: 200 })),
            category: Type.Optional(list(63)),
            classification: Type.Optional(list(63)),
            region: Type.Optional(list(16)),
            provider: Type.Optional(list(63)),
            accessMode: Type.Optional(list(16)),
            // The DataOffer's own amount pattern: six decimals, as every price.
            priceMin: Type.Optional(Type.String({ pattern: DECIMAL_AMOUNT })),
            priceMax: Type.Optional(Type.String({ pattern: DECIMAL_AMOUNT })),
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ maxLength: 512 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(offerSchema),
            total: Type.Integer(),
            next: Type.Optional(Type.String()),
            facets: Type.Object({
              category: Type.Optional(facetList),
              classification: Type.Optional(facetList),
              region: Type.Optional(facetList),
              provider: Type.Optional(facetList),
              accessMode: Type.Optional(facetList),
              price: Type.Optional(facetList),
            }),
          }),
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

  app.get(
    "/dcat",
    {
      schema: {
        operationId: "getDcatCatalog",
        tags: ["catalog"],
        summary: "The catalog as a DCAT 3 dcat:Catalog in JSON-LD (application/ld+json)",
        params: spaceParams,
        response: {
          200: {
            description: "A dcat:Catalog",
            content: { "application/ld+json": { schema: Type.Object({}, { additionalProperties: true }) } },
          },
        },
      },
    },
    async (request, reply) => {
      const { space } = request.params;
      member(request, space);
      const offers = await store().all(space);
      const title = (await opts.titleOf?.(space)) ?? `Catalog of data space ${space}`;
      return reply.type("application/ld+json").send(JSON.stringify(dcatCatalog(space, title, offers)));
    },
  );

  app.get(
    "/offers/:namespace/:name",
    {
      schema: {
        operationId: "getCatalogEntry",
        tags: ["catalog"],
        summary: "One catalog entry",
        params: offerParams,
        response: { 200: offerSchema, "4xx": problemResponse },
      },
    },
    async (request) => {
      const { space, namespace, name } = request.params;
      member(request, space);
      const offer = await store().get(space, namespace, name);
      if (!offer) throw new TdsError("notFound", `Offer ${namespace}/${name} is not in the catalog`);
      return offer;
    },
  );

  app.put(
    "/offers/:namespace/:name",
    {
      schema: {
        operationId: "putCatalogEntry",
        tags: ["catalog"],
        summary: "Internal (the operator): publish or update a Ready offer. Idempotent",
        params: offerParams,
        body: CatalogEntrySchema,
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
      // The offer's own price first, so no catalog entry is ever without its price on record.
      await app.tx(async (c) => {
        await registerSpace(c, space);
        await recordOfferPrice(c, b);
      });
      await store().upsert(b);
      return reply.status(204).send();
    },
  );

  app.delete(
    "/offers/:namespace/:name",
    {
      schema: {
        operationId: "deleteCatalogEntry",
        tags: ["catalog"],
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
