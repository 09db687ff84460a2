// The schemas as data: structural, described everywhere, bounded for CEL, and
// turned into the same CRDs and docs every time. No I/O.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { collectFields, renderApiReference } from "./apidocs.ts";
import { buildAllCustomResourceDefinitions, plainSchema, type JsonSchema } from "./crd.ts";
import { KIND_SCHEMAS } from "./kind-schemas.ts";
import { DELETE, MALFORMED_CASES, setPath } from "./malformed.cases.ts";

/** Every sub-schema with its path; metadata is skipped (Kubernetes forbids describing it). */
function walk(schema: JsonSchema, path: string, visit: (s: JsonSchema, path: string) => void): void {
  visit(schema, path);
  const props = schema.properties as Record<string, JsonSchema> | undefined;
  for (const [name, sub] of Object.entries(props ?? {})) {
    if (path === "" && name === "metadata") continue;
    walk(sub, path ? `${path}.${name}` : name, visit);
  }
  if (schema.items) walk(schema.items as JsonSchema, `${path}[]`, visit);
  if (typeof schema.additionalProperties === "object")
    walk(schema.additionalProperties as JsonSchema, `${path}{}`, visit);
}

function everySchema(visit: (kind: string, s: JsonSchema, path: string) => void): void {
  for (const k of KIND_SCHEMAS)
    walk(plainSchema(k.schema), "", (s, p) => {
      visit(k.resource.kind, s, p);
    });
}

test("every field of every kind has a description", () => {
  const missing: string[] = [];
  everySchema((kind, s, path) => {
    // Map values and list items are described by their field.
    if (path.endsWith("{}") || path.endsWith("[]")) return;
    if (typeof s.description !== "string" || s.description.length < 3)
      missing.push(`${kind} ${path || "(root)"}`);
  });
  assert.deepEqual(missing, []);
});

test("schemas are structural: no $ref, const, patternProperties, or untyped nodes", () => {
  const problems: string[] = [];
  everySchema((kind, s, path) => {
    for (const key of ["$ref", "const", "patternProperties", "oneOf", "allOf", "not"])
      if (key in s) problems.push(`${kind} ${path}: ${key}`);
    if (s.type === undefined && s["x-kubernetes-int-or-string"] !== true && !path.endsWith("metadata"))
      problems.push(`${kind} ${path}: no type`);
  });
  assert.deepEqual(problems, []);
});

test("strings and lists are bounded, so the API server can estimate CEL cost", () => {
  const unbounded: string[] = [];
  everySchema((kind, s, path) => {
    if (s.type === "string" && s.maxLength === undefined && s.enum === undefined)
      unbounded.push(`${kind} ${path}: string without maxLength`);
    if (s.type === "array" && s.maxItems === undefined)
      unbounded.push(`${kind} ${path}: list without maxItems`);
    if (s.type === "object" && s.additionalProperties && s.maxProperties === undefined)
      unbounded.push(`${kind} ${path}: map without maxProperties`);
  });
  assert.deepEqual(unbounded, []);
});

test("every CEL rule has a message, and rules with fieldPath point at a declared field", () => {
  const problems: string[] = [];
  everySchema((kind, s, path) => {
    const rules = (s["x-kubernetes-validations"] ?? []) as {
      rule: string;
      message?: string;
      messageExpression?: string;
      fieldPath?: string;
    }[];
    for (const r of rules) {
      if (!r.message && !r.messageExpression) problems.push(`${kind} ${path}: ${r.rule} has no message`);
      if (r.fieldPath) {
        const first = r.fieldPath.split(".")[1] ?? "";
        const props = s.properties as Record<string, unknown> | undefined;
        if (!props || !(first in props))
          problems.push(`${kind} ${path}: fieldPath ${r.fieldPath} is not a field`);
      }
    }
  });
  assert.deepEqual(problems, []);
});

test("the generated CRDs are deterministic", () => {
  const a = buildAllCustomResourceDefinitions().map((c) => stringify(c, { lineWidth: 0 }));
  const b = buildAllCustomResourceDefinitions().map((c) => stringify(c, { lineWidth: 0 }));
  assert.deepEqual(a, b);
  assert.equal(renderApiReference(), renderApiReference());
});

test("each CRD has the group, the tds category, the part-of label, a status subresource and short names", () => {
  // Short names of built-in kinds: a collision would shadow them in kubectl.
  const builtIn = new Set([
    "cm",
    "cs",
    "csr",
    "ds",
    "deploy",
    "ep",
    "ev",
    "hpa",
    "ing",
    "limits",
    "netpol",
    "no",
    "ns",
    "pdb",
    "po",
    "psp",
    "pv",
    "pvc",
    "quota",
    "rc",
    "rs",
    "sa",
    "sc",
    "sts",
    "svc",
    "crd",
    "crds",
    "pc",
    "ds",
  ]);
  const crds = buildAllCustomResourceDefinitions();
  assert.deepEqual(
    crds.map((c) => c.metadata.name),
    [
      "dataspaces.tds.dev",
      "participants.tds.dev",
      "dataoffers.tds.dev",
      "datacontracts.tds.dev",
      "sandboxjobs.tds.dev",
    ],
  );
  for (const crd of crds) {
    const spec = crd.spec as {
      group: string;
      names: { categories: string[]; shortNames: string[] };
      versions: { name: string; subresources: { status: object }; schema: { openAPIV3Schema: JsonSchema } }[];
    };
    assert.equal(spec.group, "tds.dev");
    assert.deepEqual(spec.names.categories, ["tds"]);
    assert.equal(crd.metadata.labels["app.kubernetes.io/part-of"], "tds");
    const [version] = spec.versions;
    assert.ok(version);
    assert.equal(version.name, "v1alpha1");
    assert.deepEqual(version.subresources, { status: {} });
    for (const s of spec.names.shortNames) assert.ok(!builtIn.has(s), `${s} shadows a built-in short name`);
    const props = version.schema.openAPIV3Schema.properties as Record<string, JsonSchema | undefined>;
    const statusProps = props.status?.properties as Record<string, JsonSchema>;
    for (const f of ["conditions", "observedGeneration", "latestEvidence"])
      assert.ok(f in statusProps, `${crd.metadata.name} status has no ${f}`);
    assert.deepEqual(statusProps.conditions?.["x-kubernetes-list-map-keys"], ["type"]);
  }
});

test("printer columns and selectable fields point at declared fields", () => {
  for (const k of KIND_SCHEMAS) {
    const schema = plainSchema(k.schema);
    const paths = [
      ...k.resource.printerColumns.map((c) => c.jsonPath),
      ...(k.resource.selectableFields ?? []),
    ].filter((p) => !p.startsWith(".metadata"));
    for (const jsonPath of paths) {
      let node: JsonSchema | undefined = schema;
      for (const key of jsonPath
        .replace(/\[\?.*?\]/g, "")
        .split(".")
        .filter(Boolean)) {
        node =
          (node?.properties as Record<string, JsonSchema> | undefined)?.[key] ??
          (node?.items as JsonSchema | undefined);
        if (node?.type === "array" && node.items) node = node.items as JsonSchema;
      }
      assert.ok(node, `${k.resource.kind} column ${jsonPath} names no field`);
    }
  }
});

test("money is never a float: every price is a decimal string or an integer", () => {
  const floats: string[] = [];
  everySchema((kind, s, path) => {
    if (s.type === "number") floats.push(`${kind} ${path}`);
  });
  assert.deepEqual(floats, []);
});

test("docs/api.md lists every field of every kind with its type", () => {
  const doc = renderApiReference();
  for (const k of KIND_SCHEMAS) {
    assert.ok(doc.includes(`## ${k.resource.kind}`));
    for (const f of collectFields(plainSchema(k.schema)).filter((f) => /^(spec|status)\./.test(f.path)))
      assert.ok(doc.includes(`\`${f.path}\``), `docs lack ${k.resource.kind} ${f.path}`);
  }
});

test("the malformed-manifest table is large and its cases distinct", () => {
  assert.ok(MALFORMED_CASES.length >= 100);
  assert.equal(new Set(MALFORMED_CASES.map((c) => c.name)).size, MALFORMED_CASES.length);
  for (const kind of ["DataSpace", "Participant", "DataOffer", "DataContract", "SandboxJob"])
    assert.ok(MALFORMED_CASES.filter((c) => c.kind === kind).length >= 10, `few ${kind} cases`);
});

test("setPath sets, creates and deletes nested fields", () => {
  const o: Record<string, unknown> = { spec: { a: [{ b: 1 }, { b: 2 }] } };
  setPath(o, "spec.a[1].b", 3);
  setPath(o, "spec.c.d", "x");
  setPath(o, "spec.a[0]", DELETE);
  assert.deepEqual(o, { spec: { a: [{ b: 3 }], c: { d: "x" } } });
});
