// The Pulumi component, run with Pulumi's mock runtime (no engine, no cluster).
// The Kubernetes provider's part of k8s.helm.v3.Chart, the invoke
// kubernetes:helm:template, is answered by the real helm (built from its Go
// module, as the provider embeds it) rendering charts/tds; the SDK then
// registers every rendered object, and the test checks them against what
// `helm template` renders: the CRDs, the RBAC, the Deployments and the four
// admission policy objects, plus the Secrets and ConfigMap the chart expects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parseAllDocuments } from "yaml";
import { helm, renderChart, type ChartObject } from "@tds/test/chart";

interface Declared {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const declared: Declared[] = [];
const invokes: string[] = [];

/** What the provider does for kubernetes:helm:template: helm template of the local chart. */
function helmTemplate(jsonOpts: string): ChartObject[] {
  const o = JSON.parse(jsonOpts) as {
    path: string;
    namespace: string;
    release_name: string;
    values?: Record<string, unknown>;
    skip_crd_rendering?: boolean;
  };
  const dir = mkdtempSync(join(tmpdir(), "tds-pulumi-"));
  try {
    writeFileSync(join(dir, "values.json"), JSON.stringify(o.values ?? {}));
    const text = helm([
      "template",
      o.release_name,
      o.path,
      "--namespace",
      o.namespace,
      "-f",
      join(dir, "values.json"),
      ...(o.skip_crd_rendering ? [] : ["--include-crds"]),
    ]);
    return parseAllDocuments(text)
      .map((d) => d.toJS() as ChartObject | null)
      .filter((x): x is ChartObject => x !== null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const inputs = args.inputs as Record<string, unknown>;
      declared.push({ type: args.type, name: args.name, inputs });
      return { id: `${args.name}-id`, state: inputs };
    },
    call: (args) => {
      invokes.push(args.token);
      if (args.token === "kubernetes:helm:template")
        return { result: helmTemplate((args.inputs as { jsonOpts: string }).jsonOpts) };
      return args.inputs as Record<string, unknown>;
    },
  },
  "tds",
  "test",
);

const { TdsPlatform, chartValues } = await import("./platform.ts");

const args = {
  image: { repository: "registry.example.com/tds/tds", digest: `sha256:${"ef".repeat(32)}` },
  databaseUrl: "postgres://tds@db/tds",
  objectStore: {
    endpoint: "https://s3.example.com",
    adminEndpoint: "https://s3-admin.example.com",
    region: "cn-north-1",
    accessKeyId: "AK",
    secretAccessKey: "SK",
  },
  jwks: JSON.stringify({ keys: [] }),
  gatewayUrl: "https://tds.example.com",
  values: { operator: { resyncSeconds: 120 } },
};

const typeOf = (o: ChartObject) => {
  const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["core", o.apiVersion];
  return `kubernetes:${group ?? ""}/${version ?? ""}:${o.kind}`;
};
const value = <T>(o: pulumi.Output<T>) =>
  new Promise<T>((resolve) => {
    o.apply((v) => {
      resolve(v);
    });
  });

test("TdsPlatform installs the chart: every object helm renders, the four admission policy objects included", async () => {
  const platform = new TdsPlatform("tds", args);
  const urns = await value(platform.urns);
  assert.equal(await value(platform.namespace), "tds-system");
  assert.ok(invokes.includes("kubernetes:helm:template"));
  const chart = declared.find((d) => d.type === "kubernetes:helm.sh/v3:Chart");
  assert.ok(chart, "a k8s.helm.v3.Chart");

  const expected = renderChart({ namespace: "tds-system", values: chartValues(args), includeCrds: true });
  const fromChart = declared.filter(
    (d) => !["tds:platform:TdsPlatform", "kubernetes:helm.sh/v3:Chart"].includes(d.type),
  );
  for (const o of expected) {
    const match = fromChart.find(
      (d) =>
        d.type === typeOf(o) &&
        (d.inputs.metadata as { name?: string } | undefined)?.name === o.metadata.name,
    );
    assert.ok(match, `${typeOf(o)} ${o.metadata.name} is declared`);
    assert.deepEqual(
      match.inputs.spec ?? match.inputs.rules ?? null,
      o.spec ?? o.rules ?? null,
      `${o.kind} ${o.metadata.name}`,
    );
  }
  const count = (t: string) => fromChart.filter((d) => d.type === t).length;
  assert.equal(count("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"), 5);
  assert.equal(count("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"), 2);
  assert.equal(count("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"), 2);
  // The operator, the dashboard API and the gateway, each with its own ClusterRole.
  assert.equal(count("kubernetes:apps/v1:Deployment"), 3);
  assert.equal(count("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"), 3);
  // The component's own objects: the namespace and what the chart expects to exist.
  assert.equal(urns.length, expected.length + 4);

  // The Deployments read the Secrets and the ConfigMap the component made, and run the image by digest.
  const secrets = new Set(
    fromChart
      .filter((d) => d.type === "kubernetes:core/v1:Secret")
      .map((d) => (d.inputs.metadata as { name: string }).name),
  );
  assert.deepEqual([...secrets].sort(), ["tds-database", "tds-object-store"]);
  for (const d of fromChart.filter((x) => x.type === "kubernetes:apps/v1:Deployment")) {
    const pod = (
      d.inputs.spec as {
        template: {
          spec: {
            containers: {
              image: string;
              env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string } } }[];
            }[];
          };
        };
      }
    ).template.spec;
    const c = pod.containers[0];
    assert.ok(c);
    assert.equal(c.image, `registry.example.com/tds/tds@sha256:${"ef".repeat(32)}`);
    for (const e of c.env) {
      const ref = e.valueFrom?.secretKeyRef?.name;
      if (ref) assert.ok(secrets.has(ref), `${e.name} reads Secret ${ref}, which the component makes`);
    }
    // The object store's admin account is the gateway's alone (and the operator's, for buckets).
    if ((d.inputs.metadata as { name: string }).name === "tds-dashboard-api")
      assert.ok(
        !c.env.some(
          (e) => e.valueFrom?.secretKeyRef?.name === "tds-object-store" || e.name.startsWith("TDS_S3_"),
        ),
        "the API's pods hold no S3 credentials",
      );
    if ((d.inputs.metadata as { name: string }).name === "tds-operator") {
      assert.ok(c.env.some((e) => e.name === "TDS_DASHBOARD_TOKEN_FILE"));
      assert.equal(
        c.env.find((e) => e.name === "TDS_RESYNC_MS")?.value,
        "120000",
        "extra values reach the chart",
      );
    }
  }
  assert.equal(
    fromChart
      .filter((d) => d.type === "kubernetes:core/v1:ConfigMap")
      .map((d) => (d.inputs.metadata as { name: string }).name)
      .join(),
    "tds-auth-jwks",
  );
});
