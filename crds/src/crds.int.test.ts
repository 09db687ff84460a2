// The generated CRDs on a real API server: the samples are accepted, every
// malformed manifest in malformed.cases.ts is rejected by the server itself
// with a message naming the field, immutable fields stay immutable, defaults
// are applied, and kubectl explain / kubectl get tds work.
//
// The CRDs are installed here with server-side apply (idempotent, tolerant of
// other test processes installing them at the same time). Names carry a
// per-run suffix; namespaced samples are moved into this run's namespaces.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { ApiException } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { DELETE, MALFORMED_CASES, setPath, type KindName } from "./malformed.cases.ts";

const crdsDir = join(import.meta.dirname, "..");
const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
const core = kc.makeApiClient(k8s.CoreV1Api);
const suffix = randomBytes(3).toString("hex");
const FIELD_MANAGER = "tds-crds-test";
const SAMPLE_SPACE = "yangtze-industrial";
const run = promisify(execFile);

type Manifest = k8s.KubernetesObject & { spec?: Record<string, unknown> } & Record<string, unknown>;

/** The Status message of a failed API call. */
function statusMessage(err: unknown): string {
  if (!(err instanceof ApiException)) return err instanceof Error ? err.message : String(err);
  const body: unknown = typeof err.body === "string" ? JSON.parse(err.body) : err.body;
  return (body as { message?: string }).message ?? "";
}

function isCode(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

async function retry<T>(what: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: gave up after ${timeoutMs}ms`, { cause: err });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function loadYaml(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS() as Manifest);
}

const crdFiles = readdirSync(join(crdsDir, "generated"))
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => join(crdsDir, "generated", f));
const sampleFiles = ["samples", "samples/after-onboarding"].flatMap((dir) =>
  readdirSync(join(crdsDir, dir))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(crdsDir, dir, f)),
);
const samples = sampleFiles.flatMap(loadYaml);

/** This run's namespace for a sample namespace, so parallel runs never share one. */
function testNamespace(sampleNamespace: string): string {
  return `crds-${suffix}-${sampleNamespace.replace(`${SAMPLE_SPACE}--`, "")}`.slice(0, 63);
}

function localise(m: Manifest): Manifest {
  const copy = structuredClone(m);
  if (copy.metadata?.namespace) copy.metadata.namespace = testNamespace(copy.metadata.namespace);
  return copy;
}

function baseOf(kind: KindName, name?: string): Manifest {
  const found = samples.find((s) => s.kind === kind && (name === undefined || s.metadata?.name === name));
  assert.ok(found, `no sample ${kind} ${name ?? ""}`);
  return localise(found);
}

const namespaces = [
  ...new Set(samples.flatMap((s) => (s.metadata?.namespace ? [testNamespace(s.metadata.namespace)] : []))),
];

const kubectl = join(process.env.TDS_BIN_DIR ?? "", "kubectl");

before(async () => {
  // kubectl, not client-node: KubernetesObjectApi serialises a CRD through its
  // typed model, which silently drops x-kubernetes-* keys given in their JSON
  // spelling. Server-side apply with force is idempotent; a concurrent install
  // by another test process can still conflict, so retry.
  await retry("install the CRDs", () =>
    run(kubectl, [
      "apply",
      "--server-side",
      "--force-conflicts",
      `--field-manager=${FIELD_MANAGER}`,
      ...crdFiles.flatMap((f) => ["-f", f]),
    ]),
  );
  // Established, and the REST endpoints served: a dry-run create of each sample kind succeeds.
  await retry("CRDs served", async () => {
    for (const m of samples.filter((s) => !s.metadata?.namespace)) await objects.create(m, undefined, "All");
  });
  for (const ns of namespaces) {
    try {
      await core.createNamespace({ body: { metadata: { name: ns, labels: { "tds.dev/test": suffix } } } });
    } catch (err) {
      if (!isCode(err, 409)) throw err;
    }
  }
});

after(async () => {
  for (const ns of namespaces) await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

test("every sample is accepted by the API server (server-side dry run)", async () => {
  assert.ok(samples.length >= 8, `expected the full sample space, found ${samples.length} objects`);
  for (const m of samples) {
    const local = localise(m);
    try {
      await objects.create(local, undefined, "All");
    } catch (err) {
      assert.fail(`${m.kind ?? ""} ${m.metadata?.name ?? ""} was rejected: ${statusMessage(err)}`);
    }
  }
  const kinds = new Set(samples.map((s) => s.kind));
  for (const kind of ["DataSpace", "Participant", "DataOffer", "DataContract", "SandboxJob"])
    assert.ok(kinds.has(kind), `samples have no ${kind}`);
});

describe("malformed manifests are rejected by the API server with the field path", { concurrency: 8 }, () => {
  test("the table has at least 100 distinct cases", () => {
    assert.ok(MALFORMED_CASES.length >= 100, `only ${MALFORMED_CASES.length} cases`);
    assert.equal(
      new Set(MALFORMED_CASES.map((c) => c.name)).size,
      MALFORMED_CASES.length,
      "case names repeat",
    );
  });
  for (const c of MALFORMED_CASES) {
    test(c.name, async () => {
      const m = baseOf(c.kind, c.base) as unknown as Record<string, unknown>;
      for (const [path, value] of c.edits)
        setPath(m, path, value === DELETE ? DELETE : structuredClone(value));
      let message = "";
      try {
        await objects.create(m, undefined, "All");
        assert.fail("the API server accepted it");
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        assert.ok(
          isCode(err, 422),
          `expected 422, got ${err instanceof ApiException ? err.code : String(err)}`,
        );
        message = statusMessage(err);
      }
      assert.ok(message.includes(`${c.field}:`), `message does not name ${c.field}: ${message}`);
      if (c.text) assert.ok(message.includes(c.text), `message lacks "${c.text}": ${message}`);
    });
  }
});

describe("stored objects", () => {
  const space = `crds-${suffix}`;
  const created: Manifest[] = [];
  async function create(m: Manifest): Promise<Manifest> {
    const out = await objects.create<Manifest>(m);
    created.push(out);
    return out;
  }
  after(async () => {
    for (const m of created.reverse()) await objects.delete(m).catch(() => undefined);
  });

  test("defaults are applied: a minimal DataSpace gets the four classification levels", async () => {
    const minimal: Manifest = {
      apiVersion: "tds.dev/v1alpha1",
      kind: "DataSpace",
      metadata: { name: space },
      spec: {
        displayName: "Test space",
        crossBorder: { homeRegion: "CN" },
        metering: { currency: "CNY", priceSheet: {} },
      },
    };
    const stored = await create(minimal);
    const spec = stored.spec as {
      admission: { mode: string };
      classification: {
        levels: { name: string; defaultPolicy: { allowedAccessModes: string[] } }[];
        defaultLevel: string;
      };
      sandbox: { runtimeClassName: string; maxDurationSeconds: number };
      metering: { priceSheet: { perAccess: string }; billingPeriod: string };
    };
    assert.equal(spec.admission.mode, "Manual");
    assert.deepEqual(
      spec.classification.levels.map((l) => l.name),
      ["public", "internal", "important", "core"],
    );
    assert.deepEqual(spec.classification.levels[3]?.defaultPolicy.allowedAccessModes, ["computeOnly"]);
    assert.equal(spec.classification.defaultLevel, "internal");
    assert.equal(spec.sandbox.runtimeClassName, "gvisor");
    assert.equal(spec.sandbox.maxDurationSeconds, 3600);
    assert.equal(spec.metering.priceSheet.perAccess, "0");
    assert.equal(spec.metering.billingPeriod, "Monthly");
  });

  test("a Participant's spec.dataSpace cannot change", async () => {
    const p = baseOf("Participant");
    p.metadata = { name: `p-${suffix}` };
    (p.spec as { dataSpace: string }).dataSpace = space;
    const stored = await create(p);
    const changed = structuredClone(stored);
    (changed.spec as { dataSpace: string }).dataSpace = `${space}-other`;
    await assert.rejects(objects.replace(changed), (err: unknown) => {
      assert.ok(isCode(err, 422), statusMessage(err));
      assert.match(statusMessage(err), /spec\.dataSpace: Invalid value: .*dataSpace is immutable/);
      return true;
    });
    // Other fields stay editable.
    const suspended = structuredClone(stored);
    (suspended.spec as { suspended: boolean }).suspended = true;
    await objects.replace(suspended);
  });

  test("a DataContract's offerRef and purpose cannot change", async () => {
    const c = baseOf("DataContract");
    c.metadata = { name: `c-${suffix}`, namespace: namespaces[0] ?? "" };
    const stored = await create(c);
    const otherOffer = structuredClone(stored);
    (otherOffer.spec as { offerRef: { name: string } }).offerRef.name = "another-offer";
    await assert.rejects(objects.replace(otherOffer), (err: unknown) => {
      assert.ok(isCode(err, 422), statusMessage(err));
      assert.match(statusMessage(err), /spec\.offerRef: Invalid value: .*offerRef is immutable/);
      return true;
    });
    const otherPurpose = structuredClone(stored);
    (otherPurpose.spec as { purpose: string }).purpose = "research";
    await assert.rejects(objects.replace(otherPurpose), (err: unknown) => {
      assert.ok(isCode(err, 422), statusMessage(err));
      assert.match(statusMessage(err), /spec\.purpose: Invalid value: .*purpose is immutable/);
      return true;
    });
  });

  test("a DataSpace's bucketPrefix and currency cannot change; its other rules can", async () => {
    const d = baseOf("DataSpace");
    d.metadata = { name: `imm-${suffix}` };
    const stored = await create(d);
    const cases: [string, (spec: Record<string, Record<string, unknown>>) => void, RegExp][] = [
      [
        "bucketPrefix",
        (sp) => (sp.storage = { ...sp.storage, bucketPrefix: "other" }),
        /spec\.storage\.bucketPrefix: Invalid value: .*bucketPrefix is immutable/,
      ],
      // Removing it re-defaults it to "tds", which is a change too when it was set otherwise.
      [
        "currency",
        (sp) => (sp.metering = { ...sp.metering, currency: "EUR" }),
        /spec\.metering\.currency: Invalid value: .*currency is immutable/,
      ],
    ];
    for (const [what, edit, message] of cases) {
      const changed = structuredClone(stored);
      edit(changed.spec as Record<string, Record<string, unknown>>);
      await assert.rejects(objects.replace(changed), (err: unknown) => {
        assert.ok(isCode(err, 422), `${what}: ${statusMessage(err)}`);
        assert.match(statusMessage(err), message);
        return true;
      });
    }
    const described = structuredClone(stored);
    (described.spec as { description: string }).description = "still editable";
    await objects.replace(described);
  });

  test("a DataContract's spec is frozen once agreed: no field the agreement depends on can change", async () => {
    const c = baseOf("DataContract");
    c.metadata = { name: `agreed-${suffix}`, namespace: namespaces[0] ?? "" };
    (c.spec as Record<string, unknown>).requestedAccesses = 1;
    (c.spec as Record<string, unknown>).requestedValidity = { notAfter: "2027-01-01T00:00:00Z" };
    const stored = await create(c);
    const agreedRef = {
      apiVersion: "tds.dev/v1alpha1",
      kind: "DataContract",
      metadata: { name: `agreed-${suffix}`, namespace: namespaces[0] ?? "" },
    };
    // Before agreement the consumer may still change its request.
    const before = structuredClone(stored);
    (before.spec as Record<string, unknown>).requestedAccesses = 2;
    const requested = await objects.replace<Manifest>(before);
    // The operator agrees (status subresource).
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    await api.replaceNamespacedCustomObjectStatus({
      group: "tds.dev",
      version: "v1alpha1",
      namespace: namespaces[0] ?? "",
      plural: "datacontracts",
      name: `agreed-${suffix}`,
      body: {
        ...requested,
        status: { state: "Active", agreementId: "agr-frozen", terms: { maxAccesses: 2 } },
      },
    });
    const agreed = await objects.read<Manifest>(agreedRef);
    const edits: [string, (spec: Record<string, unknown>) => void][] = [
      ["raise requestedAccesses", (sp) => (sp.requestedAccesses = 5)],
      ["remove requestedAccesses", (sp) => delete sp.requestedAccesses],
      ["extend requestedValidity", (sp) => (sp.requestedValidity = { notAfter: "2030-01-01T00:00:00Z" })],
      ["remove requestedValidity", (sp) => delete sp.requestedValidity],
      ["change justification", (sp) => (sp.justification = "changed my mind")],
    ];
    for (const [what, edit] of edits) {
      const changed = structuredClone(agreed);
      edit(changed.spec as Record<string, unknown>);
      await assert.rejects(objects.replace(changed), (err: unknown) => {
        assert.ok(isCode(err, 422), `${what}: ${statusMessage(err)}`);
        assert.match(statusMessage(err), /spec: Invalid value: .*spec is frozen once the contract is agreed/);
        return true;
      });
    }
    // Status is the operator's to write, and stays writable.
    const latest = await objects.read<Manifest>(agreedRef);
    await api.replaceNamespacedCustomObjectStatus({
      group: "tds.dev",
      version: "v1alpha1",
      namespace: namespaces[0] ?? "",
      plural: "datacontracts",
      name: `agreed-${suffix}`,
      body: { ...latest, status: { ...(latest.status as object), accesses: 1 } },
    });
  });

  test("a SandboxJob's spec cannot change, contractRef included", async () => {
    const j = baseOf("SandboxJob");
    j.metadata = { name: `j-${suffix}`, namespace: namespaces[0] ?? "" };
    const stored = await create(j);
    const otherContract = structuredClone(stored);
    (otherContract.spec as { contractRef: { name: string } }).contractRef.name = "another-contract";
    await assert.rejects(objects.replace(otherContract), (err: unknown) => {
      assert.ok(isCode(err, 422), statusMessage(err));
      assert.match(statusMessage(err), /spec\.contractRef: Invalid value: .*contractRef is immutable/);
      return true;
    });
    const otherImage = structuredClone(stored);
    (otherImage.spec as { image: string }).image = "busybox";
    await assert.rejects(objects.replace(otherImage), (err: unknown) => {
      assert.ok(isCode(err, 422), statusMessage(err));
      assert.match(statusMessage(err), /spec: Invalid value: .*spec is immutable/);
      return true;
    });
  });

  test("the status subresource takes status; the main resource ignores it", async () => {
    const c = baseOf("DataContract");
    c.metadata = { name: `s-${suffix}`, namespace: namespaces[0] ?? "" };
    const stored = await create(c);
    const withStatus = structuredClone(stored);
    withStatus.status = {
      state: "Agreed",
      agreementId: "agr-1",
      observedGeneration: 1,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Agreed",
          message: "Contract agreed",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
      latestEvidence: { logIndex: 7, leafHash: "a".repeat(64) },
    };
    const ignored = await objects.replace<Manifest>(withStatus);
    assert.equal(ignored.status, undefined);
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const updated = (await api.replaceNamespacedCustomObjectStatus({
      group: "tds.dev",
      version: "v1alpha1",
      namespace: namespaces[0] ?? "",
      plural: "datacontracts",
      name: `s-${suffix}`,
      body: { ...withStatus, metadata: ignored.metadata },
    })) as Manifest;
    assert.equal((updated.status as { state: string }).state, "Agreed");
    // A malformed status is rejected too: the operator cannot write a state that does not exist.
    await assert.rejects(
      api.replaceNamespacedCustomObjectStatus({
        group: "tds.dev",
        version: "v1alpha1",
        namespace: namespaces[0] ?? "",
        plural: "datacontracts",
        name: `s-${suffix}`,
        body: { ...updated, status: { state: "Pending" } },
      }),
      (err: unknown) => isCode(err, 422) && statusMessage(err).includes("status.state: Unsupported value"),
    );
  });

  test("kubectl explain dataspace.spec shows the descriptions, and kubectl get tds lists every kind", async () => {
    // The OpenAPI document can lag the CRD by a moment after install.
    const explain = await retry("kubectl explain", () => run(kubectl, ["explain", "dataspace.spec"]), 30_000);
    assert.match(explain.stdout, /KIND:\s+DataSpace/);
    assert.match(explain.stdout, /crossBorder\s+<Object> -required-/);
    assert.match(explain.stdout, /The rules of the data space/);
    const region = await run(kubectl, ["explain", "dataspace.spec.crossBorder.homeRegion"]);
    assert.match(region.stdout, /ISO 3166-1\s+alpha-2/);

    const all = await run(kubectl, ["get", "tds", "-A"]);
    assert.match(all.stdout, new RegExp(`dataspace\\.tds\\.dev/${space}`));
    assert.match(all.stdout, new RegExp(`participant\\.tds\\.dev/p-${suffix}`));
    assert.match(all.stdout, new RegExp(`datacontract\\.tds\\.dev/c-${suffix}`));
    assert.match(all.stdout, new RegExp(`sandboxjob\\.tds\\.dev/j-${suffix}`));
    const spaces = await run(kubectl, ["get", "dsp", space]);
    assert.match(spaces.stdout, /^NAME\s+PARTICIPANTS\s+OFFERS\s+READY\s+AGE/);
    const participants = await run(kubectl, ["get", "ptc", `p-${suffix}`]);
    assert.match(participants.stdout, /^NAME\s+SPACE\s+ROLES\s+PHASE\s+READY\s+AGE/);
    const jobs = await run(kubectl, ["get", "sbj", "-n", namespaces[0] ?? "", `j-${suffix}`]);
    assert.match(jobs.stdout, /^NAME\s+CONTRACT\s+PHASE\s+REVIEW\s+AGE/);
    const bySpace = await run(kubectl, [
      "get",
      "ptc",
      `--field-selector=spec.dataSpace=${space}`,
      "-o",
      "name",
    ]);
    assert.equal(bySpace.stdout.trim(), `participant.tds.dev/p-${suffix}`);
  });
});
