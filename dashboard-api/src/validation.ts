// Request validation. Parameters, the query string and headers arrive as text,
// so they are coerced to their declared types ("20" for an integer limit);
// a JSON body already has types, and they must be the declared ones: a number
// is not a string amount, null is not 0, an object is not a one-item array.
// Route schemas are TypeBox (withDefaults: a query whose defaulted members the
// caller may leave out).
import { AjvCompiler } from "@fastify/ajv-compiler";
import {
  Type,
  type ObjectOptions,
  type Static,
  type TObject,
  type TProperties,
  type TSchema,
  type TUnsafe,
} from "@sinclair/typebox";
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

/**
 * A TypeBox object whose members with a `default` are not required of the
 * caller (the validator fills them in, so the document must not ask for them)
 * and are always set for the handler: a query string's `limit`, say.
 */
export function withDefaults<T extends TProperties>(properties: T, options?: ObjectOptions): TObject<T> {
  const { required, ...schema } = Type.Object(properties, options);
  const asked = ((required ?? []) as readonly string[]).filter((k) => !("default" in (properties[k] ?? {})));
  return (asked.length > 0 ? { ...schema, required: asked } : schema) as TObject<T>;
}

/** A schema that also admits null (the document's `nullable`), typed so for the handler. */
export function nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  return Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });
}
