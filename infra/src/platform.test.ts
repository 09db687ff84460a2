// The Pulumi component, run with Pulumi's mock runtime (no engine, no cluster):
// it declares the CRDs, the RBAC from the chart, and restricted Deployments.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";

interface Declared {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const declared: Declared[] = [];

await pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      const inputs = args.inputs as Record<string, unknown>;
      declared.push({ type: args.type, name: args.name, inputs });
      return { id: `${args.name}-id`, state: inputs };
    },
    call: (args) => args.inputs as Record<string, unknown>,
  },
  "tds",
  "test",
);

const { TdsPlatform, loadCrds } = await import("./platform.ts");

test("the component declares every CRD, the chart's RBAC and restricted Deployments", async () => {
  const platform = new TdsPlatform("tds", {
    image: "registry.example.com/tds/tds:0.1.0",
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
  });
  const value = <T>(o: pulumi.Output<T>) =>
    new Promise<T>((resolve) => {
      o.apply((v) => {
        resolve(v);
      });
    });
  const urns = await value(platform.urns);
  const ns = await value(platform.namespace);
  assert.equal(urns.length, declared.filter((d) => d.type !== "tds:platform:TdsPlatform").length);
  assert.equal(ns, "tds-system");
  const byType = (t: string) => declared.filter((d) => d.type === t);
  assert.equal(
    byType("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition").length,
    loadCrds().length,
  );
  assert.equal(loadCrds().length, 5);
  assert.equal(byType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").length, 2);
  assert.equal(byType("kubernetes:rbac.authorization.k8s.io/v1:Role").length, 1);
  const deployments = byType("kubernetes:apps/v1:Deployment");
  assert.deepEqual(deployments.map((d) => d.name).sort(), ["tds-dashboard-api", "tds-operator"]);
  for (const d of deployments) {
    const spec = d.inputs.spec as {
      template: { spec: { containers: { securityContext: Record<string, unknown> }[] } };
    };
    const sc = spec.template.spec.containers[0]?.securityContext;
    assert.deepEqual(sc, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
  }
  const secret = byType("kubernetes:core/v1:Secret")[0];
  assert.ok(secret);
  // The operator reaches the API with a projected token for the API's audience; the API trusts the JWKS.
  const envOf = (n: string) => {
    const d = deployments.find((x) => x.name === n);
    const spec = d?.inputs.spec as { template: { spec: { containers: { env: { name: string }[] }[] } } };
    return (spec.template.spec.containers[0]?.env ?? []).map((e) => e.name);
  };
  for (const v of [
    "TDS_DASHBOARD_URL",
    "TDS_DASHBOARD_TOKEN_FILE",
    "TDS_GATEWAY_URL",
    "TDS_DASHBOARD_API_SERVICEACCOUNT",
  ])
    assert.ok(envOf("tds-operator").includes(v), v);
  for (const v of ["TDS_AUTH_JWKS_FILE", "TDS_AUTH_OPERATOR_SERVICEACCOUNT", "TDS_S3_ACCESS_KEY_ID"])
    assert.ok(envOf("tds-dashboard-api").includes(v), v);
  assert.equal(byType("kubernetes:core/v1:ConfigMap").length, 1);
});
