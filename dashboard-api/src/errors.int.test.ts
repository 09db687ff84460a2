// Bad input, by class, over every documented route of the real server (read
// from its /openapi.json, so a new route is covered the day it lands), over
// real HTTP (Node's parser included) on PostgreSQL with the local
// kube-apiserver and S3 store: an undeclared method, no body, a bad content
// type, a NUL in a string, bad percent-encoding, an over-long URL and
// over-large headers. Every answer is below 500 and has the one error shape;
// undeclared methods are 405 with Allow, and NUL and encoding errors name the field.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { installCrds } from "@tds/test/testkit";
import { loadOrCreateDevKey, mintToken } from "./auth/keys.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { startServer, stopServer, type ServerProcess } from "@tds/test/server";

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

let db: TestDatabase;
let server: ServerProcess;
let work: string;
let auth: Record<string, string>;
/** Every documented operation: its method and its path with sample parameters. */
let operations: { method: string; template: string; path: string; hasBody: boolean }[];
let methodsOf: Map<string, string[]>;

function send(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<Answer> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers, timeout: 15_000 },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path.slice(0, 80)} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The documented error shape (an RFC 9457 problem document), and a status below 500. */
function assertErrorShape(what: string, a: Answer): { code: string; field?: string } {
  assert.ok(
    a.status >= 400 && a.status < 500,
    `${what}: status ${String(a.status)}: ${a.text.slice(0, 300)}`,
  );
  assert.match(String(a.headers["content-type"]), /^application\/problem\+json/, `${what}: content-type`);
  const body = JSON.parse(a.text) as Record<string, unknown>;
  assert.equal(typeof body.code, "string", `${what}: ${a.text}`);
  assert.match(body.code as string, /^TDS_ERR_[A-Z0-9_]+$/, `${what}: ${a.text}`);
  const slug = (body.code as string)
    .replace(/^TDS_ERR_/, "")
    .toLowerCase()
    .replaceAll("_", "-");
  assert.equal(body.type, `https://tds.dev/problems/${slug}`, `${what}: ${a.text}`);
  assert.equal(typeof body.title, "string", `${what}: ${a.text}`);
  assert.equal(body.status, a.status, `${what}: ${a.text}`);
  assert.equal(typeof body.detail, "string", `${what}: ${a.text}`);
  assert.equal(typeof body.requestId, "string", `${what}: ${a.text}`);
  // Node's parser answers before there is a request to name (clientErrorHandler): no instance.
  const parser = a.status === 431 || /^Malformed HTTP request/.test(String(body.detail));
  if (!parser) assert.equal(typeof body.instance, "string", `${what}: ${a.text}`);
  for (const k of Object.keys(body))
    assert.ok(
      ["type", "title", "status", "detail", "instance", "code", "field", "requestId"].includes(k),
      `${what}: extra ${k} in ${a.text}`,
    );
  if (a.status === 401)
    assert.match(String(a.headers["www-authenticate"]), /^Bearer realm="[^"]+"/, `${what}: WWW-Authenticate`);
  return body as { code: string; field?: string };
}

/** Below 500, and in the error shape when it is an error (a DELETE needs no body, for one). */
function assertAnswered(what: string, a: Answer): void {
  assert.ok(a.status < 500, `${what}: status ${String(a.status)}: ${a.text.slice(0, 300)}`);
  if (a.status >= 400) assertErrorShape(what, a);
}

before(async () => {
  installCrds();
  db = await createTestDatabase("tds_errors");
  work = mkdtempSync(join(tmpdir(), "tds-errors-"));
  const keyFile = join(work, "key.json");
  const key = await loadOrCreateDevKey(keyFile);
  auth = { authorization: `Bearer ${await mintToken(key, { role: "platform-admin", subject: "errors" })}` };
  server = await startServer({ DATABASE_URL: db.url, TDS_AUTH_DEV_KEY_FILE: keyFile });
  const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { requestBody?: unknown }>>;
  };
  operations = [];
  methodsOf = new Map();
  for (const [template, ops] of Object.entries(doc.paths)) {
    // Sample values: an object key holds a slash (%2F), a period is a valid month.
    const path = template
      .replace("{key}", "a%2Fb.csv")
      .replace("{period}", "2025-03")
      .replace(/\{[^}]+\}/g, "x1");
    methodsOf.set(
      path,
      Object.keys(ops).map((m) => m.toUpperCase()),
    );
    for (const [method, op] of Object.entries(ops))
      operations.push({
        method: method.toUpperCase(),
        template,
        path,
        hasBody: op.requestBody !== undefined,
      });
  }
  assert.ok(operations.length > 30, `only ${String(operations.length)} operations documented`);
  assert.ok(
    !operations.some((o) => o.template.startsWith("/v1/sandbox/") || o.template.startsWith("/v1/data/")),
    "the gateway's routes are the gateway's process's (@tds/gateway), not the API's",
  );
});
after(async () => {
  await stopServer(server);
  await db.drop();
  rmSync(work, { recursive: true, force: true });
});

test("an undeclared method on any documented path is a 405 with Allow, with or without a token", async () => {
  for (const [path, methods] of methodsOf) {
    const undeclared = ["QUERY", "PATCH", "DELETE", "PUT", "POST", "OPTIONS"].filter(
      (m) => !methods.includes(m),
    );
    for (const method of undeclared) {
      for (const headers of [{}, auth]) {
        const a = await send(method, path, headers);
        const what = `${method} ${path}${headers === auth ? " (token)" : ""}`;
        assert.equal(a.status, 405, `${what}: ${a.text}`);
        assertErrorShape(what, a);
        const allow = String(a.headers.allow).split(", ");
        for (const m of methods)
          assert.ok(allow.includes(m), `${what}: Allow ${String(a.headers.allow)} lacks ${m}`);
      }
    }
  }
  // An unknown path stays a 404, not a 405, with or without a token (a QUERY without a body type is a 400).
  for (const headers of [{}, auth]) {
    const a = await send("GET", "/v1/nowhere", headers);
    assert.equal(a.status, 404, `GET /v1/nowhere: ${a.text}`);
    assertErrorShape("GET /v1/nowhere", a);
    assertErrorShape("QUERY /v1/nowhere", await send("QUERY", "/v1/nowhere", headers));
  }
});

test("every operation without a body, or with a bad content type, answers 4xx in the error shape", async () => {
  for (const op of operations) {
    if (op.method === "GET" && !op.hasBody) continue;
    for (const headers of [{}, auth]) {
      const what = `${op.method} ${op.template}${headers === auth ? " (token)" : ""}`;
      assertAnswered(`${what} without a body`, await send(op.method, op.path, headers));
      assertAnswered(
        `${what} with an empty JSON body`,
        await send(op.method, op.path, { ...headers, "content-type": "application/json" }),
      );
      assertAnswered(
        `${what} with an unknown content type`,
        await send(op.method, op.path, { ...headers, "content-type": "text/x-nothing" }, "x"),
      );
      assertAnswered(
        `${what} with a malformed content type`,
        await send(op.method, op.path, { ...headers, "content-type": "/;;=" }, "x"),
      );
      assertAnswered(
        `${what} with bad JSON`,
        await send(op.method, op.path, { ...headers, "content-type": "application/json" }, "{"),
      );
    }
  }
});

test("a NUL in any parameter, query value or JSON string is a 400 naming the field", async () => {
  for (const op of operations) {
    const what = `${op.method} ${op.template}`;
    // Each path parameter in turn.
    const names = [...op.template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? "");
    for (const name of names) {
      const path = op.template
        .replace(`{${name}}`, name === "key" ? "a%2F%00b" : "x%00")
        .replace("{key}", "a%2Fb.csv")
        .replace("{period}", "2025-03")
        .replace(/\{[^}]+\}/g, "x1");
      const a = await send(
        op.method,
        path,
        { ...auth, ...(op.hasBody ? { "content-type": "application/json" } : {}) },
        op.hasBody ? "{}" : undefined,
      );
      const body = assertErrorShape(`${what} with NUL in ${name}`, a);
      assert.equal(a.status, 400, `${what} with NUL in ${name}: ${a.text}`);
      assert.equal(body.field, `params/${name}`, `${what}: ${a.text}`);
    }
    const q = await send(op.method, `${op.path}?probe=%00`, auth);
    assert.equal(q.status, 400, `${what} with NUL in the query: ${q.text}`);
    assert.equal(assertErrorShape(`${what} query`, q).field, "querystring/probe");
    if (!op.hasBody) continue;
    // Deep in a JSON body, as a value and as a property name: whatever the route's schema is.
    for (const [payload, field] of [
      [{ description: "credit\u0000" }, "body/description"],
      [[{ data: { participant: "a\u0000" } }], "body/0/data/participant"],
      [{ ["k\u0000"]: 1 }, "body/k\\u0000"],
    ] as const) {
      const a = await send(
        op.method,
        op.path,
        { ...auth, "content-type": "application/json" },
        JSON.stringify(payload),
      );
      const body = assertErrorShape(`${what} with NUL in ${field}`, a);
      assert.equal(a.status, 400, `${what} with NUL in ${field}: ${a.text}`);
      assert.equal(body.field, field, `${what}: ${a.text}`);
    }
  }
});

test("bad percent-encoding, an over-long URL and over-large headers get the error shape", async () => {
  for (const op of operations) {
    const what = `${op.method} ${op.template}`;
    const names = [...op.template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? "");
    for (const name of names) {
      const path = op.template
        .replace(`{${name}}`, name === "key" ? "a%2F%E0%A4%A" : "%zz")
        .replace("{key}", "a%2Fb.csv")
        .replace("{period}", "2025-03")
        .replace(/\{[^}]+\}/g, "x1");
      const a = await send(op.method, path, auth);
      assert.equal(a.status, 400, `${what} with bad encoding in ${name}: ${a.text}`);
      assertErrorShape(`${what} with bad encoding in ${name}`, a);
    }
    // Over every documented maxLength and fastify's parameter limit, under Node's header limit.
    const long = op.template.replace("{key}", "k".repeat(3000)).replace(/\{[^}]+\}/g, "p".repeat(3000));
    if (long !== op.template)
      assertAnswered(`${what} with 3000-character parameters`, await send(op.method, long, auth));
    const huge = await send(op.method, `${op.path}?q=${"u".repeat(20_000)}`, auth);
    assert.equal(huge.status, 431, `${what} over-long URL: ${huge.text}`);
    assertErrorShape(`${what} over-long URL`, huge);
    const headers = await send(op.method, op.path, { ...auth, "x-padding": "h".repeat(20_000) });
    assert.equal(headers.status, 431, `${what} huge headers: ${headers.text}`);
    assertErrorShape(`${what} huge headers`, headers);
  }
});
