// The export report and the filing record on the real control plane, S3 store
// and PostgreSQL: an in-process operator (limited to this run's space) and the
// real dashboard API and the gateway beside it, and the space's evidence key. A
// cross-border download allowed (and retried: one transfer, its bytes once)
// and one refused after a negative-list edit are in the month's export report,
// JSON and CSV exactly; the filing record verifies offline with
// `tds evidence verify --filing` against the space's published key, alone and
// against the exported log; a tampered one fails; a participant, a finance
// viewer and a compliance reviewer get 403.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";
import { startApi, type TestApi } from "@tds/test/api";
import { originFor } from "@tds/dashboard-api/evidence-checkpoint";
import { secretSignerFor } from "../../dashboard-api/src/evidence/wiring.ts";
import { main as verifyCli } from "@tds/dashboard-api/evidence-verify-cli";
import type { ExportReport, ExportTransfer } from "@tds/dashboard-api/export-report";
import type { FilingDocument } from "../../dashboard-api/src/filing/record.ts";
import { clusterView } from "../../dashboard-api/src/kube/cluster-view.ts";
import { apiKubeClient } from "@tds/dashboard-api/kube";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import {
  activeContract,
  consumerAbroad,
  participantStorage,
  provisionSpace,
  publishOffer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";

const run = runId();
const space = `fl-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-abroad`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
const client = new KubeClient(kubeConfig());
const object = randomBytes(1000);

let api: TestApi;
let operator: TestOperator;
let work: string;
const tokens: Record<string, string> = {};

type Obj = KubeObject & { status?: { state?: string } };
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);

const rules = (negativeList: unknown[]) => ({
  classification: {
    levels: [
      {
        name: "public",
        rank: 0,
        defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "Allowed" },
      },
    ],
    defaultLevel: "public",
  },
  crossBorder: { homeRegion: "CN", negativeList },
});

const get = (url: string, token: string, accept?: string) =>
  api.app.inject({
    url,
    headers: { authorization: `Bearer ${token}`, ...(accept ? { accept } : {}) },
  });

before(async () => {
  installCrds();
  work = mkdtempSync(join(tmpdir(), "tds-filing-"));
  api = await startApi("tds_filing", {
    gateway: { env: { TDS_GATEWAY_MONITOR_MS: "500" } },
    app: {
      evidence: {
        signerFor: secretSignerFor({
          readSecretKey: clusterView(apiKubeClient(kubeConfig())).readSecretKey,
          origin: (s) => originFor(s),
        }),
      },
    },
  });
  for (const role of ["auditor", "space-admin", "finance-viewer", "compliance-reviewer"] as const)
    tokens[role] = await api.token({ role, subject: `fl-${role}`, space });
  tokens.participant = await api.token({
    role: "participant",
    subject: "c",
    space,
    participant: consumer,
  });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: await api.operatorClient(),
  });
  await provisionSpace(
    client,
    run,
    space,
    { [provider]: { roles: ["provider"] }, [consumer]: consumerAbroad(consumer) },
    rules([]),
  );
  const { s3, bucket } = await participantStorage(client, space, provider);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/a.bin", Body: object }));
  await publishOffer(client, "telemetry", provNs);
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
  rmSync(work, { recursive: true, force: true });
});

const download = (agreementId: string, token: string, idempotencyKey?: string) =>
  api.gateway.data(
    agreementId,
    "telemetry/a.bin",
    token,
    idempotencyKey ? { "idempotency-key": idempotencyKey } : {},
  );

async function entryOf(eventId: string): Promise<{ leafIndex: number; time: string } | undefined> {
  const r = await api.pool.query<{ leaf_index: string; time: string }>(
    "select leaf_index, convert_from(entry, 'UTF8')::jsonb ->> 'time' as time from evidence_entries where space = $1 and event_id = $2",
    [space, eventId],
  );
  const row = r.rows[0];
  return row ? { leafIndex: Number(row.leaf_index), time: row.time } : undefined;
}

async function verify(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => {
    lines.push(a.map(String).join(" "));
  };
  try {
    return { code: await verifyCli(args), out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

test("cross-border transfers, allowed and refused, are in the export report and the filing record, which verifies offline", async () => {
  const { uid, agreementId, token } = await activeContract(client, "abroad", consNs, {
    namespace: provNs,
    name: "telemetry",
  });

  // An allowed export, retried whole with the same Idempotency-Key: one transfer, its 1000 bytes once.
  const first = await download(agreementId, token, "filing-1");
  assert.equal(first.status, 200);
  assert.equal(Buffer.from(await first.arrayBuffer()).length, object.length);
  const transferId = first.headers.get("tds-transfer-id") ?? "";
  const retry = await download(agreementId, token, "filing-1");
  assert.equal(retry.status, 200);
  await retry.arrayBuffer();
  const allowedId = `gateway/${transferId}/export/DE-BY`;
  const allowed = await until("the allowed export's evidence and its metered bytes", async () => {
    const e = await entryOf(allowedId);
    const t = await api.pool.query<{ bytes: string; attempts: number }>(
      "select bytes, attempts from gateway_transfers where transfer_id = $1",
      [transferId],
    );
    return e && t.rows[0]?.attempts === 2 ? e : undefined;
  });

  // The negative list now names DE: the contract is suspended, and one more request is refused.
  await client.mergePatch(kinds.dataSpace, space, undefined, {
    spec: rules([
      {
        dataCategory: "industrial.telemetry",
        destinationRegions: ["DE"],
        reason: "export control list 2026",
      },
    ]),
  });
  await until("the contract Suspended", async () => {
    const o = await client.get<Obj>(kinds.dataContract, "abroad", consNs);
    return o.status?.state === "Suspended" ? true : undefined;
  });
  const refused = await download(agreementId, token);
  assert.equal(refused.status, 403);
  await refused.arrayBuffer();
  const refusedRow = await api.pool.query<{ event_id: string }>(
    "select event_id from gateway_exports where space = $1 and not allowed",
    [space],
  );
  assert.equal(refusedRow.rows.length, 1, "one refused request, one row");
  const refusedId = refusedRow.rows[0]?.event_id ?? "";
  const refusal = await until("the refused export's evidence", () => entryOf(refusedId));

  const period = allowed.time.slice(0, 7);
  const [y, m] = period.split("-").map(Number) as [number, number];
  const common = {
    agreementId,
    contract: { namespace: consNs, name: "abroad", uid },
    offer: { namespace: provNs, name: "telemetry" },
    consumer,
    provider,
    objectKey: "telemetry/a.bin",
    destination: "DE-BY",
    regionSource: "certificate" as const,
  };
  const transfers: ExportTransfer[] = [
    {
      time: allowed.time,
      outcome: "allowed",
      rule: "CrossBorderAllowed",
      message: "Transfer of industrial.telemetry to DE-BY is allowed",
      ...common,
      bytes: 1000,
      transferId,
      evidence: { eventId: allowedId, leafIndex: allowed.leafIndex },
    },
    {
      time: refusal.time,
      outcome: "refused",
      rule: "ExportNegativeListed",
      message:
        "Category industrial.telemetry is on the export negative list for DE-BY: export control list 2026",
      ...common,
      bytes: 0,
      transferId: null,
      evidence: { eventId: refusedId, leafIndex: refusal.leafIndex },
    },
  ];
  const expected: ExportReport = {
    format: "tds.dev/export-report/v1",
    space,
    period,
    from: new Date(Date.UTC(y, m - 1, 1)).toISOString(),
    to: new Date(Date.UTC(y, m, 1)).toISOString(),
    totals: { allowed: 1, refused: 1, bytes: 1000 },
    transfers,
  };
  const json = await get(`/v1/spaces/${space}/exports/${period}`, tokens.auditor ?? "");
  assert.equal(json.statusCode, 200, json.body);
  assert.deepEqual(json.json(), expected);

  const csv = await get(`/v1/spaces/${space}/exports/${period}`, tokens["space-admin"] ?? "", "text/csv");
  assert.equal(csv.statusCode, 200, csv.body);
  assert.match(csv.headers["content-type"] ?? "", /^text\/csv/);
  const row = (t: ExportTransfer) =>
    [
      t.time,
      t.outcome,
      t.rule,
      t.message,
      agreementId,
      consNs,
      "abroad",
      uid,
      provNs,
      "telemetry",
      consumer,
      provider,
      "telemetry/a.bin",
      "DE-BY",
      "certificate",
      String(t.bytes),
      t.transferId ?? "",
      t.evidence.eventId,
      String(t.evidence.leafIndex),
    ].join(",");
  assert.equal(
    csv.body,
    "time,outcome,rule,message,agreement_id,contract_namespace,contract,contract_uid,offer_namespace,offer," +
      "consumer,provider,object_key,destination,region_source,bytes,transfer_id,evidence_event_id," +
      `evidence_leaf_index\r\n${row(transfers[0] as ExportTransfer)}\r\n${row(transfers[1] as ExportTransfer)}\r\n`,
  );
  assert.equal(
    (await get(`/v1/spaces/${space}/exports/${period}?format=csv`, tokens.auditor ?? "")).body,
    csv.body,
  );

  // The filing record: signed by the space's key, verified offline against the published key.
  const filing = await get(`/v1/spaces/${space}/filing/${period}`, tokens.auditor ?? "");
  assert.equal(filing.statusCode, 200, filing.body);
  const doc = filing.json<FilingDocument>();
  assert.deepEqual(doc.record.exports, expected);
  assert.equal(doc.record.rules.negativeList[0]?.reason, "export control list 2026");
  const abroad = doc.record.participants.find((p) => p.name === consumer);
  assert.ok(abroad, "the consumer is filed");
  assert.equal(abroad.identity.verified, true);
  assert.equal(abroad.identity.verifiedRegion, "DE");
  assert.deepEqual(
    doc.record.offers.map((l) => [l.level, l.offers.map((o) => o.name)]),
    [["public", ["telemetry"]]],
  );
  assert.ok(doc.record.evidence.treeSize > refusal.leafIndex, "the checkpoint covers the report's entries");
  const published = await client.get<KubeObject & { data?: Record<string, string> }>(
    kinds.configMap,
    "evidence-public-key",
    `tds-${space}`,
  );
  const keyFile = join(work, "key.pub.pem");
  writeFileSync(keyFile, published.data?.["ed25519.pub.pem"] ?? "");
  const filingFile = join(work, "filing.json");
  writeFileSync(filingFile, filing.body);
  const alone = await verify(["--filing", filingFile, "--public-key", keyFile]);
  assert.equal(alone.code, 0, alone.out);
  assert.match(alone.out, /the note signs this record/);

  const exported = await get(`/v1/spaces/${space}/evidence/export`, tokens.auditor ?? "");
  assert.equal(exported.statusCode, 200);
  const exportFile = join(work, "export.json");
  writeFileSync(exportFile, exported.body);
  const withLog = await verify(["--filing", filingFile, "--public-key", keyFile, "--export", exportFile]);
  assert.equal(withLog.code, 0, withLog.out);
  assert.match(withLog.out, /2 reported transfers are the log's entries at their positions/);
  assert.match(withLog.out, /the filing's checkpoint is the root of the exported log/);

  // Tampered: a byte count, a participant's legal name, the embedded checkpoint.
  const tamperings: [string, (d: FilingDocument) => void, RegExp][] = [
    [
      "bytes",
      (d) => {
        const t = d.record.exports.transfers[0];
        if (t) t.bytes = 10;
      },
      /the record was altered after signing/,
    ],
    [
      "legal name",
      (d) => {
        const p = d.record.participants[0];
        if (p) p.organization.legalName = "Someone Else Ltd";
      },
      /the record was altered after signing/,
    ],
    [
      "checkpoint",
      (d) => {
        d.record.evidence.checkpoint = d.record.evidence.checkpoint.replace(/\n\d+\n/, "\n1\n");
      },
      /embedded checkpoint rejected/,
    ],
  ];
  for (const [what, tamper, why] of tamperings) {
    const bad = structuredClone(doc);
    tamper(bad);
    const file = join(work, `tampered-${what}.json`);
    writeFileSync(file, JSON.stringify(bad));
    const r = await verify(["--filing", file, "--public-key", keyFile]);
    assert.equal(r.code, 1, `${what}: ${r.out}`);
    assert.match(r.out, why, what);
  }

  // Who may not: a participant, a finance viewer and a compliance reviewer.
  for (const role of ["participant", "finance-viewer", "compliance-reviewer"])
    for (const url of [`/v1/spaces/${space}/exports/${period}`, `/v1/spaces/${space}/filing/${period}`]) {
      const r = await get(url, tokens[role] ?? "");
      assert.equal(r.statusCode, 403, `${role} ${url}: ${r.body}`);
      assert.equal(r.json<{ code: string }>().code, "TDS_ERR_FORBIDDEN");
    }
});
