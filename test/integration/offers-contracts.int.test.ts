// Offers, catalog and contracts end to end on the real control plane, S3
// store and PostgreSQL: an in-process operator (limited to this run's space)
// publishes offers to a real dashboard API, which serves search, facets, DCAT
// and the contract routes, and records evidence for every decision.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import jsonld from "jsonld";
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
import { eventually, installCrds, kubeConfig, kubectl } from "../harness/testkit.ts";
import { startApi, type TestApi } from "@tds/test/api";
import { KubeClient, dataOf, type KubeObject, kinds } from "@tds/kube";
import { assetManifest } from "../../operator/src/controllers/dataoffer/dataoffer.asset.ts";
import type { EvidenceEntry } from "@tds/wire";
import { entryLeafHash } from "../../dashboard-api/src/evidence/entry.ts";
import { verifyInclusion } from "../../dashboard-api/src/evidence/merkle.ts";
import { EvidenceStore } from "@tds/dashboard-api/evidence-store";
import {
  contractManifest,
  offerManifest,
  participantManifest,
  runId,
  spaceManifest,
  startOperator,
  type TestOperator,
} from "../harness/operator-fixtures.ts";
import { rfc3339 } from "@tds/crds";

const run = runId();
const space = `oc-${run}`;
const provider = `${space}-prov`;
const consumer = `${space}-cons`;
const foreign = `${space}-abroad`;
const provNs = `${space}--${provider}`;
const consNs = `${space}--${consumer}`;
const foreignNs = `${space}--${foreign}`;
const client = new KubeClient(kubeConfig());

let api: TestApi;
let operator: TestOperator;
let s3: S3Client;
const tokens: Record<string, string> = {};

interface Status {
  state?: string;
  agreementId?: string;
  credentialsSecret?: string;
  contentId?: string;
  transitions?: number;
  accesses?: number;
  credentialsDigest?: string;
  rejection?: { reason: string };
  history?: { action: string; logIndex?: number }[];
  conditions?: { type: string; status: string; reason: string; message: string }[];
  publishedAt?: string;
  latestEvidence?: { logIndex: number; leafHash: string; recordedAt?: string };
}
type Obj = KubeObject & { status?: Status };
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === "Ready");
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

async function call(method: string, path: string, who: string, body?: unknown) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens[who] ?? ""}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    body: text ? (JSON.parse(text) as unknown) : undefined,
  };
}

const levels = [
  {
    name: "public",
    rank: 0,
    defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "Allowed" },
  },
  {
    name: "internal",
    rank: 1,
    defaultPolicy: {
      allowedAccessModes: ["download", "computeOnly"],
      crossBorderTransfer: "RequiresApproval",
    },
  },
  {
    name: "important",
    rank: 2,
    defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "Forbidden" },
  },
  {
    name: "core",
    rank: 3,
    defaultPolicy: {
      allowedAccessModes: ["computeOnly"],
      crossBorderTransfer: "Forbidden",
      requireProviderApproval: true,
    },
  },
];

/** An offer of the provider, its objects under <name>/ as CSV, for research and predictive maintenance. */
const offer = (name: string, spec: Record<string, unknown>, policy: Record<string, unknown> = {}) =>
  offerManifest(name, provNs, {
    asset: { prefix: `${name}/`, format: "text/csv" },
    ...spec,
    policy: { purposes: ["research", "predictive-maintenance"], accessMode: "download", ...policy },
  });

const contract = (ns: string, name: string, offerName: string, spec: Record<string, unknown> = {}) =>
  contractManifest(name, ns, { namespace: provNs, name: offerName }, spec);

const put = (key: string, body: string) =>
  s3.send(new PutObjectCommand({ Bucket: `tds--${space}--${provider}`, Key: key, Body: body }));

const getOffer = (name: string) => client.get<Obj>(kinds.dataOffer, name, provNs);
const getContract = (ns: string, name: string) => client.get<Obj>(kinds.dataContract, name, ns);
const until = <T>(what: string, fn: () => Promise<T | undefined>) => eventually(what, fn, 60_000);

/** What the operator sent about offers: kube writes, catalog calls and DataOffer evidence. */
const offerSends: string[] = [];
const observedFetch: typeof fetch = (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  const method = init?.method ?? "GET";
  const body = typeof init?.body === "string" ? init.body : "";
  if (url.includes("/catalog/offers/") && method !== "GET") offerSends.push(`catalog ${method} ${url}`);
  if (url.endsWith("/evidence/entries") && body.includes('"kind":"DataOffer"'))
    offerSends.push(`evidence ${body}`);
  return fetch(input, init);
};

const evidenceFor = (uid: string) => api.evidenceActions(space, uid);

before(async () => {
  installCrds();
  api = await startApi("tds_oc");
  tokens.operator = await api.token({ role: "operator", subject: "system:tds-operator" });
  tokens.admin = await api.token({ role: "space-admin", subject: "ops", space });
  tokens.consumer = await api.token({ role: "participant", subject: "c", space, participant: consumer });
  tokens.provider = await api.token({ role: "participant", subject: "p", space, participant: provider });
  tokens.stranger = await api.token({
    role: "participant",
    subject: "s",
    space: "elsewhere",
    participant: "x",
  });
  operator = await startOperator(run, {
    settings: { assetRescanMs: 1_000, contractMonitorMs: 1_000 },
    api: { url: api.url, token: () => Promise.resolve(tokens.operator ?? ""), fetch: observedFetch },
  });
  operator.manager.client.observe((method, path) => {
    if (method !== "GET" && path.includes("/dataoffers")) offerSends.push(`kube ${method} ${path}`);
  });

  await client.create(
    kinds.dataSpace,
    spaceManifest(space, run, {
      classification: { levels, defaultLevel: "internal" },
      crossBorder: {
        homeRegion: "CN",
        negativeList: [{ dataCategory: "geospatial.survey", reason: "Surveying data must not leave" }],
      },
    }) as KubeObject,
  );
  await client.create(
    kinds.participant,
    participantManifest(provider, space, { roles: ["provider"] }) as KubeObject,
  );
  const cons = participantManifest(consumer, space, {
    roles: ["consumer"],
    organization: { legalName: "Cons Ltd", registrationId: "R-C", region: "CN-HB" },
  }) as KubeObject;
  cons.metadata.labels = { "tds.dev/industry": "analytics" };
  await client.create(kinds.participant, cons);
  await client.create(
    kinds.participant,
    participantManifest(foreign, space, {
      roles: ["consumer"],
      organization: { legalName: "Abroad GmbH", registrationId: "R-F", region: "DE-BY" },
    }) as KubeObject,
  );
  await until("the participants to be Ready", async () => {
    const ps = await Promise.all(
      [provider, consumer, foreign].map((p) => client.get<Obj>(kinds.participant, p)),
    );
    return ps.every((p) => ready(p)?.status === "True") ? true : undefined;
  });
  const secret = await client.get(kinds.secret, "storage-credentials", provNs);
  const d = dataOf(secret);
  s3 = new S3Client({
    endpoint: unb64(d.S3_ENDPOINT),
    region: unb64(d.AWS_REGION),
    forcePathStyle: true,
    credentials: { accessKeyId: unb64(d.AWS_ACCESS_KEY_ID), secretAccessKey: unb64(d.AWS_SECRET_ACCESS_KEY) },
  });
});

after(async () => {
  await client.delete(kinds.dataSpace, space).catch(() => undefined);
  await operator.stop();
  await api.close();
});

test("an offer whose asset is missing is not published; once the data exists it is, and changing the data changes its identifier", async () => {
  await client.create(
    kinds.dataOffer,
    offer("telemetry", { title: "Gas turbine telemetry", keywords: ["turbine", "vibration"] }),
  );
  const missing = await until("AssetNotFound", async () => {
    const o = await getOffer("telemetry");
    return ready(o)?.reason === "AssetNotFound" ? o : undefined;
  });
  assert.equal(ready(missing)?.status, "False");
  assert.equal(
    (await call("GET", `/v1/spaces/${space}/catalog/offers/${provNs}/telemetry`, "consumer")).status,
    404,
  );

  await put("telemetry/2025-01.csv", "unit,temp\n1,80\n");
  const published = await until("Published", async () => {
    const o = await getOffer("telemetry");
    return ready(o)?.reason === "Published" ? o : undefined;
  });
  const first = published.status?.contentId ?? "";
  assert.match(first, /^sha256:[0-9a-f]{64}$/);
  // The catalog entry and the evidence come before the status that announces them.
  const entry = await until("the catalog entry", async () => {
    const e = await call("GET", `/v1/spaces/${space}/catalog/offers/${provNs}/telemetry`, "consumer");
    return e.status === 200 ? e : undefined;
  });
  assert.equal((entry.body as { contentId: string }).contentId, first);

  // A rescan of unchanged data keeps the identifier.
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal((await getOffer("telemetry")).status?.contentId, first);

  await put("telemetry/2025-02.csv", "unit,temp\n1,81\n");
  const second = await until("a new content id", async () => {
    const o = await getOffer("telemetry");
    const id = o.status?.contentId;
    return id && id !== first ? id : undefined;
  });
  await until("the catalog to carry the new id", async () => {
    const e = await call("GET", `/v1/spaces/${space}/catalog/offers/${provNs}/telemetry`, "consumer");
    return (e.body as { contentId?: string }).contentId === second ? true : undefined;
  });
  // Rewriting an object with other bytes (new ETag) changes it too.
  await put("telemetry/2025-02.csv", "unit,temp\n1,99\n");
  await until("another content id", async () => {
    const id = (await getOffer("telemetry")).status?.contentId;
    return id && id !== second && id !== first ? id : undefined;
  });
  const actions = await evidenceFor((await getOffer("telemetry")).metadata.uid ?? "");
  assert.ok(actions.filter((a) => a === "offer.published").length >= 3, actions.join(","));
});

test("a published offer's status.latestEvidence names its publication in the log, whose inclusion proof verifies", async () => {
  const o = await until("telemetry's evidence pointer", async () => {
    const x = await getOffer("telemetry");
    return ready(x)?.reason === "Published" && x.status?.latestEvidence ? x : undefined;
  });
  const pointer = o.status?.latestEvidence;
  assert.ok(pointer);
  // The provider reads the entry about its own offer, and the entry hashes to the pointer's leaf.
  const page = await call(
    "GET",
    `/v1/spaces/${space}/evidence/entries?start=${pointer.logIndex}&end=${pointer.logIndex + 1}`,
    "provider",
  );
  const [stored] = (page.body as { entries: { leafIndex: number; leafHash: string; entry: EvidenceEntry }[] })
    .entries;
  assert.ok(stored, `no entry at ${pointer.logIndex} for the provider`);
  assert.equal(Buffer.from(stored.leafHash, "base64").toString("hex"), pointer.leafHash);
  assert.equal(Buffer.from(entryLeafHash(stored.entry)).toString("hex"), pointer.leafHash);
  assert.equal(stored.entry.action, "offer.published");
  assert.equal(stored.entry.object.uid, o.metadata.uid);
  assert.equal(stored.entry.time, o.status?.publishedAt);
  assert.ok(stored.entry.eventId.includes((o.status?.contentId ?? "").slice(7, 23)), stored.entry.eventId);
  // Its inclusion proof, from the API, verifies against the log's root.
  const head = await new EvidenceStore(api.pool).head(space);
  const proof = await call(
    "GET",
    `/v1/spaces/${space}/evidence/proofs/inclusion?leafIndex=${pointer.logIndex}&treeSize=${head.treeSize}`,
    "consumer",
  );
  assert.equal(proof.status, 200);
  const path = (proof.body as { proof: string[] }).proof.map((h) => new Uint8Array(Buffer.from(h, "base64")));
  assert.ok(
    verifyInclusion(
      pointer.logIndex,
      head.treeSize,
      new Uint8Array(Buffer.from(pointer.leafHash, "hex")),
      path,
      head.rootHash,
    ),
  );
});

test("rescans of unchanged offers send nothing to the dashboard API and write nothing", async () => {
  const rescans = async () => {
    const m = await operator.manager.metrics.reconcileDuration.get();
    return m.values
      .filter((v) => v.metricName?.endsWith("_count") && v.labels.controller === "dataoffer")
      .reduce((n, v) => n + v.value, 0);
  };
  await new Promise((r) => setTimeout(r, 1_500)); // let the last change settle
  const sent = offerSends.length;
  const before = await rescans();
  await new Promise((r) => setTimeout(r, 3_500));
  assert.ok((await rescans()) - before >= 3, "the asset rescan must have reconciled the offer");
  assert.deepEqual(offerSends.slice(sent), []);
});

test("a publication recorded by an attempt that crashed before its status write is found again, with its time", async () => {
  await client.create(kinds.dataOffer, offer("crashed", {}));
  const waiting = await until("AssetNotFound", async () => {
    const o = await getOffer("crashed");
    return ready(o)?.reason === "AssetNotFound" ? o : undefined;
  });
  const uid = waiting.metadata.uid ?? "";
  const generation = waiting.metadata.generation ?? 0;
  // The entry an earlier attempt appended, with its own clock, before it died.
  const body = "unit,temp\n7,70\n";
  const etag = createHash("md5").update(body).digest("hex"); // a single PUT's ETag
  const { contentId } = assetManifest([{ key: "crashed/a.csv", size: Buffer.byteLength(body), etag }]);
  const earlier = "2020-02-02T02:02:02Z";
  const appended = await call("POST", `/v1/spaces/${space}/evidence/entries`, "operator", {
    entries: [
      {
        space,
        eventId: `${uid}-published-${contentId.slice(7, 23)}-g${generation}`,
        actor: "system:tds-operator",
        action: "offer.published",
        time: earlier,
        object: { kind: "DataOffer", namespace: provNs, name: "crashed", uid, generation },
        payloadHash: "0".repeat(64),
      },
    ],
  });
  assert.equal(appended.status, 201);
  const leaf = (appended.body as { results: { leafIndex: number }[] }).results[0]?.leafIndex;

  await put("crashed/a.csv", body);
  const published = await until("Published", async () => {
    const o = await getOffer("crashed");
    return ready(o)?.reason === "Published" ? o : undefined;
  });
  assert.equal(published.status?.contentId, contentId, "the ETag of a single PUT is its MD5");
  assert.equal(published.status.latestEvidence?.logIndex, leaf);
  assert.equal(published.status.publishedAt, earlier);
  assert.deepEqual(await evidenceFor(uid), ["offer.published"]);
  const entry = await call("GET", `/v1/spaces/${space}/catalog/offers/${provNs}/crashed`, "consumer");
  assert.equal((entry.body as { publishedAt?: string }).publishedAt, earlier);

  await client.delete(kinds.dataOffer, "crashed", provNs);
  await until("crashed gone", async () =>
    (await client.find(kinds.dataOffer, "crashed", provNs)) ? undefined : true,
  );
});

test("an offer that contradicts its classification or the negative list is Rejected with the rule, and kubectl shows it", async () => {
  await put("core/setpoints.json", "{}");
  await put("survey/map.csv", "x");
  await client.create(
    kinds.dataOffer,
    offer("core", {
      classification: "core",
      asset: { key: "core/setpoints.json", format: "application/json" },
    }),
  );
  await client.create(
    kinds.dataOffer,
    offer("survey", { dataCategory: "geospatial.survey" }, { allowedRegions: ["CN", "DE"] }),
  );
  const core = await until("core rejected", async () => {
    const o = await getOffer("core");
    return ready(o)?.reason === "AccessModeNotAllowed" ? o : undefined;
  });
  assert.match(ready(core)?.message ?? "", /allows only computeOnly/);
  await until("survey rejected", async () =>
    ready(await getOffer("survey"))?.reason === "CategoryOnNegativeList" ? true : undefined,
  );
  // kubectl's discovery cache may predate the CRDs of a fresh cluster: retry until the category resolves.
  const table = await until("kubectl get tds", () => {
    try {
      return Promise.resolve(kubectl(["get", "tds", "-n", provNs]));
    } catch {
      return Promise.resolve(undefined);
    }
  });
  assert.match(table, /core\s.*AccessModeNotAllowed/);
  assert.match(table, /survey\s.*CategoryOnNegativeList/);
  assert.equal(
    (await call("GET", `/v1/spaces/${space}/catalog/offers/${provNs}/core`, "consumer")).status,
    404,
  );
  await until("rejection evidence", async () =>
    (await evidenceFor(core.metadata.uid ?? "")).includes("offer.rejected") ? true : undefined,
  );
});

test("search finds offers by Chinese and English words and by facets, with stable pagination", async () => {
  await put("zh/data.csv", "a");
  await put("maint/logs.csv", "a");
  await client.create(
    kinds.dataOffer,
    offer("zh", {
      title: "燃气轮机振动数据",
      description: "四十台在役燃气轮机的每分钟振动与温度读数",
      keywords: ["轮机", "振动"],
      classification: "internal",
    }),
  );
  await client.create(
    kinds.dataOffer,
    offer(
      "maint",
      {
        title: "Turbine maintenance records",
        description: "Work orders and root causes",
        dataCategory: "industrial.maintenance",
      },
      { accessMode: "computeOnly" },
    ),
  );
  await until("both published", async () => {
    const [a, b] = await Promise.all([getOffer("zh"), getOffer("maint")]);
    return ready(a)?.reason === "Published" && ready(b)?.reason === "Published" ? true : undefined;
  });
  type Page = {
    items: { name: string }[];
    total: number;
    next?: string;
    facets: Record<string, { value: string; count: number }[]>;
  };
  const search = async (qs: string) => {
    const r = await call("GET", `/v1/spaces/${space}/catalog?${qs}`, "consumer");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as Page;
  };
  const names = (p: Page) => p.items.map((i) => i.name).sort();

  assert.deepEqual(names(await search(`q=${encodeURIComponent("轮机")}`)), ["zh"]);
  assert.deepEqual(names(await search(`q=${encodeURIComponent("振动数据")}`)), ["zh"]);
  assert.deepEqual(names(await search(`q=${encodeURIComponent("温度")}`)), ["zh"]);
  assert.deepEqual(names(await search("q=turbine")), ["maint", "telemetry"]);
  assert.deepEqual(names(await search("q=vibr")), ["telemetry"]); // prefix match on the last word
  assert.deepEqual(names(await search("q=TURBINE+maintenance")), ["maint"]);
  assert.deepEqual(names(await search("accessMode=computeOnly")), ["maint"]);
  assert.deepEqual(names(await search("classification=internal")), ["zh"]);
  assert.deepEqual(
    names(await search("category=industrial.maintenance&category=industrial.telemetry&q=turbine")),
    ["maint", "telemetry"],
  );
  assert.deepEqual(names(await search("priceMin=1")), []);
  const all = await search("limit=100");
  assert.equal(all.total, 3);
  assert.deepEqual(all.facets.accessMode, [
    { value: "download", count: 2 },
    { value: "computeOnly", count: 1 },
  ]);
  assert.deepEqual(all.facets.provider, [{ value: provider, count: 3 }]);
  assert.deepEqual(all.facets.price, [{ value: "free", count: 3 }]);

  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const p = await search(`limit=1${cursor ? `&cursor=${cursor}` : ""}`);
    seen.push(...p.items.map((i) => i.name));
    cursor = p.next;
  } while (cursor);
  assert.deepEqual([...seen].sort(), ["maint", "telemetry", "zh"]);
  assert.equal(new Set(seen).size, 3);

  assert.equal((await call("GET", `/v1/spaces/${space}/catalog`, "stranger")).status, 404);
  const write = await call("DELETE", `/v1/spaces/${space}/catalog/offers/${provNs}/zh`, "consumer");
  assert.equal(write.status, 403);
});

test("the DCAT export is JSON-LD with a dcat:Catalog of dcat:Datasets", async () => {
  const r = await call("GET", `/v1/spaces/${space}/catalog/dcat`, "consumer");
  assert.equal(r.status, 200);
  assert.match(r.type, /^application\/ld\+json/);
  const doc = r.body as Record<string, unknown>;
  const ctx = doc["@context"] as Record<string, string>;
  assert.equal(ctx.dcat, "http://www.w3.org/ns/dcat#");
  assert.equal(ctx.dcterms, "http://purl.org/dc/terms/");
  assert.equal(doc["@type"], "dcat:Catalog");
  assert.ok(typeof doc["dcterms:title"] === "string");
  const datasets = doc["dcat:dataset"] as Record<string, unknown>[];
  assert.equal(datasets.length, 3);
  for (const d of datasets) {
    assert.equal(d["@type"], "dcat:Dataset");
    assert.match(String(d["@id"]), /^urn:tds:/);
    assert.ok(d["dcterms:title"] && d["dcterms:identifier"] && d["dcterms:publisher"]);
    const dist = (d["dcat:distribution"] as Record<string, unknown>[])[0];
    assert.equal(dist?.["@type"], "dcat:Distribution");
    assert.ok(dist["dcat:mediaType"] && dist["dcat:byteSize"]);
    assert.equal((d["odrl:hasPolicy"] as Record<string, unknown>)["@type"], "odrl:Offer");
  }
  // Every prefixed term used resolves through the context.
  const prefixes = new Set(Object.keys(ctx));
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        if (!k.startsWith("@")) assert.ok(prefixes.has(k.split(":")[0] ?? ""), `unknown prefix in ${k}`);
        walk(x);
      }
  };
  walk(doc);

  // A JSON-LD processor expands it (the context is inline, so no network is needed) to DCAT IRIs.
  const DCAT = "http://www.w3.org/ns/dcat#";
  const expanded = (await jsonld.expand(doc)) as Record<string, unknown>[];
  const catalog = expanded[0];
  assert.ok(catalog);
  assert.deepEqual(catalog["@type"], [`${DCAT}Catalog`]);
  const expandedDatasets = catalog[`${DCAT}dataset`] as Record<string, unknown>[];
  assert.equal(expandedDatasets.length, 3);
  for (const d of expandedDatasets) {
    assert.deepEqual(d["@type"], [`${DCAT}Dataset`]);
    assert.ok(d["http://purl.org/dc/terms/title"], "dcterms:title expands to its IRI");
    assert.ok(d[`${DCAT}distribution`]);
  }
});

const cases: {
  name: string;
  ns: string;
  offer: string;
  spec?: Record<string, unknown>;
  state: string;
  reason: string;
}[] = [
  { name: "m-ok", ns: consNs, offer: "telemetry", state: "Active", reason: "Active" },
  {
    name: "m-purpose",
    ns: consNs,
    offer: "telemetry",
    spec: { purpose: "marketing" },
    state: "Rejected",
    reason: "PurposeNotPermitted",
  },
  {
    name: "m-validity",
    ns: consNs,
    offer: "telemetry",
    spec: { requestedValidity: { notAfter: "2020-01-01T00:00:00Z" } },
    state: "Rejected",
    reason: "ValidityEnded",
  },
  {
    name: "m-abroad-internal",
    ns: foreignNs,
    offer: "zh",
    state: "Requested",
    reason: "AwaitingExportApproval",
  },
  { name: "m-abroad-public", ns: foreignNs, offer: "maint", state: "Active", reason: "Active" },
];

test("the policy matrix on the cluster: each contract reaches its expected state and reason, with evidence", async () => {
  await client.create(
    kinds.dataOffer,
    offer(
      "sel",
      { classification: "important" },
      { allowedConsumers: { participantSelector: { matchLabels: { "tds.dev/industry": "analytics" } } } },
    ),
  );
  await put("sel/a.csv", "a");
  await until("sel published", async () =>
    ready(await getOffer("sel"))?.reason === "Published" ? true : undefined,
  );
  cases.push(
    { name: "m-attr", ns: consNs, offer: "sel", state: "Active", reason: "Active" },
    { name: "m-attr-no", ns: foreignNs, offer: "sel", state: "Rejected", reason: "ConsumerNotAllowed" },
  );
  for (const c of cases) await client.create(kinds.dataContract, contract(c.ns, c.name, c.offer, c.spec));
  for (const c of cases) {
    const got = await until(`${c.name} → ${c.state}`, async () => {
      const o = await getContract(c.ns, c.name);
      return o.status?.state === c.state && ready(o)?.reason === c.reason ? o : undefined;
    });
    await until(`${c.name} evidence`, async () => {
      const o = await getContract(c.ns, c.name);
      const h = o.status?.history ?? [];
      return h.length > 0 && h.every((x) => x.logIndex !== undefined) ? true : undefined;
    });
    const actions = await evidenceFor(got.metadata.uid ?? "");
    assert.ok(actions.includes("contract.requested"), `${c.name}: ${actions.join(",")}`);
    if (c.state === "Active")
      assert.ok(actions.includes("contract.agreed") && actions.includes("contract.active"));
    if (c.state === "Rejected") {
      assert.ok(actions.includes("contract.rejected"));
      assert.equal(got.status?.rejection?.reason, c.reason);
    }
  }
  const abroad = await getContract(foreignNs, "m-abroad-public");
  assert.ok((await evidenceFor(abroad.metadata.uid ?? "")).includes("contract.cross-border-export"));
  // The space operator approves the export through the API.
  const approve = await call(
    "POST",
    `/v1/spaces/${space}/contracts/${foreignNs}/m-abroad-internal/approve`,
    "admin",
  );
  assert.equal(approve.status, 200, JSON.stringify(approve.body));
  await until("export approved", async () =>
    (await getContract(foreignNs, "m-abroad-internal")).status?.state === "Active" ? true : undefined,
  );
});

test("an Active contract carries the gateway interface: agreement label and a credentials Secret; revocation removes it", async () => {
  const created = await call("POST", `/v1/spaces/${space}/contracts`, "consumer", {
    offer: { namespace: provNs, name: "telemetry" },
    purpose: "predictive-maintenance",
    name: "gw",
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const c = await until("gw active", async () => {
    const o = await getContract(consNs, "gw");
    return o.status?.state === "Active" ? o : undefined;
  });
  const agreementId = c.status?.agreementId ?? "";
  assert.equal(agreementId, `agr-${(c.metadata.uid ?? "").replace(/-/g, "")}`);
  assert.equal(c.metadata.labels?.["tds.dev/agreement-id"], agreementId);
  assert.equal(c.status?.credentialsSecret, "contract-gw");
  const secret = dataOf(await client.get(kinds.secret, "contract-gw", consNs));
  assert.equal(unb64(secret.agreementId), agreementId);
  assert.equal(Buffer.from(unb64(secret.token), "base64url").length, 32);
  // The gateway authenticates against the digest in status and never reads the Secret.
  assert.equal(
    c.status.credentialsDigest,
    `sha256:${createHash("sha256").update(unb64(secret.token), "utf8").digest("hex")}`,
  );
  assert.ok("gatewayUrl" in secret);
  const found = await client.list(kinds.dataContract, undefined, {
    labelSelector: `tds.dev/agreement-id=${agreementId}`,
  });
  assert.equal(found.items.length, 1);

  // Another participant cannot decide or revoke it; the provider can.
  assert.equal(
    (await call("POST", `/v1/spaces/${space}/contracts/${consNs}/gw/revoke`, "consumer", { reason: "x" }))
      .status,
    403,
  );
  const revoked = await call("POST", `/v1/spaces/${space}/contracts/${consNs}/gw/revoke`, "provider", {
    reason: "Misuse reported",
  });
  assert.equal(revoked.status, 200);
  const r = await until("gw revoked", async () => {
    const o = await getContract(consNs, "gw");
    return o.status?.state === "Revoked" ? o : undefined;
  });
  assert.equal(
    (r.status as { revocation?: { reason: string } } | undefined)?.revocation?.reason,
    "Misuse reported",
  );
  await until("the Secret removed", async () =>
    (await client.find(kinds.secret, "contract-gw", consNs)) ? undefined : true,
  );
  await until("revocation evidence", async () =>
    (await evidenceFor(r.metadata.uid ?? "")).includes("contract.revoked") ? true : undefined,
  );
});

test("a contract whose accesses ran out at the gateway is Expired, with status.accesses from the gateway's ledger", async () => {
  await client.create(kinds.dataOffer, offer("metered", {}, { maxAccesses: 5 }));
  await put("metered/a.csv", "unit,temp\n1,80\n");
  await until("metered published", async () =>
    ready(await getOffer("metered"))?.reason === "Published" ? true : undefined,
  );
  const created = await call("POST", `/v1/spaces/${space}/contracts`, "consumer", {
    offer: { namespace: provNs, name: "metered" },
    purpose: "research",
    requestedAccesses: 2,
    name: "twice",
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const c = await until("twice active", async () => {
    const o = await getContract(consNs, "twice");
    return o.status?.state === "Active" ? o : undefined;
  });
  const agreementId = c.status?.agreementId ?? "";
  const token = unb64(dataOf(await client.get(kinds.secret, "contract-twice", consNs)).token);
  const download = () =>
    fetch(`${api.gateway.url}/v1/data/${agreementId}/metered/a.csv`, {
      headers: { authorization: `Bearer ${token}` },
    });
  for (let i = 0; i < 2; i++) {
    const res = await download();
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), "unit,temp\n1,80\n");
  }
  const third = await download();
  assert.equal(third.status, 403);
  assert.equal(((await third.json()) as { code: string }).code, "TDS_ERR_ACCESS_LIMIT");
  // Accesses are claimed before the first byte; bytes are metered when each stream has closed.
  const usage = await until("both transfers metered", async () => {
    const u = await call("GET", `/v1/spaces/${space}/agreements/${agreementId}`, "admin");
    return (u.body as { bytes?: number }).bytes === 30 ? u : undefined;
  });
  assert.deepEqual(usage.body, { agreementId, space, accesses: 2, transfers: 2, bytes: 30 });
  // A participant reads its use through usage reports, not the ledger.
  assert.equal((await call("GET", `/v1/spaces/${space}/agreements/${agreementId}`, "consumer")).status, 403);

  const expired = await until("twice expired by its accesses", async () => {
    const o = await getContract(consNs, "twice");
    return o.status?.state === "Expired" ? o : undefined;
  });
  assert.equal(expired.status?.accesses, 2);
  assert.equal(ready(expired)?.reason, "AccessesExhausted");
  await until("the credentials Secret removed", async () =>
    (await client.find(kinds.secret, "contract-twice", consNs)) ? undefined : true,
  );
  await until("the expiry's evidence", async () =>
    (await evidenceFor(expired.metadata.uid ?? "")).includes("contract.expired") ? true : undefined,
  );
});

test("an offer's own price is billed per contract: the agreement and a download through the gateway", async () => {
  await client.create(
    kinds.dataOffer,
    offer("priced", { price: { perContract: "10.000005", perAccess: "0.5", perGBDownloaded: "1000" } }),
  );
  await put("priced/a.csv", "unit,temp\n1,80\n");
  await until("priced published", async () =>
    ready(await getOffer("priced"))?.reason === "Published" ? true : undefined,
  );
  const created = await call("POST", `/v1/spaces/${space}/contracts`, "consumer", {
    offer: { namespace: provNs, name: "priced" },
    purpose: "research",
    name: "buyer",
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const c = await until("buyer active", async () => {
    const o = await getContract(consNs, "buyer");
    return o.status?.state === "Active" ? o : undefined;
  });
  const token = unb64(dataOf(await client.get(kinds.secret, "contract-buyer", consNs)).token);
  const res = await fetch(`${api.gateway.url}/v1/data/${c.status?.agreementId ?? ""}/priced/a.csv`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "unit,temp\n1,80\n");
  const period = new Date().toISOString().slice(0, 7);
  type Line = {
    contract: string;
    offer: string;
    meter: string;
    priceSource: string;
    amount: string;
    participant: string;
    providerShare: string;
  };
  const lines = await until("the offer's price on the statement", async () => {
    const st = await call("GET", `/v1/spaces/${space}/statements/${period}`, "admin");
    const offerLines = (st.body as { lines: Line[] }).lines.filter(
      (l) => l.priceSource === "offer" && l.contract === "buyer",
    );
    return offerLines.length === 3 ? offerLines : undefined;
  });
  // No platform sheet in this space, so no fee: the provider's share is the whole amount.
  assert.deepEqual(
    lines
      .map((l) => [l.participant, l.offer, l.meter, l.amount, l.providerShare])
      .sort((a, b) => String(a).localeCompare(String(b))),
    [
      [consumer, "priced", "offer.accesses", "0.500000", "0.500000"],
      [consumer, "priced", "offer.contracts", "10.000005", "10.000005"],
      // 15 bytes at 1000 per GB.
      [consumer, "priced", "transfer.bytes", "0.000015", "0.000015"],
    ].sort((a, b) => String(a).localeCompare(String(b))),
  );
});

test("manual approval keeps a contract Requested until the provider decides; expiry ends it at notAfter", async () => {
  await client.create(kinds.dataOffer, offer("manual", {}, { contractApproval: "Manual" }));
  await put("manual/a.csv", "a");
  await until("manual published", async () =>
    ready(await getOffer("manual"))?.reason === "Published" ? true : undefined,
  );
  await client.create(kinds.dataContract, contract(consNs, "ask", "manual"));
  await client.create(kinds.dataContract, contract(consNs, "ask-no", "manual"));
  await until("awaiting approval", async () =>
    ready(await getContract(consNs, "ask"))?.reason === "AwaitingProviderApproval" ? true : undefined,
  );
  assert.equal(
    (await call("POST", `/v1/spaces/${space}/contracts/${consNs}/ask/approve`, "provider")).status,
    200,
  );
  await client.mergePatch(kinds.dataContract, "ask-no", consNs, {
    metadata: { annotations: { "tds.dev/decision": "reject" } },
  });
  await until("approved", async () =>
    (await getContract(consNs, "ask")).status?.state === "Active" ? true : undefined,
  );
  const no = await until("rejected", async () => {
    const o = await getContract(consNs, "ask-no");
    return o.status?.state === "Rejected" ? o : undefined;
  });
  assert.equal(no.status?.rejection?.reason, "ProviderRejected");

  // Long enough for a loaded operator to agree before the end (a later decision would
  // reject it with ValidityEnded); the transitions below show it was Active in between,
  // which a poll for Active could miss.
  const notAfter = rfc3339(Date.now() + 15_000);
  await client.create(
    kinds.dataContract,
    contract(consNs, "short", "telemetry", { requestedValidity: { notAfter } }),
  );
  const expired = await until("short ended", async () => {
    const o = await getContract(consNs, "short");
    return o.status?.state === "Expired" || o.status?.state === "Rejected" ? o : undefined;
  });
  assert.equal(expired.status?.state, "Expired", JSON.stringify(expired.status));
  assert.equal(ready(expired)?.reason, "ValidityEnded");
  assert.equal(expired.status.transitions, 4); // Requested, Agreed, Active, Expired
  await until("expiry evidence", async () =>
    (await evidenceFor(expired.metadata.uid ?? "")).includes("contract.expired") ? true : undefined,
  );
  await until("the Secret removed", async () =>
    (await client.find(kinds.secret, "contract-short", consNs)) ? undefined : true,
  );
});

test("deleting an offer withdraws it from the catalog, records the withdrawal, and revokes its contracts", async () => {
  const uid = (await getOffer("manual")).metadata.uid ?? "";
  await client.delete(kinds.dataOffer, "manual", provNs);
  await until("offer gone", async () =>
    (await client.find(kinds.dataOffer, "manual", provNs)) ? undefined : true,
  );
  assert.equal(
    (await call("GET", `/v1/spaces/${space}/catalog/offers/${provNs}/manual`, "consumer")).status,
    404,
  );
  assert.ok((await evidenceFor(uid)).includes("offer.withdrawn"));
  await until("its contract revoked", async () =>
    (await getContract(consNs, "ask")).status?.state === "Revoked" ? true : undefined,
  );
});

test("the space's provisioning and each participant's admission are evidence, and status points at the entry", async () => {
  const s = await client.get<Obj & { status?: { latestEvidence?: { logIndex: number; leafHash: string } } }>(
    kinds.dataSpace,
    space,
  );
  assert.deepEqual(await evidenceFor(s.metadata.uid ?? ""), ["dataspace.provisioned"]);
  assert.match(s.status?.latestEvidence?.leafHash ?? "", /^[0-9a-f]{64}$/);
  const p = await client.get<Obj & { status?: { latestEvidence?: { logIndex: number } } }>(
    kinds.participant,
    provider,
  );
  const actions = await evidenceFor(p.metadata.uid ?? "");
  assert.equal(actions.at(-1), "participant.active");
  assert.ok(
    actions.includes("participant.pending") || actions.length === 1,
    `unexpected history ${actions.join(",")}`,
  );
  const pointer = p.status?.latestEvidence;
  assert.ok(pointer);
  const r = await api.pool.query<{ action: string }>(
    "select convert_from(entry, 'UTF8')::jsonb ->> 'action' as action from evidence_entries where space = $1 and leaf_index = $2",
    [space, pointer.logIndex],
  );
  assert.equal(r.rows[0]?.action, "participant.active");
});

test("suspending the consumer revokes its granting contracts, naming the suspension", async () => {
  const list = await client.list<Obj>(kinds.dataContract, consNs);
  const granting = list.items
    .filter((c) => ["Active", "Agreed"].includes(String(c.status?.state)))
    .map((c) => c.metadata.name ?? "");
  assert.ok(granting.length > 0, "the matrix left the consumer with granting contracts");
  await client.mergePatch(kinds.participant, consumer, undefined, { spec: { suspended: true } });
  for (const name of granting) {
    const c = await until(`${name} to be Revoked`, async () => {
      const o = await getContract(consNs, name);
      return o.status?.state === "Revoked" ? o : undefined;
    });
    const revocation = (c.status as { revocation?: { revokedBy: string; reason: string } }).revocation;
    assert.ok(revocation);
    assert.equal(revocation.revokedBy, "system:tds-operator");
    assert.equal(revocation.reason, `Participant ${consumer} is suspended`);
  }
});
