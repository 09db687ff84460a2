// The cdk8s example synthesizes the sample industrial space (crds/samples/)
// object for object, and the local kube-apiserver, with the generated CRDs,
// makes the same objects of both (server-side dry-run apply: schema
// validation, CEL rules and defaults). A spec the schema refuses fails at
// synth time, naming the field.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { App, Chart } from "cdk8s";
import { parseAllDocuments } from "yaml";
import { installCrds, kubectl } from "@tds/test/testkit";
import { industrialSpace } from "../examples/industrial-space.ts";
import { DataContract, DataSpace, TdsSpecError } from "./index.ts";

const samples = resolve(import.meta.dirname, "../../../crds/samples");
const run = randomBytes(3).toString("hex");

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: unknown; annotations?: unknown };
  spec?: unknown;
}
const yamlObjects = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);

function synthesized(): { space: Obj[]; usage: Obj[] } {
  const app = new App();
  const { space, usage } = industrialSpace(app);
  return { space: space.toJson() as Obj[], usage: usage.toJson() as Obj[] };
}

const sampleSpace = () => yamlObjects(readFileSync(join(samples, "industrial-space.yaml"), "utf8"));
const sampleUsage = () =>
  yamlObjects(readFileSync(join(samples, "after-onboarding/industrial-space-usage.yaml"), "utf8"));

test("the example synthesizes the samples, object for object", () => {
  const { space, usage } = synthesized();
  assert.deepEqual(space, sampleSpace());
  assert.deepEqual(usage, sampleUsage());
  assert.deepEqual(
    [...space, ...usage].map((o) => o.kind),
    [
      "DataSpace",
      "Participant",
      "Participant",
      "Participant",
      "DataOffer",
      "DataOffer",
      "DataOffer",
      "DataContract",
      "DataContract",
      "SandboxJob",
    ],
  );
});

test("a spec the schema refuses fails at synth time, naming the field", () => {
  const chart = new Chart(new App(), "bad");
  const space = sampleSpace()[0];
  assert.ok(space);
  assert.throws(
    () =>
      new DataSpace(chart, "bad-mode", {
        metadata: { name: "bad" },
        spec: { ...(space.spec as DataSpace["spec"]), admission: { mode: "Sometimes" as "Manual" } },
      }),
    (err: unknown) => err instanceof TdsSpecError && err.field === "spec.admission.mode",
  );
  const contract = sampleUsage().find((o) => o.kind === "DataContract");
  assert.ok(contract);
  assert.throws(
    () =>
      new DataContract(chart, "no-ns", {
        metadata: { name: "c" },
        spec: contract.spec as DataContract["spec"],
      }),
    (err: unknown) => err instanceof TdsSpecError && err.field === "metadata.namespace",
  );
});

// Namespaced samples are dry-run in this run's own namespaces, so parallel runs never share one.
const namespaces = [
  ...new Set(sampleUsage().flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : []))),
];
const inRun = (ns: string) => `${ns.slice(0, 50)}-${run}`;

before(() => {
  installCrds();
  for (const ns of namespaces) kubectl(["create", "namespace", inRun(ns)]);
});
after(() => {
  for (const ns of namespaces)
    kubectl(["delete", "namespace", inRun(ns), "--wait=false", "--ignore-not-found"]);
});

/** What the API server makes of `objs` (server-side apply, dry run): the parts that are the object's own. */
function asServed(objs: Obj[]): unknown[] {
  const moved = objs.map((o) =>
    o.metadata.namespace ? { ...o, metadata: { ...o.metadata, namespace: inRun(o.metadata.namespace) } } : o,
  );
  const out = kubectl(
    ["apply", "--server-side", "--dry-run=server", "--field-manager=tds-cdk8s-test", "-o", "json", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: moved }),
  );
  const parsed = JSON.parse(out) as { items?: Obj[] } & Obj;
  return (parsed.items ?? [parsed]).map((o) => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    name: o.metadata.name,
    namespace: o.metadata.namespace,
    labels: o.metadata.labels,
    annotations: o.metadata.annotations,
    spec: o.spec,
  }));
}

test("the local API server accepts the synthesized YAML and makes the same objects as of the samples", () => {
  const { space, usage } = synthesized();
  const fromCode = asServed([...space, ...usage]);
  const fromYaml = asServed([...sampleSpace(), ...sampleUsage()]);
  assert.equal(fromCode.length, 10);
  assert.deepEqual(fromCode, fromYaml);
});
