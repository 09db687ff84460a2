// Tenancy on the real control plane: names that would let two tenants share a
// namespace are refused by the API server, and the operator never adopts a
// namespace it did not make for the object (it reports why, leaves the
// namespace as it was, and does not delete it with the object).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { DataSpace, Participant } from "@tds/crds";
import { eventually, installCrds, kubeConfig } from "@tds/test/testkit";
import { KubeApiError, KubeClient, type KubeObject, kinds } from "@tds/kube";
import {
  participantManifest,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
} from "@tds/test/operator";

const run = runId();
const client = new KubeClient(kubeConfig());
let operator: TestOperator;

type Conditioned = KubeObject & {
  status?: { phase?: string; conditions?: readonly { type: string; status: string; reason: string }[] };
};
const readyReason = (o: Conditioned | undefined) => o?.status?.conditions?.find((c) => c.type === "Ready");

async function refused(obj: Record<string, unknown>, kind: typeof kinds.dataSpace): Promise<string> {
  try {
    await client.create(kind, obj as KubeObject);
  } catch (err) {
    assert.ok(err instanceof KubeApiError, String(err));
    assert.equal(err.code, 422, err.message);
    return err.message;
  }
  assert.fail(`${String((obj.metadata as { name?: string }).name)} was accepted`);
}

before(async () => {
  installCrds();
  operator = await startOperator(run);
});

after(async () => {
  await operator.stop();
});

test('the API server refuses names with "--" and reserved space names, naming the field', async () => {
  // The case: participant zz--q of space s and participant q of space s--zz
  // would both map to namespace s--zz--q.
  const space = `s${run}`;
  assert.match(
    await refused(participantManifest("zz--q", space), kinds.participant),
    /metadata\.name: .*must not contain "--"/,
  );
  assert.match(
    await refused(spaceManifest(`${space}--zz`, run), kinds.dataSpace),
    /metadata\.name: .*must not contain "--"/,
  );
  for (const name of ["system", `sbx-${run}`]) {
    assert.match(
      await refused(spaceManifest(name, run), kinds.dataSpace),
      new RegExp(`metadata\\.name: .*DataSpace name "${name}" is reserved`),
    );
  }
});

test("a DataSpace whose control namespace exists already is refused, and the namespace is left alone", async () => {
  const name = `adopt-${run}`;
  const ns = `tds-${name}`;
  await client.create(kinds.namespace, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: ns, labels: { "example.com/team": "someone-else" } },
  });
  await client.create(kinds.dataSpace, spaceManifest(name, run) as KubeObject);
  const s = await eventually("the space to be refused its namespace", async () => {
    const o = await client.get<DataSpace & Conditioned>(kinds.dataSpace, name);
    return readyReason(o)?.reason === "NamespaceNotOwned" ? o : undefined;
  });
  assert.equal(readyReason(s)?.status, "False");
  const live = await client.get(kinds.namespace, ns);
  assert.deepEqual(
    Object.keys(live.metadata.labels ?? {}).sort(),
    ["example.com/team", "kubernetes.io/metadata.name"],
    "no label of the operator's was written",
  );
  assert.deepEqual(live.metadata.ownerReferences ?? [], []);
  assert.equal((await client.list(kinds.roleBinding, ns)).items.length, 0, "no RoleBinding in it");
  assert.equal((await client.list(kinds.secret, ns)).items.length, 0, "no CA or key in it");

  // Deleting the space does not take the namespace it never owned.
  await client.delete(kinds.dataSpace, name);
  await eventually("the space to be gone", async () =>
    (await client.find(kinds.dataSpace, name)) ? undefined : true,
  );
  const after = await client.get(kinds.namespace, ns);
  assert.equal(after.metadata.deletionTimestamp, undefined, "the namespace is not being deleted");
  await client.delete(kinds.namespace, ns);
});

test("a Participant whose namespace exists already is Failed with NamespaceNotOwned and gets nothing in it", async () => {
  const space = `own-${run}`;
  const name = `p${run}`;
  const ns = `${space}--${name}`;
  await client.create(kinds.dataSpace, spaceManifest(space, run) as KubeObject);
  await eventually("the space to be Ready", async () => {
    const o = await client.get<DataSpace & Conditioned>(kinds.dataSpace, space);
    return readyReason(o)?.status === "True" ? o : undefined;
  });
  await client.create(kinds.namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await client.create(kinds.participant, participantManifest(name, space) as KubeObject);
  const p = await eventually("the participant to be refused its namespace", async () => {
    const o = await client.get<Participant & Conditioned>(kinds.participant, name);
    return readyReason(o)?.reason === "NamespaceNotOwned" ? o : undefined;
  });
  assert.equal(p.status?.phase, "Failed");
  assert.equal((await client.list(kinds.roleBinding, ns)).items.length, 0, "no admin RoleBinding");
  assert.equal((await client.list(kinds.secret, ns)).items.length, 0, "no storage credentials");

  // Once the foreign namespace is gone, the participant gets its own.
  await client.delete(kinds.namespace, ns);
  const ready = await eventually(
    "the participant to become Active in a namespace of its own",
    async () => {
      const o = await client.get<Participant & Conditioned>(kinds.participant, name);
      return o.status?.phase === "Active" ? o : undefined;
    },
    90_000,
  );
  const own = await client.get(kinds.namespace, ns);
  assert.ok((own.metadata.ownerReferences ?? []).some((r) => r.uid === ready.metadata.uid));
  await client.delete(kinds.dataSpace, space);
});
