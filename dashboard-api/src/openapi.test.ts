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
