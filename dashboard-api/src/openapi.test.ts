// How fastify's route shapes are written in the OpenAPI document (no I/O).
import assert from "node:assert/strict";
import { test } from "node:test";
import { documentedRoute } from "./openapi.ts";

test("a prefixed / route is documented without its trailing slash", () => {
  assert.equal(
    documentedRoute({ schema: {}, url: "/v1/spaces/:space/catalog/" }).url,
    "/v1/spaces/:space/catalog",
  );
  assert.equal(documentedRoute({ schema: {}, url: "/" }).url, "/");
  assert.equal(documentedRoute({ schema: {}, url: "/v1/usage" }).url, "/v1/usage");
});

test("a trailing wildcard is the path parameter key, its schema kept", () => {
  const schema = {
    summary: "s",
    params: {
      type: "object",
      required: ["agreementId", "*"],
      properties: { agreementId: { type: "string" }, "*": { type: "string", maxLength: 1024 } },
    },
  };
  const d = documentedRoute({ schema, url: "/v1/data/:agreementId/*" });
  assert.equal(d.url, "/v1/data/:agreementId/:key");
  const params = d.schema.params as {
    required: string[];
    properties: Record<string, Record<string, unknown>>;
  };
  assert.deepEqual(params.required, ["agreementId", "key"]);
  assert.deepEqual(Object.keys(params.properties), ["agreementId", "key"]);
  assert.equal(params.properties.key?.maxLength, 1024);
  assert.match(String(params.properties.key.description), /%2F/);
  assert.equal(d.schema.summary, "s");
  // The route's own schema is not changed.
  assert.deepEqual(schema.params.required, ["agreementId", "*"]);
});
