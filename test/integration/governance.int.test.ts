// The space's rules at every access, on the real control plane, S3 store and
// PostgreSQL: an in-process operator (limited to this run's space) and the
// real dashboard API with its gateway. Editing the negative list or a
// classification level suspends an Active contract that the new rules no
// longer allow, with the rule in its status and the evidence log, refuses its
// next request and cuts its open stream; restoring the rule lets the provider
// reinstate it.
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
  consumerAbroad,
  participantStorage,
  provisionSpace,
  publishOffer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";

const run = runId();
const space = `gv-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-abroad`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
const client = new KubeClient(kubeConfig());
const big = randomBytes(32 * 1024 * 1024);

let api: TestApi;
let operator: TestOperator;
const tokens: Record<string, string> = {};

interface Status {
  state?: string;
  agreementId?: string;
  suspension?: { rule: string; message: string };
  history?: { action: string; reason: string; message?: string; logIndex?: number }[];
  conditions?: { type: string; status: string; reason: string; message: string }[];
}
type Obj = KubeObject & { status?: Status };
const suspensionOf = (o: Obj): Status["suspension"] => o.status?.suspension;
const historyOf = (o: Obj): NonNullable<Status["history"]> => o.status?.history ?? [];
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);
const telemetry = { namespace: provNs, name: "telemetry" };
const getContract = (name: string) => client.get<Obj>(kinds.dataContract, name, consNs);

const levels = (publicModes: string[]) => [
  {
    name: "public",
    rank: 0,
    defaultPolicy: { allowedAccessModes: publicModes, crossBorderTransfer: "Allowed" },
  },
  {
    name: "internal",
    rank: 1,
    defaultPolicy: {
      allowedAccessModes: ["download", "computeOnly"],
      crossBorderTransfer: "RequiresApproval",
    },
  },
];
const rules = (negativeList: unknown[], publicModes = ["download", "computeOnly"]) => ({
  classification: { levels: levels(publicModes), defaultLevel: "public" },
  crossBorder: { homeRegion: "CN", negativeList },
});
const setRules = (r: ReturnType<typeof rules>) =>
  client.mergePatch(kinds.dataSpace, space, undefined, { spec: r });

before(async () => {
  installCrds();
  api = await startApi("tds_gv", { gateway: { env: { TDS_GATEWAY_MONITOR_MS: "500" } } });
  tokens.consumer = await api.token({ role: "participant", subject: "c", space, participant: consumer });
  tokens.provider = await api.token({ role: "participant", subject: "p", space, participant: provider });
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
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/big.bin", Body: big }));
  await publishOffer(client, "telemetry", provNs);
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

const download = (agreementId: string, token: string) =>
  api.gateway.data(agreementId, "telemetry/big.bin", token);

/** Opens a download and reads its first chunk; the rest waits in backpressure. */
async function openStream(agreementId: string, token: string) {
  const res = await download(agreementId, token);
  assert.equal(
    res.status,
    200,
    await res
      .clone()
      .text()
      .catch(() => ""),
  );
  const body = res.body as ReadableStream<Uint8Array> | null;
  assert.ok(body);
  const reader = body.getReader();
  const first = await reader.read();
  assert.equal(first.done, false);
  return reader;
}

test("a negative-list edit suspends an Active cross-border contract, refuses it and cuts its open stream; restoring it lets the provider reinstate it", async () => {
  const { uid, agreementId, token } = await activeContract(client, "abroad", consNs, telemetry);
  const reader = await openStream(agreementId, token);
  // A cross-border transfer (to DE-BY, within the certificate's C=DE) is evidenced with the rule that allowed it.
  await api.untilEvidence(space, uid, "data.export-allowed");

  await setRules(
    rules([
      {
        dataCategory: "industrial.telemetry",
        destinationRegions: ["DE"],
        reason: "export control list 2026",
      },
    ]),
  );
  const t0 = Date.now();
  assert.equal(await cutShort(reader, big.length), true, "the open stream is cut");
  const cutMs = Date.now() - t0;
  assert.ok(cutMs < 30_000, `cut after ${String(cutMs)} ms`);

  const refused = await download(agreementId, token);
  assert.equal(refused.status, 403);
  assert.match(
    ((await refused.json()) as { code: string }).code,
    /^TDS_ERR_(POLICY_REFUSED|CONTRACT_SUSPENDED)$/,
  );
  await api.untilEvidence(space, uid, "data.export-refused");

  const suspended = await until("the contract suspended", async () => {
    const o = await getContract("abroad");
    return o.status?.state === "Suspended" ? o : undefined;
  });
  assert.equal(conditionOf(suspended, "Ready")?.reason, "ExportNegativeListed");
  assert.equal(suspensionOf(suspended)?.rule, "ExportNegativeListed");
  assert.match(suspensionOf(suspended)?.message ?? "", /export control list 2026/);
  const entry = historyOf(suspended).find((h) => h.action === "contract.suspended");
  assert.equal(entry?.reason, "ExportNegativeListed");
  await api.untilEvidence(space, uid, "contract.suspended");
  // The credentials stay: a reinstated contract keeps its token.
  assert.ok(await client.find(kinds.secret, "contract-abroad", consNs));

  // Restoring the rule alone does not reopen access.
  await setRules(rules([]));
  const waiting = await until("awaiting reinstatement", async () => {
    const o = await getContract("abroad");
    return conditionOf(o, "Ready")?.reason === "AwaitingReinstatement" ? o : undefined;
  });
  assert.equal(waiting.status?.state, "Suspended");
  assert.equal((await download(agreementId, token)).status, 403);

  // The provider reinstates it through the API (the consumer may not; an Active contract is not reinstated).
  const reinstate = (token: string, reason: unknown = "export control list withdrawn") =>
    fetch(`${api.url}/v1/spaces/${space}/contracts/${consNs}/abroad/reinstate`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ reason }),
    });
  const byConsumer = await reinstate(tokens.consumer ?? "");
  assert.equal(byConsumer.status, 403, await byConsumer.text());
  const noReason = await reinstate(tokens.provider ?? "", "");
  assert.equal(noReason.status, 400);
  assert.match(await noReason.text(), /reason/);
  const asked = await reinstate(tokens.provider ?? "");
  const askedBody = await asked.text();
  assert.equal(asked.status, 200, askedBody);
  assert.equal(
    (JSON.parse(askedBody) as { annotations?: Record<string, string> }).annotations?.["tds.dev/reinstate"],
    "export control list withdrawn",
  );
  const back = await until("the contract reinstated", async () => {
    const o = await getContract("abroad");
    return o.status?.state === "Active" ? o : undefined;
  });
  // The Ready condition says Reinstated until the next look, which makes it plain Active; the history keeps it.
  assert.equal(historyOf(back).find((h) => h.action === "contract.reinstated")?.reason, "Reinstated");
  assert.equal(suspensionOf(back), undefined);
  await until("the reinstate request honoured once (annotation removed)", async () =>
    (await getContract("abroad")).metadata.annotations?.["tds.dev/reinstate"] === undefined
      ? true
      : undefined,
  );
  await api.untilEvidence(space, uid, "contract.reinstated");
  const twice = await reinstate(tokens.provider ?? "");
  assert.equal(twice.status, 409, "an Active contract is not reinstated");
  assert.match(await twice.text(), /is Active, not Suspended/);
  const again = await servedEventually("a download after reinstatement", () => download(agreementId, token));
  await again.body?.cancel();
});

test("a classification edit (the level no longer allows downloads) suspends the contract with that rule", async () => {
  const { agreementId, token } = await activeContract(client, "modes", consNs, telemetry);
  const reader = await openStream(agreementId, token);
  await setRules(rules([], ["computeOnly"]));
  assert.equal(await cutShort(reader, big.length), true, "the open stream is cut");
  const suspended = await until("the contract suspended", async () => {
    const o = await getContract("modes");
    return o.status?.state === "Suspended" ? o : undefined;
  });
  assert.equal(suspensionOf(suspended)?.rule, "AccessModeNotAllowed");
  await setRules(rules([]));
});
