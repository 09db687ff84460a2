// The finance page: one HTML document with inline CSS and script, no build step and no
// CDN. The token comes from the URL fragment (#token=...&space=...) and stays in the tab.
export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>TDS finance</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 2rem; color: #1d2430; }
  h1 { font-size: 1.4rem; } table { border-collapse: collapse; margin-top: .5rem; }
  th, td { border-bottom: 1px solid #dde; padding: .3rem .7rem; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  #error { color: #b00020; } .legend span { margin-right: 1rem; }
  svg { border: 1px solid #dde; background: #fafbff; }
</style>
</head>
<body>
<h1>TDS finance — <span id="space"></span></h1>
<form id="form">
  <label>Space <input id="space-input" name="space" required></label>
  <label>Token <input id="token-input" name="token" type="password" required></label>
  <label>Meter <select id="meter">
    <option>storage.byte_seconds</option><option>transfer.bytes</option><option>api.calls</option>
    <option>offer.accesses</option><option>sandbox.cpu_milliseconds</option><option>sandbox.memory_byte_seconds</option>
    <option>sandbox.input_bytes</option><option>sandbox.output_bytes</option>
  </select></label>
  <button>Load</button>
</form>
<p id="error" role="alert"></p>
<h2>Usage per participant (last 30 days, daily)</h2>
<svg id="chart" width="760" height="260" role="img" aria-label="usage per participant"></svg>
<div class="legend" id="legend"></div>
<p><a id="csv" href="#">Download usage CSV</a></p>
<h2>Statements</h2>
<table id="statements"><thead><tr><th>Period</th><th>Status</th><th>Currency</th><th>Subtotal</th><th>Platform fee</th><th>Provider share</th><th>Closed by</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const params = new URLSearchParams(location.hash.slice(1));
const state = { token: params.get("token") || sessionStorage.getItem("tds-token") || "", space: params.get("space") || sessionStorage.getItem("tds-space") || "" };
const $ = (id) => document.getElementById(id);
$("space-input").value = state.space; $("token-input").value = state.token;
const colors = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00"];
function range() {
  const to = new Date(); to.setUTCHours(0, 0, 0, 0); to.setUTCDate(to.getUTCDate() + 1);
  const from = new Date(to.getTime() - 30 * 86400000);
  return { from: from.toISOString(), to: to.toISOString() };
}
async function api(path) {
  const res = await fetch(path, { headers: { authorization: "Bearer " + state.token } });
  if (!res.ok) { const b = await res.json().catch(() => ({})); throw new Error((b.code || res.status) + ": " + (b.detail || "")); }
  return res.json();
}
function el(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
function drawChart(rows, meter) {
  const svg = $("chart"); svg.replaceChildren(); $("legend").replaceChildren();
  const r = range(); const days = [];
  for (let t = Date.parse(r.from); t < Date.parse(r.to); t += 86400000) days.push(new Date(t).toISOString());
  const series = new Map();
  for (const row of rows) {
    if (row.meter !== meter) continue;
    if (!series.has(row.participant)) series.set(row.participant, new Map());
    // Quantities are exact strings; the chart only needs their shape, so Number() is fine here.
    series.get(row.participant).set(row.bucketStart, Number(row.quantity));
  }
  let max = 0; for (const s of series.values()) for (const v of s.values()) max = Math.max(max, v);
  const W = 760, H = 260, L = 60, B = 30, T = 10;
  svg.append(el("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#999" }));
  svg.append(el("text", { x: 4, y: T + 10, "font-size": 10 }, max.toExponential(2)));
  svg.append(el("text", { x: L, y: H - 8, "font-size": 10 }, days[0].slice(0, 10)));
  svg.append(el("text", { x: W - 80, y: H - 8, "font-size": 10 }, days[days.length - 1].slice(0, 10)));
  let i = 0;
  for (const [participant, points] of series) {
    const color = colors[i++ % colors.length];
    const pts = days.map((d, k) => {
      const x = L + (k * (W - L - 10)) / (days.length - 1);
      const y = H - B - (max ? ((points.get(d) || 0) / max) * (H - B - T) : 0);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    svg.append(el("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 2, "data-participant": participant }));
    const span = document.createElement("span"); span.style.color = color; span.textContent = "■ " + participant;
    $("legend").append(span);
  }
}
async function load() {
  $("error").textContent = ""; $("space").textContent = state.space;
  sessionStorage.setItem("tds-token", state.token); sessionStorage.setItem("tds-space", state.space);
  const r = range(); const base = "/v1/spaces/" + encodeURIComponent(state.space);
  const q = "from=" + r.from + "&to=" + r.to + "&step=day&groupBy=participant";
  try {
    const usage = await api(base + "/usage?" + q);
    drawChart(usage.rows, $("meter").value);
    // The CSV link cannot carry a header, so it downloads through fetch.
    $("csv").onclick = async (ev) => {
      ev.preventDefault();
      const res = await fetch(base + "/usage?" + q, { headers: { authorization: "Bearer " + state.token, accept: "text/csv" } });
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a"); a.href = url; a.download = "usage-" + state.space + ".csv"; a.click();
      URL.revokeObjectURL(url);
    };
    const st = await api(base + "/statements");
    const body = $("statements").tBodies[0]; body.replaceChildren();
    for (const s of st.statements) {
      const totals = s.totals.length ? s.totals : [{ currency: "", subtotal: "0", platformFee: "0", providerShare: "0" }];
      for (const t of totals) {
        const tr = document.createElement("tr");
        for (const v of [s.period, s.status, t.currency, t.subtotal, t.platformFee, t.providerShare, s.closedBy || ""]) {
          const td = document.createElement("td"); td.textContent = v; tr.append(td);
        }
        body.append(tr);
      }
    }
    document.body.dataset.loaded = "true";
  } catch (err) { $("error").textContent = String(err.message || err); }
}
$("form").onsubmit = (ev) => { ev.preventDefault(); state.space = $("space-input").value; state.token = $("token-input").value; void load(); };
$("meter").onchange = () => void load();
if (state.token && state.space) void load();
</script>
</body>
</html>
`;
