// OIDC identities verified against a real OpenID provider (the oidc-provider
// package, as its own process over loopback HTTPS) on the real control plane,
// S3 store and PostgreSQL: the operator verifies each participant's declared
// issuer before onboarding it and again on resync; the participant's access
// tokens are then accepted by the API, the DSP endpoint and the gateway as
// exactly that participant, and refused with a reason when their issuer,
// audience, expiry, key, algorithm or subject is wrong.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { KubeClient, kinds, type KubeObject } from "@tds/kube";
import { UnsecuredJWT } from "jose";
import {
  createOidcVerifier,
  oidcParticipantsFromKube,
  spaceAudience,
  withOidc,
} from "@tds/dashboard-api/oidc-verifier";
import { apiKubeClient } from "@tds/dashboard-api/kube";
import { dspOptions } from "../../dashboard-api/src/dsp/index.ts";
import { DSP_CONTEXT } from "../../dashboard-api/src/dsp/messages.ts";
import { startApi, type TestApi } from "@tds/test/api";
import { freePort } from "@tds/test/server";
import {
  activeContract,
  conditionOf,
  participantManifest,
  participantStorage,
  provisionSpace,
  publishOffer,
  runId,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";
import { startOidcProvider, type OidcProvider } from "../harness/oidc-provider.ts";
import { eventually, installCrds, kubeConfig } from "../harness/testkit.ts";

const run = runId();
const space = `oidc-${run}`;
const provider = `${space}-prov`;
const acme = `${space}-acme`;
const globex = `${space}-globex`;
const provNs = `${space}--${provider}`;
const acmeNs = `${space}--${acme}`;
const client = new KubeClient(kubeConfig());
const data = "ts,temp\n2026-01-01T00:00:00Z,21.5\n".repeat(50);

let api: TestApi;
let base: string;
let operator: TestOperator;
let op: OidcProvider;
let otherOp: OidcProvider;
let agreementId: string;
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 90_000);

interface Obj extends KubeObject {
  status?: {
    phase?: string;
    state?: string;
    agreementId?: string;
    bucket?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}
/** The reasons of the Events about a (cluster-scoped) object. */
const eventReasons = async (name: string) =>
  (
    await client.list<KubeObject & { reason?: string }>(kinds.event, "default", {
      fieldSelector: `involvedObject.name=${name}`,
    })
  ).items.map((e) => e.reason);

/** participantManifest's overrides for a consumer that declares an OIDC issuer and its subject there. */
const oidcConsumer = (issuer: string, subject: string) => ({
  identity: { oidc: { issuer, subject } },
  roles: ["consumer"],
});
const oidcParticipant = (name: string, issuer: string, subject: string) =>
  participantManifest(name, space, oidcConsumer(issuer, subject)) as KubeObject;

before(async () => {
  installCrds();
  op = await startOidcProvider({
    clients: ["acme-client", "globex-client"],
    resources: [spaceAudience(space), spaceAudience("elsewhere")],
  });
  // Another real issuer with a client of the same name: its tokens name a subject acme declares, at an issuer acme does not.
  otherOp = await startOidcProvider({ clients: ["acme-client"], resources: [spaceAudience(space)] });

  const port = await freePort();
  base = `http://127.0.0.1:${port.toString()}`;
  const oidc = createOidcVerifier({
    participants: oidcParticipantsFromKube(client),
    participantsTtlMs: 500,
    clockToleranceSeconds: 0,
    jwksCooldownMs: 0,
  });
  api = await startApi("tds_oidc", ({ pool }) => {
    const kube = apiKubeClient(kubeConfig());
    const dsp = dspOptions({
      pool,
      publicUrl: base,
      kube,
      config: { [space]: { participantId: `urn:tds:${space}`, counterparties: [] } },
    });
    return {
      gateway: { gateway: { transferTokens: dsp.transferTokens, participantTokens: oidc } },
      app: { kube, dsp: { ...dsp, stepDelayMs: 50 } },
      verifyToken: (key) => withOidc(oidc, key),
      port,
    };
  });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000, identityRecheckMs: 2_000 },
    api: await api.operatorClient(),
  });

  await provisionSpace(client, run, space, {
    [provider]: { roles: ["provider"] },
    [acme]: oidcConsumer(op.issuer, "acme-client"),
    [globex]: oidcConsumer(op.issuer, "globex-client"),
  });

  const { s3, bucket } = await participantStorage(client, space, provider);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "telemetry/day1.csv", Body: data }));
  await publishOffer(client, "telemetry", provNs, { asset: { prefix: "telemetry/", format: "text/csv" } });
  ({ agreementId } = await activeContract(client, "gw", acmeNs, { namespace: provNs, name: "telemetry" }));
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
  await op.stop();
  await otherOp.stop();
});

const usageUrl = (participant?: string) =>
  `${base}/v1/spaces/${space}/usage?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z${participant ? `&participant=${participant}` : ""}`;

async function call(url: string, token: string, init: RequestInit = {}) {
  const res = await fetch(url, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) },
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", text };
}
const gatewayGet = (token: string) =>
  call(`${api.gateway.url}/v1/data/${agreementId}/telemetry/day1.csv`, token);

/** A refusal: a 4xx problem document whose detail names the reason. */
function refused(r: { status: number; type: string; text: string }, status: number, reason: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.type, /application\/problem\+json/);
  const detail = (JSON.parse(r.text) as { detail?: string }).detail ?? "";
  assert.match(detail, reason);
}

test("the operator verified the declared issuer before onboarding, and says so", async () => {
  const p = await client.get<Obj>(kinds.participant, acme);
  const verified = conditionOf(p, "IdentityVerified");
  assert.equal(verified?.status, "True");
  assert.equal(verified.reason, "IssuerVerified");
  assert.match(verified.message ?? "", new RegExp(`Issuer ${op.issuer} verified`));
  assert.ok(
    (await eventReasons(acme)).includes("IssuerVerified"),
    "an IssuerVerified Event for the participant",
  );
});

test("a participant's OIDC access token is accepted at the API, the DSP endpoint and the gateway", async () => {
  const token = await op.token("acme-client");
  const usage = await until("the usage report for acme", async () => {
    const r = await call(usageUrl(), token);
    return r.status === 200 ? r : undefined;
  });
  assert.equal((JSON.parse(usage.text) as { space: string }).space, space);
  const catalog = await call(`${base}/dsp/${space}/2025-1/catalog/request`, token, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ "@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage" }),
  });
  assert.equal(catalog.status, 200, catalog.text);
  const got = await gatewayGet(token);
  assert.equal(got.status, 200, got.text);
  assert.equal(got.text, data);
});

test("tokens of the wrong issuer, audience, expiry, algorithm or subject are refused with a reason", async () => {
  // Another issuer, same client name and audience: no participant declares that issuer.
  const foreign = await otherOp.token("acme-client");
  refused(await call(usageUrl(), foreign), 401, /Invalid bearer token/);
  assert.equal((await gatewayGet(foreign)).status, 401);

  const wrongAudience = await op.token("acme-client", { resource: spaceAudience("elsewhere") });
  refused(await call(usageUrl(), wrongAudience), 401, /audience .* does not name the space/);
  refused(await gatewayGet(wrongAudience), 401, /audience/);

  const short = await op.token("acme-client", { short: true });
  await new Promise((r) => setTimeout(r, 2_500));
  refused(await call(usageUrl(), short), 401, /expired/);
  refused(await gatewayGet(short), 401, /expired/);

  const none = new UnsecuredJWT({ sub: "acme-client", aud: spaceAudience(space) })
    .setIssuer(op.issuer)
    .setIssuedAt()
    .setExpirationTime("5m")
    .encode();
  refused(await call(usageUrl(), none), 401, /algorithm "none" is not accepted/);
  refused(await gatewayGet(none), 401, /algorithm "none"/);

  // globex's own, valid token: it acts as globex, never as acme.
  const other = await op.token("globex-client");
  assert.equal((await call(usageUrl(globex), other)).status, 200);
  refused(await call(usageUrl(acme), other), 404, new RegExp(`Participant ${acme} not found`));
  refused(await gatewayGet(other), 403, new RegExp(`${globex} is not the consumer`));

  // A token with acme's subject signed by a key the issuer never published.
  const [h, p] = (await op.token("acme-client")).split(".");
  refused(
    await call(usageUrl(), `${h ?? ""}.${p ?? ""}.${Buffer.from("x".repeat(256)).toString("base64url")}`),
    401,
    /signature/,
  );

  // Malformed and oversized tokens are 4xx, never 5xx.
  const malformed = await call(usageUrl(), "abc.def.ghi");
  assert.equal(malformed.status, 401, malformed.text);
  const oversized = await call(usageUrl(), `${h ?? ""}.${"A".repeat(20_000)}.x`);
  assert.ok(
    oversized.status >= 400 && oversized.status < 500,
    `${String(oversized.status)} ${oversized.text}`,
  );
});

test("after a key rotation the new key's tokens are accepted and the removed key's refused", async () => {
  const before = await op.token("acme-client");
  assert.equal((await call(usageUrl(), before)).status, 200);
  const oldKid = op.keyIds()[0];
  await op.rotate();
  assert.notEqual(op.keyIds()[0], oldKid);
  assert.equal(op.keyIds().length, 1, "the old key is removed");
  const after = await op.token("acme-client");
  // The operator re-checks the issuer while it restarts; wait until acme is Active again at both
  // doors (the gateway's grant cache follows the contract's watch a little behind the API).
  await until("the new key's token accepted", async () => {
    if ((await call(usageUrl(), after)).status !== 200) return undefined;
    // A refused download counts nothing; the first one served ends the wait.
    return (await gatewayGet(after)).status === 200 ? true : undefined;
  });
  refused(await call(usageUrl(), before), 401, /signed by a key the issuer does not publish/);
  refused(await gatewayGet(before), 401, /signed by a key/);
});

test("onboarding fails, with the reason and an Event, for an unreachable or mismatched issuer", async () => {
  const closed = await freePort();
  const unreachable = `${space}-gone`;
  const mismatched = `${space}-mism`;
  await client.create(
    kinds.participant,
    oidcParticipant(unreachable, `https://127.0.0.1:${String(closed)}`, "x"),
  );
  // The provider's issuer is https://127.0.0.1:<port>; the same server named by localhost is another issuer.
  await client.create(
    kinds.participant,
    oidcParticipant(mismatched, `https://localhost:${String(op.port)}`, "acme-client"),
  );
  for (const [name, reason, message] of [
    [unreachable, "IssuerUnreachable", /cannot reach .*openid-configuration/],
    [
      mismatched,
      "IssuerMismatch",
      /names issuer "https:\/\/127\.0\.0\.1:\d+", not the declared "https:\/\/localhost:\d+"/,
    ],
  ] as const) {
    const p = await until(`${name} Failed with ${reason}`, async () => {
      const o = await client.get<Obj>(kinds.participant, name);
      return o.status?.phase === "Failed" && conditionOf(o, "Ready")?.reason === reason ? o : undefined;
    });
    const verified = conditionOf(p, "IdentityVerified");
    assert.equal(verified?.status, "False");
    assert.equal(verified.reason, reason);
    assert.match(verified.message ?? "", message);
    assert.match(verified.message ?? "", /^spec\.identity\.oidc\.issuer: /);
    await until(`a ${reason} Event`, async () =>
      (await eventReasons(name)).includes(reason) ? true : undefined,
    );
    await assert.rejects(client.get(kinds.namespace, `${space}--${name}`), "no namespace is provisioned");
  }
});

test("the issuer is re-checked on resync: while it is down the participant is not Active and its tokens are refused", async () => {
  const token = await op.token("acme-client");
  await op.stop();
  try {
    await until("acme Failed with IssuerUnreachable", async () => {
      const o = await client.get<Obj>(kinds.participant, acme);
      return conditionOf(o, "IdentityVerified")?.reason === "IssuerUnreachable" ? o : undefined;
    });
    await until("acme's token refused while its issuer is unverified", async () => {
      const r = await call(usageUrl(), token);
      return r.status === 403 ? r : undefined;
    });
  } finally {
    await op.start();
  }
  await until("acme Active again", async () => {
    const o = await client.get<Obj>(kinds.participant, acme);
    return o.status?.phase === "Active" ? o : undefined;
  });
  assert.equal((await call(usageUrl(), token)).status, 200);
});
