// Request validation. Parameters, the query string and headers arrive as text,
// so they are coerced to their declared types ("20" for an integer limit);
// a JSON body already has types, and they must be the declared ones: a number
// is not a string amount, null is not 0, an object is not a one-item array.
import { AjvCompiler } from "@fastify/ajv-compiler";
import type { FastifyServerOptions } from "fastify";

type ValidatorFactory = NonNullable<
  NonNullable<NonNullable<FastifyServerOptions["schemaController"]>["compilersFactory"]>["buildValidator"]
>;

const pool = AjvCompiler();
type PoolOptions = Parameters<typeof pool>[1];

/** fastify's own Ajv compiler, twice: coercing for text parts, exact for bodies. */
export const buildValidator: ValidatorFactory = (externalSchemas, options) => {
  const ajv = (options ?? {}) as { customOptions?: Record<string, unknown> };
  const text = pool(externalSchemas, ajv);
  const exact = { ...ajv, customOptions: { ...ajv.customOptions, coerceTypes: false } } as PoolOptions;
  const body = pool(externalSchemas, exact);
  return (route) => (route.httpPart === "body" ? body : text)(route);
};
