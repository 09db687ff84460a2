import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
// The operator's PKI primitives (the same code that issues the participants' certificates).
import {
  createCertificateAuthority,
  createRevocationList,
  issueCertificate,
  type IssuedCertificate,
} from "../../../operator/src/identity/pki.ts";
import {
  canonicalName,
  MAX_CERTIFICATE_BYTES,
  pemCertificates,
  revokedSerials,
  serialKey,
  verifyCertificateChain,
  type CertificateParticipant,
  type RefusalReason,
  type TrustAnchor,
  type TrustView,
} from "./certificates.ts";

const now = new Date("2026-06-01T00:00:00Z");
const day = 86_400_000;
const der = (c: IssuedCertificate): Buffer => pemCertificates(c.certPem)[0] ?? Buffer.alloc(0);
const x = (c: IssuedCertificate) => new X509Certificate(c.certPem);
const subject = (cn: string) => `CN=${cn},O=${cn} Ltd,C=CN`;

const caA = await createCertificateAuthority("TDS space a CA", 365, now);
const caB = await createCertificateAuthority("TDS space b CA", 365, now);
const caC = await createCertificateAuthority("TDS space c CA", 365, now);
const partner = await createCertificateAuthority("Partner CA", 365, now);
const stranger = await createCertificateAuthority("Stranger CA", 365, now);
const client = (ca: IssuedCertificate, cn: string, extra: { now?: Date; days?: number } = {}) =>
  issueCertificate(ca, {
    subject: subject(cn),
    usage: "client",
    validForDays: extra.days ?? 30,
    now: extra.now ?? now,
  });

const good = await client(caA, "alpha");
const renewed = await client(caA, "alpha"); // a renewal: same subject, new serial, both valid
const revoked = await client(caA, "alpha");
const expired = await client(caA, "alpha", { now: new Date(now.getTime() - 10 * day), days: 1 });
const early = await client(caA, "alpha", { now: new Date(now.getTime() + 2 * day) });
const suspended = await client(caA, "sleepy");
const nobody = await client(caA, "nobody");
const twice = await client(caA, "twin");
const fromPartner = await client(partner, "ext");
const ofB = await client(caB, "beta");
const ofBRevoked = await client(caB, "beta");
const ofStranger = await client(stranger, "alpha");
const serverOnly = await issueCertificate(caA, {
  subject: subject("alpha"),
  usage: "server",
  validForDays: 30,
  now,
});
const crlA = await createRevocationList(caA, [{ serialNumber: revoked.serialNumber, revokedAt: now }], now);
const crlB = await createRevocationList(
  caB,
  [{ serialNumber: ofBRevoked.serialNumber, revokedAt: now }],
  now,
);

const anchor = (
  name: string,
  kind: TrustAnchor["kind"],
  ca: IssuedCertificate,
  revokedSet: ReadonlySet<string> = new Set(),
  crlProblem?: string,
): TrustAnchor => ({
  name,
  kind,
  certificates: [x(ca)],
  revoked: revokedSet,
  ...(crlProblem ? { crlProblem } : {}),
});

const participant = (
  space: string,
  name: string,
  cn: string,
  extra: Partial<CertificateParticipant> = {},
): CertificateParticipant => ({
  space,
  name,
  uid: `uid-${name}`,
  subject: canonicalName(subject(cn)) ?? "",
  suspended: false,
  ...extra,
});

const view = async (): Promise<TrustView> => {
  const spaces = {
    a: {
      space: "a",
      uid: "uid-a",
      anchors: [
        anchor("a", "spaceCA", caA, await revokedSerials(crlA, [x(caA)])),
        anchor("partners", "caBundle", partner),
        anchor("b", "trustedSpace", caB, await revokedSerials(crlB, [x(caB)])),
      ],
    },
    c: { space: "c", uid: "uid-c", anchors: [anchor("c", "spaceCA", caC)] },
    broken: {
      space: "broken",
      uid: "uid-broken",
      anchors: [anchor("broken", "spaceCA", caA, new Set(), "x")],
    },
  } as const;
  const participants = [
    participant("a", "alpha", "alpha"),
    participant("a", "sleepy", "sleepy", { suspended: true }),
    participant("a", "twin-1", "twin"),
    participant("a", "twin-2", "twin"),
    participant("a", "ext", "ext", { issuedBy: "partners" }),
    participant("b", "beta", "beta"),
    participant("c", "alpha-c", "alpha"),
  ];
  return {
    space: (name) => (spaces as Record<string, ReturnType<TrustView["space"]>>)[name],
    spaceCAs: () => [
      { space: "a", certificate: x(caA) },
      { space: "b", certificate: x(caB) },
      { space: "c", certificate: x(caC) },
    ],
    participants: () => participants,
  };
};
const v = await view();

type Expect = { accept: string; anchor: string } | { refuse: RefusalReason; match?: RegExp };
const cases: [string, Buffer[], string, Expect][] = [
  ["a good certificate of the space CA", [der(good)], "a", { accept: "a/alpha", anchor: "spaceCA/a" }],
  [
    "its renewal, while the old one is valid",
    [der(renewed)],
    "a",
    { accept: "a/alpha", anchor: "spaceCA/a" },
  ],
  ["a revoked certificate", [der(revoked)], "a", { refuse: "revoked", match: /was revoked by spaceCA a/ }],
  ["an expired certificate", [der(expired)], "a", { refuse: "expired", match: /expired at 2026-05-23/ }],
  ["a certificate not valid yet", [der(early)], "a", { refuse: "notYetValid" }],
  ["a certificate of an unknown CA", [der(ofStranger)], "a", { refuse: "unknownCA", match: /Stranger CA/ }],
  ["a server-only certificate", [der(serverOnly)], "a", { refuse: "notForClientAuth" }],
  [
    "a suspended participant",
    [der(suspended)],
    "a",
    { refuse: "suspended", match: /a\/sleepy is suspended/ },
  ],
  [
    "a subject no participant declares",
    [der(nobody)],
    "a",
    { refuse: "unknownParticipant", match: /CN=nobody/ },
  ],
  [
    "a subject two participants declare",
    [der(twice)],
    "a",
    { refuse: "ambiguousParticipant", match: /twin-1, a\/twin-2/ },
  ],
  [
    "a caBundle's certificate for the participant issued by it",
    [der(fromPartner)],
    "a",
    { accept: "a/ext", anchor: "caBundle/partners" },
  ],
  [
    "a trusted space's participant, as that space's",
    [der(ofB)],
    "a",
    { accept: "b/beta", anchor: "trustedSpace/b" },
  ],
  [
    "a trusted space's revoked certificate",
    [der(ofBRevoked)],
    "a",
    { refuse: "revoked", match: /trustedSpace b/ },
  ],
  [
    "another space's participant where it is not trusted",
    [der(ofB)],
    "c",
    { refuse: "untrustedSpace", match: /space b, which space c does not trust/ },
  ],
  [
    "space a's subject at space c's door: c's CA did not issue it",
    [der(good)],
    "c",
    { refuse: "untrustedSpace", match: /space a/ },
  ],
  ["a door with no trust bundle", [der(good)], "nowhere", { refuse: "unknownSpace" }],
  ["an anchor whose CRL cannot be used", [der(good)], "broken", { refuse: "revocationUnknown" }],
  [
    "garbage bytes",
    [Buffer.from("not a certificate")],
    "a",
    { refuse: "malformed", match: /certificate 1 of 1 is not a DER/ },
  ],
  [
    "an oversized certificate",
    [Buffer.alloc(MAX_CERTIFICATE_BYTES + 1, 0x30)],
    "a",
    { refuse: "tooLarge", match: /bytes; at most/ },
  ],
  [
    "too many certificates",
    [der(good), der(good), der(good), der(good), der(good)],
    "a",
    { refuse: "tooLarge" },
  ],
  ["no certificate", [], "a", { refuse: "malformed" }],
];

for (const [name, chain, door, expect] of cases) {
  test(`certificate verdict: ${name}`, () => {
    const verdict = verifyCertificateChain(chain, door, v, now);
    if ("accept" in expect) {
      assert.ok(verdict.accepted, verdict.accepted ? "" : `${verdict.reason}: ${verdict.message}`);
      assert.equal(`${verdict.participant.space}/${verdict.participant.name}`, expect.accept);
      assert.equal(`${verdict.anchor.kind}/${verdict.anchor.name}`, expect.anchor);
      assert.equal(verdict.door, door);
    } else {
      assert.ok(!verdict.accepted);
      assert.equal(verdict.reason, expect.refuse, verdict.message);
      if (expect.match) assert.match(verdict.message, expect.match);
    }
  });
}

test("extra certificates that are not CAs do not extend the path", () => {
  const verdict = verifyCertificateChain([der(good), der(ofStranger)], "a", v, now);
  assert.ok(verdict.accepted);
  const other = verifyCertificateChain([der(ofStranger), der(good)], "a", v, now);
  assert.equal(other.accepted ? "accepted" : other.reason, "unknownCA");
});

test("a CRL is used only when the anchor's CA signed it", async () => {
  assert.ok((await revokedSerials(crlA, [x(caA)])).has(serialKey(revoked.serialNumber)));
  await assert.rejects(revokedSerials(crlA, [x(caB)]), /not signed by the anchor's CA/);
  await assert.rejects(
    revokedSerials("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", [x(caA)]),
    /does not parse/,
  );
});

test("serials compare without case or leading zeros", () => {
  assert.equal(serialKey("00ab:CD"), "ABCD");
  assert.equal(serialKey("0"), "0");
});

test("subjects compare as @peculiar/x509 renders them", () => {
  assert.equal(canonicalName("CN=alpha,O=alpha Ltd,C=CN"), canonicalName("CN=alpha, O=alpha Ltd, C=CN"));
});

test("a subject with an escaped comma, quotes or a multi-valued RDN maps to its participant", async () => {
  for (const dn of [
    "CN=shanghai-turbines,O=Shanghai Turbine Works Co.\\, Ltd.,C=CN",
    'CN="q, r",C=CN',
    "CN=a+OU=b,O=c",
    "CN=上海涡轮,C=CN",
  ]) {
    const cert = await issueCertificate(caA, { subject: dn, usage: "client", validForDays: 1, now });
    const p: CertificateParticipant = {
      space: "a",
      name: "dn",
      uid: "u",
      subject: canonicalName(dn) ?? "",
      suspended: false,
    };
    const verdict = verifyCertificateChain([der(cert)], "a", { ...v, participants: () => [p] }, now);
    assert.ok(verdict.accepted, verdict.accepted ? "" : `${dn}: ${verdict.message}`);
  }
});
