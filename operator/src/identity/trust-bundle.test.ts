// The trust bundle: which anchors are accepted, and the field named for each
// one that is not.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as x509 from "@peculiar/x509";
import type { DataSpace } from "@tds/crds";
import { createCertificateAuthority, issueCertificate } from "./pki.ts";
import { buildTrustBundle, caCertificates, trustAnchorNames } from "./trust-bundle.ts";

const space = (trustAnchors: NonNullable<DataSpace["spec"]["trustAnchors"]>): DataSpace =>
  ({ metadata: { name: "s" }, spec: { trustAnchors } }) as unknown as DataSpace;

test("the space CA, CA bundles and trusted spaces make one bundle, own CA first", async () => {
  const own = await createCertificateAuthority("own", 30);
  const a = await createCertificateAuthority("partner-a", 30);
  const b = await createCertificateAuthority("partner-b", 30);
  const other = await createCertificateAuthority("other space", 30);
  const bundle = buildTrustBundle(
    space({
      caBundles: [{ name: "partners", pem: a.certPem + "\n" + b.certPem }],
      trustedSpaces: [{ name: "other" }],
    }),
    own.certPem,
    (n) => (n === "other" ? other.certPem : undefined),
  );
  assert.deepEqual(bundle.problems, []);
  assert.deepEqual(
    bundle.anchors.map((x) => [x.name, x.kind, x.certificates]),
    [
      ["s", "spaceCA", 1],
      ["partners", "caBundle", 2],
      ["other", "trustedSpace", 1],
    ],
  );
  const blocks = bundle.pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  assert.deepEqual(
    blocks.map((b) => new x509.X509Certificate(b).subject),
    ["CN=own", "CN=partner-a", "CN=partner-b", "CN=other space"],
  );
});

test("a leaf certificate, garbage, an expired CA and an unknown trusted space are refused with their field", async () => {
  const own = await createCertificateAuthority("own", 30);
  const ca = await createCertificateAuthority("ca", 30);
  const leaf = await issueCertificate(ca, { subject: "CN=leaf", usage: "client", validForDays: 10 });
  const expired = await createCertificateAuthority("old", 1, new Date(Date.now() - 5 * 86_400_000));
  const bundle = buildTrustBundle(
    space({
      caBundles: [
        { name: "leaf", pem: leaf.certPem },
        { name: "junk", pem: "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----" },
        { name: "old", pem: expired.certPem },
      ],
      trustedSpaces: [{ name: "nowhere" }, { name: "remote", caBundle: leaf.certPem }],
    }),
    own.certPem,
    () => undefined,
  );
  assert.deepEqual(
    bundle.problems.map((p) => [p.field, p.reason]),
    [
      ["spec.trustAnchors.caBundles[name=leaf].pem", "InvalidTrustAnchor"],
      ["spec.trustAnchors.caBundles[name=junk].pem", "InvalidTrustAnchor"],
      ["spec.trustAnchors.caBundles[name=old].pem", "InvalidTrustAnchor"],
      ["spec.trustAnchors.trustedSpaces[name=nowhere]", "TrustedSpaceNotFound"],
      ["spec.trustAnchors.trustedSpaces[name=remote].caBundle", "InvalidTrustAnchor"],
    ],
  );
  assert.match(bundle.problems[0]?.message ?? "", /is not a CA/);
  assert.match(bundle.problems[1]?.message ?? "", /does not parse/);
  assert.match(bundle.problems[2]?.message ?? "", /expired at/);
  // Only the space's own CA is in the bundle.
  assert.deepEqual(
    bundle.anchors.map((a) => a.name),
    ["s"],
  );
  assert.equal(caCertificates("no pem here", new Date()).error, "contains no PEM certificate");
});

test("issuedBy may name any CA bundle or trusted space", () => {
  assert.deepEqual(
    trustAnchorNames(space({ caBundles: [{ name: "a", pem: "" }], trustedSpaces: [{ name: "b" }] })),
    ["a", "b"],
  );
});
