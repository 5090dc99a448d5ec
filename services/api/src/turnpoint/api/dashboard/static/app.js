// turnpoint dashboard: every page reads the public /v1 API only; its state lives in the URL.
"use strict";
performance.mark("tp-app");

const app = document.getElementById("app");
const TP = (window.turnpoint = { charts: {}, timings: {} });

// ---------------------------------------------------------------- helpers

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function num(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  return Number(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function price(v) {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  return num(v, a >= 1000 ? 0 : a >= 1 ? 2 : 4);
}
function pct(v) {
  if (v === null || v === undefined) return "—";
  const s = v > 0 ? "+" : v < 0 ? "−" : "";
  return `${s}${num(Math.abs(v), 2)} %`;
}
function signClass(v) { return v > 0 ? "pos" : v < 0 ? "neg" : ""; }
function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  const s = Math.max(0, seconds);
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}
function localTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString("sv-SE", { hour12: false }).slice(0, 16);
}
function dirBadge(d) {
  const arrow = d === "up" ? "▲" : d === "down" ? "▼" : "•";
  return `<span class="dir ${esc(d || "none")}">${arrow} ${esc(d || "none")}</span>`;
}
function params() { return new URLSearchParams(location.search); }
function withParams(path, p) {
  const clean = new URLSearchParams();
  for (const [k, v] of p) if (v !== "" && v !== null && v !== undefined) clean.set(k, v);
  const q = clean.toString();
  return q ? `${path}?${q}` : path;
}

class ApiError extends Error {
  constructor(status, problem) { super(problem.detail || problem.title || `HTTP ${status}`); this.status = status; this.problem = problem; }
}

async function api(path, query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const url = q.toString() ? `${path}?${q}` : path;
  const headers = { Accept: "application/json" };
  const token = localStorage.getItem("turnpoint.token");
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(url, { headers });
  if (r.status === 401 || r.status === 403) {
    const t = prompt("This API needs a token with the read scope:");
    if (t) { localStorage.setItem("turnpoint.token", t.trim()); return api(path, query); }
  }
  if (!r.ok) {
    let body = {};
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(r.status, body);
  }
  return r.json();
}

async function allPages(path, query, maxItems = 100000) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path, { ...query, limit: 1000, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < maxItems);
  return items;
}

async function pool(tasks, width = 6) {
  let next = 0;
  const run = async () => { while (next < tasks.length) { const i = next++; await tasks[i](); } };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, run));
}

function showError(where, err) {
  where.innerHTML = `<div class="error-box">${esc(err.message || err)}</div>`;
}

function chart(el, key) {
  const c = echarts.init(el, null, { renderer: "canvas" });
  TP.charts[key] = c;
  window.addEventListener("resize", () => c.resize());
  return c;
}

// Links inside the app change the URL without a reload when only the state of the same page changes.
function navigate(href, replace = false) {
  if (replace) history.replaceState(null, "", href); else history.pushState(null, "", href);
  route();
}
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-soft]");
  if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => route());

// ---------------------------------------------------------------- favourites

const FAV_KEY = "turnpoint.favourites";
function favourites() {
  try { return new Set(JSON.parse(localStorage.getItem(FAV_KEY) || "[]")); } catch (_) { return new Set(); }
}
function toggleFavourite(symbol) {
  const f = favourites();
  if (f.has(symbol)) f.delete(symbol); else f.add(symbol);
  localStorage.setItem(FAV_KEY, JSON.stringify([...f].sort()));
  return f.has(symbol);
}

// ---------------------------------------------------------------- symbols page

const SORTS = { symbol: "symbol", close: "close", direction: null, pct_from_pivot: "pct_from_pivot",
  bars_since_pivot: "bars_since_pivot", volume: "volume" };
let symbolsShell = null;

async function symbolsPage() {
  const p = params();
  const f = { q: p.get("q") || "", market: p.get("market") || "", direction: p.get("direction") || "",
    min_pct: p.get("min_pct") || "", max_pct: p.get("max_pct") || "", gtype: p.get("gtype") || "close",
    sort: p.get("sort") || "symbol", order: p.get("order") || "asc", limit: p.get("limit") || "100",
    cursor: p.get("cursor") || "", page: Number(p.get("page") || "1"), fav: p.get("fav") || "",
    days: p.get("days") || "7" };
  document.title = "Symbols · turnpoint";
  if (!symbolsShell || !app.contains(symbolsShell)) {
    app.innerHTML = `
      <div class="head"><h1>Symbols</h1><span class="sub" id="sym-count"></span></div>
      <form class="controls" id="sym-form" role="search" action="/" method="get">
        <label>Search<input type="search" name="q" placeholder="symbol or name" autocomplete="off"></label>
        <label>Market<select name="market"><option value="">All markets</option></select></label>
        <label>Direction<select name="direction"><option value="">Any</option><option value="up">▲ up</option>
          <option value="down">▼ down</option><option value="none">• none</option></select></label>
        <label title="percent: 5 means 5 %">% from pivot ≥<input type="number" name="min_pct" step="any"></label>
        <label title="percent: 5 means 5 %">% from pivot ≤<input type="number" name="max_pct" step="any"></label>
        <label>Graph<select name="gtype"><option>close</option><option>open</option><option>high</option><option>low</option></select></label>
        <label>Window<select name="days"><option value="5">5 days</option><option value="7">7 days</option>
          <option value="20">20 days</option><option value="60">60 days</option></select></label>
        <label>Rows<select name="limit"><option>50</option><option>100</option><option>250</option><option>1000</option></select></label>
        <label><span>&nbsp;</span><a class="btn" id="fav-toggle" href="/?fav=1">★ Favourites</a></label>
      </form>
      <div class="panel flush"><table class="grid" id="symbols"><thead></thead><tbody></tbody></table>
        <div class="pager" id="sym-pager"></div></div>`;
    symbolsShell = app.firstElementChild;
    const form = document.getElementById("sym-form");
    let timer = null;
    const apply = () => {
      const fd = new FormData(form);
      const np = new URLSearchParams(params());
      for (const [k, v] of fd) np.set(k, v);
      np.delete("cursor"); np.delete("page");
      navigate(withParams("/", np), true);
    };
    form.addEventListener("input", (ev) => { clearTimeout(timer); timer = setTimeout(apply, ev.target.type === "search" ? 250 : 0); });
    form.addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
    form.addEventListener("change", (ev) => { if (ev.target.tagName === "SELECT") { clearTimeout(timer); apply(); } });
  }
  const form = document.getElementById("sym-form");
  for (const el of form.elements) {
    if (el.name && el.name in f && document.activeElement !== el) el.value = f[el.name];
  }
  const marketSel = form.elements.market;
  const knownMarkets = JSON.parse(localStorage.getItem("turnpoint.markets") || "[]");
  for (const m of knownMarkets) if (![...marketSel.options].some((o) => o.value === m)) marketSel.add(new Option(m, m));
  if (f.market && ![...marketSel.options].some((o) => o.value === f.market)) marketSel.add(new Option(f.market, f.market));
  marketSel.value = f.market;
  const favLink = document.getElementById("fav-toggle");
  const favParams = new URLSearchParams(params());
  if (f.fav) favParams.delete("fav"); else favParams.set("fav", "1");
  favParams.delete("cursor"); favParams.delete("page");
  favLink.href = withParams("/", favParams);
  favLink.setAttribute("data-soft", "");
  favLink.classList.toggle("on", !!f.fav);
  favLink.style.background = f.fav ? "#fff4d6" : "";

  renderSymbolHead(f);
  const tbody = document.querySelector("#symbols tbody");
  const pager = document.getElementById("sym-pager");
  const t0 = performance.now();
  let page;
  try {
    const query = { gtype: f.gtype, market: f.market, direction: f.direction, min_pct: f.min_pct, max_pct: f.max_pct,
      q: f.q, sort: f.sort, order: f.order, limit: f.limit, cursor: f.cursor };
    page = f.fav ? await favouritePage(query) : await api("/v1/symbols", query);
  } catch (err) {
    tbody.innerHTML = `<tr><td colspan="11">${esc(err.message)}</td></tr>`;
    pager.innerHTML = "";
    return;
  }
  const favs = favourites();
  const rows = page.items.map((r) => symbolRow(r, f, favs)).join("");
  tbody.innerHTML = rows || `<tr><td colspan="11" class="muted">No symbol matches these filters.</td></tr>`;
  TP.timings.symbols = performance.now() - t0;
  TP.symbolsRendered = page.items.length;
  performance.mark("tp-symbols-rendered");
  const markets = new Set(knownMarkets);
  for (const r of page.items) if (r.market) markets.add(r.market);
  localStorage.setItem("turnpoint.markets", JSON.stringify([...markets].sort()));
  for (const m of markets) if (![...marketSel.options].some((o) => o.value === m)) marketSel.add(new Option(m, m));

  document.getElementById("sym-count").textContent = f.fav ? `${page.items.length} favourites`
    : `page ${f.page} · ${page.items.length} rows${page.next_cursor ? "" : " (last page)"}`;
  const firstP = new URLSearchParams(params()); firstP.delete("cursor"); firstP.delete("page");
  const nextP = new URLSearchParams(params());
  if (page.next_cursor) { nextP.set("cursor", page.next_cursor); nextP.set("page", String(f.page + 1)); }
  pager.innerHTML = `<span>Sorted by ${esc(f.sort.replaceAll("_", " "))} (${f.order === "desc" ? "descending" : "ascending"}), gtype ${esc(f.gtype)}</span>
    <span class="links">
      <a class="btn ${f.cursor ? "" : "disabled"}" data-soft href="${esc(withParams("/", firstP))}">« First</a>
      <a class="btn ${page.next_cursor ? "" : "disabled"}" data-soft rel="next" href="${esc(withParams("/", nextP))}">Next »</a>
    </span>`;
  tbody.onclick = (ev) => {
    const b = ev.target.closest("button.star");
    if (!b) return;
    const on = toggleFavourite(b.dataset.symbol);
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", String(on));
  };
  fillWindows(page.items, f);
}

async function favouritePage(query) {
  const items = [];
  await pool([...favourites()].map((s) => async () => {
    const res = await api("/v1/symbols", { gtype: query.gtype, q: s, limit: 100 });
    const row = res.items.find((r) => r.symbol === s);
    if (row) items.push(row);
  }));
  items.sort((a, b) => a.symbol.localeCompare(b.symbol));
  return { items, next_cursor: null };
}

function renderSymbolHead(f) {
  const head = document.querySelector("#symbols thead");
  const col = (label, key, cls = "") => {
    if (!key) return `<th class="${cls}">${label}</th>`;
    const np = new URLSearchParams(params());
    const on = f.sort === key;
    np.set("sort", key);
    np.set("order", on && f.order === "asc" ? "desc" : "asc");
    np.delete("cursor"); np.delete("page");
    const arrow = on ? (f.order === "asc" ? " ↑" : " ↓") : "";
    return `<th class="${cls}"><a data-soft class="${on ? "on" : ""}" data-sort="${key}" href="${esc(withParams("/", np))}">${label}${arrow}</a></th>`;
  };
  head.innerHTML = `<tr><th></th>${col("Symbol", "symbol")}<th>Name</th><th>Market</th><th>Status</th>
    ${col("Last close", "close", "num")}<th>Direction</th>${col("% from pivot", "pct_from_pivot", "num")}
    ${col("Bars since pivot", "bars_since_pivot", "num")}<th>Window (${esc(f.days)} days)</th></tr>`;
}

function badges(r) {
  const out = [];
  if (r.status && r.status !== "active" && r.status !== "listed") {
    const cls = /suspend|halt|delist/i.test(r.status) ? "bad" : "warn";
    out.push(`<span class="badge ${cls}">${esc(r.status)}</span>`);
  }
  for (const d of r.designations || []) out.push(`<span class="badge warn">${esc(d)}</span>`);
  if (!r.name && !r.market) out.push(`<span class="badge" title="bars only: no metadata row yet">bars only</span>`);
  return out.join("");
}

function symbolRow(r, f, favs) {
  const st = r.state;
  const href = withParams(`/symbols/${encodeURIComponent(r.symbol)}`, new URLSearchParams({ gtype: f.gtype, days: f.days }));
  const fav = favs.has(r.symbol);
  return `<tr data-symbol="${esc(r.symbol)}">
    <td><button class="star ${fav ? "on" : ""}" aria-pressed="${fav}" title="favourite" data-symbol="${esc(r.symbol)}">★</button></td>
    <td class="sym"><a href="${esc(href)}">${esc(r.symbol)}</a></td>
    <td class="name" title="${esc(r.name)}">${esc(r.name || "")}</td>
    <td>${esc(r.market || "—")}</td>
    <td>${badges(r)}</td>
    <td class="num">${r.bar ? price(r.bar.close) : "—"}</td>
    <td>${st ? dirBadge(st.direction) : "—"}</td>
    <td class="num ${st ? signClass(st.pct_from_pivot) : ""}">${st ? pct(st.pct_from_pivot) : "—"}</td>
    <td class="num">${st ? st.bars_since_pivot : "—"}</td>
    <td class="win muted" data-window="${esc(r.symbol)}">…</td></tr>`;
}

function windowText(w) {
  const legs = w.up.legs + w.down.legs;
  if (!legs) return `<span class="muted">no legs</span>`;
  const part = (n, m, d) => (n ? `<span class="${d === "up" ? "pos" : "neg"}">${n} ${d === "up" ? "▲" : "▼"} ${pct(m)}</span>` : "");
  return [part(w.up.legs, w.up.mean_pct, "up"), part(w.down.legs, w.down.mean_pct, "down")].filter(Boolean).join(" · ");
}

async function fillWindows(items, f) {
  // one request for the whole page (GET /v1/rebounds/summary?symbols=...)
  const url = location.href;
  const withBars = items.filter((r) => r.bar).map((r) => r.symbol);
  let byName = new Map();
  if (withBars.length) {
    try {
      const res = await api("/v1/rebounds/summary", { symbols: withBars.join(","), gtype: f.gtype, days: f.days });
      byName = new Map(res.items.map((w) => [w.symbol, w]));
    } catch (_) { /* cells say — below */ }
  }
  if (location.href !== url) return;
  for (const cell of document.querySelectorAll("td[data-window]")) {
    const w = byName.get(cell.dataset.window);
    cell.innerHTML = w ? windowText(w) : "—";
    cell.classList.toggle("muted", !w);
  }
  performance.mark("tp-windows-filled");
}

// ---------------------------------------------------------------- one symbol

function nextTradingDays(lastIso, n) {
  const out = [];
  const d = new Date(`${lastIso}T00:00:00Z`);
  while (out.length < n) {
    d.setUTCDate(d.getUTCDate() + 1);
    const wd = d.getUTCDay();
    if (wd !== 0 && wd !== 6) out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

function barIndexOf(starts, date) {
  // the bar whose period holds `date`: the last start <= date
  let lo = 0, hi = starts.length - 1, best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= date) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return best;
}

async function symbolPage(symbol) {
  symbolsShell = null;
  const p = params();
  const interval = p.get("interval") || "day";
  const gtype = p.get("gtype") || "close";
  const days = p.get("days") || "7";
  document.title = `${symbol} · turnpoint`;
  const base = `/symbols/${encodeURIComponent(symbol)}`;
  const link = (k, v) => { const np = new URLSearchParams(params()); np.set(k, v); return esc(withParams(base, np)); };
  const seg = (k, values, cur) => `<span class="seg" data-param="${k}">${values.map((v) =>
    `<a data-soft href="${link(k, v)}" class="${v === cur ? "on" : ""}">${v}</a>`).join("")}</span>`;
  app.innerHTML = `
    <div class="head"><a href="/" class="muted">← Symbols</a></div>
    <div class="head"><h1 id="sym-title">${esc(symbol)}</h1><span class="sub" id="sym-meta"></span>
      <button class="star" id="sym-fav" title="favourite">★</button></div>
    <div class="controls">${seg("interval", ["day", "week", "month"], interval)}
      <span class="muted">zigzag on</span>${seg("gtype", ["open", "high", "low", "close"], gtype)}
      <span class="muted" id="threshold"></span></div>
    <div class="cards" id="state-cards"></div>
    <div class="panel"><div class="chart" id="price-chart" role="img" aria-label="candlesticks with zigzag legs"></div></div>
    <div class="cols">
      <div class="panel"><h2>Confirmed legs <span class="muted" id="leg-count"></span></h2>
        <div class="scroll"><table class="grid" id="legs"><thead><tr><th>Start</th><th>End</th><th class="num">From</th>
        <th class="num">To</th><th class="num">Bars</th><th class="num">Change</th><th>Direction</th></tr></thead><tbody></tbody></table></div></div>
      <div>
        <div class="panel"><h2>Window summary</h2>
          <form class="controls" id="win-form"><label>Trading days<input type="number" name="days" min="1" max="10000" value="${esc(days)}"></label></form>
          <p class="summary" id="window"></p></div>
        <div class="panel"><h2>5-day forecast</h2><div id="forecast" class="muted">…</div></div>
      </div>
    </div>`;
  const favBtn = document.getElementById("sym-fav");
  favBtn.classList.toggle("on", favourites().has(symbol));
  favBtn.onclick = () => favBtn.classList.toggle("on", toggleFavourite(symbol));
  document.getElementById("win-form").addEventListener("change", (ev) => {
    const np = new URLSearchParams(params()); np.set("days", ev.target.value);
    history.replaceState(null, "", withParams(base, np));
    loadWindow(symbol, gtype, ev.target.value);
  });
  document.getElementById("win-form").addEventListener("submit", (ev) => ev.preventDefault());

  const t0 = performance.now();
  const enc = encodeURIComponent(symbol);
  const [bars, legs, state, meta, preds] = await Promise.all([
    allPages(`/v1/symbols/${enc}/bars`, { interval }),
    allPages(`/v1/symbols/${enc}/rebounds`, { gtype }),
    api(`/v1/symbols/${enc}/state`, { gtype }).catch(() => null),
    api("/v1/symbols", { q: symbol, limit: 100, gtype }).then((r) => r.items.find((x) => x.symbol === symbol)).catch(() => null),
    api(`/v1/symbols/${enc}/predictions`, { limit: 1000 }).then((r) => r.items).catch(() => []),
  ]).catch((err) => { showError(app, err); return []; });
  if (!bars) return;
  performance.mark("tp-chart-data");
  if (meta) {
    document.getElementById("sym-meta").innerHTML = `${esc(meta.name || "")} ${meta.market ? `· ${esc(meta.market)}` : ""} ${badges(meta)}`;
  }
  renderStateCards(state);
  document.getElementById("threshold").textContent = state
    ? `threshold ${num(state.threshold * 100, 2)} % (θ = ${state.threshold})` : "";
  const forecast = preds.filter((x) => x.kind === "forecast").at(-1) || null;
  drawPriceChart(symbol, bars, legs, state, forecast, interval, gtype);
  performance.mark("tp-chart-drawn");
  renderLegs(legs);
  renderForecast(forecast, bars);
  TP.timings.symbol = performance.now() - t0;
  TP.legs = legs;
  performance.mark("tp-chart-rendered");
  loadWindow(symbol, gtype, days);
}

function renderStateCards(st) {
  const el = document.getElementById("state-cards");
  if (!st) { el.innerHTML = `<div class="card"><div class="k">State</div><div class="v muted">none yet</div></div>`; return; }
  const card = (k, v, s = "", cls = "") => `<div class="card"><div class="k">${k}</div><div class="v ${cls}">${v}</div><div class="s">${s}</div></div>`;
  el.innerHTML = [
    card("Direction", dirBadge(st.direction), `since ${esc(st.pivot_date)}`),
    card("Last", price(st.last_value), esc(st.last_date)),
    card("Pivot", price(st.pivot_value), esc(st.pivot_date)),
    card("Extreme", price(st.extreme_value), esc(st.extreme_date)),
    card("% from pivot", pct(st.pct_from_pivot), st.direction === "down" ? "drop since the last rise" : "", signClass(st.pct_from_pivot)),
    card("% from extreme", pct(st.pct_from_extreme), "", signClass(st.pct_from_extreme)),
    card("Bars since pivot", String(st.bars_since_pivot), "trading days"),
  ].join("");
}

function drawPriceChart(symbol, bars, legs, st, forecast, interval, gtype) {
  const el = document.getElementById("price-chart");
  const starts = bars.map((b) => b.start);
  const cats = starts.slice();
  const fvals = forecast && interval === "day" ? forecast.values : [];
  const fdays = fvals.length && bars.length ? nextTradingDays(bars.at(-1).start, fvals.length) : [];
  cats.push(...fdays);
  const candles = bars.map((b) => [b.open, b.close, b.low, b.high]);
  // volume as two plain series (rising, falling bars) rather than one with a style per item: plain arrays keep
  // ECharts' large mode (a few ms for thousands of bars)
  const volUp = bars.map((b) => (b.close >= b.open ? b.volume : "-"));
  const volDown = bars.map((b) => (b.close >= b.open ? "-" : b.volume));
  const legPoints = [];
  for (const l of legs) {
    if (!legPoints.length) legPoints.push([cats[barIndexOf(starts, l.start_date)], l.start_value, l.start_date]);
    legPoints.push([cats[barIndexOf(starts, l.end_date)], l.end_value, l.end_date]);
  }
  const open = st && st.direction !== "none" && bars.length
    ? [[cats[barIndexOf(starts, st.pivot_date)], st.pivot_value], [cats[barIndexOf(starts, st.extreme_date)], st.extreme_value]] : [];
  const fline = fdays.length ? [[cats[bars.length - 1], bars.at(-1).close], ...fdays.map((d, i) => [d, fvals[i].value])] : [];
  const n = cats.length;
  const shown = 130;  // about six months of daily bars; the slider and the mouse wheel show the rest
  const zoomStart = n > shown ? 100 - (shown / n) * 100 : 0;
  const c = chart(el, "price");
  c.setOption({
    animation: false,
    title: { text: `${symbol} · ${interval}`, subtext: `zigzag legs on ${gtype}${st ? ` · threshold ${num(st.threshold * 100, 2)} %` : ""}`,
      left: 8, top: 0, textStyle: { fontSize: 14, fontWeight: 600 }, subtextStyle: { color: "#667085" } },
    legend: { top: 4, right: 10, data: ["Price", "Legs", "Open leg", "Forecast"] },
    tooltip: { trigger: "axis", axisPointer: { type: "cross" }, valueFormatter: (v) => (typeof v === "number" ? price(v) : v) },
    axisPointer: { link: [{ xAxisIndex: "all" }] },
    grid: [{ left: 64, right: 24, top: 56, height: "62%" }, { left: 64, right: 24, top: "80%", height: "12%" }],
    xAxis: [
      { type: "category", data: cats, boundaryGap: true, axisLine: { lineStyle: { color: "#c3cad5" } }, axisLabel: { color: "#667085" } },
      { type: "category", gridIndex: 1, data: cats, boundaryGap: true, axisLabel: { show: false }, axisTick: { show: false } },
    ],
    yAxis: [
      { scale: true, splitLine: { lineStyle: { color: "#eef1f5" } }, axisLabel: { color: "#667085" } },
      { scale: true, gridIndex: 1, splitNumber: 2, axisLabel: { show: false }, splitLine: { show: false } },
    ],
    dataZoom: [{ type: "inside", xAxisIndex: [0, 1], start: zoomStart, end: 100 },
      { type: "slider", xAxisIndex: [0, 1], start: zoomStart, end: 100, height: 18, bottom: 6 }],
    series: [
      { id: "price", name: "Price", type: "candlestick", data: candles, large: true, largeThreshold: 600,
        itemStyle: { color: "#0f9d58", color0: "#d93025", borderColor: "#0f9d58", borderColor0: "#d93025" } },
      { id: "legs", name: "Legs", type: "line", data: legPoints, symbol: "circle", symbolSize: 5,
        showSymbol: legPoints.length <= 300, // hundreds of markers cost more to draw than the line itself
        lineStyle: { color: "#1f4e8c", width: 1.6 }, itemStyle: { color: "#1f4e8c" }, z: 5 },
      { id: "open-leg", name: "Open leg", type: "line", data: open, symbol: "circle", symbolSize: 5,
        lineStyle: { color: "#1f4e8c", width: 1.6, type: "dashed" }, itemStyle: { color: "#1f4e8c" }, z: 5 },
      { id: "forecast", name: "Forecast", type: "line", data: fline, symbol: "emptyCircle", symbolSize: 5,
        lineStyle: { color: "#b26a00", width: 1.8, type: "dashed" }, itemStyle: { color: "#b26a00" }, z: 6,
        markArea: fdays.length ? { silent: true, itemStyle: { color: "rgba(178,106,0,.06)" }, data: [[{ xAxis: fdays[0] }, { xAxis: fdays.at(-1) }]] } : undefined },
      { id: "volume-up", name: "Volume", type: "bar", xAxisIndex: 1, yAxisIndex: 1, data: volUp, large: true,
        stack: "volume", itemStyle: { color: "rgba(15,157,88,.45)" } },
      { id: "volume-down", name: "Volume", type: "bar", xAxisIndex: 1, yAxisIndex: 1, data: volDown, large: true,
        stack: "volume", itemStyle: { color: "rgba(217,48,37,.45)" } },
    ],
  });
}

const LEG_ROWS = 200;  // the table lists the latest legs; the chart draws them all

function renderLegs(legs) {
  document.getElementById("leg-count").textContent = legs.length > LEG_ROWS
    ? `(latest ${LEG_ROWS} of ${legs.length}; the chart draws all)` : `(${legs.length})`;
  const rows = legs.slice(-LEG_ROWS).reverse().map((l) => `<tr data-start="${esc(l.start_date)}" data-end="${esc(l.end_date)}">
    <td>${esc(l.start_date)}</td><td>${esc(l.end_date)}</td><td class="num">${price(l.start_value)}</td>
    <td class="num">${price(l.end_value)}</td><td class="num">${l.bars}</td>
    <td class="num ${signClass(l.pct)}">${pct(l.pct)}</td><td>${dirBadge(l.direction)}</td></tr>`);
  document.querySelector("#legs tbody").innerHTML = rows.join("") || `<tr><td colspan="7" class="muted">No confirmed legs yet.</td></tr>`;
}

function renderForecast(f, bars) {
  const el = document.getElementById("forecast");
  if (!f) { el.textContent = "No forecast for this symbol yet."; return; }
  const last = bars.length ? bars.at(-1).close : null;
  const days = bars.length ? nextTradingDays(bars.at(-1).start, f.values.length) : [];
  el.classList.remove("muted");
  el.innerHTML = `<p class="muted">model <b>${esc(f.model)}</b> version <b>${esc(f.version)}</b> · as of ${esc(f.asof.slice(0, 10))} ·
    ${f.horizon} trading days</p><table class="grid"><thead><tr><th>Day</th><th>Date (approx.)</th><th class="num">Forecast</th><th class="num">vs last</th></tr></thead><tbody>
    ${f.values.map((v, i) => `<tr><td>+${v.trading_days_ahead}</td><td>${esc(days[i] || "")}</td><td class="num">${price(v.value)}</td>
    <td class="num ${signClass(v.value - last)}">${last ? pct((v.value / last - 1) * 100) : "—"}</td></tr>`).join("")}</tbody></table>`;
}

async function loadWindow(symbol, gtype, days) {
  const el = document.getElementById("window");
  try {
    const w = await api(`/v1/symbols/${encodeURIComponent(symbol)}/rebounds/summary`, { gtype, days });
    const legs = w.up.legs + w.down.legs;
    const part = (n, m, d) => `${n} ${d}${n ? ` averaging <b class="${d === "up" ? "pos" : "neg"}">${pct(m)}</b>` : ""}`;
    el.innerHTML = `Last ${w.days} trading days (${esc(w.from)} – ${esc(w.to)}${w.trading_days < w.days ? `, ${w.trading_days} found` : ""}):
      <b>${legs} legs</b>, ${part(w.up.legs, w.up.mean_pct, "up")}, ${part(w.down.legs, w.down.mean_pct, "down")}.`;
  } catch (err) { el.textContent = err.message; }
}

// ---------------------------------------------------------------- sensors

const PERIODS = ["day", "week", "month", "year", "month-weekday", "year-weekday"];
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

async function seriesList() {
  document.title = "Sensors · turnpoint";
  app.innerHTML = `<div class="head"><h1>Sensors</h1><span class="sub">series with their latest reading</span></div>
    <div class="panel flush"><table class="grid" id="series-list"><thead><tr><th>Series</th><th class="num">Latest value</th>
    <th>Unit</th><th>Latest reading</th></tr></thead><tbody><tr><td colspan="4" class="muted">…</td></tr></tbody></table></div>`;
  try {
    const items = await allPages("/v1/series", {});
    document.querySelector("#series-list tbody").innerHTML = items.map((s) => `<tr>
      <td class="sym"><a href="${esc(withParams("/series", new URLSearchParams({ series: s.series })))}">${esc(s.series)}</a></td>
      <td class="num">${num(s.latest.value, 3)}</td><td>${esc(s.latest.unit || "")}</td><td>${esc(localTime(s.latest.ts))}</td></tr>`).join("")
      || `<tr><td colspan="4" class="muted">No readings yet: <code>turnpoint ingest readings --file …</code></td></tr>`;
  } catch (err) { showError(app, err); }
}

async function seriesPage() {
  symbolsShell = null;
  const p = params();
  const series = p.get("series");
  if (!series) return seriesList();
  document.title = `${series} · turnpoint`;
  const period = p.get("period") || "month-weekday";
  const link = (k, v) => { const np = new URLSearchParams(params()); np.set(k, v); return esc(withParams("/series", np)); };
  app.innerHTML = `
    <div class="head"><a href="/series" class="muted">← Sensors</a></div>
    <div class="head"><h1>${esc(series)}</h1><span class="sub" id="series-meta"></span></div>
    <form class="controls" id="series-form">
      <label>From<input type="date" name="from" value="${esc(p.get("from") || "")}"></label>
      <label>To<input type="date" name="to" value="${esc(p.get("to") || "")}"></label>
      <label title="band half-width in standard deviations">k (band)<input type="number" name="k" step="0.1" min="0" value="${esc(p.get("k") || "")}" placeholder="1.5"></label>
    </form>
    <div class="cards" id="series-cards"></div>
    <div class="panel"><div class="chart" id="series-chart" role="img" aria-label="readings with the day band"></div></div>
    <div class="cols">
      <div class="panel"><h2>Calendar statistics</h2>
        <div class="tabs">${PERIODS.map((x) => `<a data-soft href="${link("period", x)}" class="${x === period ? "on" : ""}">${x}</a>`).join("")}</div>
        <div class="chart small" id="weekday-chart" style="display:none" role="img" aria-label="weekday profile"></div>
        <div class="scroll"><table class="grid" id="stats"><thead></thead><tbody></tbody></table></div></div>
      <div class="panel"><h2>Outliers <span class="muted" id="outlier-count"></span></h2>
        <div class="scroll"><table class="grid" id="outliers"><thead><tr><th>Time</th><th class="num">Value</th><th class="num">Mean ± k·std</th><th>Side</th></tr></thead><tbody></tbody></table></div></div>
    </div>`;
  const form = document.getElementById("series-form");
  form.addEventListener("change", () => {
    const np = new URLSearchParams(params());
    for (const [k, v] of new FormData(form)) np.set(k, v);
    navigate(withParams("/series", np), true);
  });
  form.addEventListener("submit", (ev) => ev.preventDefault());

  const t0 = performance.now();
  try {
    let from = p.get("from"), to = p.get("to");
    const list = await allPages("/v1/series", {});
    const me = list.find((s) => s.series === series);
    if (!me) throw new Error(`series ${series} has no readings`);
    const latest = new Date(me.latest.ts);
    to = to || me.latest.ts.slice(0, 10);
    from = from || new Date(latest.getTime() - 13 * 86400000).toISOString().slice(0, 10);
    form.elements.from.value = from;
    form.elements.to.value = to;
    document.getElementById("series-meta").textContent = `latest ${num(me.latest.value, 3)} ${me.latest.unit || ""} at ${localTime(me.latest.ts)}`;
    const range = { series, from, to };
    const [readings, outliers, dayStats, preds] = await Promise.all([
      allPages("/v1/readings", range, 200000),
      allPages("/v1/outliers", range),
      allPages("/v1/stats", { series, period: "day", from, to }),
      allPages("/v1/predictions", { target: series, from, to }).catch(() => []),
    ]);
    const anomalies = preds.filter((x) => x.kind === "anomaly" && x.values && x.values.flagged);
    const unit = (readings[0] && readings[0].unit) || "";
    const k = Number(p.get("k") || (outliers[0] ? outliers[0].k : 1.5));
    renderSeriesCards(readings, outliers, anomalies, unit, k, from, to);
    drawSeriesChart(series, readings, outliers, anomalies, dayStats, k, unit);
    renderOutliers(outliers, unit);
    TP.outliers = outliers;
    TP.timings.series = performance.now() - t0;
    performance.mark("tp-series-rendered");
    await renderStats(series, period);
  } catch (err) { showError(document.getElementById("series-cards"), err); }
}

function renderSeriesCards(readings, outliers, anomalies, unit, k, from, to) {
  const vals = readings.map((r) => r.value);
  const mean = vals.reduce((a, b) => a + b, 0) / (vals.length || 1);
  const card = (kk, v, s = "") => `<div class="card"><div class="k">${kk}</div><div class="v">${v}</div><div class="s">${s}</div></div>`;
  document.getElementById("series-cards").innerHTML = [
    card("Readings", vals.length.toLocaleString("en-US"), `${esc(from)} – ${esc(to)}`),
    card("Mean", `${num(mean, 3)} <span class="muted" style="font-size:13px">${esc(unit)}</span>`, "over the window"),
    card("Outliers", String(outliers.length), `|value − mean| > ${k}·std, SPEC rule`),
    card("Anomaly flags", String(anomalies.length), "model score above its threshold"),
  ].join("");
}

function drawSeriesChart(series, readings, outliers, anomalies, dayStats, k, unit) {
  const c = chart(document.getElementById("series-chart"), "series");
  // the band: each local day's mean ± k·std, drawn as a step over that day
  const lower = [], width = [], mean = [];
  for (const s of dayStats) {
    const t0 = dayStartInstant(s.start, s.tz), t1 = t0 + 86400000;
    lower.push([t0, s.mean - k * s.std], [t1, s.mean - k * s.std]);
    width.push([t0, 2 * k * s.std], [t1, 2 * k * s.std]);
    mean.push([t0, s.mean], [t1, s.mean]);
  }
  c.setOption({
    animation: false,
    legend: { top: 4, right: 10, data: ["Readings", "Day mean", `±${k}·std`, "Outliers", "Anomaly flags"] },
    tooltip: { trigger: "axis", valueFormatter: (v) => (typeof v === "number" ? `${num(v, 3)} ${unit}` : v) },
    grid: { left: 64, right: 24, top: 40, bottom: 56 },
    xAxis: { type: "time", axisLabel: { color: "#667085" } },
    yAxis: { scale: true, name: unit, splitLine: { lineStyle: { color: "#eef1f5" } }, axisLabel: { color: "#667085" } },
    dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 6 }],
    series: [
      { id: "band-lower", name: "band-lower", type: "line", data: lower, stack: "band", symbol: "none", lineStyle: { opacity: 0 }, tooltip: { show: false } },
      { id: "band", name: `±${k}·std`, type: "line", data: width, stack: "band", symbol: "none", lineStyle: { opacity: 0 },
        areaStyle: { color: "rgba(31,78,140,.12)" }, itemStyle: { color: "rgba(31,78,140,.35)" }, tooltip: { show: false } },
      { id: "mean", name: "Day mean", type: "line", data: mean, symbol: "none", lineStyle: { color: "#1f4e8c", width: 1, type: "dashed" } },
      { id: "readings", name: "Readings", type: "line", data: readings.map((r) => [r.ts, r.value]), symbol: "none", sampling: "lttb",
        lineStyle: { color: "#44516a", width: 1 }, itemStyle: { color: "#44516a" } },
      { id: "outliers", name: "Outliers", type: "scatter", data: outliers.map((o) => [o.ts, o.value, o.direction]), symbolSize: 7,
        itemStyle: { color: "#d93025" }, z: 10 },
      { id: "anomalies", name: "Anomaly flags", type: "scatter", symbol: "triangle", symbolSize: 10,
        data: anomalies.map((a) => [a.asof, (readings.find((r) => r.ts === a.asof) || {}).value ?? null, a.values.score]),
        itemStyle: { color: "#b26a00" }, z: 11 },
    ],
  });
}

function dayStartInstant(isoDate, tz) {
  // midnight of `isoDate` in the zone `tz`, as epoch milliseconds
  const guess = Date.parse(`${isoDate}T00:00:00Z`);
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit" }).formatToParts(new Date(guess));
  const get = (t) => Number(parts.find((x) => x.type === t).value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
  return guess - (asUtc - guess);
}

function renderOutliers(outliers, unit) {
  document.getElementById("outlier-count").textContent = `(${outliers.length})`;
  document.querySelector("#outliers tbody").innerHTML = outliers.slice().reverse().map((o) => `<tr data-ts="${esc(o.ts)}">
    <td>${esc(localTime(o.ts))}</td><td class="num">${num(o.value, 3)} ${esc(o.unit || unit)}</td>
    <td class="num muted">${num(o.mean, 3)} ± ${o.k}·${num(o.std, 3)}</td>
    <td><span class="badge ${o.direction === "high" ? "bad" : "warn"}">${o.direction === "high" ? "▲ high" : "▼ low"}</span></td></tr>`).join("")
    || `<tr><td colspan="4" class="muted">No outliers in this window.</td></tr>`;
}

async function renderStats(series, period) {
  const rows = await allPages("/v1/stats", { series, period }, 5000);
  const weekly = period.endsWith("weekday");
  const head = document.querySelector("#stats thead");
  head.innerHTML = `<tr><th>Start</th>${weekly ? "<th>Weekday</th>" : ""}<th class="num">Count</th><th class="num">Mean</th>
    <th class="num">Std</th><th class="num">Min</th><th class="num">Max</th></tr>`;
  document.querySelector("#stats tbody").innerHTML = rows.slice().reverse().map((s) => `<tr><td>${esc(s.start)}</td>
    ${weekly ? `<td>${WEEKDAYS[s.weekday - 1]}</td>` : ""}<td class="num">${s.count}</td><td class="num">${num(s.mean, 3)}</td>
    <td class="num">${num(s.std, 3)}</td><td class="num">${num(s.min, 3)}</td><td class="num">${num(s.max, 3)}</td></tr>`).join("")
    || `<tr><td colspan="7" class="muted">No statistics for this period.</td></tr>`;
  const box = document.getElementById("weekday-chart");
  if (!weekly || !rows.length) { box.style.display = "none"; return; }
  box.style.display = "";
  // the most recent period with the most weekdays (the current month may hold only a few days yet)
  const perStart = new Map();
  for (const r of rows) perStart.set(r.start, (perStart.get(r.start) || 0) + 1);
  const most = Math.max(...perStart.values());
  const latest = [...perStart.keys()].filter((k) => perStart.get(k) === most).sort().at(-1);
  const profile = WEEKDAYS.map((_, i) => rows.find((r) => r.start === latest && r.weekday === i + 1) || null);
  const c = chart(box, "weekday");
  c.setOption({
    animation: false,
    title: { text: `weekday profile, ${period.startsWith("month") ? "month" : "year"} of ${latest}`, left: 0, textStyle: { fontSize: 12, fontWeight: 500, color: "#667085" } },
    grid: { left: 48, right: 8, top: 30, bottom: 24 },
    tooltip: { trigger: "axis", valueFormatter: (v) => num(v, 3) },
    xAxis: { type: "category", data: WEEKDAYS },
    yAxis: { splitLine: { lineStyle: { color: "#eef1f5" } } },
    series: [{ id: "weekday-mean", type: "bar", name: "mean", data: profile.map((r) => (r ? r.mean : null)), itemStyle: { color: "#1f4e8c" }, barWidth: "55%" }],
  });
}

// ---------------------------------------------------------------- freshness

async function freshnessPage() {
  symbolsShell = null;
  document.title = "Freshness · turnpoint";
  const p = params();
  let jobs;
  try { jobs = await api("/v1/jobs"); } catch (err) { showError(app, err); return; }
  // the API's own maximum age (TURNPOINT_API__JOBS_MAX_AGE_S) unless the URL names another
  const serverMax = jobs.items.length && jobs.items[0].max_age_seconds != null ? jobs.items[0].max_age_seconds : 3600;
  const stale = Number(p.get("stale") || serverMax);
  const choices = [...new Set([300, 900, 3600, 21600, 86400, serverMax, stale])].sort((a, b) => a - b);
  app.innerHTML = `<div class="head"><h1>Freshness</h1><span class="sub">each job's last success; stale after
    <select id="stale">${choices.map((s) => `<option value="${s}" ${s === stale ? "selected" : ""}>${ago(s)}${s === serverMax ? " (API setting)" : ""}</option>`).join("")}</select></span></div>
    <div class="panel flush"><table class="grid" id="jobs"><thead><tr><th>Job</th><th>Status</th><th>Last success</th>
    <th class="num">Age</th><th class="num">Rows</th><th>Detail</th></tr></thead><tbody></tbody></table></div>
    <div id="alerts"></div>`;
  document.getElementById("stale").onchange = (ev) => navigate(withParams("/freshness", new URLSearchParams({ stale: ev.target.value })), true);
  {
    document.querySelector("#jobs tbody").innerHTML = jobs.items.map((j) => {
      const isStale = p.get("stale") || j.stale === undefined ? j.age_seconds === null || j.age_seconds > stale : j.stale;
      const cls = j.status === "error" ? "error" : isStale ? "stale" : "";
      const badge = j.status === "ok" ? (isStale ? "warn" : "good") : j.status === "error" ? "bad" : "";
      return `<tr class="${cls}" data-job="${esc(j.job)}"><td class="sym">${esc(j.job)}</td>
        <td><span class="badge ${badge}">${esc(j.status)}${isStale && j.status === "ok" ? " · stale" : ""}</span></td>
        <td>${esc(localTime(j.last_success))}</td><td class="num">${ago(j.age_seconds)}</td>
        <td class="num">${j.rows === null ? "—" : Number(j.rows).toLocaleString("en-US")}</td><td class="muted">${esc(j.detail || "")}</td></tr>`;
    }).join("") || `<tr><td colspan="6" class="muted">No job has reported yet.</td></tr>`;
  }
  try {
    const alerts = await api("/v1/alerts", { limit: 15 });
    document.getElementById("alerts").innerHTML = `<div class="head" style="margin-top:18px"><h1 style="font-size:18px">Recent alerts</h1></div>
      <div class="panel flush"><table class="grid"><thead><tr><th>At</th><th>Rule</th><th>Kind</th><th>Subject</th><th>Status</th><th>Delivery</th><th>Message</th></tr></thead><tbody>
      ${alerts.items.map((a) => `<tr><td>${esc(localTime(a.at))}</td><td>${esc(a.rule)}</td><td>${esc(a.kind)}</td><td>${esc(a.subject)}</td>
        <td><span class="badge ${a.status === "firing" ? "bad" : "good"}">${esc(a.status)}</span></td>
        <td><span class="badge ${a.delivery === "delivered" ? "good" : a.delivery === "pending" ? "warn" : ""}">${esc(a.delivery || "")}</span></td><td class="muted">${esc(a.message || "")}</td></tr>`).join("")
        || `<tr><td colspan="7" class="muted">No alerts.</td></tr>`}</tbody></table></div>`;
  } catch (_) { /* this API has no /v1/alerts */ }
}

// ---------------------------------------------------------------- router

function route() {
  TP.done = false;
  const path = location.pathname;
  const section = path.startsWith("/symbols/") ? "symbols" : path.startsWith("/series") ? "series"
    : path.startsWith("/freshness") ? "freshness" : "symbols";
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("on", a.dataset.nav === section);
  for (const c of Object.values(TP.charts)) c.dispose();
  TP.charts = {};
  let page;
  if (path.startsWith("/symbols/")) page = symbolPage(decodeURIComponent(path.slice("/symbols/".length)));
  else if (path.startsWith("/series")) page = seriesPage();
  else if (path.startsWith("/freshness")) page = freshnessPage();
  else page = symbolsPage();
  TP.ready = Promise.resolve(page).then(() => { TP.done = true; }, (err) => { TP.done = true; throw err; });
}

TP.done = false;
route();
