// Billing ground truth on a real PostgreSQL, through the API: offers' own prices
// (perContract, perAccess, perGBDownloaded) billed per contract, the platform's price
// sheet and fee, storage, a correction, and amounts ending in 5 micro-units, with every
// total worked out by hand below, exact to the last micro-unit. Closing the period
// freezes exactly the draft.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { buildApp } from "../app.ts";
import { generateDevKey, jwksOf, mintToken, type DevKey } from "../auth/keys.ts";
import { createTokenVerifier } from "../auth/tokens.ts";
import { usageEventType, type UsageEvent } from "@tds/wire";
import { migrate } from "../migrate.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { add, formatDecimal, parseDecimal, zero } from "./money.ts";
import type { StatementLine } from "./statement.ts";

const SPACE = "ground";
const NOW = new Date("2025-04-02T00:00:00Z");
const GB_MONTH = 1_000_000_000n * 730n * 3600n;
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;
let key: DevKey;
let operator: string;
let admin: string;

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

function offer(provider: string, name: string, price: Record<string, string>) {
  return {
    space: SPACE,
    namespace: `${SPACE}--${provider}`,
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
    accessMode: "download",
    contractApproval: "Automatic",
    purposes: ["research"],
    format: "csv",
    contentId: `sha256:${"a".repeat(64)}`,
    byteSize: 1,
    objects: 1,
    currency: "CNY",
    price,
    publishedAt: "2025-03-01T08:10:00Z",
  };
}

let n = 0;
function use(
  participant: string,
  meter: string,
  quantity: number | string,
  at: { provider: string; offer: string; contract: string } | undefined,
): UsageEvent {
  return {
    specversion: "1.0",
    id: `gt-${String(++n)}`,
    source: "ground-truth",
    type: usageEventType,
    time: `2025-03-${String(5 + (n % 20)).padStart(2, "0")}T10:00:00Z`,
    data: { space: SPACE, participant, ...(at ?? {}), meter: meter as never, quantity },
  };
}

before(async () => {
  db = await createTestDatabase("tds_ground_truth");
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  key = await generateDevKey();
  app = await buildApp({ pool, verifyToken: createTokenVerifier({ jwks: jwksOf(key) }), now: () => NOW });
  operator = await mintToken(key, { role: "operator", subject: "system:tds-operator" });
  admin = await mintToken(key, { role: "space-admin", subject: "finance", space: SPACE });

  // The platform: 10% fee on offer revenue, its own storage, transfer and access prices.
  await call("PUT", `/v1/spaces/${SPACE}/price-sheets`, operator, {
    effectiveFrom: "2025-03-01T00:00:00Z",
    currency: "CNY",
    platformFeeBps: 1000,
    prices: [
      { meter: "storage.byte_seconds", unitPrice: "0.12" },
      { meter: "transfer.bytes", unitPrice: "0.5" },
      { meter: "offer.accesses", unitPrice: "0.010001" },
    ],
  });
  // The offers' own prices, as the operator publishes them (DataOffer spec.price).
  for (const o of [
    offer("acme", "telemetry", { perContract: "400.000005", perAccess: "0.333335", perGBDownloaded: "1.25" }),
    offer("acme", "vibration", { perContract: "400.000015" }),
    offer("bolt", "turbines", { perAccess: "2.5" }),
  ])
    await call("PUT", `/v1/spaces/${SPACE}/catalog/offers/${o.namespace}/${o.name}`, operator, o);

  const tel = { provider: "acme", offer: "telemetry", contract: "c-tel" };
  const telG = { provider: "acme", offer: "telemetry", contract: "c-tel-g" };
  const vib = { provider: "acme", offer: "vibration", contract: "c-vib" };
  const turb = { provider: "bolt", offer: "turbines", contract: "c-turb" };
  await call("POST", "/v1/usage", operator, [
    // Four agreements (the operator's offer.contracts events).
    use("beta", "offer.contracts", 1, tel),
    use("gamma", "offer.contracts", 1, vib),
    use("gamma", "offer.contracts", 1, telG),
    use("gamma", "offer.contracts", 1, turb),
    // Accesses and bytes through the gateway.
    use("beta", "offer.accesses", 1, tel),
    use("beta", "offer.accesses", 1, tel),
    use("beta", "offer.accesses", 1, tel),
    use("gamma", "offer.accesses", 1, telG),
    use("gamma", "offer.accesses", 5, turb),
    use("beta", "transfer.bytes", 1_000_400, tel),
    use("gamma", "transfer.bytes", 3_000_004_000, telG),
    // Storage: 2.5 GB-months for acme, one byte-second for bolt.
    use("acme", "storage.byte_seconds", ((GB_MONTH * 5n) / 2n).toString(), undefined),
    use("bolt", "storage.byte_seconds", 1, undefined),
  ]);
  await call("POST", `/v1/spaces/${SPACE}/statements/2025-03/adjustments`, admin, {
    participant: "beta",
    description: "Goodwill",
    amount: "-0.000005",
    currency: "CNY",
  });
});
after(async () => {
  await app.close();
  await pool.end();
  await db.drop();
});

// [participant, provider, offer, contract, meter, priceSource, quantity, amount, platformFee, providerShare]
// Offer prices: the platform keeps 10%, rounded half-even; the provider gets the rest, exactly.
// Platform prices: the whole amount is the platform's.
const expected = [
  // 1 x 400.000005; 10% = 40.0000005, a tie: half-even to 40.000000; share 360.000005.
  [
    "beta",
    "acme",
    "telemetry",
    "c-tel",
    "offer.contracts",
    "offer",
    "1",
    "400.000005",
    "40.000000",
    "360.000005",
  ],
  // 1 x 400.000015; 10% = 40.0000015, a tie: half-even to 40.000002; share 360.000013.
  [
    "gamma",
    "acme",
    "vibration",
    "c-vib",
    "offer.contracts",
    "offer",
    "1",
    "400.000015",
    "40.000002",
    "360.000013",
  ],
  [
    "gamma",
    "acme",
    "telemetry",
    "c-tel-g",
    "offer.contracts",
    "offer",
    "1",
    "400.000005",
    "40.000000",
    "360.000005",
  ],
  // turbines has no perContract: its agreement makes no line (the platform does not price agreements).
  // 3 x 0.333335 = 1.000005; 10% = 0.1000005, a tie: 0.100000; share 0.900005.
  ["beta", "acme", "telemetry", "c-tel", "offer.accesses", "offer", "3", "1.000005", "0.100000", "0.900005"],
  // 1 x 0.333335; 10% = 0.0333335, a tie: half-even to 0.033334; share 0.300001.
  [
    "gamma",
    "acme",
    "telemetry",
    "c-tel-g",
    "offer.accesses",
    "offer",
    "1",
    "0.333335",
    "0.033334",
    "0.300001",
  ],
  // 5 x 2.5 = 12.5; 10% = 1.25; share 11.25.
  [
    "gamma",
    "bolt",
    "turbines",
    "c-turb",
    "offer.accesses",
    "offer",
    "5",
    "12.500000",
    "1.250000",
    "11.250000",
  ],
  // 1,000,400 bytes x 1.25 per GB = 0.0012505, a tie: 0.001250; 10% = 0.000125; share 0.001125.
  [
    "beta",
    "acme",
    "telemetry",
    "c-tel",
    "transfer.bytes",
    "offer",
    "1000400",
    "0.001250",
    "0.000125",
    "0.001125",
  ],
  // 3,000,004,000 bytes x 1.25 = 3.750005; 10% = 0.3750005, a tie: 0.375000; share 3.375005.
  [
    "gamma",
    "acme",
    "telemetry",
    "c-tel-g",
    "transfer.bytes",
    "offer",
    "3000004000",
    "3.750005",
    "0.375000",
    "3.375005",
  ],
  // The platform's own prices on the same use: 0.010001 per access, 0.5 per GB.
  [
    "beta",
    "acme",
    "telemetry",
    "c-tel",
    "offer.accesses",
    "platform",
    "3",
    "0.030003",
    "0.030003",
    "0.000000",
  ],
  [
    "gamma",
    "acme",
    "telemetry",
    "c-tel-g",
    "offer.accesses",
    "platform",
    "1",
    "0.010001",
    "0.010001",
    "0.000000",
  ],
  [
    "gamma",
    "bolt",
    "turbines",
    "c-turb",
    "offer.accesses",
    "platform",
    "5",
    "0.050005",
    "0.050005",
    "0.000000",
  ],
  // 1,000,400 bytes x 0.5 per GB = 0.0005002: 0.000500.
  [
    "beta",
    "acme",
    "telemetry",
    "c-tel",
    "transfer.bytes",
    "platform",
    "1000400",
    "0.000500",
    "0.000500",
    "0.000000",
  ],
  // 3,000,004,000 bytes x 0.5 = 1.500002.
  [
    "gamma",
    "acme",
    "telemetry",
    "c-tel-g",
    "transfer.bytes",
    "platform",
    "3000004000",
    "1.500002",
    "1.500002",
    "0.000000",
  ],
  // 2.5 GB-months x 0.12 = 0.3; one byte-second rounds to nothing.
  [
    "acme",
    "",
    "",
    "",
    "storage.byte_seconds",
    "platform",
    ((GB_MONTH * 5n) / 2n).toString(),
    "0.300000",
    "0.300000",
    "0.000000",
  ],
  ["bolt", "", "", "", "storage.byte_seconds", "platform", "1", "0.000000", "0.000000", "0.000000"],
  // The correction is the platform's: its side is the whole (negative) amount.
  ["beta", "", "", "", "", null, "1", "-0.000005", "-0.000005", "0.000000"],
];

// Sums of the column above: amounts 1219.475126 = fees 123.648967 + shares 1095.826159.
const totals = [
  { currency: "CNY", subtotal: "1219.475126", platformFee: "123.648967", providerShare: "1095.826159" },
];
// beta: 400.000005 + 1.000005 + 0.001250 + 0.030003 + 0.000500 - 0.000005 = 401.031758
// gamma: 400.000015 + 400.000005 + 0.333335 + 12.5 + 3.750005 + 0.010001 + 0.050005 + 1.500002 = 818.143368
const charges = [
  { participant: "acme", currency: "CNY", amount: "0.300000" },
  { participant: "beta", currency: "CNY", amount: "401.031758" },
  { participant: "bolt", currency: "CNY", amount: "0.000000" },
  { participant: "gamma", currency: "CNY", amount: "818.143368" },
];
// acme: 360.000005 x 2 + 360.000013 + 0.900005 + 0.300001 + 0.001125 + 3.375005 = 1084.576159; bolt: 11.25
const revenueShare = [
  { provider: "acme", currency: "CNY", amount: "1084.576159" },
  { provider: "bolt", currency: "CNY", amount: "11.250000" },
];

const view = (lines: StatementLine[]) =>
  lines
    .map((l) => [
      l.participant,
      l.provider,
      l.offer,
      l.contract,
      l.meter,
      l.priceSource,
      l.quantity,
      normalize(l.amount),
      normalize(l.platformFee),
      normalize(l.providerShare),
    ])
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** Six decimals: an adjustment keeps the scale it was given, and the test compares values. */
const normalize = (s: string) => formatDecimal(add(parseDecimal(s), zero(6)));

type Statement = {
  status: string;
  lines: StatementLine[];
  totals: unknown;
  charges: unknown;
  revenueShare: unknown;
};

test("every line, total, charge and share is exact to the micro-unit, and fee + share = amount", async () => {
  const draft = (await call("GET", `/v1/spaces/${SPACE}/statements/2025-03`, admin)) as unknown as Statement;
  assert.deepEqual(
    view(draft.lines),
    [...expected].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  );
  for (const l of draft.lines)
    assert.equal(
      formatDecimal(add(parseDecimal(l.platformFee), parseDecimal(l.providerShare))),
      formatDecimal(add(parseDecimal(l.amount), zero(parseDecimal(l.platformFee).scale))),
      `line ${String(l.lineNo)}: fee + share = amount`,
    );
  assert.deepEqual(draft.totals, totals);
  assert.deepEqual(draft.charges, charges);
  assert.deepEqual(draft.revenueShare, revenueShare);

  // Closing freezes exactly the draft.
  await call("POST", `/v1/spaces/${SPACE}/statements/2025-03/close`, admin);
  const closed = (await call("GET", `/v1/spaces/${SPACE}/statements/2025-03`, admin)) as unknown as Statement;
  assert.equal(closed.status, "closed");
  assert.deepEqual(view(closed.lines), view(draft.lines));
  assert.deepEqual([closed.totals, closed.charges, closed.revenueShare], [totals, charges, revenueShare]);
});

test("a provider sees its offers' lines and its share; the consumer pays them", async () => {
  const acme = await mintToken(key, {
    role: "participant",
    subject: "acme-admin",
    space: SPACE,
    participant: "acme",
  });
  const seen = (await call("GET", `/v1/spaces/${SPACE}/statements/2025-03`, acme)) as unknown as Statement;
  assert.ok(seen.lines.every((l) => l.participant === "acme" || l.provider === "acme"));
  assert.deepEqual(seen.revenueShare, [revenueShare[0]]);
  const offerLines = seen.lines.filter((l) => l.priceSource === "offer");
  assert.deepEqual(new Set(offerLines.map((l) => l.contract)), new Set(["c-tel", "c-tel-g", "c-vib"]));
});
