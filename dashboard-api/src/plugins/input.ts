// Input handling that holds for every route, before any route code runs:
// - a method the path does not declare is a 405 with an Allow header (no token
//   needed: the route table is public in /openapi.json); an unknown path stays a 404;
// - a NUL character in any string of the parameters, the query or a parsed body
//   is a 400 naming the field (PostgreSQL text cannot hold one, and no name, key
//   or description of ours has a use for it).
import { Stream } from "node:stream";
import fp from "fastify-plugin";
import type { FastifyRequest } from "fastify";
import { TdsError } from "../errors.ts";

interface KnownPath {
  readonly url: string;
  readonly pattern: RegExp;
  readonly methods: Set<string>;
}

/** A fastify route path as a regular expression over the raw request path: `:name` is one segment, `*` the rest. */
export function routePattern(url: string): RegExp {
  const source = url
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((part) => {
      if (part === "*") return ".*";
      if (part.startsWith(":")) return "[^/]+";
      return part.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^${source}$`);
}

/** The first string, or property name, that holds a NUL, as a field path (`body/0/data/participant`). */
export function nulField(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.includes("\0") ? path : undefined;
  if (value === null || typeof value !== "object") return undefined;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = nulField(v, `${path}/${String(i)}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  // Parsed JSON and query objects only; streamed and raw bodies are bytes, not strings.
  if (value instanceof Stream || ArrayBuffer.isView(value)) return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes("\0")) return `${path}/${k.replaceAll("\0", "\\u0000")}`;
    const found = nulField(v, `${path}/${k}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

export const inputPlugin = fp(
  (app, _opts, done) => {
    const known = new Map<string, KnownPath>();
    // A prefixed "/" route is served with and without the trailing slash (fastify's prefixTrailingSlash),
    // and onRoute names only one of them: the two are one resource here.
    const resource = (path: string): string => (path.length > 1 ? path.replace(/\/$/, "") : path);
    app.addHook("onRoute", (route) => {
      const url = resource(route.url);
      let entry = known.get(url);
      if (!entry) {
        entry = { url, pattern: routePattern(url), methods: new Set() };
        known.set(url, entry);
      }
      for (const m of [route.method].flat()) entry.methods.add(m.toUpperCase());
    });
    /** The methods declared for the paths this request's path matches. */
    const allowed = (request: FastifyRequest): string[] => {
      const path = resource(request.url.split("?")[0] ?? "");
      const methods = new Set<string>();
      for (const k of known.values()) if (k.pattern.test(path)) for (const m of k.methods) methods.add(m);
      return [...methods].sort();
    };

    app.addHook("onRequest", async (request, reply) => {
      if (!request.is404) return;
      const methods = allowed(request);
      if (methods.length === 0) return;
      void reply.header("allow", methods.join(", "));
      throw new TdsError(
        "methodNotAllowed",
        `${request.method} is not allowed here; this path allows ${methods.join(", ")}`,
      );
    });

    app.addHook("preValidation", (request, _reply, next) => {
      const field =
        nulField(request.params, "params") ??
        nulField(request.query, "querystring") ??
        nulField(request.body, "body");
      if (field === undefined) next();
      else next(new TdsError("validation", `${field}: must not contain a NUL character`, { field }));
    });
    done();
  },
  { name: "tds-input" },
);
