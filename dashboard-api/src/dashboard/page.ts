// The finance console: one HTML document with inline CSS and script, no build step and
// no CDN. The token comes from the URL fragment (#token=...&space=...) and stays in the
// tab. Every amount it shows is a string from the statements API (computed there,
// exactly, in the currency's minor units); the page only groups digits. Quantities are
// turned into billing units with BigInt, the charts alone use floating point.
import { rolesWith } from "../auth/principal.ts";
import { claimName } from "../auth/tokens.ts";
import { meters } from "../metering/meters.ts";
import { PRICED_QUANTITY_SCALE } from "../statements/statement.ts";
import { roundingRule } from "../statements/settlement.ts";

const titles: Record<string, string> = {
  "storage.byte_seconds": "Storage",
  "transfer.bytes": "Data transferred",
  "sandbox.input_bytes": "Sandbox input",
  "sandbox.output_bytes": "Sandbox output",
  "sandbox.cpu_milliseconds": "Sandbox CPU",
  "sandbox.memory_byte_seconds": "Sandbox memory",
  "api.calls": "API calls",
  "offer.contracts": "Contracts agreed",
  "offer.accesses": "Offer accesses",
};

const config = {
  meters: Object.fromEntries(
    Object.values(meters).map((m) => [
      m.name,
      {
        title: titles[m.name] ?? m.name,
        unit: m.name === "transfer.bytes" ? "GB transferred" : m.billingUnit,
        factor: m.baseUnitsPerBillingUnit.toString(),
      },
    ]),
  ),
  scale: PRICED_QUANTITY_SCALE,
  closers: rolesWith("statements:write"),
  claim: claimName,
  roundingRule,
};

const script = String.raw`
"use strict";
const CONFIG = __CONFIG__;
const params = new URLSearchParams(location.hash.slice(1));
const state = { token: params.get("token") || sessionStorage.getItem("tds-token") || "", space: params.get("space") || sessionStorage.getItem("tds-space") || "", period: params.get("period") || "" };
const $ = (id) => document.getElementById(id);
$("space-input").value = state.space; $("token-input").value = state.token;
const colors = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
// One colour per participant across every chart, in the order they first appear.
const palette = new Map();
const colorOf = (p) => { if (!palette.has(p)) palette.set(p, colors[palette.size % colors.length]); return palette.get(p); };
const base = () => "/v1/spaces/" + encodeURIComponent(state.space);
// Only to offer the close action: the API decides who may close.
function role() {
  try { return JSON.parse(atob(state.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))[CONFIG.claim].role || ""; } catch { return ""; }
}
async function api(path, init) {
  const res = await fetch(path, { ...(init || {}), headers: { authorization: "Bearer " + state.token, ...((init && init.headers) || {}) } });
  if (!res.ok) { const b = await res.json().catch(() => ({})); throw new Error((b.title || res.status) + ": " + (b.detail || "")); }
  return res;
}
const getJson = async (path) => (await api(path)).json();
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function s(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
// Digit grouping of an exact decimal string; never through a float.
function group(dec) {
  const neg = dec.startsWith("-"); const [i, f] = (neg ? dec.slice(1) : dec).split(".");
  return (neg ? "-" : "") + i.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (f !== undefined ? "." + f : "");
}
function money(amount, currency) { return h("span", { class: "money", "data-amount": amount, "data-currency": currency }, currency + " " + group(amount)); }
// quantity / factor, half-even to CONFIG.scale places, with BigInt (as statement.ts does).
function inUnit(quantity, factor) {
  const scale = 10n ** BigInt(CONFIG.scale); let num = BigInt(quantity) * scale; const den = BigInt(factor);
  const neg = num < 0n; if (neg) num = -num;
  let q = num / den; const r = num % den;
  if (r * 2n > den || (r * 2n === den && q % 2n === 1n)) q += 1n;
  const digits = q.toString().padStart(CONFIG.scale + 1, "0");
  return (neg && q !== 0n ? "-" : "") + digits.slice(0, -CONFIG.scale) + "." + digits.slice(-CONFIG.scale);
}
function periodRange(id) {
  const [y, m] = id.split("-").map(Number);
  return { from: new Date(Date.UTC(y, m - 1, 1)), to: new Date(Date.UTC(y, m, 1)) };
}
function niceStep(max) {
  const raw = max / 4; const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const k of [1, 2, 2.5, 5, 10]) if (raw <= k * mag) return k * mag;
  return 10 * mag;
}
function tickLabel(v) { return v.toLocaleString("en", { maximumFractionDigits: 3 }); }
function drawChart(meter, series, days) {
  const m = CONFIG.meters[meter] || { title: meter, unit: "", factor: "1" };
  const W = 880, H = 250, L = 72, R = 16, T = 16, B = 44;
  const svg = s("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", class: "chart", "data-meter": meter, "aria-label": m.title + " per day, in " + m.unit });
  let max = 0; for (const pts of series.values()) for (const v of pts.values()) max = Math.max(max, v);
  const step = max > 0 ? niceStep(max) : 1; const top = Math.max(step, Math.ceil(max / step) * step);
  const y = (v) => H - B - (v / top) * (H - B - T);
  const x = (k) => L + (k + 0.5) * ((W - L - R) / days.length);
  for (let v = 0; v <= top + step / 2; v += step) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "grid" }));
    svg.append(s("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end", class: "tick" }, tickLabel(v)));
  }
  svg.append(s("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
  svg.append(s("text", { x: 14, y: (H - B + T) / 2, transform: "rotate(-90 14 " + (H - B + T) / 2 + ")", "text-anchor": "middle", class: "axis-label y-unit" }, m.unit + " per day"));
  days.forEach((d, k) => {
    if (k % 5 === 0 || k === days.length - 1) svg.append(s("text", { x: x(k), y: H - B + 16, "text-anchor": "middle", class: "tick" }, d.slice(5, 10)));
  });
  svg.append(s("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "axis-label x-unit" }, "Day (UTC)"));
  for (const [participant, pts] of series) {
    const color = colorOf(participant);
    const line = days.map((d, k) => x(k).toFixed(1) + "," + y(pts.get(d) || 0).toFixed(1)).join(" ");
    svg.append(s("polyline", { points: line, fill: "none", stroke: color, "stroke-width": 2, "data-participant": participant }));
    for (const [k, d] of days.entries()) if (pts.has(d)) svg.append(s("circle", { cx: x(k), cy: y(pts.get(d)), r: 2.5, fill: color }));
  }
  const legend = h("div", { class: "legend" });
  for (const participant of series.keys()) legend.append(h("span", {}, h("i", { style: "background:" + colorOf(participant) }), participant));
  return h("figure", { class: "card" }, h("figcaption", {}, m.title, h("small", {}, " in " + m.unit)), svg, legend);
}
function usageSection(rows, range) {
  const days = []; for (let t = range.from.getTime(); t < range.to.getTime(); t += 86400000) days.push(new Date(t).toISOString());
  const byMeter = new Map(); const totals = new Map();
  for (const r of rows) {
    const m = CONFIG.meters[r.meter]; if (!m) continue;
    if (!byMeter.has(r.meter)) byMeter.set(r.meter, new Map());
    const series = byMeter.get(r.meter);
    if (!series.has(r.participant)) series.set(r.participant, new Map());
    // Charts need the shape only: Number() is fine here, and nowhere else.
    series.get(r.participant).set(r.bucketStart, Number(BigInt(r.quantity) * 1000000n / BigInt(m.factor)) / 1e6);
    const k = r.participant + "\u0000" + r.meter; totals.set(k, (totals.get(k) || 0n) + BigInt(r.quantity));
  }
  for (const p of [...new Set(rows.map((r) => r.participant))].sort()) colorOf(p);
  const charts = $("charts"); charts.replaceChildren();
  for (const [meter, series] of byMeter) charts.append(drawChart(meter, series, days));
  if (byMeter.size === 0) charts.append(h("p", { class: "empty" }, "No usage in this period."));
  const body = $("usage").tBodies[0]; body.replaceChildren();
  for (const [k, q] of [...totals].sort()) {
    const [participant, meter] = k.split("\u0000"); const m = CONFIG.meters[meter];
    body.append(h("tr", { "data-participant": participant, "data-meter": meter },
      h("td", {}, participant), h("td", {}, m.title), h("td", { class: "num", "data-quantity": inUnit(q, m.factor) }, group(inUnit(q, m.factor))), h("td", {}, m.unit)));
  }
}
function kindBadge(kind) {
  return kind === "late_usage" ? h("span", { class: "badge late" }, "Late") : kind === "adjustment" ? h("span", { class: "badge adj" }, "Adjustment") : h("span", { class: "badge" }, "Usage");
}
function lineRow(l) {
  const m = CONFIG.meters[l.meter];
  return h("tr", { "data-line": l.lineNo, "data-kind": l.kind, class: (l.kind === "late_usage" ? "late-row" : "") + (l.unitPrice === null ? " unpriced" : "") },
    h("td", { class: "num" }, l.lineNo), h("td", {}, kindBadge(l.kind)), h("td", {}, l.participant), h("td", {}, l.provider || "Platform"),
    h("td", { class: "contract" }, l.contract || "—"), h("td", {}, l.offer || "—"), h("td", {}, m ? m.title : l.description),
    h("td", { class: "num", "data-priced-quantity": l.pricedQuantity || "" }, l.pricedQuantity !== null ? group(l.pricedQuantity) : "—"),
    h("td", {}, l.priceUnit || ""),
    h("td", { class: "num", "data-unit-price": l.unitPrice || "" }, l.unitPrice !== null && l.priceUnit ? group(l.unitPrice) + " / " + l.priceUnit : l.unitPrice !== null ? group(l.unitPrice) : "no price"),
    h("td", { class: "num" }, l.amountMinor !== null ? money(l.amountMinor, l.currency) : "—"),
    h("td", { class: "desc" }, l.description));
}
function statementSection(st) {
  const setl = st.settlement;
  const kpi = $("kpis"); kpi.replaceChildren();
  if (setl.length === 0) kpi.append(h("div", { class: "kpi" }, h("span", {}, "Subtotal"), h("b", {}, "Nothing priced yet")));
  for (const c of setl) {
    for (const [label, key, note] of [["Billed to consumers", "subtotal", "Sum of the invoices"], ["Platform fee", "platformFee", "Incl. the rounding remainder"], ["Provider payouts", "providerShare", "Revenue share"]])
      kpi.append(h("div", { class: "kpi", "data-kpi": key, "data-currency": c.currency }, h("span", {}, label), h("b", {}, money(c[key], c.currency)), h("small", {}, note)));
  }
  const charges = $("charges"); charges.replaceChildren();
  for (const c of setl) for (const ch of c.charges) {
    const lines = st.lines.filter((l) => l.participant === ch.participant && l.currency === c.currency);
    const table = h("table", { class: "lines" }, h("thead", {}, h("tr", {}, ...["#", "Kind", "Consumer", "Provider", "Contract / agreement", "Offer", "Meter", "Quantity", "Unit", "Unit price", "Amount", "Note"].map((t) => h("th", {}, t)))), h("tbody", {}, ...lines.map(lineRow)));
    charges.append(h("details", { class: "card charge", "data-participant": ch.participant, open: "" },
      h("summary", {}, h("span", { class: "who" }, ch.participant), h("span", { class: "count" }, lines.length + " lines"), h("span", { class: "total", "data-charge": ch.amount }, money(ch.amount, c.currency))), table));
  }
  if (setl.length === 0) charges.append(h("p", { class: "empty" }, "No charges in this period."));
  const rs = $("revenue").tBodies[0]; rs.replaceChildren();
  for (const c of setl) {
    for (const p of c.revenueShare)
      rs.append(h("tr", { "data-provider": p.provider }, h("td", {}, p.provider), h("td", { class: "num", "data-basis": p.basis }, money(p.basis, c.currency)), h("td", { class: "num", "data-fee": p.platformFee }, money(p.platformFee, c.currency)), h("td", { class: "num", "data-payout": p.amount }, money(p.amount, c.currency))));
    rs.append(h("tr", { class: "sum", "data-platform-fee": c.platformFee }, h("td", {}, "Platform fee (all lines, " + c.currency + ")"), h("td", {}), h("td", { class: "num" }, money(c.platformFee, c.currency)), h("td", {})));
  }
  const late = st.lines.filter((l) => l.kind === "late_usage");
  $("late-section").hidden = late.length === 0;
  const lb = $("late").tBodies[0]; lb.replaceChildren(); for (const l of late) lb.append(lineRow(l));
  const badge = $("status"); badge.textContent = st.status === "closed" ? "Closed" : "Draft"; badge.className = "status " + st.status;
  $("closed-by").textContent = st.status === "closed" ? "Closed " + st.closedAt.slice(0, 16).replace("T", " ") + " UTC by " + st.closedBy : "Open: lines change as usage arrives";
  const mayClose = CONFIG.closers.includes(role()) && st.status === "open";
  $("close").hidden = !mayClose;
}
function download(path, accept, name) {
  return async (ev) => {
    ev.preventDefault();
    try {
      const res = await api(path, { headers: { accept } });
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a"); a.href = url; a.download = name; a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) { $("error").textContent = String(err.message || err); }
  };
}
async function load() {
  $("error").textContent = ""; $("space").textContent = state.space; document.body.dataset.loaded = "false";
  sessionStorage.setItem("tds-token", state.token); sessionStorage.setItem("tds-space", state.space);
  try {
    const list = await getJson(base() + "/statements");
    const select = $("period"); select.replaceChildren();
    for (const st of list.statements) select.append(h("option", { value: st.period }, st.period + (st.status === "closed" ? " · closed" : " · draft")));
    const today = new Date().toISOString().slice(0, 7);
    const periods = list.statements.map((x) => x.period);
    if (!periods.includes(state.period)) state.period = periods.includes(today) ? today : periods[0] || today;
    select.value = state.period;
    const range = periodRange(state.period);
    const q = "from=" + range.from.toISOString() + "&to=" + range.to.toISOString() + "&step=day&groupBy=participant";
    const [usage, st] = await Promise.all([getJson(base() + "/usage?" + q), getJson(base() + "/statements/" + state.period)]);
    usageSection(usage.rows, range);
    statementSection(st);
    const stem = state.space + "-" + state.period;
    $("csv").onclick = download(base() + "/statements/" + state.period, "text/csv", "statement-" + stem + ".csv");
    $("json").onclick = download(base() + "/statements/" + state.period, "application/json", "statement-" + stem + ".json");
    $("usage-csv").onclick = download(base() + "/usage?" + q, "text/csv", "usage-" + stem + ".csv");
    document.body.dataset.loaded = "true";
  } catch (err) { $("error").textContent = String(err.message || err); }
}
$("rounding").textContent = "Rounding: " + CONFIG.roundingRule + ". Line amounts are shown rounded for reading; the downloads keep their exact micro-unit amounts.";
$("form").onsubmit = (ev) => { ev.preventDefault(); state.space = $("space-input").value; state.token = $("token-input").value; void load(); };
$("period").onchange = () => { state.period = $("period").value; void load(); };
$("close").onclick = async () => {
  if (!confirm("Close " + state.period + "? Its statement becomes final; later usage is carried into the next period.")) return;
  try { await api(base() + "/statements/" + state.period + "/close", { method: "POST" }); await load(); }
  catch (err) { $("error").textContent = String(err.message || err); }
};
if (state.token && state.space) void load();
`;

const css = `
  :root { --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --bg: #f6f7f9; --brand: #1e3a8a; }
  * { box-sizing: border-box; }
  body { font: 14px/1.45 "Inter", "Segoe UI", system-ui, -apple-system, sans-serif; margin: 0; color: var(--ink); background: var(--bg); font-feature-settings: "tnum"; }
  header { background: #fff; border-bottom: 1px solid var(--line); padding: 14px 32px; display: flex; gap: 24px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 17px; margin: 0; color: var(--brand); letter-spacing: -.01em; }
  header h1 small { color: var(--muted); font-weight: 500; margin-left: 8px; }
  header .spacer { flex: 1; }
  main { padding: 24px 32px 48px; max-width: 1320px; }
  h2 { font-size: 15px; margin: 28px 0 10px; } h2 small { color: var(--muted); font-weight: 400; margin-left: 6px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; margin: 0 0 12px; }
  .kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; }
  .kpi { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; display: flex; flex-direction: column; }
  .kpi span { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .kpi b { font-size: 22px; margin: 4px 0 2px; } .kpi small { color: var(--muted); }
  .status { padding: 2px 10px; border-radius: 99px; font-size: 12px; font-weight: 600; }
  .status.open { background: #fef3c7; color: #92400e; } .status.closed { background: #dcfce7; color: #166534; }
  button, .btn { font: inherit; border: 1px solid var(--line); background: #fff; border-radius: 7px; padding: 6px 12px; cursor: pointer; color: var(--ink); text-decoration: none; }
  button.primary { background: var(--brand); color: #fff; border-color: var(--brand); }
  select, input { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 7px; }
  form { display: flex; gap: 8px; align-items: center; } label { color: var(--muted); font-size: 12px; }
  table { border-collapse: collapse; width: 100%; }
  th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 600; }
  th, td { border-bottom: 1px solid var(--line); padding: 7px 10px; vertical-align: top; }
  td.num, th.num { text-align: right; white-space: nowrap; } td.desc { color: var(--muted); font-size: 12px; }
  td.contract { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12px; }
  details.charge summary { display: flex; gap: 16px; align-items: baseline; cursor: pointer; list-style: none; font-size: 15px; }
  details.charge summary .who { font-weight: 600; } details.charge summary .count { color: var(--muted); font-size: 12px; flex: 1; }
  details.charge summary .total { font-weight: 600; } details.charge table { margin-top: 10px; }
  .badge { font-size: 11px; padding: 1px 7px; border-radius: 99px; background: #eef2ff; color: #3730a3; }
  .badge.late { background: #ffedd5; color: #9a3412; } .badge.adj { background: #f3e8ff; color: #6b21a8; }
  tr.late-row td { background: #fffaf3; } tr.unpriced td { color: #9ca3af; } tr.sum td { font-weight: 600; }
  .charts { display: grid; gap: 12px; } figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 6px; } figcaption small { color: var(--muted); font-weight: 400; }
  svg.chart { width: 100%; height: auto; } svg .grid { stroke: #eef0f3; } svg .axis { stroke: #9ca3af; }
  svg .tick { font-size: 11px; fill: var(--muted); } svg .axis-label { font-size: 11px; fill: var(--ink); font-weight: 600; }
  .legend { display: flex; gap: 16px; margin-top: 4px; font-size: 12px; } .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
  #error { color: #b91c1c; margin: 0; } .note { color: var(--muted); font-size: 12px; } .empty { color: var(--muted); }
`;

export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TDS Finance</title>
<style>${css}</style>
</head>
<body>
<header>
  <h1>TDS Finance<small id="space"></small></h1>
  <label>Period <select id="period" aria-label="Billing period"></select></label>
  <span id="status" class="status"></span>
  <span id="closed-by" class="note"></span>
  <span class="spacer"></span>
  <button id="close" class="primary" hidden>Close period</button>
  <a href="#" id="csv" class="btn">Statement CSV</a>
  <a href="#" id="json" class="btn">Statement JSON</a>
  <a href="#" id="usage-csv" class="btn">Usage CSV</a>
</header>
<main>
  <form id="form">
    <label>Space <input id="space-input" name="space" required></label>
    <label>Token <input id="token-input" name="token" type="password" required></label>
    <button>Load</button>
  </form>
  <p id="error" role="alert"></p>
  <section><h2>Summary</h2><div id="kpis" class="kpis"></div></section>
  <section><h2>Charges per consumer<small>statement lines by contract, offer and meter</small></h2><div id="charges"></div></section>
  <section><h2>Revenue share per provider<small>basis: what consumers paid at the provider's offer prices</small></h2>
    <div class="card"><table id="revenue"><thead><tr><th>Provider</th><th class="num">Basis</th><th class="num">Platform fee</th><th class="num">Payout</th></tr></thead><tbody></tbody></table></div></section>
  <section id="late-section" hidden><h2>Late lines<small>usage from closed periods, carried into this one</small></h2>
    <div class="card"><table id="late"><thead><tr><th>#</th><th>Kind</th><th>Consumer</th><th>Provider</th><th>Contract / agreement</th><th>Offer</th><th>Meter</th><th>Quantity</th><th>Unit</th><th>Unit price</th><th>Amount</th><th>Note</th></tr></thead><tbody></tbody></table></div></section>
  <section><h2>Usage per participant and meter<small>daily, in billing units</small></h2><div id="charts" class="charts"></div>
    <div class="card"><table id="usage"><thead><tr><th>Participant</th><th>Meter</th><th class="num">Quantity</th><th>Unit</th></tr></thead><tbody></tbody></table></div></section>
  <p id="rounding" class="note"></p>
</main>
<script>${script.replace("__CONFIG__", JSON.stringify(config))}</script>
</body>
</html>
`;
