// The operator's own RBAC (charts/tds/templates/rbac.yaml) is least privilege:
// no wildcards, no escalate, bind or impersonate; what its ServiceAccount may
// do matches the checked-in list; and that is enough to provision a space.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { chartDir, renderChart } from "@tds/test/chart";
import { eventually, installCrds, kubeConfig, kubeConfigWithToken, kubectl } from "@tds/test/testkit";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import { participantManifest, runId, spaceManifest, startOperator } from "@tds/test/operator";

const run = runId();
const ns = `rbac-${run}`;
const client = new KubeClient(kubeConfig());

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
}

function manifests(): KubeObject[] {
  return renderChart({ namespace: ns, showOnly: ["templates/rbac.yaml"] });
}

test("the operator's and the dashboard API's RBAC have no wildcards and no escalate, bind or impersonate", () => {
  const api: KubeObject[] = renderChart({ namespace: ns, showOnly: ["templates/dashboard-api-rbac.yaml"] });
  const rules = [...manifests(), ...api].flatMap((m) => (m.rules as Rule[] | undefined) ?? []);
  assert.ok(rules.length > 0);
  for (const r of rules) {
    for (const v of [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs]) assert.notEqual(v, "*");
    for (const v of ["escalate", "bind", "impersonate"])
      assert.ok(!r.verbs.includes(v), `verb ${v} in ${JSON.stringify(r)}`);
  }
});

test("what the operator's ServiceAccount can do matches the checked-in list, and it suffices to provision a space", async () => {
  installCrds();
  await client.create(kinds.namespace, { metadata: { name: ns } });
  try {
    kubectl(
      ["apply", "-f", "-"],
      manifests()
        .map((m) => JSON.stringify(m))
        .join("\n"),
    );
    const sa = `system:serviceaccount:${ns}:tds-operator`;
    const list = kubectl(["auth", "can-i", "--list", `--as=${sa}`, "-n", ns]);
    const normalise = (s: string) =>
      s
        .split("\n")
        .slice(1)
        .map((l) => l.trim().replace(/\s+/g, " "))
        .filter(Boolean)
        .sort()
        .join("\n");
    const expected = readFileSync(resolve(chartDir, "rbac.expected.txt"), "utf8");
    assert.equal(
      normalise(list),
      normalise(expected),
      "update charts/tds/rbac.expected.txt only with a reviewed RBAC change",
    );

    // The ServiceAccount's own token, and nothing else, runs a real provisioning.
    const token = await client.request<{ status: { token: string } }>(
      "POST",
      `/api/v1/namespaces/${ns}/serviceaccounts/tds-operator/token`,
      {
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { expirationSeconds: 3600 },
        },
      },
    );
    const kc = kubeConfigWithToken(token.status.token, "tds-operator");
    const operator = await startOperator(run, {
      kc,
      leaseNamespace: ns,
      dashboardApiServiceAccount: `${ns}:tds-dashboard-api`,
    });
    const space = `rb-${run}`;
    try {
      await client.create(
        kinds.dataSpace,
        spaceManifest(space, run, {
          dsp: {
            counterparties: [
              { id: "urn:partner", authorizationSecretRef: { name: "dsp-partner", key: "authorization" } },
            ],
          },
        }) as KubeObject,
      );
      await client.create(kinds.participant, participantManifest(`${space}-p`, space) as KubeObject);
      const ready = (o: KubeObject | undefined) =>
        (
          (o as { status?: { conditions?: { type: string; status: string }[] } } | undefined)?.status
            ?.conditions ?? []
        ).some((c) => c.type === "Ready" && c.status === "True");
      await eventually(
        "provisioning under the operator's own RBAC",
        async () => {
          return (
            ready(await client.find(kinds.dataSpace, space)) &&
            ready(await client.find(kinds.participant, `${space}-p`))
          );
        },
        60_000,
      );
      // The space lets the dashboard API read its evidence signing key
      // (the operator may grant it because it holds the permission itself).
      const api = `system:serviceaccount:${ns}:tds-dashboard-api`;
      const can = (what: string): string => {
        try {
          return kubectl(["auth", "can-i", "get", what, "-n", `tds-${space}`, `--as=${api}`]).trim();
        } catch (err) {
          // kubectl answers "no" with exit status 1.
          const out = (err as { stdout?: unknown }).stdout;
          return typeof out === "string" ? out.trim() : "";
        }
      };
      assert.equal(can("secret/evidence-signing-key"), "yes");
      // and the DSP credentials its spec.dsp names (docs/dsp.md), read by the API's DSP view.
      assert.equal(can("secret/dsp-partner"), "yes");
      assert.equal(can("secret/space-ca"), "no");
      assert.equal(can("secrets"), "no");
      await client.delete(kinds.dataSpace, space);
      await eventually(
        "the space to be removed",
        async () => !(await client.find(kinds.dataSpace, space)),
        90_000,
      );
    } finally {
      await operator.stop();
    }
  } finally {
    await client.delete(kinds.namespace, ns);
  }
});
