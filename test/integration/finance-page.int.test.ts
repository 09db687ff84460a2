// The finance page in real headless Chromium (Debian's /usr/bin/chromium driven
// by playwright-core; no browser download): against the real API on PostgreSQL
// it draws one series per participant with its data points, lists the
// statements, and its CSV link downloads the usage as CSV. A screenshot is left
// in .tds/finance-page.png.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium, type BrowserContext } from "playwright-core";
import { loadOrCreateDevKey, mintToken } from "../../dashboard-api/src/auth/keys.ts";
import {
  createTestDatabase,
  startServer,
  stopServer,
  type ServerProcess,
  type TestDatabase,
} from "../../dashboard-api/src/test-support.ts";
import { repoRoot } from "../harness/environment.ts";

const SPACE = "finance-demo";
const PARTICIPANTS = ["alpha", "beta", "gamma"];
const DAY = 86_400_000;
// The page's clock and the data are pinned, so the test means the same on any
// day: the browser's "today" is 2026-06-20 (its chart covers the 30 days up to
// then) and the events fall on the ten days before it, all in period 2026-06.
const TODAY = Date.parse("2026-06-20T00:00:00Z");
const PERIOD = "2026-06";
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

before(async () => {
  db = await createTestDatabase("tds_finance_page");
  const dir = mkdtempSync(join(tmpdir(), "tds-finance-"));
  const keyFile = join(dir, "key.json");
  const key = await loadOrCreateDevKey(keyFile);
  adminToken = await mintToken(key, { role: "space-admin", subject: "admin", space: SPACE });
  financeToken = await mintToken(key, { role: "finance-viewer", subject: "finance", space: SPACE });
  // No kubeconfig: this test is about the page, not the cluster.
  server = await startServer({ DATABASE_URL: db.url, TDS_AUTH_DEV_KEY_FILE: keyFile, KUBECONFIG: "" });

  // The space's first sheet registers it: only a cluster-wide role may (a space admin's
  // token proves nothing about its space existing), as the DataSpace sync does with a cluster.
  const platformToken = await mintToken(key, { role: "platform-admin", subject: "platform" });
  const sheet = await call("PUT", `/v1/spaces/${SPACE}/price-sheets`, platformToken, {
    effectiveFrom: new Date(TODAY - 60 * DAY).toISOString(),
    currency: "EUR",
    platformFeeBps: 500,
    providerShareBps: 9500,
    prices: [{ meter: "storage.byte_seconds", unitPrice: "0.12" }],
  });
  assert.ok(sheet.ok, await sheet.text());
  const events = [];
  for (const [i, participant] of PARTICIPANTS.entries()) {
    for (let d = 1; d <= 10; d++) {
      events.push({
        specversion: "1.0",
        id: `${participant}-${d}`,
        source: "finance-page-test",
        type: "dev.tds.usage.v1",
        time: new Date(TODAY - d * DAY + 3_600_000).toISOString(),
        data: {
          space: SPACE,
          participant,
          meter: "storage.byte_seconds",
          quantity: String(BigInt((i + 1) * d) * 86_400_000_000_000n),
        },
      });
    }
  }
  const posted = await call("POST", "/v1/usage", adminToken, events);
  assert.equal(posted.status, 200, await posted.text());

  profile = mkdtempSync(join(tmpdir(), "tds-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    acceptDownloads: true,
    viewport: { width: 900, height: 900 },
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

test("the finance page charts each participant, lists statements and downloads CSV", async () => {
  const page = await browser.newPage();
  await page.clock.setFixedTime(new Date(TODAY + 12 * 3_600_000));
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${server.url}/dashboard#token=${financeToken}&space=${SPACE}`);
  await page.waitForSelector("body[data-loaded=true]", { timeout: 30_000 });
  assert.equal(await page.textContent("#error"), "");

  const polylines = page.locator("#chart polyline");
  const series: { participant: string | null; points: number[] }[] = [];
  for (let i = 0; i < (await polylines.count()); i++) {
    const line = polylines.nth(i);
    const points = (await line.getAttribute("points")) ?? "";
    series.push({
      participant: await line.getAttribute("data-participant"),
      points: points.split(" ").map((p) => Number(p.split(",")[1])),
    });
  }
  assert.deepEqual(series.map((s) => s.participant).sort(), PARTICIPANTS);
  for (const s of series) {
    const baseline = Math.max(...s.points);
    const raised = s.points.filter((y) => y < baseline).length;
    assert.equal(raised, 10, `${s.participant ?? ""}: one data point per day with usage`);
  }

  const rows = (await page.locator("#statements tbody tr").allInnerTexts()).map((r) => r.split("\t"));
  // The server lists every open period from the first with usage to its own
  // current one: the events' period has EUR totals, the later ones are empty.
  const withUsage = rows.filter((r) => r[0] === PERIOD);
  assert.equal(withUsage.length, 1, JSON.stringify(rows));
  const [, status, currency, subtotal] = withUsage[0] ?? [];
  assert.equal(status, "open");
  assert.equal(currency, "EUR");
  assert.match(subtotal ?? "", /^[1-9]\d*\.\d+$/, JSON.stringify(rows));
  for (const r of rows.filter((row) => row[0] !== PERIOD)) {
    assert.ok(
      r[0] !== undefined && r[0] > PERIOD,
      `only later periods besides ${PERIOD}: ${JSON.stringify(r)}`,
    );
    assert.equal(r[3], "0", `a later period has no usage: ${JSON.stringify(r)}`);
  }

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#csv")]);
  const csv = readFileSync(await download.path(), "utf8");
  const [header, ...lines] = csv.trim().split("\n");
  assert.match(header ?? "", /participant/);
  for (const p of PARTICIPANTS)
    assert.ok(
      lines.some((l) => l.includes(p)),
      `CSV has ${p}`,
    );

  mkdirSync(join(repoRoot, ".tds"), { recursive: true });
  await page.screenshot({ path: join(repoRoot, ".tds", "finance-page.png"), fullPage: true });
  assert.deepEqual(errors, []);
});
