// The filing record signed and verified without I/O: a record over a small
// space verifies with the space's key, alone and against its evidence export;
// every kind of tampering, a foreign key, a checkpoint note passed off as a
// filing note (and the reverse) and a report entry that is not the log's fail.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import type { DataOffer, DataSpace, Participant } from "@tds/crds";
import {
  signerFromPem,
  signCheckpoint,
  verifyCheckpoint,
  type CheckpointSigner,
} from "../evidence/checkpoint.ts";
import type { EvidenceEntry } from "@tds/wire";
import { entryLeafHash } from "../evidence/entry.ts";
import { EXPORT_FORMAT, type EvidenceExport } from "../evidence/export.ts";
import { MemoryTree } from "../evidence/merkle.ts";
import { exportCsv, REPORT_FORMAT, type ExportReport } from "../exports/report.ts";
import { filingRecord, signFiling, type FilingDocument } from "./record.ts";
import { verifyFiling } from "./verifier.ts";

const SPACE = "acme";
const origin = `tds.dev/evidence/${SPACE}`;

function signer(): CheckpointSigner {
  const { privateKey } = generateKeyPairSync("ed25519");
  return signerFromPem(origin, privateKey.export({ format: "pem", type: "pkcs8" }).toString());
}

const entry = (i: number, action: string, eventId: string, time: string): EvidenceEntry => ({
  space: SPACE,
  eventId,
  actor: "system:tds-gateway",
  action,
  time,
  object: { kind: "DataContract", namespace: "acme--beta", name: "c-1", uid: "u-c1" },
  payloadHash: String(i).padStart(64, "0"),
});

const entries = [
  entry(0, "contract.agreed", "c1-agreed", "2026-11-30T10:00:00.000Z"),
  entry(1, "data.export-allowed", "gateway/t1/export/DE-BY", "2026-12-01T10:00:00.000Z"),
  entry(2, "data.export-refused", "gateway/export-refused/r1", "2026-12-01T11:00:00.000Z"),
];

const transfer = {
  agreementId: "agr-1",
  contract: { namespace: "acme--beta", name: "c-1", uid: "u-c1" },
  offer: { namespace: "acme--alpha", name: "telemetry" },
  consumer: "beta",
  provider: "alpha",
  objectKey: "telemetry/a.bin",
  destination: "DE-BY",
  regionSource: "certificate" as const,
};
const report: ExportReport = {
  format: REPORT_FORMAT,
  space: SPACE,
  period: "2026-12",
  from: "2026-12-01T00:00:00.000Z",
  to: "2027-01-01T00:00:00.000Z",
  totals: { allowed: 1, refused: 1, bytes: 1000 },
  transfers: [
    {
      time: "2026-12-01T10:00:00.000Z",
      outcome: "allowed",
      rule: "CrossBorderAllowed",
      message: "Transfer of industrial.telemetry to DE-BY is allowed",
      ...transfer,
      bytes: 1000,
      transferId: "t1",
      evidence: { eventId: "gateway/t1/export/DE-BY", leafIndex: 1 },
    },
    {
      time: "2026-12-01T11:00:00.000Z",
      outcome: "refused",
      rule: "ExportNegativeListed",
      message: 'Category industrial.telemetry is on the export negative list for DE-BY: "list", 2026',
      ...transfer,
      bytes: 0,
      transferId: null,
      evidence: { eventId: "gateway/export-refused/r1", leafIndex: 2 },
    },
  ],
};

const space = {
  metadata: { name: SPACE },
  spec: {
    displayName: "Acme space",
    crossBorder: {
      homeRegion: "CN",
      negativeList: [{ dataCategory: "industrial.telemetry", destinationRegions: ["DE"], reason: "list" }],
    },
    metering: { currency: "CNY", priceSheet: {} },
  },
} as unknown as DataSpace & { metadata: { name: string } };
const participant = (name: string, subject: string, region: string) =>
  ({
    metadata: { name },
    spec: {
      dataSpace: SPACE,
      organization: { legalName: `${name} Ltd`, registrationId: `R-${name}`, region },
      identity: { certificate: { subject } },
      roles: ["provider", "consumer"],
    },
    status: {
      phase: "Active",
      certificate: { secretName: "cert", serial: "0a" },
      conditions: [],
    },
  }) as unknown as Participant & { metadata: { name: string } };
const offer = (name: string, level: string) =>
  ({
    metadata: { name, namespace: "acme--alpha" },
    spec: {
      title: name,
      classification: level,
      dataCategory: "industrial.telemetry",
      regionOfOrigin: "CN-SH",
      asset: { prefix: "t/" },
      policy: { purposes: ["research"], accessMode: "download" },
    },
    status: { conditions: [{ type: "Ready", status: "True", reason: "Published" }] },
  }) as unknown as DataOffer & { metadata: { name: string } };

async function fixture(): Promise<{ key: CheckpointSigner; doc: FilingDocument; log: EvidenceExport }> {
  const key = signer();
  const tree = new MemoryTree(entries.map(entryLeafHash));
  const checkpoint = await signCheckpoint(
    { origin, treeSize: 3, rootHash: tree.root(), time: "2026-12-02T00:00:00.000Z" },
    key,
  );
  const record = filingRecord(
    {
      space,
      participants: [
        participant("beta", "CN=beta,O=beta Ltd,C=DE", "DE-BY"),
        participant("alpha", "CN=alpha,C=CN", "CN-SH"),
      ],
      offers: [offer("telemetry", "important"), offer("archive", "secret"), offer("open", "public")],
      checkpoint,
      exports: report,
      issuedAt: new Date("2026-12-02T00:00:01.000Z"),
      signer: key,
    },
    "2026-12",
  );
  const log: EvidenceExport = {
    format: EXPORT_FORMAT,
    space: SPACE,
    origin,
    treeSize: 3,
    entries: entries.map((e, i) => ({
      leafIndex: i,
      leafHash: Buffer.from(entryLeafHash(e)).toString("base64"),
      entry: e,
    })),
    checkpoints: [checkpoint.note],
  };
  return { key, doc: await signFiling(record, key), log };
}

const failed = (checks: { ok: boolean; what: string }[]) => checks.filter((c) => !c.ok).map((c) => c.what);

test("a filing record verifies with the space's key, alone and against the exported log", async () => {
  const { key, doc, log } = await fixture();
  assert.deepEqual(failed(verifyFiling({ document: doc, publicKey: key.publicKey })), []);
  const withLog = verifyFiling({ document: doc, publicKey: key.publicKey, export: log });
  assert.deepEqual(failed(withLog), []);
  assert.ok(
    withLog.some(
      (c) =>
        c.what ===
        "2 reported transfers are the log's entries at their positions (event, action, time, contract)",
    ),
  );
  // Participants by name, verified regions from the certificate; offers by level, rank order, unknown levels last.
  assert.deepEqual(
    doc.record.participants.map((p) => [p.name, p.identity.verified, p.identity.verifiedRegion]),
    [
      ["alpha", true, "CN"],
      ["beta", true, "DE"],
    ],
  );
  assert.deepEqual(
    doc.record.offers.map((l) => [l.level, l.rank, l.offers.map((o) => o.name)]),
    [
      ["public", 0, ["open"]],
      ["internal", 1, []],
      ["important", 2, ["telemetry"]],
      ["core", 3, []],
      ["secret", null, ["archive"]],
    ],
  );
  assert.match(
    doc.note,
    /^tds\.dev\/filing\/acme\n2026-12\n[A-Za-z0-9+/]{43}=\ntime 2026-12-02T00:00:01\.000Z\n\n\u2014 tds\.dev\/evidence\/acme /u,
  );
});

test("tampering, another key, and notes passed off as one another fail", async () => {
  const { key, doc, log } = await fixture();
  const cases: [string, (d: FilingDocument) => void, RegExp][] = [
    [
      "a byte count",
      (d) => {
        (d.record.exports.transfers[0] as { bytes: number }).bytes = 999;
      },
      /altered after signing/,
    ],
    [
      "a rule",
      (d) => {
        d.record.rules.negativeList = [];
      },
      /altered after signing/,
    ],
    [
      "the period",
      (d) => {
        d.record.period = "2026-11";
      },
      /altered after signing/,
    ],
    [
      "an added member",
      (d) => {
        (d.record.operator as Record<string, unknown>).extra = "x";
      },
      /altered after signing/,
    ],
    [
      "the note",
      (d) => {
        d.note = d.note.replace("2026-12\n", "2026-11\n");
      },
      /signature by tds\.dev\/evidence\/acme does not verify/,
    ],
    [
      "the checkpoint",
      (d) => {
        d.record.evidence.checkpoint = d.record.evidence.checkpoint.replace("\n3\n", "\n2\n");
      },
      /embedded checkpoint rejected/,
    ],
    [
      "a checkpoint as the note",
      (d) => {
        d.note = d.record.evidence.checkpoint;
      },
      /does not sign this record/,
    ],
  ];
  for (const [what, tamper, why] of cases) {
    const bad = structuredClone(doc);
    tamper(bad);
    const f = failed(verifyFiling({ document: bad, publicKey: key.publicKey }));
    assert.ok(
      f.some((w) => why.test(w)),
      `${what}: ${f.join("; ")}`,
    );
  }
  assert.match(
    failed(verifyFiling({ document: doc, publicKey: signer().publicKey })).join("; "),
    /no signature by tds\.dev\/evidence\/acme with this key/,
  );
  // The filing note is no checkpoint.
  assert.throws(() => verifyCheckpoint(doc.note, origin, key.publicKey), /not a decimal number/);
  // A report entry that is not the log's: another event at that position.
  const moved = structuredClone(doc);
  (moved.record.exports.transfers[1] as { evidence: { leafIndex: number } }).evidence.leafIndex = 0;
  const resigned = await signFiling(moved.record, key);
  assert.match(
    failed(verifyFiling({ document: resigned, publicKey: key.publicKey, export: log })).join("; "),
    /reported transfers differ from the log's entries: gateway\/export-refused\/r1/,
  );
});

test("the export report's CSV: one row a transfer, fields quoted as RFC 4180 says", () => {
  assert.equal(
    exportCsv(report),
    "time,outcome,rule,message,agreement_id,contract_namespace,contract,contract_uid,offer_namespace,offer," +
      "consumer,provider,object_key,destination,region_source,bytes,transfer_id,evidence_event_id,evidence_leaf_index\r\n" +
      "2026-12-01T10:00:00.000Z,allowed,CrossBorderAllowed,Transfer of industrial.telemetry to DE-BY is allowed," +
      "agr-1,acme--beta,c-1,u-c1,acme--alpha,telemetry,beta,alpha,telemetry/a.bin,DE-BY,certificate,1000,t1," +
      "gateway/t1/export/DE-BY,1\r\n" +
      '2026-12-01T11:00:00.000Z,refused,ExportNegativeListed,"Category industrial.telemetry is on the export ' +
      'negative list for DE-BY: ""list"", 2026",agr-1,acme--beta,c-1,u-c1,acme--alpha,telemetry,beta,alpha,' +
      "telemetry/a.bin,DE-BY,certificate,0,,gateway/export-refused/r1,2\r\n",
  );
});
