// Revenue by contribution on a real PostgreSQL, through the API: one SandboxJob read
// four inputs of three providers (alpha: a1 and a2, beta: b1, gamma: g1) and used
// 36,000,007 CPU-milliseconds. The operator splits that usage among the inputs by the
// space's revenueSharing (crds/src/revenue.ts) and posts one usage event per input; the
// statement prices each part at its own offer's perSandboxCPUHour (3.6 CNY, so a
// CPU-millisecond is one micro-unit), the platform keeps 10% half-even, and each
// provider's payout is its exact share sum rounded half-even to the fen. Every number
// below is worked by hand, for each mode, in a space of its own. Each event carries its
// share (@tds/wire UsageShare): the statement's shares section shows each input's part
// with its basis and weights, to whom its lines are shown, in JSON and CSV, unchanged by
// the close; a bad share is refused naming its field, and a retry with another share is
// a conflict, as a retry with another quantity is.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { splitByContribution, type RevenueInput, type RevenueSharing } from "@tds/crds";
import { buildApp } from "../app.ts";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "../auth/keys.ts";
import { createTokenVerifier } from "../auth/tokens.ts";
import { usageEventType, usageShare, type UsageEvent } from "@tds/wire";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import type { StatementShare } from "./shares.ts";
import type { StatementLine } from "./statement.ts";
import type { Settlement } from "./settlement.ts";

const NOW = new Date("2025-04-02T00:00:00Z");
const CPU_MS = 36_000_007n;
const MEMORY = 1_000_000_003n;
const MODES = ["ProportionalToUsage", "ProportionalToAccesses", "Equal"] as const;
const JOB = "00000000-0000-4000-8000-000000000001";
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let key: DevKey;
let operator: string;
const CLOSED = "rev-closed";

// What the job read of each input through the gateway (sandbox-reads.ts):
// alpha 400 of 1000 bytes in 4 of 7 reads, beta 500 bytes in 2, gamma 100 bytes in 1.
const inputs: RevenueInput[] = [
  { input: "main", provider: "alpha", offer: "a1", contract: "c-a1", bytes: 300n, reads: 1n },
  { input: "a2", provider: "alpha", offer: "a2", contract: "c-a2", bytes: 100n, reads: 3n },
  { input: "b1", provider: "beta", offer: "b1", contract: "c-b1", bytes: 500n, reads: 2n },
  { input: "g1", provider: "gamma", offer: "g1", contract: "c-g1", bytes: 100n, reads: 1n },
];

const spaceOf = (mode: RevenueSharing) => `rev-${mode.toLowerCase()}`;

type WithShares = Statement & { shares: StatementShare[] };
/** The March 2025 statement of a space, as the token's holder sees it. */
const march2025 = async (space: string, token: string): Promise<WithShares> =>
  (await call("GET", `/v1/spaces/${space}/statements/2025-03`, token)) as unknown as WithShares;

async function call(method: "GET" | "PUT" | "POST", url: string, token: string, payload?: unknown) {
  const res = await app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  assert.ok(res.statusCode < 300, `${method} ${url}: ${String(res.statusCode)} ${res.body}`);
  return res.statusCode === 204 ? undefined : res.json<Record<string, unknown>>();
}

function offer(space: string, provider: string, name: string) {
  return {
    space,
    namespace: `${space}--${provider}`,
    name,
    uid: `uid-${name}`,
    provider,
    providerName: provider,
    title: name,
    description: "",
    keywords: [],
    classification: "internal",
    dataCategory: "telemetry",
    regionOfOrigin: "CN",
    accessMode: "computeOnly",
    contractApproval: "Automatic",
    purposes: ["research"],
    format: "csv",
    contentId: `sha256:${"a".repeat(64)}`,
    byteSize: 1,
    objects: 1,
    currency: "CNY",
    price: { perSandboxCPUHour: "3.6" },
    publishedAt: "2025-03-01T08:10:00Z",
  };
}

/** The events the operator posts for the job (sandboxjob.review.ts sandboxUsageEvents, one pair per input). */
function jobEvents(
  space: string,
  mode: RevenueSharing,
  job = JOB,
  time = "2025-03-10T10:00:00Z",
): UsageEvent[] {
  return splitByContribution(mode, inputs, [CPU_MS, MEMORY]).flatMap((s) =>
    (
      [
        ["cpu", "sandbox.cpu_milliseconds", s.parts[0], CPU_MS],
        ["memory", "sandbox.memory_byte_seconds", s.parts[1], MEMORY],
      ] as const
    ).map(([suffix, meter, quantity, total]): UsageEvent => ({
      specversion: "1.0",
      id: `sandbox/${job}/${suffix}${s.input === "main" ? "" : `/${s.input}`}`,
      source: "/tds/operator/sandbox",
      type: usageEventType,
      time,
      data: {
        space,
        participant: "delta",
        provider: s.provider,
        offer: s.offer,
        contract: s.contract,
        meter,
        quantity: (quantity ?? 0n).toString(),
        share: usageShare(job, s, total),
      },
    })),
  );
}

before(async () => {
  db = await createTestDatabase("tds_revenue");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  key = await generateDevKey();
  app = await buildApp({ pool, verifyToken: createTokenVerifier({ jwks: jwksOf(key) }), now: () => NOW });
  operator = await mintToken(key, { role: "operator", subject: "system:tds-operator" });
  // CLOSED is closed by a test of its own.
  const spaces: (readonly [string, RevenueSharing])[] = [
    ...MODES.map((m) => [spaceOf(m), m] as const),
    [CLOSED, MODES[0]],
  ];
  for (const [space, mode] of spaces) {
    await call("PUT", `/v1/spaces/${space}/price-sheets`, operator, {
      effectiveFrom: "2025-03-01T00:00:00Z",
      currency: "CNY",
      platformFeeBps: 1000,
      prices: [{ meter: "storage.byte_seconds", unitPrice: "0.12" }],
    });
    for (const [provider, name] of [
      ["alpha", "a1"],
      ["alpha", "a2"],
      ["beta", "b1"],
      ["gamma", "g1"],
    ] as const)
      await call("PUT", `/v1/spaces/${space}/catalog/offers/${space}--${provider}/${name}`, operator, {
        ...offer(space, provider, name),
      });
    await call("POST", "/v1/usage", operator, jobEvents(space, mode));
    // A retry of the operator's post (same ids) counts nothing.
    await call("POST", "/v1/usage", operator, jobEvents(space, mode));
  }
});
after(async () => {
  await app.close();
  await pool.end();
  await db.drop();
});

type Statement = { lines: StatementLine[]; settlement: Settlement[] };
const ROW = (l: StatementLine) => [l.contract, l.quantity, l.amount, l.platformFee, l.providerShare];

// [contract, CPU-ms, amount, 10% fee (half-even to micro-units), provider's share], then each
// provider's payout (its exact shares, half-even to the fen). The consumer pays 36.000007,
// rounded once to 36.00; the providers get 32.40 in each mode and the platform 3.60.
const expected: Record<RevenueSharing, { lines: string[][]; payouts: [string, string][] }> = {
  // Providers by bytes 400:500:100: floor(36000007 x 0.4) = 14400002, 18000003, 3600000; the 2
  // fen-less units left go to beta (the largest). alpha's by 300:100: 10800001 + 1 left, 3600000.
  ProportionalToUsage: {
    lines: [
      // fee 1.0800002 -> 1.080000
      ["c-a1", "10800002", "10.800002", "1.080000", "9.720002"],
      ["c-a2", "3600000", "3.600000", "0.360000", "3.240000"],
      // fee 1.8000005, a tie: half-even to 1.800000
      ["c-b1", "18000005", "18.000005", "1.800000", "16.200005"],
      ["c-g1", "3600000", "3.600000", "0.360000", "3.240000"],
    ],
    // alpha 9.720002 + 3.24 = 12.960002 -> 12.96; beta 16.200005 -> 16.20
    payouts: [
      ["alpha", "12.96"],
      ["beta", "16.20"],
      ["gamma", "3.24"],
    ],
  },
  // Providers by reads 4:2:1: 20571432, 10285716, 5142858, the 1 left to alpha; alpha's 20571433
  // by 1:3: 5142858, 15428574 + the 1 left to a2.
  ProportionalToAccesses: {
    lines: [
      // fee 0.5142858 -> 0.514286
      ["c-a1", "5142858", "5.142858", "0.514286", "4.628572"],
      // fee 1.5428575, a tie: half-even to 1.542858
      ["c-a2", "15428575", "15.428575", "1.542858", "13.885717"],
      ["c-b1", "10285716", "10.285716", "1.028572", "9.257144"],
      ["c-g1", "5142858", "5.142858", "0.514286", "4.628572"],
    ],
    // alpha 4.628572 + 13.885717 = 18.514289 -> 18.51; beta 9.257144 -> 9.26; gamma 4.628572 -> 4.63
    payouts: [
      ["alpha", "18.51"],
      ["beta", "9.26"],
      ["gamma", "4.63"],
    ],
  },
  // 12000002 each, the 1 left to alpha (all weigh the same: the smallest name); alpha's 12000003
  // in halves, 6000001 each, the 1 left to input a2 (its name sorts before main, c-a1's input).
  Equal: {
    lines: [
      ["c-a1", "6000001", "6.000001", "0.600000", "5.400001"],
      ["c-a2", "6000002", "6.000002", "0.600000", "5.400002"],
      ["c-b1", "12000002", "12.000002", "1.200000", "10.800002"],
      ["c-g1", "12000002", "12.000002", "1.200000", "10.800002"],
    ],
    // alpha 10.800003 -> 10.80
    payouts: [
      ["alpha", "10.80"],
      ["beta", "10.80"],
      ["gamma", "10.80"],
    ],
  },
};

for (const mode of MODES)
  test(`${mode}: each provider's lines and payout are exact to the last digit`, async () => {
    const space = spaceOf(mode);
    const admin = await mintToken(key, { role: "space-admin", subject: "finance", space });
    const draft = await march2025(space, admin);
    const cpu = draft.lines
      .filter((l) => l.meter === "sandbox.cpu_milliseconds" && l.priceSource === "offer")
      .sort((a, b) => (a.contract < b.contract ? -1 : 1));
    assert.deepEqual(cpu.map(ROW), expected[mode].lines);
    assert.ok(cpu.every((l) => l.participant === "delta"));
    const [cny] = draft.settlement;
    assert.equal(cny?.currency, "CNY");
    assert.deepEqual(
      cny.revenueShare.map((s) => [s.provider, s.amount]),
      expected[mode].payouts,
    );
    assert.deepEqual(
      [cny.subtotal, cny.providerShare, cny.platformFee, cny.charges],
      ["36.00", "32.40", "3.60", [{ participant: "delta", amount: "36.00" }]],
    );
    // The memory parts sum to the job's total, split the same way (the sheet does not price them).
    const memory = draft.lines.filter(
      (l) => l.meter === "sandbox.memory_byte_seconds" && l.priceSource === "platform",
    );
    assert.equal(
      memory.reduce((s, l) => s + BigInt(l.quantity), 0n),
      MEMORY,
    );
  });

const SHARE = (s: StatementShare) => [
  s.input,
  s.provider,
  s.contract,
  s.quantity,
  s.basis,
  s.weight,
  s.inputsWeight,
  s.providerWeight,
  s.providersWeight,
];

// The CPU share of each input, in the section's order (by input name), as
// [input, provider, contract, CPU-ms, basis, weight, inputsWeight, providerWeight,
// providersWeight]; the quantities are the lines' above, the weights what the job read.
const expectedShares: Record<RevenueSharing, string[][]> = {
  // alpha read 400 of the 1000 bytes, 300 of them of main (c-a1) and 100 of a2.
  ProportionalToUsage: [
    ["a2", "alpha", "c-a2", "3600000", "ProportionalToUsage", "100", "400", "400", "1000"],
    ["b1", "beta", "c-b1", "18000005", "ProportionalToUsage", "500", "500", "500", "1000"],
    ["g1", "gamma", "c-g1", "3600000", "ProportionalToUsage", "100", "100", "100", "1000"],
    ["main", "alpha", "c-a1", "10800002", "ProportionalToUsage", "300", "400", "400", "1000"],
  ],
  // alpha made 4 of the 7 reads, 1 of main and 3 of a2.
  ProportionalToAccesses: [
    ["a2", "alpha", "c-a2", "15428575", "ProportionalToAccesses", "3", "4", "4", "7"],
    ["b1", "beta", "c-b1", "10285716", "ProportionalToAccesses", "2", "2", "2", "7"],
    ["g1", "gamma", "c-g1", "5142858", "ProportionalToAccesses", "1", "1", "1", "7"],
    ["main", "alpha", "c-a1", "5142858", "ProportionalToAccesses", "1", "4", "4", "7"],
  ],
  // Each provider one of three; alpha's inputs one of two each.
  Equal: [
    ["a2", "alpha", "c-a2", "6000002", "Equal", "1", "2", "1", "3"],
    ["b1", "beta", "c-b1", "12000002", "Equal", "1", "1", "1", "3"],
    ["g1", "gamma", "c-g1", "12000002", "Equal", "1", "1", "1", "3"],
    ["main", "alpha", "c-a1", "6000001", "Equal", "1", "2", "1", "3"],
  ],
};

for (const mode of MODES)
  test(`${mode}: the statement shows each input's share with its basis and weights`, async () => {
    const space = spaceOf(mode);
    const admin = await mintToken(key, { role: "space-admin", subject: "finance", space });
    const draft = await march2025(space, admin);
    const cpu = draft.shares.filter((s) => s.meter === "sandbox.cpu_milliseconds");
    assert.deepEqual(cpu.map(SHARE), expectedShares[mode]);
    assert.equal(draft.shares.length, 8, "a cpu and a memory share per input");
    for (const s of draft.shares) {
      assert.deepEqual(
        [s.kind, s.job, s.participant, s.offer, s.time],
        ["usage", JOB, "delta", s.contract.slice(2), "2025-03-10T10:00:00.000Z"],
      );
      assert.equal(s.total, s.meter === "sandbox.cpu_milliseconds" ? CPU_MS.toString() : MEMORY.toString());
      // Each share is its line's quantity (the job is the only use of each contract).
      const line = draft.lines.find(
        (l) => l.contract === s.contract && l.meter === s.meter && l.priceSource === "platform",
      );
      assert.equal(line?.quantity, s.quantity, `${s.contract} ${s.meter}`);
    }
    const memory = draft.shares.filter((s) => s.meter === "sandbox.memory_byte_seconds");
    assert.deepEqual(
      memory.map((s) => s.input),
      cpu.map((s) => s.input),
    );
    assert.equal(
      memory.reduce((t, s) => t + BigInt(s.quantity), 0n),
      MEMORY,
    );
  });

test("a provider sees its own shares, the consumer all of them; the CSV section says the same", async () => {
  const space = spaceOf("ProportionalToUsage");
  const token = (participant: string) =>
    mintToken(key, { role: "participant", subject: `${participant}-admin`, space, participant });
  const beta = await march2025(space, await token("beta"));
  assert.deepEqual(
    beta.shares.map((s) => [s.provider, s.input, s.meter]),
    [
      ["beta", "b1", "sandbox.cpu_milliseconds"],
      ["beta", "b1", "sandbox.memory_byte_seconds"],
    ],
  );
  const delta = await march2025(space, await token("delta"));
  assert.equal(delta.shares.length, 8);
  const outsider = await march2025(space, await token("omega"));
  assert.deepEqual(outsider.shares, []);

  const csv = await app.inject({
    method: "GET",
    url: `/v1/spaces/${space}/statements/2025-03?format=csv&section=shares`,
    headers: { authorization: `Bearer ${await token("gamma")}` },
  });
  assert.equal(csv.statusCode, 200, csv.body);
  assert.match(
    String(csv.headers["content-disposition"]),
    /statement-rev-proportionaltousage-2025-03-shares\.csv/,
  );
  assert.equal(
    csv.body,
    [
      "space,period,status,kind,job,input,participant,provider,offer,contract,meter,quantity,total,basis,weight," +
        "inputs_weight,provider_weight,providers_weight,time",
      `${space},2025-03,open,usage,${JOB},g1,delta,gamma,g1,c-g1,sandbox.cpu_milliseconds,3600000,36000007,` +
        "ProportionalToUsage,100,100,100,1000,2025-03-10T10:00:00.000Z",
      `${space},2025-03,open,usage,${JOB},g1,delta,gamma,g1,c-g1,sandbox.memory_byte_seconds,100000000,1000000003,` +
        "ProportionalToUsage,100,100,100,1000,2025-03-10T10:00:00.000Z",
      "",
    ].join("\r\n"),
  );
  // Without section, the CSV is the lines, as before.
  const lines = await app.inject({
    method: "GET",
    url: `/v1/spaces/${space}/statements/2025-03?format=csv`,
    headers: { authorization: `Bearer ${await token("gamma")}` },
  });
  assert.match(lines.body, /^space,period,status,line_no,/);
});

test("closing keeps the period's shares; a late job's shares go with the period that bills them", async () => {
  const admin = await mintToken(key, { role: "space-admin", subject: "finance", space: CLOSED });
  const march = async () =>
    ((await call("GET", `/v1/spaces/${CLOSED}/statements/2025-03`, admin)) as unknown as WithShares).shares;
  const before = await march();
  assert.deepEqual(
    before.filter((s) => s.meter === "sandbox.cpu_milliseconds").map(SHARE),
    expectedShares.ProportionalToUsage,
  );
  await call("POST", `/v1/spaces/${CLOSED}/statements/2025-03/close`, admin);
  assert.deepEqual(await march(), before);
  const late = "00000000-0000-4000-8000-000000000002";
  await call(
    "POST",
    "/v1/usage",
    operator,
    jobEvents(CLOSED, "ProportionalToUsage", late, "2025-03-20T08:00:00Z"),
  );
  assert.deepEqual(await march(), before, "a closed period's shares never change");
  const april = (await call(
    "GET",
    `/v1/spaces/${CLOSED}/statements/2025-04`,
    admin,
  )) as unknown as WithShares;
  assert.deepEqual(
    april.shares
      .filter((s) => s.meter === "sandbox.cpu_milliseconds")
      .map((s) => [s.kind, s.job, ...SHARE(s)]),
    expectedShares.ProportionalToUsage.map((row) => ["late_usage", late, ...row]),
  );
  assert.ok(
    april.lines.some((l) => l.kind === "late_usage" && l.contract === "c-b1" && l.quantity === "18000005"),
  );
});

test("a bad share is refused naming its field; nothing is stored", async () => {
  const space = spaceOf("Equal");
  const [good] = jobEvents(space, "Equal", "00000000-0000-4000-8000-00000000000b");
  assert.ok(good?.data.share);
  const withData = (data: Record<string, unknown>): UsageEvent => ({
    ...good,
    data: { ...good.data, ...data },
  });
  const withShare = (share: Record<string, unknown>) => withData({ share: { ...good.data.share, ...share } });
  const cases: [string, UsageEvent, string][] = [
    ["a weight above its sum", withShare({ weight: "3" }), "body/0/data/share/weight"],
    [
      "a provider weight above its sum",
      withShare({ providerWeight: "4" }),
      "body/0/data/share/providerWeight",
    ],
    [
      "providers that weigh nothing",
      withShare({ providerWeight: "0", providersWeight: "0" }),
      "body/0/data/share/providersWeight",
    ],
    ["a part above the job's total", withShare({ total: "5" }), "body/0/data/share/total"],
    ["a weight with a leading zero", withShare({ weight: "01" }), "body/0/data/share/weight"],
    ["a weight as a fraction", withShare({ inputsWeight: "2.5" }), "body/0/data/share/inputsWeight"],
    ["an unknown basis", withShare({ basis: "Bytes" }), "body/0/data/share/basis"],
    ["an unknown member", withShare({ note: "x" }), "body/0/data/share/note"],
    ["no job", withShare({ job: undefined }), "body/0/data/share/job"],
    ["a meter that is never split", withData({ meter: "transfer.bytes" }), "body/0/data/share"],
    ["a share without its contract", withData({ contract: undefined }), "body/0/data/contract"],
  ];
  for (const [name, event, field] of cases) {
    const res = await app.inject({
      method: "POST",
      url: "/v1/usage",
      headers: { authorization: `Bearer ${operator}` },
      payload: [event],
    });
    const body = JSON.parse(res.body) as { code?: string; field?: string };
    assert.deepEqual(
      [res.statusCode, body.code, body.field],
      [400, "TDS_ERR_VALIDATION", field],
      `${name}: ${res.body}`,
    );
  }
  const stored = await pool.query(
    "select 1 from usage_events where id like 'sandbox/00000000-0000-4000-8000-00000000000b/%'",
  );
  assert.equal(stored.rowCount, 0);
});

test("a retry with another share is a conflict, as one with another quantity is; the original stands", async () => {
  const space = spaceOf("Equal");
  const [first] = jobEvents(space, "Equal");
  assert.ok(first?.data.share);
  const retry = { ...first, data: { ...first.data, share: { ...first.data.share, weight: "2" } } };
  const answer = (await call("POST", "/v1/usage", operator, [retry])) as unknown as {
    accepted: number;
    conflicts: number;
    results: { status: string; code?: string }[];
  };
  assert.deepEqual(
    [answer.accepted, answer.conflicts, answer.results[0]?.status, answer.results[0]?.code],
    [0, 1, "conflict", "TDS_ERR_EVENT_CONFLICT"],
  );
  const { rows } = await pool.query<{ share: unknown; flagged: string }>(
    `select e.share, (select count(*)::text from usage_conflicts c
                      where c.space = e.space and c.source = e.source and c.id = e.id) as flagged
     from usage_events e where e.space = $1 and e.id = $2`,
    [space, first.id],
  );
  assert.deepEqual(rows, [{ share: first.data.share, flagged: "1" }]);
});
