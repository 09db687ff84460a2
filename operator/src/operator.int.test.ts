// The operator end to end on the real control plane and S3 store: a space and
// its participants become Ready with isolated namespaces, buckets, scoped
// credentials and certificates; suspension removes access but keeps data;
// deleting the space removes everything it created.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { DataSpace, Participant } from "@tds/crds";
import { eventually, installCrds, kubeConfig } from "@tds/test/testkit";
import { startOidcProvider, type OidcProvider } from "@tds/test/oidc-provider";
import { KubeClient, dataOf, type KubeObject, kinds } from "@tds/kube";
import { createCertificateAuthority, verifyIssuedBy } from "./identity/pki.ts";
import { VersityGatewayStore, bucketName } from "./storage/objectstore.ts";
import {
  participantManifest,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
} from "@tds/test/operator";

const run = runId();
const space = `op-${run}`;
const client = new KubeClient(kubeConfig());
const store = VersityGatewayStore.fromEnv();
let operator: TestOperator;

const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const ready = (o: { status?: { conditions?: readonly { type: string; status: string }[] } } | undefined) =>
  (o?.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

function s3As(secret: KubeObject): S3Client {
  const d = dataOf(secret);
  return new S3Client({
    endpoint: unb64(d.S3_ENDPOINT),
    region: unb64(d.AWS_REGION),
    forcePathStyle: true,
    credentials: { accessKeyId: unb64(d.AWS_ACCESS_KEY_ID), secretAccessKey: unb64(d.AWS_SECRET_ACCESS_KEY) },
  });
}

// Participant b's OIDC issuer, verified before onboarding: a real OpenID provider.
let issuer: OidcProvider;

before(async () => {
  installCrds();
  issuer = await startOidcProvider({ clients: ["beta"], resources: [`urn:tds:space:${space}`] });
  operator = await startOperator(run);
});

after(async () => {
  await operator.stop();
  await issuer.stop();
});

test("a space and its participants become Ready, isolated, with storage and identity, and deleting the space removes everything", async () => {
  await client.create(kinds.dataSpace, spaceManifest(space, run) as KubeObject);
  await client.create(kinds.participant, participantManifest(`${space}-a`, space) as KubeObject);
  await client.create(
    kinds.participant,
    participantManifest(`${space}-b`, space, {
      identity: { oidc: { issuer: issuer.issuer, subject: "beta" } },
    }) as KubeObject,
  );

  const s = await eventually("the space to be Ready", async () => {
    const o = await client.get<DataSpace & KubeObject>(kinds.dataSpace, space);
    return ready(o) && o.status?.readyParticipants === 2 ? o : undefined;
  });
  const spaceStatus = s.status;
  assert.ok(spaceStatus);
  assert.equal(spaceStatus.participants, 2);
  assert.equal(spaceStatus.observedGeneration, s.metadata.generation);

  // The control namespace is Pod Security restricted, quota-bound and default-deny.
  const controlNs = await client.get(kinds.namespace, `tds-${space}`);
  const nsLabels = controlNs.metadata.labels ?? {};
  assert.equal(nsLabels["pod-security.kubernetes.io/enforce"], "restricted");
  assert.equal(nsLabels["tds.dev/space"], space);
  const quota = await client.get<KubeObject & { status?: { hard?: Record<string, string> } }>(
    kinds.resourceQuota,
    "tds-quota",
    `tds-${space}`,
  );
  assert.equal(quota.status?.hard?.pods, "50");
  const policies = await client.list(kinds.networkPolicy, `tds-${space}`);
  assert.deepEqual(policies.items.map((p) => p.metadata.name).sort(), [
    "allow-dns",
    "allow-participants-to-gateway",
    "allow-space-gateway",
    "default-deny",
  ]);
  const caSecret = await client.get(kinds.secret, "space-ca", `tds-${space}`);

  // Participant a: namespace, bucket with working scoped credentials, a certificate from the space CA.
  const a = await client.get<Participant & KubeObject>(kinds.participant, `${space}-a`);
  const aStatus = a.status;
  assert.ok(aStatus);
  const nsA = `${space}--${space}-a`;
  assert.equal(aStatus.namespace, nsA);
  assert.equal(aStatus.phase, "Active");
  assert.equal(aStatus.bucket, bucketName(space, `${space}-a`));
  assert.equal(await store.bucketExists(bucketName(space, `${space}-a`)), true);
  const creds = await client.get(kinds.secret, "storage-credentials", nsA);
  await s3As(creds).send(
    new PutObjectCommand({ Bucket: aStatus.bucket, Key: "telemetry/day1.csv", Body: "x".repeat(1234) }),
  );
  const identity = await client.get(kinds.secret, "participant-identity", nsA);
  const certPem = unb64(dataOf(identity)["tls.crt"]);
  assert.equal(await verifyIssuedBy(certPem, unb64(dataOf(caSecret)["tls.crt"])), true);
  assert.equal(aStatus.certificate?.secretName, "participant-identity");
  const binding = await client.get<KubeObject & { subjects?: { name: string }[] }>(
    kinds.roleBinding,
    "tds-participant-admin",
    nsA,
  );
  assert.deepEqual(
    binding.subjects?.map((x) => x.name),
    [`${space}-a-admin`],
  );
  // Participant b uses OIDC: no certificate is issued for it.
  const b = await client.get<Participant & KubeObject>(kinds.participant, `${space}-b`);
  assert.equal(b.status?.certificate, undefined);
  assert.equal(b.status?.conditions?.find((c) => c.type === "IdentityVerified")?.status, "True");

  // Bytes stored are sampled into status.
  await eventually("bytesStored to be sampled", async () => {
    const o = await client.get<Participant & KubeObject>(kinds.participant, `${space}-a`);
    return o.status?.bytesStored === 1234;
  });

  // Suspension: certificate revoked, credentials and admin access gone, data kept.
  const serial = aStatus.certificate.serial ?? "";
  await client.mergePatch(kinds.participant, `${space}-a`, undefined, { spec: { suspended: true } });
  await eventually("the participant to be Suspended", async () => {
    const o = await client.get<Participant & KubeObject>(kinds.participant, `${space}-a`);
    return o.status?.phase === "Suspended";
  });
  const crl = await client.get(kinds.configMap, "space-crl", `tds-${space}`);
  assert.match(dataOf(crl)["revoked.json"] ?? "", new RegExp(serial));
  assert.match(dataOf(crl)["ca.crl"] ?? "", /BEGIN X509 CRL/);
  assert.equal(await client.find(kinds.secret, "participant-identity", nsA), undefined);
  assert.equal(await client.find(kinds.roleBinding, "tds-participant-admin", nsA), undefined);
  await assert.rejects(
    s3As(creds).send(new PutObjectCommand({ Bucket: aStatus.bucket, Key: "y", Body: "y" })),
  );
  assert.deepEqual(await store.bucketUsage(bucketName(space, `${space}-a`)), { bytes: 1234n, objects: 1 });

  // Deleting the space removes its participants, their buckets and namespaces, and the control namespace.
  await client.delete(kinds.dataSpace, space);
  await eventually(
    "the space and everything it created to be gone",
    async () => {
      const left = [
        await client.find(kinds.dataSpace, space),
        await client.find(kinds.participant, `${space}-a`),
        await client.find(kinds.participant, `${space}-b`),
        await client.find(kinds.namespace, `tds-${space}`),
        await client.find(kinds.namespace, nsA),
        await client.find(kinds.namespace, `${space}--${space}-b`),
        await client.find(kinds.clusterRole, `tds:space:${space}:admin`),
      ].filter(Boolean);
      return left.length === 0;
    },
    90_000,
  );
  assert.equal(await store.bucketExists(bucketName(space, `${space}-a`)), false);
  assert.equal(await store.bucketExists(bucketName(space, `${space}-b`)), false);
});

test("a quota override above the space maximum is refused with the field named", async () => {
  const name = `q-${run}`;
  await client.create(kinds.dataSpace, spaceManifest(name, run) as KubeObject);
  await client.create(
    kinds.participant,
    participantManifest(`${name}-big`, name, { quota: { storage: "2Ti" } }) as KubeObject,
  );
  const p = await eventually("the participant to be refused", async () => {
    const o = await client.get<Participant & KubeObject>(kinds.participant, `${name}-big`);
    return o.status?.phase === "Failed" ? o : undefined;
  });
  const cond = p.status?.conditions?.find((c) => c.type === "Ready");
  assert.ok(cond);
  assert.equal(cond.reason, "QuotaExceedsSpaceMaximum");
  assert.match(cond.message, /^spec\.quota\.storage: 2Ti exceeds the space maximum of 1Ti$/);
  await client.delete(kinds.dataSpace, name);
  await eventually("the space to be gone", async () => !(await client.find(kinds.dataSpace, name)), 60_000);
});

test("a participant at its storage quota cannot write until it deletes data; reads and deletes still work", async () => {
  const name = `sq-${run}`;
  await client.create(kinds.dataSpace, spaceManifest(name, run) as KubeObject);
  const pname = `${name}-small`;
  await client.create(
    kinds.participant,
    participantManifest(pname, name, { quota: { storage: "4Ki" } }) as KubeObject,
  );
  const writable = (o: Participant & KubeObject) =>
    o.status?.conditions?.find((c) => c.type === "StorageWritable");
  await eventually("the participant to be Ready", async () =>
    ready(await client.get<Participant & KubeObject>(kinds.participant, pname)),
  );
  const ns = `${name}--${pname}`;
  const s3 = s3As(await client.get(kinds.secret, "storage-credentials", ns));
  const bucket = bucketName(name, pname);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a.bin", Body: Buffer.alloc(5000, 1) }));
  const refused = await eventually("writes to be refused", async () => {
    const o = await client.get<Participant & KubeObject>(kinds.participant, pname);
    return writable(o)?.status === "False" ? o : undefined;
  });
  assert.equal(writable(refused)?.reason, "QuotaExceeded");
  assert.equal(refused.status?.bytesStored, 5000);
  await assert.rejects(
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: "b.bin", Body: "more" })),
    (err: Error) => err.name === "AccessDenied",
  );
  // Reading, listing and deleting still work: the way back under the quota.
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a.bin" }));
  assert.equal((await got.Body?.transformToByteArray())?.length, 5000);
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "a.bin" }));
  await eventually("writes to be allowed again", async () => {
    const o = await client.get<Participant & KubeObject>(kinds.participant, pname);
    return writable(o)?.status === "True" ? o : undefined;
  });
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "b.bin", Body: "more" }));
  await client.delete(kinds.dataSpace, name);
  await eventually("the space to be gone", async () => !(await client.find(kinds.dataSpace, name)), 60_000);
});

test("trust anchors: the space publishes one trust bundle, names a bad anchor's field, and issuedBy must name an anchor", async () => {
  const a = `ta-${run}`;
  const b = `tb-${run}`;
  const partner = await createCertificateAuthority("Partner CA", 30);
  await client.create(kinds.dataSpace, spaceManifest(a, run) as KubeObject);
  await eventually("space a Ready", async () =>
    ready(await client.get<DataSpace & KubeObject>(kinds.dataSpace, a)),
  );
  await client.create(
    kinds.dataSpace,
    spaceManifest(b, run, {
      trustAnchors: {
        caBundles: [{ name: "partners", pem: partner.certPem }],
        trustedSpaces: [{ name: a }, { name: `ghost-${run}` }],
      },
    }) as KubeObject,
  );
  type Space = DataSpace & KubeObject;
  const cond = (o: Space, type: string) => o.status?.conditions?.find((c) => c.type === type);
  const sb = await eventually("space b Ready with its trust condition", async () => {
    const o = await client.get<Space>(kinds.dataSpace, b);
    return ready(o) && cond(o, "TrustAnchors") ? o : undefined;
  });
  // A trusted space that does not exist is named, and does not make the space unready.
  assert.equal(cond(sb, "TrustAnchors")?.status, "False");
  assert.equal(cond(sb, "TrustAnchors")?.reason, "TrustedSpaceNotFound");
  assert.match(
    cond(sb, "TrustAnchors")?.message ?? "",
    new RegExp(`spec.trustAnchors.trustedSpaces\\[name=ghost-${run}\\]`),
  );
  const bundle = dataOf(await client.get(kinds.configMap, "trust-bundle", `tds-${b}`));
  const subjects = (bundle["ca.crt"]?.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
  assert.equal(subjects, 3, "own CA, the partners bundle and space a's CA");
  assert.deepEqual(
    (JSON.parse(bundle["anchors.json"] ?? "[]") as { name: string; kind: string }[]).map((x) => [
      x.name,
      x.kind,
    ]),
    [
      [b, "spaceCA"],
      ["partners", "caBundle"],
      [a, "trustedSpace"],
    ],
  );
  await client.mergePatch(kinds.dataSpace, b, undefined, {
    spec: { trustAnchors: { trustedSpaces: [{ name: a }] } },
  });
  await eventually("every anchor resolved", async () => {
    const o = await client.get<Space>(kinds.dataSpace, b);
    return cond(o, "TrustAnchors")?.status === "True" ? o : undefined;
  });

  await client.create(
    kinds.participant,
    participantManifest(`${b}-ext`, b, {
      identity: { certificate: { subject: "CN=ext,O=Ext Ltd,C=CN", issuedBy: "partners" } },
    }) as KubeObject,
  );
  await client.create(
    kinds.participant,
    participantManifest(`${b}-bad`, b, {
      identity: { certificate: { subject: "CN=bad,O=Bad Ltd,C=CN", issuedBy: "nobody" } },
    }) as KubeObject,
  );
  await eventually("the partner-certified participant to be Ready", async () =>
    ready(await client.get<Participant & KubeObject>(kinds.participant, `${b}-ext`)),
  );
  const bad = await eventually("the unknown anchor to be refused", async () => {
    const o = await client.get<Participant & KubeObject>(kinds.participant, `${b}-bad`);
    return o.status?.phase === "Failed" ? o : undefined;
  });
  const badCond = bad.status?.conditions?.find((c) => c.type === "Ready");
  assert.ok(badCond);
  assert.equal(badCond.reason, "UnknownTrustAnchor");
  assert.match(
    badCond.message,
    /^spec\.identity\.certificate\.issuedBy: space .* has no trust anchor nobody \(spec\.trustAnchors names partners, /,
  );
  for (const s of [b, a]) await client.delete(kinds.dataSpace, s);
  await eventually(
    "the spaces to be gone",
    async () => !(await client.find(kinds.dataSpace, a)) && !(await client.find(kinds.dataSpace, b)),
    90_000,
  );
});

test("in a Manual space a participant waits for approval", async () => {
  const name = `m-${run}`;
  await client.create(
    kinds.dataSpace,
    spaceManifest(name, run, { admission: { mode: "Manual" } }) as KubeObject,
  );
  await client.create(kinds.participant, participantManifest(`${name}-p`, name) as KubeObject);
  await eventually("PendingApproval", async () => {
    const o = await client.get<Participant & KubeObject>(kinds.participant, `${name}-p`);
    return o.status?.phase === "PendingApproval";
  });
  assert.equal(await client.find(kinds.namespace, `${name}--${name}-p`), undefined);
  await client.mergePatch(kinds.participant, `${name}-p`, undefined, { spec: { approved: true } });
  await eventually("Active after approval", async () => {
    const o = await client.get<Participant & KubeObject>(kinds.participant, `${name}-p`);
    return o.status?.phase === "Active";
  });
  await client.delete(kinds.dataSpace, name);
  await eventually("the space to be gone", async () => !(await client.find(kinds.dataSpace, name)), 60_000);
});
