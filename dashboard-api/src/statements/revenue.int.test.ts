// Revenue by contribution on a real PostgreSQL, through the API: one SandboxJob read
// four inputs of three providers (alpha: a1 and a2, beta: b1, gamma: g1) and used
// 36,000,007 CPU-milliseconds. The operator splits that usage among the inputs by the
// space's revenueSharing (crds/src/revenue.ts) and posts one usage event per input; the
// statement prices each part at its own offer's perSandboxCPUHour (3.6 CNY, so a
// CPU-millisecond is one micro-unit), the platform keeps 10% half-even, and each
// provider's payout is its exact share sum rounded half-even to the fen. Every number
// below is worked by hand, for each mode, in a space of its own.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { splitByContribution, type RevenueInput, type RevenueSharing } from "@tds/crds";
import { buildApp } from "../app.ts";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "../auth/keys.ts";
import { createTokenVerifier } from "../auth/tokens.ts";
import { usageEventType, type UsageEvent } from "@tds/wire";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import type { StatementLine } from "./statement.ts";
import type { Settlement } from "./settlement.ts";

const NOW = new Date("2025-04-02T00:00:00Z");
const CPU_MS = 36_000_007n;
const MEMORY = 1_000_000_003n;
const MODES = ["ProportionalToUsage", "ProportionalToAccesses", "Equal"] as const;
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let key: DevKey;
let operator: string;

// What the job read of each input through the gateway (sandbox-reads.ts):
// alpha 400 of 1000 bytes in 4 of 7 reads, beta 500 bytes in 2, gamma 100 bytes in 1.
const inputs: RevenueInput[] = [
  { input: "main", provider: "alpha", offer: "a1", contract: "c-a1", bytes: 300n, reads: 1n },
  { input: "a2", provider: "alpha", offer: "a2", contract: "c-a2", bytes: 100n, reads: 3n },
  { input: "b1", provider: "beta", offer: "b1", contract: "c-b1", bytes: 500n, reads: 2n },
  { input: "g1", provider: "gamma", offer: "g1", contract: "c-g1", bytes: 100n, reads: 1n },
];

const spaceOf = (mode: RevenueSharing) => `rev-${mode.toLowerCase()}`;

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
function jobEvents(space: string, mode: RevenueSharing): UsageEvent[] {
  return splitByContribution(mode, inputs, [CPU_MS, MEMORY]).flatMap((s) =>
    (
      [
        ["cpu", "sandbox.cpu_milliseconds", s.parts[0]],
        ["memory", "sandbox.memory_byte_seconds", s.parts[1]],
      ] as const
    ).map(([suffix, meter, quantity]): UsageEvent => ({
      specversion: "1.0",
      id: `sandbox/00000000-0000-4000-8000-000000000001/${suffix}${s.input === "main" ? "" : `/${s.input}`}`,
      source: "/tds/operator/sandbox",
      type: usageEventType,
      time: "2025-03-10T10:00:00Z",
      data: {
        space,
        participant: "delta",
        provider: s.provider,
        offer: s.offer,
        contract: s.contract,
        meter,
        quantity: (quantity ?? 0n).toString(),
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
  for (const mode of MODES) {
    const space = spaceOf(mode);
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
    const draft = (await call(
      "GET",
      `/v1/spaces/${space}/statements/2025-03`,
      admin,
    )) as unknown as Statement;
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
