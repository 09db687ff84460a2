// The public contract: @fastify/swagger's options for /openapi.json, an
// OpenAPI 3.1 document built from the route schemas. Every operation names its
// operationId and tag in its route; this module names the document's servers
// and tags, gives shared schemas their $id as component name, and writes the
// two route shapes OpenAPI has no word for in its own terms (see documentedRoute).
import type { SwaggerOptions } from "@fastify/swagger";
import type { FastifySchema } from "fastify";

/** The tags every operation is filed under (each route names one). */
export const openapiTags = [
  { name: "metering", description: "Usage events in (CloudEvents 1.0) and the conflicts among them" },
  { name: "reports", description: "Usage per participant and meter over a window" },
  { name: "prices", description: "A space's price sheets, effective from a date and never retroactive" },
  { name: "statements", description: "Monthly statements: charges, revenue share, adjustments, closing" },
  { name: "catalog", description: "The space's data offers: search, DCAT, entries" },
  { name: "contracts", description: "Data contracts: request, decide, revoke" },
  {
    name: "consents",
    description: "Data subjects' consents for personal data: give, read, revoke (docs/governance.md)",
  },
  {
    name: "gateway",
    description:
      "What the metered data gateway (its own process) delivered: agreements' use, sandbox jobs' reads",
  },
  { name: "sandboxjobs", description: "Reviews of sandbox jobs' outputs" },
  {
    name: "evidence",
    description: "The append-only evidence log: entries, signed checkpoints, proofs, export",
  },
  {
    name: "governance",
    description: "For the regulator: the export report of a period and the signed filing record",
  },
  { name: "dsp", description: "Dataspace Protocol processes started by this space's consumer" },
  { name: "dashboard", description: "The finance page" },
  { name: "operations", description: "Probes" },
] as const;

/**
 * A route's entry in the document: a prefixed "/" route (the catalog
 * search, a contract request) is served with and without the trailing slash;
 * the document names it without.
 */
export function documentedRoute(route: { schema: FastifySchema; url: string }): {
  schema: FastifySchema;
  url: string;
} {
  return { schema: route.schema, url: route.url.length > 1 ? route.url.replace(/\/$/, "") : route.url };
}

export const openapiOptions: SwaggerOptions = {
  openapi: {
    openapi: "3.1.0",
    info: {
      title: "TDS dashboard API",
      version: "0.1.0",
      description:
        "Metering ingest (CloudEvents), usage reports, statements with revenue share, price sheets, the " +
        "catalog, contracts, agreements' use and the evidence log (downloads are the gateway's, its own " +
        "process). Every /v1 request needs a bearer " +
        "JWT (EdDSA or ES256) for this API's audience, or a Kubernetes token. Errors are RFC 9457 problem " +
        "documents (application/problem+json). Prometheus metrics are on a port of their own, not here.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [{ url: "/", description: "This API, at the origin that served this document" }],
    tags: [...openapiTags],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
    security: [{ bearer: [] }],
  },
  // Shared schemas (app.addSchema) are components named by their $id, not def-N.
  refResolver: {
    buildLocalReference: (json, _baseUri, _fragment, i) =>
      typeof json.$id === "string" ? json.$id : `def-${String(i)}`,
  },
  transform: ({ schema, url }) => documentedRoute({ schema, url }),
};
