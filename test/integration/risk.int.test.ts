// Risk rules (DataSpace spec.risk), on the real control plane, S3 and
// PostgreSQL: an in-process operator limited to this run's space, the real
// dashboard API and its gateway. Refused downloads of a known agreement fire
// refusedAccesses: the finding is stored once although two passes race for
// it, it is an evidence entry, the tds_risk_findings_open metric counts it,
// and the operator shows it as the DataSpace's RiskDetected condition with an
// Event. A space admin closes it: evidenced, and the condition and metric clear.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Registry } from "prom-client";
import type { DataSpace } from "@tds/crds";
import type { EvidenceEntry } from "@tds/wire";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import { riskGauge, riskPass } from "@tds/dashboard-api/risk-evaluator";
import { startApi, type TestApi } from "@tds/test/api";
import { servedEventually } from "@tds/test/gateway";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import {
  activeContract,
  conditionOf,
  participantStorage,
  provisionProviderAndConsumer,
  publishOffer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";

const run = runId();
const space = `rk-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
const client = new KubeClient(kubeConfig());

let api: TestApi;
let operator: TestOperator;
let adminToken: string;
let evidence: EvidenceStore;

/** The evidence entry of an event id, parsed from the canonical bytes its leaf covers. */
async function entryOf(eventId: string): Promise<EvidenceEntry> {
  const stored = await evidence.entryByEventId(space, eventId);
  assert.ok(stored, `evidence entry ${eventId}`);
  return JSON.parse(stored.entry.toString("utf8")) as EvidenceEntry;
}

interface Status {
  conditions?: { type: string; status: string; reason: string; message: string }[];
}
type Obj = KubeObject & { status?: Status };
const telemetry = { namespace: provNs, name: "telemetry" };
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);

before(async () => {
  installCrds();
  api = await startApi("tds_rk");
  adminToken = await api.token({ role: "space-admin", subject: "alice", space });
  operator = await startOperator(run, {
    settings: { riskPollMs: 500 },
    api: await api.operatorClient(),
  });
  await provisionProviderAndConsumer(client, run, space, provider, consumer, {
    risk: {
      refusedAccesses: { windowMinutes: 60, threshold: 3 },
      downloadVolume: {},
      expireAfterHours: 24,
    },
  });
  const { s3, bucket } = await participantStorage(client, space, provider);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/day.csv", Body: "unit,t\n1,80\n" }));
  await publishOffer(client, "telemetry", provNs, { asset: { prefix: "telemetry/", format: "text/csv" } });
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

const asAdmin = (path: string, init: RequestInit = {}) =>
  fetch(`${api.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
  });

test("refused downloads fire refusedAccesses once: evidence, metric, RiskDetected and an Event; closing clears them", async () => {
  const { agreementId, token } = await activeContract(client, "dl", consNs, telemetry);
  const get = (path: string, bearer: string) => api.gateway.data(agreementId, path, bearer);
  const served = await servedEventually("a download served", () => get("telemetry/day.csv", token));
  assert.equal(await served.text(), "unit,t\n1,80\n");

  // Two wrong tokens and one path outside the offer: three refusals of a known agreement.
  for (const [path, bearer, status] of [
    ["telemetry/day.csv", "not-the-token", 401],
    ["telemetry/day.csv", "still-not-the-token", 401],
    ["secrets/other.csv", token, 403],
  ] as const) {
    const r = await get(path, bearer);
    assert.equal(r.status, status);
    await r.body?.cancel();
  }
  const refusals = await api.pool.query<{ code: string }>(
    "select code from gateway_refusals where space = $1 order by refusal_id",
    [space],
  );
  assert.equal(refusals.rows.length, 3);

  const registry = new Registry();
  const gauge = riskGauge(registry);
  evidence = new EvidenceStore(api.pool);
  const spaces = [await client.get<DataSpace & KubeObject>(kinds.dataSpace, space)];
  // Two replicas' passes at once: one finding.
  const passes = await Promise.all(
    [0, 1].map(() => riskPass({ pool: api.pool, evidence, spaces, now: new Date(), gauge })),
  );
  const found = passes.flat().reduce((n, r) => n + r.found, 0);
  assert.equal(found, 1);
  await riskPass({ pool: api.pool, evidence, spaces, now: new Date(), gauge });
  const stored = await api.pool.query<{
    finding_id: string;
    rule: string;
    subject: string;
    observed: string;
    found_evidence: string | null;
    window_start: Date;
  }>(
    "select finding_id::text, rule, subject, observed::text, found_evidence::text, window_start from risk_findings where space = $1",
    [space],
  );
  assert.equal(stored.rows.length, 1);
  const [row] = stored.rows;
  assert.ok(row);
  assert.equal(row.rule, "refusedAccesses");
  assert.equal(row.subject, agreementId);
  assert.equal(row.observed, "3");
  assert.notEqual(row.found_evidence, null);
  const entry = await entryOf(`risk/refusedAccesses/${agreementId}/${row.window_start.toISOString()}/found`);
  assert.equal(entry.action, "risk.finding");
  assert.equal(entry.object.kind, "DataSpace");
  assert.match(
    await registry.metrics(),
    new RegExp(`tds_risk_findings_open\\{space="${space}",rule="refusedAccesses"\\} 1`),
  );

  const detected = await until("RiskDetected True", async () => {
    const c = conditionOf(await client.get<Obj>(kinds.dataSpace, space), "RiskDetected");
    return c?.status === "True" ? c : undefined;
  });
  assert.equal(detected.reason, "RefusedAccesses");
  assert.match(
    detected.message,
    /^1 open risk finding \(refusedAccesses 1\); newest \d+: The gateway refused 3 requests/,
  );
  await until("the RiskDetected Event", async () => {
    const events = await client.list<KubeObject & { reason?: string; type?: string }>(
      kinds.event,
      "default",
      {
        fieldSelector: `involvedObject.name=${space}`,
      },
    );
    return events.items.some((e) => e.reason === "RefusedAccesses" && e.type === "Warning")
      ? true
      : undefined;
  });

  // Listing and closing, as a space admin.
  const listed = (await (await asAdmin(`/v1/spaces/${space}/risk/findings?open=true`)).json()) as {
    findings: { id: string }[];
  };
  assert.deepEqual(
    listed.findings.map((f) => f.id),
    [row.finding_id],
  );
  const id = row.finding_id;
  const closed = await asAdmin(`/v1/spaces/${space}/risk/findings/${id}/close`, {
    method: "POST",
    body: JSON.stringify({ reason: "Consumer rotated a leaked token; INC-7" }),
  });
  assert.equal(closed.status, 200);
  assert.equal(((await closed.json()) as { closedBy: string }).closedBy, "alice");
  const again = await asAdmin(`/v1/spaces/${space}/risk/findings/${id}/close`, {
    method: "POST",
    body: JSON.stringify({ reason: "twice" }),
  });
  assert.equal(again.status, 409);
  assert.equal(((await again.json()) as { code: string }).code, "TDS_ERR_CONFLICT");
  const closing = await entryOf(
    `risk/refusedAccesses/${agreementId}/${row.window_start.toISOString()}/closed`,
  );
  assert.equal(closing.action, "risk.finding-closed");
  assert.equal(closing.actor, "alice");

  await riskPass({ pool: api.pool, evidence, spaces, now: new Date(), gauge });
  assert.match(
    await registry.metrics(),
    new RegExp(`tds_risk_findings_open\\{space="${space}",rule="refusedAccesses"\\} 0`),
  );
  const cleared = await until("RiskDetected False", async () => {
    const c = conditionOf(await client.get<Obj>(kinds.dataSpace, space), "RiskDetected");
    return c?.status === "False" ? c : undefined;
  });
  assert.equal(cleared.reason, "NoOpenFindings");
});

// downloadVolume and unusualHours judge history a test cannot wait for: the
// windows and days before now. The spike and the unusual download are real
// gateway downloads; the history is the same streams dated earlier: usage
// events ingested through POST /v1/usage (downloadVolume reads usage_events),
// and gateway downloads whose ledger rows are re-dated to earlier days
// (unusualHours reads gateway_transfers.created_at).

/** A download through the gateway, read to its end; the transfer's id once its bytes are metered. */
async function download(c: { agreementId: string; token: string }, path: string, idem: string) {
  const r = await api.gateway.data(c.agreementId, path, c.token, { "idempotency-key": idem });
  assert.equal(r.status, 200, await r.clone().text());
  const body = await r.text();
  const tid = r.headers.get("tds-transfer-id") ?? "";
  // The bytes are metered when the stream closes, after the answer.
  const metered = await until(`transfer ${tid} metered`, async () => {
    const { rows } = await api.pool.query<{ event_time: Date }>(
      "select event_time from usage_events where source = 'tds-gateway' and id like $1",
      [`${tid}/bytes/%`],
    );
    return rows[0];
  });
  return { tid, body, meteredAt: metered.event_time };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The findings of a rule, as stored. */
const findingsOf = async (rule: string) =>
  (
    await api.pool.query<{ subject: string; observed: string; threshold: string; window_start: Date }>(
      `select subject, observed::text, threshold::text, window_start from risk_findings
        where space = $1 and rule = $2 order by window_start`,
      [space, rule],
    )
  ).rows;

test("downloadVolume: a real download over ten times the consumer's median window fires, with evidence and RiskDetected", async () => {
  const c = await activeContract(client, "volume", consNs, telemetry);
  const { s3, bucket } = await participantStorage(client, space, provider);
  const big = "unit,t\n" + "1,80\n".repeat(800);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/month.csv", Body: big }));
  const spike = await download(c, "telemetry/month.csv", "volume-1");
  assert.equal(spike.body, big);

  // The consumer's usual volume: 10 bytes in each of three windows on earlier days, from the
  // metering stream the rule reads (a test cannot wait days for them), ingested as usage events.
  const windowStart = Math.floor(spike.meteredAt.getTime() / HOUR) * HOUR;
  const earlier = [1, 2, 3].map((days) => new Date(windowStart - days * DAY + 5 * 60_000));
  const ingest = await asAdmin("/v1/usage", {
    method: "POST",
    body: JSON.stringify(
      earlier.map((time, i) => ({
        specversion: "1.0",
        id: `baseline/${run}/${String(i)}`,
        source: "tds-risk-test",
        type: "dev.tds.usage.v1",
        time: time.toISOString(),
        subject: `${consNs}/volume`,
        data: {
          space,
          participant: consumer,
          provider,
          offer: "telemetry",
          contract: "volume",
          meter: "transfer.bytes",
          quantity: 10,
        },
      })),
    ),
  });
  assert.equal(ingest.status, 200, await ingest.text());

  evidence = new EvidenceStore(api.pool);
  const spaces = [await client.get<DataSpace & KubeObject>(kinds.dataSpace, space)];
  await riskPass({ pool: api.pool, evidence, spaces, now: new Date() });
  // Every byte of the consumer in the spike's window, whichever of this file's downloads fell in it.
  const { rows: inWindow } = await api.pool.query<{ bytes: string }>(
    `select sum(quantity)::text as bytes from usage_events
      where space = $1 and participant = $2 and meter = 'transfer.bytes'
        and event_time >= $3 and event_time < $4`,
    [space, consumer, new Date(windowStart), new Date(windowStart + HOUR)],
  );
  assert.ok(Number(inWindow[0]?.bytes) >= Buffer.byteLength(big));
  assert.deepEqual(
    (await findingsOf("downloadVolume")).map((f) => [
      f.subject,
      f.observed,
      f.threshold,
      f.window_start.getTime(),
    ]),
    [[consumer, inWindow[0]?.bytes, "100", windowStart]],
  );
  const entry = await entryOf(`risk/downloadVolume/${consumer}/${new Date(windowStart).toISOString()}/found`);
  assert.equal(entry.action, "risk.finding");
  const detected = await until("RiskDetected DownloadVolume", async () => {
    const cnd = conditionOf(await client.get<Obj>(kinds.dataSpace, space), "RiskDetected");
    return cnd?.status === "True" && cnd.reason === "DownloadVolume" ? cnd : undefined;
  });
  assert.match(
    detected.message,
    new RegExp(`Consumer ${consumer} downloaded ${inWindow[0]?.bytes ?? ""} bytes`),
  );
});

test("unusualHours: a real download at an hour the agreement never used on its active days fires", async () => {
  await client.mergePatch(kinds.dataSpace, space, undefined, {
    spec: { risk: { unusualHours: { baselineDays: 7, minActiveDays: 3 } } },
  });
  const c = await activeContract(client, "hours", consNs, telemetry);
  // Three downloads through the gateway, dated as if made 2, 3 and 4 days ago at the agreement's
  // usual hours, twelve and thirteen hours from now's (the rule reads gateway_transfers.created_at).
  const first = (new Date().getUTCHours() + 12) % 24;
  const usual = [first, (first + 1) % 24].sort((a, b) => a - b);
  for (const [days, hourOfDay] of [
    [2, first],
    [3, first],
    [4, (first + 1) % 24],
  ] as const) {
    const { tid } = await download(c, "telemetry/day.csv", `hours-${String(days)}`);
    await api.pool.query(
      `update gateway_transfers
          set created_at = date_trunc('day', now(), 'UTC') - make_interval(days => $2) + make_interval(hours => $3)
        where transfer_id = $1`,
      [tid, days, hourOfDay],
    );
  }
  const now = await download(c, "telemetry/day.csv", "hours-now");
  const { rows } = await api.pool.query<{ created_at: Date }>(
    "select created_at from gateway_transfers where transfer_id = $1",
    [now.tid],
  );
  const at = rows[0]?.created_at ?? new Date();
  const hour = at.getUTCHours();
  assert.ok(!usual.includes(hour));

  evidence = new EvidenceStore(api.pool);
  const spaces = [await client.get<DataSpace & KubeObject>(kinds.dataSpace, space)];
  assert.ok(spaces[0]?.spec.risk?.unusualHours);
  await riskPass({ pool: api.pool, evidence, spaces, now: new Date() });
  const windowStart = Math.floor(at.getTime() / HOUR) * HOUR;
  // Only this agreement has active days before today; its finding is the hour of the new download.
  assert.deepEqual(
    (await findingsOf("unusualHours")).map((f) => [
      f.subject,
      f.observed,
      f.threshold,
      f.window_start.getTime(),
    ]),
    [[c.agreementId, String(hour), usual.map((h) => String(h).padStart(2, "0")).join(","), windowStart]],
  );
  const entry = await entryOf(
    `risk/unusualHours/${c.agreementId}/${new Date(windowStart).toISOString()}/found`,
  );
  assert.equal(entry.action, "risk.finding");
  const detected = await until("RiskDetected UnusualHours", async () => {
    const cnd = conditionOf(await client.get<Obj>(kinds.dataSpace, space), "RiskDetected");
    return cnd?.status === "True" && cnd.reason === "UnusualHours" ? cnd : undefined;
  });
  assert.match(
    detected.message,
    new RegExp(
      `Agreement ${c.agreementId} of consumer ${consumer} was used at ${String(hour).padStart(2, "0")}:00 UTC, outside its usual hours \\(${usual.map((h) => String(h).padStart(2, "0")).join(", ")} UTC over 3 active days\\)`,
    ),
  );
});
