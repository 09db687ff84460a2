// The finance console in real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core; no browser download), against the real API on PostgreSQL. A space
// with a price sheet, an offer with its own prices, usage of four meters and a late
// event carried out of a closed period: the page must show, for the period, the usage
// per participant and meter in billing units (charts with unit axes and legends), the
// charges per consumer with their lines, the revenue share per provider and the
// platform fee, the late lines, and the draft state; every number on it is compared
// with the API's JSON for the same period, exactly. Its downloads (statement CSV and
// JSON, usage CSV) are read back. A space admin then closes the period from the page.
// Screenshots go to $TDS_STATE_DIR (default .tds/): finance-console-draft.png and
// finance-console-closed.png.
//
// Dates: the data sit in the two months before the real current one (so both can be
// closed), and the browser's clock is pinned to the 20th of the later one, so the test
// means the same on any day.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium, type BrowserContext, type Locator, type Page } from "playwright-core";
import { loadOrCreateDevKey, mintToken } from "@tds/dashboard-api/auth-keys";
import { csvColumns as usageCsvColumns } from "../../dashboard-api/src/reports/usage.ts";
import { statementCsvColumns } from "../../dashboard-api/src/statements/csv.ts";
import {
  add,
  divRound,
  formatDecimal,
  parseDecimal,
  zero,
} from "../../dashboard-api/src/statements/money.ts";
import { pricedQuantity } from "../../dashboard-api/src/statements/statement.ts";
import type { Settlement } from "../../dashboard-api/src/statements/settlement.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { startServer, stopServer, type ServerProcess } from "@tds/test/server";
import { repoRoot } from "../harness/environment.ts";

const SPACE = "finance-demo";
const DAY = 86_400_000;
const HOUR = 3_600_000;
const monthStart = (offset: number): Date => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
};
const EARLY = monthStart(-2); // closed before the test looks; it receives a late event
const START = monthStart(-1); // the period the page shows
const PERIOD = START.toISOString().slice(0, 7);
const EARLY_PERIOD = EARLY.toISOString().slice(0, 7);
const BROWSER_NOW = new Date(START.getTime() + 19 * DAY + 12 * HOUR);
const shots = process.env.TDS_STATE_DIR ?? join(repoRoot, ".tds");

let db: TestDatabase;
let server: ServerProcess;
let browser: BrowserContext;
let profile: string;
let adminToken: string;
let financeToken: string;

async function call(method: string, path: string, token: string, body?: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

async function ok(res: Promise<Response>): Promise<Response> {
  const r = await res;
  assert.ok(r.ok, `${String(r.status)} ${await r.clone().text()}`);
  return r;
}

let seq = 0;
function usage(
  participant: string,
  meter: string,
  time: Date,
  quantity: bigint,
  at?: { provider: string; offer: string; contract: string },
) {
  return {
    specversion: "1.0",
    id: `ev-${String(++seq)}`,
    source: "finance-page-test",
    type: "dev.tds.usage.v1",
    time: time.toISOString(),
    data: { space: SPACE, participant, meter, quantity: quantity.toString(), ...(at ?? {}) },
  };
}

interface Line {
  lineNo: number;
  kind: string;
  participant: string;
  provider: string;
  contract: string;
  meter: string;
  priceSource: string | null;
  quantity: string;
  pricedQuantity: string | null;
  unitPrice: string | null;
  priceUnit: string | null;
  amount: string;
  amountMinor: string | null;
  currency: string | null;
  description: string;
}
interface Statement {
  status: string;
  settlement: Settlement[];
  lines: Line[];
}

before(async () => {
  db = await createTestDatabase("tds_finance_page");
  const dir = mkdtempSync(join(tmpdir(), "tds-finance-"));
  const keyFile = join(dir, "key.json");
  const key = await loadOrCreateDevKey(keyFile);
  adminToken = await mintToken(key, { role: "space-admin", subject: "admin", space: SPACE });
  financeToken = await mintToken(key, { role: "finance-viewer", subject: "finance", space: SPACE });
  const platformToken = await mintToken(key, { role: "platform-admin", subject: "platform" });
  // No kubeconfig: this test is about the page, not the cluster.
  server = await startServer({ DATABASE_URL: db.url, TDS_AUTH_DEV_KEY_FILE: keyFile, KUBECONFIG: "" });

  // The space's first sheet registers it (only a cluster-wide role may).
  await ok(
    call("PUT", `/v1/spaces/${SPACE}/price-sheets`, platformToken, {
      effectiveFrom: EARLY.toISOString(),
      currency: "EUR",
      platformFeeBps: 500,
      prices: [
        { meter: "storage.byte_seconds", unitPrice: "0.12" },
        { meter: "transfer.bytes", unitPrice: "0.01" },
      ],
    }),
  );
  // alpha's offer, with its own prices (what alpha earns, less the platform's 5 %).
  await ok(
    call("PUT", `/v1/spaces/${SPACE}/catalog/offers/${SPACE}--alpha/weather`, platformToken, {
      space: SPACE,
      namespace: `${SPACE}--alpha`,
      name: "weather",
      uid: "uid-weather",
      provider: "alpha",
      providerName: "Alpha Weather",
      title: "Weather observations",
      description: "",
      keywords: [],
      classification: "internal",
      dataCategory: "telemetry",
      regionOfOrigin: "DE",
      accessMode: "download",
      contractApproval: "Automatic",
      purposes: ["research"],
      format: "csv",
      contentId: `sha256:${"a".repeat(64)}`,
      byteSize: 1,
      objects: 1,
      currency: "EUR",
      price: { perAccess: "0.35", perGBDownloaded: "0.09", perSandboxCPUHour: "1.20" },
      publishedAt: EARLY.toISOString(),
    }),
  );
  const weather = (contract: string) => ({ provider: "alpha", offer: "weather", contract });
  const events = [];
  for (const [i, participant] of ["alpha", "beta", "gamma"].entries())
    for (let d = 1; d <= 10; d++)
      events.push(
        usage(
          participant,
          "storage.byte_seconds",
          new Date(START.getTime() + (d + 2) * DAY + HOUR),
          BigInt((i + 1) * d) * 86_400_000_000_000n + 123_456_789n,
        ),
      );
  events.push(
    usage("beta", "storage.byte_seconds", new Date(EARLY.getTime() + 5 * DAY), 40_000_000_000_000n),
    usage("beta", "transfer.bytes", new Date(START.getTime() + 3 * DAY), 3_500_000_000n, weather("c-beta")),
    usage("beta", "transfer.bytes", new Date(START.getTime() + 6 * DAY), 1_234_567_891n, weather("c-beta")),
    usage("gamma", "transfer.bytes", new Date(START.getTime() + 4 * DAY), 1_250_000_000n, weather("c-gamma")),
    usage("beta", "offer.accesses", new Date(START.getTime() + 3 * DAY), 7n, weather("c-beta")),
    usage("gamma", "offer.accesses", new Date(START.getTime() + 4 * DAY), 3n, weather("c-gamma")),
    usage(
      "gamma",
      "sandbox.cpu_milliseconds",
      new Date(START.getTime() + 8 * DAY),
      5_400_000n,
      weather("c-gamma"),
    ),
  );
  await ok(call("POST", "/v1/usage", adminToken, events));
  // Close the earlier period, then an event of it arrives late: it is carried into PERIOD.
  await ok(call("POST", `/v1/spaces/${SPACE}/statements/${EARLY_PERIOD}/close`, adminToken));
  const late = await (
    await ok(
      call("POST", "/v1/usage", adminToken, [
        usage("gamma", "offer.accesses", new Date(EARLY.getTime() + 9 * DAY), 4n, weather("c-gamma")),
      ]),
    )
  ).json();
  assert.equal((late as { results: { late: boolean }[] }).results[0]?.late, true);

  profile = mkdtempSync(join(tmpdir(), "tds-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1360, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  // before() may have failed part way: close only what it opened.
  if (typeof browser !== "undefined") await browser.close();
  if (typeof profile !== "undefined") rmSync(profile, { recursive: true, force: true });
  if (typeof server !== "undefined") await stopServer(server);
  if (typeof db !== "undefined") await db.drop();
});

async function open(token: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.clock.setFixedTime(BROWSER_NOW);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${server.url}/dashboard#token=${token}&space=${SPACE}`);
  await page.waitForSelector("body[data-loaded=true]", { timeout: 30_000 });
  assert.equal(await page.textContent("#error"), "");
  return { page, errors };
}

async function attrs(list: Locator, name: string): Promise<(string | null)[]> {
  const out = [];
  for (let i = 0; i < (await list.count()); i++) out.push(await list.nth(i).getAttribute(name));
  return out;
}

const grouped = (dec: string): string => {
  const [i = "", f] = dec.replace(/^-/, "").split(".");
  return (dec.startsWith("-") ? "-" : "") + i.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (f ? `.${f}` : "");
};

async function statementJson(): Promise<Statement> {
  return (await (
    await ok(call("GET", `/v1/spaces/${SPACE}/statements/${PERIOD}`, financeToken))
  ).json()) as Statement;
}

/** Every amount the page shows for the period equals the API's, and reads as the API's string. */
async function checkMoney(page: Page, st: Statement): Promise<number> {
  let checked = 0;
  const [eur] = st.settlement;
  assert.ok(eur, "the period has an EUR settlement");
  assert.equal(st.settlement.length, 1);
  for (const key of ["subtotal", "platformFee", "providerShare"] as const) {
    const money = page.locator(`[data-kpi=${key}] .money`);
    assert.equal(await money.getAttribute("data-amount"), eur[key], key);
    assert.equal(await money.textContent(), `EUR ${grouped(eur[key])}`, key);
    checked++;
  }
  assert.deepEqual(
    await attrs(page.locator("details.charge"), "data-participant"),
    eur.charges.map((c) => c.participant),
  );
  for (const c of eur.charges) {
    const card = page.locator(`details.charge[data-participant=${c.participant}]`);
    assert.equal(await card.locator("[data-charge]").getAttribute("data-charge"), c.amount, c.participant);
    const lines = st.lines.filter((l) => l.participant === c.participant);
    assert.equal(await card.locator("tbody tr").count(), lines.length);
    for (const l of lines) {
      const row = card.locator(`tr[data-line="${String(l.lineNo)}"]`);
      assert.equal(await row.getAttribute("data-kind"), l.kind);
      assert.equal(
        await row.locator("[data-priced-quantity]").getAttribute("data-priced-quantity"),
        l.pricedQuantity ?? "",
      );
      assert.equal(await row.locator("[data-unit-price]").getAttribute("data-unit-price"), l.unitPrice ?? "");
      assert.equal(await row.locator(".money").getAttribute("data-amount"), l.amountMinor);
      assert.equal(await row.locator("td.contract").textContent(), l.contract || "—");
      checked += 4;
    }
  }
  for (const p of eur.revenueShare) {
    const row = page.locator(`#revenue tr[data-provider=${p.provider}]`);
    assert.equal(await row.locator("[data-basis]").getAttribute("data-basis"), p.basis);
    assert.equal(await row.locator("[data-fee]").getAttribute("data-fee"), p.platformFee);
    assert.equal(await row.locator("[data-payout]").getAttribute("data-payout"), p.amount);
    checked += 3;
  }
  assert.equal(
    await page.locator("#revenue tr[data-platform-fee]").getAttribute("data-platform-fee"),
    eur.platformFee,
  );
  return checked + 1;
}

test("the finance console shows the period's usage, charges, revenue share and late lines, exactly as the API", async () => {
  const { page, errors } = await open(financeToken);
  assert.equal(await page.inputValue("#period"), PERIOD);
  const st = await statementJson();
  assert.equal(st.status, "open");
  assert.equal(await page.textContent("#status"), "Draft");
  assert.equal(await page.isVisible("#close"), false, "a finance viewer may not close a period");

  // The server's arithmetic, checked independently of its code: each charge is the
  // half-even rounding of its exact line sum, the subtotal their sum, and the fee the rest.
  const [eur] = st.settlement;
  assert.ok(eur);
  let subtotal = zero(2);
  for (const c of eur.charges) {
    const exact = st.lines
      .filter((l) => l.participant === c.participant)
      .reduce((s, l) => add(s, parseDecimal(l.amount)), zero(6));
    assert.equal(c.amount, formatDecimal(divRound(exact, 1n, 2)), c.participant);
    subtotal = add(subtotal, parseDecimal(c.amount));
  }
  assert.equal(eur.subtotal, formatDecimal(subtotal));
  const payouts = eur.revenueShare.reduce((s, p) => add(s, parseDecimal(p.amount)), zero(2));
  assert.equal(formatDecimal(add(parseDecimal(eur.platformFee), payouts)), eur.subtotal);
  // Hand-computed: beta's 7 accesses at alpha's 0.35 are 2.45; alpha keeps 95 % of its offer revenue.
  const offered = st.lines.filter((l) => l.priceSource === "offer" && l.kind === "usage");
  const access = offered.find((l) => l.participant === "beta" && l.meter === "offer.accesses");
  assert.deepEqual(
    [access?.pricedQuantity, access?.unitPrice, access?.amountMinor, access?.contract],
    ["7.000000", "0.35", "2.45", "c-beta"],
  );
  const cpu = offered.find((l) => l.meter === "sandbox.cpu_milliseconds");
  assert.deepEqual([cpu?.pricedQuantity, cpu?.priceUnit, cpu?.amountMinor], ["1.500000", "CPU-hour", "1.80"]);
  const alpha = eur.revenueShare.find((p) => p.provider === "alpha");
  assert.ok(alpha && alpha.basis !== "0.00");

  const moneyChecked = await checkMoney(page, st);

  // Late lines: carried in from the closed period, shown as such.
  const late = st.lines.filter((l) => l.kind === "late_usage");
  assert.ok(late.length >= 1, "the late access is a line of this period");
  assert.equal(await page.locator("#late tbody tr").count(), late.length);
  const pricedLate = late.find((l) => l.unitPrice !== null);
  assert.ok(pricedLate, "the late access is priced at the offer's price");
  assert.equal(pricedLate.description, `Offer price, late usage of closed period ${EARLY_PERIOD}`);
  assert.equal(
    await page.locator(`#late tr[data-line="${String(pricedLate.lineNo)}"] td.desc`).textContent(),
    pricedLate.description,
  );
  assert.deepEqual(
    await page.locator("#late .badge.late").allTextContents(),
    late.map(() => "Late"),
  );

  // Usage per participant and meter, in billing units, against the usage API's exact integers.
  const range = `from=${START.toISOString()}&to=${monthStart(0).toISOString()}&step=day&groupBy=participant`;
  const report = (await (
    await ok(call("GET", `/v1/spaces/${SPACE}/usage?${range}`, financeToken))
  ).json()) as {
    rows: { participant: string; meter: string; quantity: string }[];
  };
  const sums = new Map<string, bigint>();
  for (const r of report.rows)
    sums.set(
      `${r.participant}|${r.meter}`,
      (sums.get(`${r.participant}|${r.meter}`) ?? 0n) + BigInt(r.quantity),
    );
  assert.equal(await page.locator("#usage tbody tr").count(), sums.size);
  for (const [k, q] of sums) {
    const [participant = "", meter = ""] = k.split("|");
    const cell = page.locator(
      `#usage tr[data-participant=${participant}][data-meter="${meter}"] [data-quantity]`,
    );
    assert.equal(await cell.getAttribute("data-quantity"), pricedQuantity(meter, q.toString()), k);
  }
  // beta's transfer: 3.5 + 1.234567891 GB, half-even to 6 places.
  assert.equal(
    await page
      .locator('#usage tr[data-participant=beta][data-meter="transfer.bytes"] [data-quantity]')
      .textContent(),
    "4.734568",
  );

  // One chart per meter, a unit on every y-axis, one series and legend entry per participant.
  const expectedUnits: Record<string, string> = {
    "storage.byte_seconds": "GB-month per day",
    "transfer.bytes": "GB transferred per day",
    "sandbox.cpu_milliseconds": "CPU-hour per day",
    "offer.accesses": "access per day",
  };
  const charts = page.locator("svg.chart");
  assert.equal(await charts.count(), new Set(report.rows.map((r) => r.meter)).size);
  for (let i = 0; i < (await charts.count()); i++) {
    const chart = charts.nth(i);
    const meter = (await chart.getAttribute("data-meter")) ?? "";
    assert.equal(await chart.locator(".y-unit").textContent(), expectedUnits[meter], meter);
    assert.equal(await chart.locator(".x-unit").textContent(), "Day (UTC)");
    const participants = [
      ...new Set(report.rows.filter((r) => r.meter === meter).map((r) => r.participant)),
    ].sort();
    assert.deepEqual((await attrs(chart.locator("polyline"), "data-participant")).sort(), participants);
    assert.ok((await chart.locator(".tick").count()) >= 4, `${meter}: labelled ticks`);
  }

  // Downloads: the statement as CSV (documented columns, one row per line, exact amounts) and JSON.
  const [csvDownload] = await Promise.all([page.waitForEvent("download"), page.click("#csv")]);
  const csv = readFileSync(await csvDownload.path(), "utf8")
    .trimEnd()
    .split("\r\n");
  assert.equal(csv[0], statementCsvColumns.join(","));
  assert.equal(csv.length - 1, st.lines.length);
  const col = (name: string) => statementCsvColumns.indexOf(name as (typeof statementCsvColumns)[number]);
  for (const [i, l] of st.lines.entries()) {
    // No field of these lines needs quoting, so a plain split reads them.
    const row = (csv[i + 1] ?? "").split(",");
    assert.deepEqual(
      [
        row[col("amount")],
        row[col("amount_minor")],
        row[col("unit_price")],
        row[col("currency")],
        row[col("contract")],
      ],
      [l.amount, l.amountMinor ?? "", l.unitPrice ?? "", l.currency ?? "", l.contract],
    );
  }
  const [jsonDownload] = await Promise.all([page.waitForEvent("download"), page.click("#json")]);
  assert.deepEqual(JSON.parse(readFileSync(await jsonDownload.path(), "utf8")), st);
  const [usageDownload] = await Promise.all([page.waitForEvent("download"), page.click("#usage-csv")]);
  const usageCsv = readFileSync(await usageDownload.path(), "utf8");
  const [usageHeader, ...usageRows] = usageCsv.trimEnd().split("\r\n");
  assert.equal(usageHeader, usageCsvColumns.join(","));
  for (const p of ["alpha", "beta", "gamma"])
    assert.ok(
      usageRows.some((r) => r.split(",")[2] === p),
      `usage CSV has ${p}`,
    );
  // beta's 3.5 GB on day 4: 0.01/GB on the platform's sheet and 0.09/GB at alpha's offer price.
  const betaTransfer = usageRows.find((r) =>
    r.startsWith(`${new Date(START.getTime() + 3 * DAY).toISOString()},${SPACE},beta,,,transfer.bytes,`),
  );
  assert.equal(betaTransfer?.split(",").slice(7).join(","), "3500000000,1,0.035000,0.315000,0.350000,EUR");

  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "finance-console-draft.png"), fullPage: true });
  assert.deepEqual(errors, []);
  process.stdout.write(
    `# finance console: ${String(moneyChecked)} values on the page checked against the API\n`,
  );
  await page.close();
});

test("a space admin closes the period from the console; the closed statement shows the same money", async () => {
  const draft = await statementJson();
  const { page, errors } = await open(adminToken);
  assert.equal(await page.isVisible("#close"), true);
  page.once("dialog", (d) => void d.accept());
  await page.click("#close");
  await page.waitForSelector("#status.closed", { timeout: 30_000 });
  await page.waitForSelector("body[data-loaded=true]", { timeout: 30_000 });
  const closed = await statementJson();
  assert.equal(closed.status, "closed");
  assert.deepEqual(closed.settlement, draft.settlement);
  assert.equal(await page.textContent("#status"), "Closed");
  assert.equal(await page.isVisible("#close"), false);
  await checkMoney(page, closed);
  // Closing is evidence: who closed which period, in the space's evidence log.
  const log = (await (
    await ok(call("GET", `/v1/spaces/${SPACE}/evidence/entries?start=0`, adminToken))
  ).json()) as { entries: { entry: { eventId?: string; action?: string; actor?: string } }[] };
  const closing = log.entries.find((e) => e.entry.eventId === `statement/${PERIOD}/closed`);
  assert.deepEqual([closing?.entry.action, closing?.entry.actor], ["statement.closed", "admin"]);
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "finance-console-closed.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
