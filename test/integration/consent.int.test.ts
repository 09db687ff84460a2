// Personal data under consent, on the real control plane, S3 store and
// PostgreSQL: an in-process operator (limited to this run's space) and the
// real dashboard API with its gateway. A contract for a personal-data offer
// without consent is refused; a data subject's consent lets one be agreed and
// used (metered through the gateway); revoking it refuses the next request
// naming the rule, cuts the open stream and suspends the contract with the
// rule, all evidenced; the holder recording the consent again lifts the
// suspension. Bad input names the field.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";
import { startApi, type TestApi } from "@tds/test/api";
import { cutShort, servedEventually } from "@tds/test/gateway";
import { KubeClient, type KubeObject, kinds } from "@tds/kube";
import {
  activeContract,
  conditionOf,
  contractManifest,
  participantStorage,
  provisionProviderAndConsumer,
  publishOffer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";

const run = runId();
const space = `cs-${run}`;
const holder = `${space}-hosp`;
const clinic = `${space}-clinic`;
const holderNs = `${space}--${holder}`;
const clinicNs = `${space}--${clinic}`;
const client = new KubeClient(kubeConfig());
const big = randomBytes(32 * 1024 * 1024);
const SUBJECT = "subj-7f3a91";

let api: TestApi;
let operator: TestOperator;
const tokens: Record<string, string> = {};

interface Status {
  state?: string;
  agreementId?: string;
  rejection?: { reason: string; message: string };
  suspension?: { rule: string; message: string };
  history?: { action: string; reason: string; message?: string; logIndex?: number }[];
  conditions?: { type: string; status: string; reason: string; message: string }[];
}
type Obj = KubeObject & { status?: Status };
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);
const records = { namespace: holderNs, name: "records" };
const getContract = (name: string) => client.get<Obj>(kinds.dataContract, name, clinicNs);

interface ConsentAnswer {
  id: string;
  state: string;
  subject?: string;
  evidence: { granted?: { eventId: string }; revoked?: { eventId: string } };
  revocation?: { revokedAt: string; revokedAs: string; reason?: string };
}
interface Problem {
  code: string;
  field?: string;
  detail: string;
}

const call = (token: string, method: string, path: string, body?: unknown) =>
  fetch(`${api.url}/v1/spaces/${space}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

const consentBody = (over: Record<string, unknown> = {}) => ({
  offer: { namespace: holderNs, name: "records" },
  purpose: "care",
  consumer: { participant: clinic },
  validity: { notAfter: new Date(Date.now() + 86_400_000).toISOString() },
  ...over,
});

before(async () => {
  installCrds();
  api = await startApi("tds_cs", { gateway: { env: { TDS_GATEWAY_MONITOR_MS: "500" } } });
  tokens.operator = await api.token({ role: "operator", subject: "system:tds-operator" });
  tokens.subject = await api.token({
    role: "data-subject",
    subject: SUBJECT,
    space,
    participant: holder,
  });
  tokens.holder = await api.token({
    role: "participant",
    subject: `${holder}-admin`,
    space,
    participant: holder,
  });
  tokens.clinic = await api.token({ role: "participant", subject: "c", space, participant: clinic });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 2_000 },
    api: { url: api.url, token: () => Promise.resolve(tokens.operator ?? "") },
  });
  await provisionProviderAndConsumer(client, run, space, holder, clinic);
  const storage = await participantStorage(client, space, holder);
  await storage.s3.send(new PutObjectCommand({ Bucket: storage.bucket, Key: "records/big.bin", Body: big }));
  await storage.s3.send(
    new PutObjectCommand({ Bucket: storage.bucket, Key: "records/summary.json", Body: '{"visits":3}' }),
  );
  for (const [name, personalData] of [
    ["records", true],
    ["catalog", false],
  ] as const)
    await publishOffer(client, name, holderNs, {
      dataCategory: "health.records",
      personalData,
      asset: { prefix: "records/", format: "application/octet-stream" },
      policy: { purposes: ["care", "research"], accessMode: "download" },
    });
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

const download = (agreementId: string, token: string, key = "records/big.bin") =>
  api.gateway.data(agreementId, key, token);

test("bad consent input is refused naming the field", async () => {
  const cases: [string, string, Record<string, unknown>, number, string][] = [
    [
      "subject",
      tokens.subject ?? "",
      consentBody({ validity: { notAfter: "2020-01-01T00:00:00Z" } }),
      400,
      "body/validity/notAfter",
    ],
    [
      "subject",
      tokens.subject ?? "",
      consentBody({ validity: { notBefore: "2030-02-01T00:00:00Z", notAfter: "2030-01-01T00:00:00Z" } }),
      400,
      "body/validity/notAfter",
    ],
    ["subject", tokens.subject ?? "", consentBody({ purpose: "marketing" }), 400, "body/purpose"],
    ["subject", tokens.subject ?? "", consentBody({ consumer: {} }), 400, "body/consumer/participant"],
    [
      "subject",
      tokens.subject ?? "",
      consentBody({ offer: { namespace: holderNs, name: "catalog" } }),
      400,
      "body/offer",
    ],
    [
      "subject",
      tokens.subject ?? "",
      consentBody({ offer: { namespace: holderNs, name: "nothing" } }),
      404,
      "body/offer/name",
    ],
    [
      "subject",
      tokens.subject ?? "",
      consentBody({ offer: { namespace: "elsewhere--x", name: "records" } }),
      400,
      "body/offer/namespace",
    ],
    ["subject", tokens.subject ?? "", consentBody({ subject: "someone-else" }), 403, "body/subject"],
    ["holder", tokens.holder ?? "", consentBody(), 400, "body/subject"],
  ];
  for (const [who, token, body, status, field] of cases) {
    const res = await call(token, "POST", "/consents", body);
    const p = (await res.json()) as Problem;
    assert.equal(res.status, status, `${who} ${JSON.stringify(body)}: ${p.detail}`);
    assert.equal(p.field, field, `${who} ${JSON.stringify(body)}: ${p.detail}`);
  }
  // The consumer may not record consents for the holder's offers.
  const foreign = await call(tokens.clinic ?? "", "POST", "/consents", consentBody({ subject: SUBJECT }));
  assert.equal(foreign.status, 403);
});

test("a contract for personal data without consent is refused (ConsentMissing)", async () => {
  await client.create(kinds.dataContract, contractManifest("without", clinicNs, records));
  const c = await until("the contract decided", async () => {
    const o = await getContract("without");
    return o.status?.state === "Rejected" ? o : undefined;
  });
  assert.equal(c.status?.rejection?.reason, "ConsentMissing");
  assert.equal(conditionOf(c, "Ready")?.reason, "ConsentMissing");
  assert.match(
    c.status.rejection.message,
    /holds personal data and no consent of its data subject allows research/,
  );
});

test("consent granted, a contract under it used and metered; revocation refuses, cuts the stream and suspends; consent again restores it", async () => {
  // The data subject consents for itself.
  const res = await call(tokens.subject ?? "", "POST", "/consents", consentBody());
  const given = (await res.json()) as ConsentAnswer;
  assert.equal(res.status, 201, JSON.stringify(given));
  assert.equal(given.state, "Granted");
  assert.equal(given.subject, SUBJECT);
  assert.equal(given.evidence.granted?.eventId, `consent/${given.id}/granted`);

  const { agreementId, uid, token } = await activeContract(client, "care", clinicNs, records, {
    purpose: "care",
  });

  // A metered use through the gateway.
  const small = await download(agreementId, token, "records/summary.json");
  assert.equal(small.status, 200, await small.clone().text());
  assert.equal(await small.text(), '{"visits":3}');
  const use = await until("the access counted", async () => {
    const r = await fetch(`${api.url}/v1/spaces/${space}/agreements/${agreementId}`, {
      headers: { authorization: `Bearer ${tokens.operator ?? ""}` },
    });
    const u = (await r.json()) as { accesses: number; bytes: number };
    return u.accesses >= 1 && u.bytes >= 12 ? u : undefined;
  });
  assert.equal(use.bytes, 12);

  // An open stream, then the subject revokes.
  const open = await download(agreementId, token);
  assert.equal(open.status, 200);
  const reader = (open.body as ReadableStream<Uint8Array>).getReader();
  assert.equal((await reader.read()).done, false);
  // The operator's token is withheld, so it cannot read the consents: it leaves the contract as it
  // is (an unreachable API is no reason to suspend), and what refuses below is the gateway's own check.
  const operatorToken = tokens.operator ?? "";
  tokens.operator = "withheld";
  const t0 = Date.now();
  const rv = await call(tokens.subject ?? "", "POST", `/consents/${given.id}/revoke`, {
    reason: "I moved clinics",
  });
  const revoked = (await rv.json()) as ConsentAnswer;
  assert.equal(rv.status, 200, JSON.stringify(revoked));
  assert.equal(revoked.state, "Revoked");
  assert.equal(revoked.revocation?.revokedAs, "data-subject");
  // The gateway refuses the next request itself, naming the rule (before the operator suspends the contract).
  const refused = await download(agreementId, token, "records/summary.json");
  const problem = (await refused.json()) as Problem;
  assert.equal(refused.status, 403);
  assert.equal(problem.code, "TDS_ERR_POLICY_REFUSED", problem.detail);
  assert.match(
    problem.detail,
    new RegExp(
      `no longer allowed by rule ConsentRevoked: Consent ${given.id} for care by ${clinic} was revoked`,
    ),
  );
  // And cuts the open stream, within one monitor interval (500 ms here) of the revocation.
  assert.equal(await cutShort(reader, big.length), true, "the open stream is cut");
  const cutMs = Date.now() - t0;
  assert.ok(cutMs < 2_000, `cut after ${String(cutMs)} ms`);

  assert.equal((await getContract("care")).status?.state, "Active");
  tokens.operator = operatorToken;
  const suspended = await until("the contract suspended", async () => {
    const o = await getContract("care");
    return o.status?.state === "Suspended" ? o : undefined;
  });
  assert.equal(conditionOf(suspended, "Ready")?.reason, "ConsentRevoked");
  assert.equal(suspended.status?.suspension?.rule, "ConsentRevoked");
  assert.match(
    suspended.status.suspension.message,
    new RegExp(`Consent ${given.id} for care by ${clinic} was revoked at`),
  );
  assert.equal(
    suspended.status.history?.find((h) => h.action === "contract.suspended")?.reason,
    "ConsentRevoked",
  );
  await api.untilEvidence(space, uid, "contract.suspended");
  assert.deepEqual(await api.evidenceActions(space, given.id), ["consent.granted", "consent.revoked"]);
  const suspendedDownload = await download(agreementId, token, "records/summary.json");
  assert.equal(suspendedDownload.status, 403);
  await suspendedDownload.body?.cancel();

  // The holder records a new consent as the subject's agent: the suspension lifts by itself.
  const again = await call(tokens.holder ?? "", "POST", "/consents", consentBody({ subject: SUBJECT }));
  assert.equal(again.status, 201, await again.clone().text());
  const back = await until("the contract back", async () => {
    const o = await getContract("care");
    return o.status?.state === "Active" ? o : undefined;
  });
  assert.equal(
    back.status?.history?.find((h) => h.action === "contract.reinstated")?.reason,
    "ConsentRestored",
  );
  const ok = await servedEventually("a download after consent is given again", () =>
    download(agreementId, token, "records/summary.json"),
  );
  assert.equal(await ok.text(), '{"visits":3}');

  // The subject sees its consents; the operator sees them without the subject.
  const mine = (await (await call(tokens.subject ?? "", "GET", "/consents")).json()) as {
    items: ConsentAnswer[];
  };
  assert.deepEqual(mine.items.map((c) => c.state).sort(), ["Granted", "Revoked"]);
  const op = (await (
    await call(operatorToken, "GET", `/consents?offerNamespace=${holderNs}&offerName=records`)
  ).json()) as {
    items: ConsentAnswer[];
  };
  assert.equal(op.items.length, 2);
  assert.ok(op.items.every((c) => c.subject === undefined));
});
